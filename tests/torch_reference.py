"""PyTorch and torchvision as an independent reference, for the tests that use them: both
skip cleanly where torch or torchvision is not installed. Imports nothing from sepconv."""

from __future__ import annotations

from typing import Any

import pytest


def import_torchvision() -> Any:
    """torchvision, or a skip. Its import registers fake kernels for its C++ ops; where its
    compiled ops were built for another torch, that registration raises although the models
    (pure Python) work. Only those failures are ignored: the registration call's and the
    decorator's it returns."""
    torch = pytest.importorskip("torch", exc_type=ImportError)
    register_fake = torch.library.register_fake

    def tolerant(*args: Any, **kwargs: Any) -> Any:
        try:
            decorate = register_fake(*args, **kwargs)
        except Exception:  # any refusal: leave the op unregistered
            return lambda fn: fn

        def apply(fn: Any) -> Any:
            try:
                return decorate(fn)
            except Exception:
                return fn

        return apply

    torch.library.register_fake = tolerant
    try:
        return pytest.importorskip("torchvision", exc_type=ImportError)
    finally:
        torch.library.register_fake = register_fake


def torch_counts(module: Any, shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    """(params, 2·MACs as torch's FlopCounterMode counts them, output shape channels-last)
    of ``module`` in eval mode on one zero input of channels-last ``shape``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    module.eval()
    counter = FlopCounterMode(display=False)
    x = torch.zeros(1, shape[-1], *shape[:-1])
    with torch.no_grad(), counter:
        y = module(x)
    out = tuple(y.shape)
    params = sum(p.numel() for p in module.parameters())
    return params, counter.get_total_flops(), (*out[2:], out[1])
