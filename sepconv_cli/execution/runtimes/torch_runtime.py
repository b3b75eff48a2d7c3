"""Timing on PyTorch: each form is a chain of ``torch.nn`` modules run under
``torch.inference_mode``.

Rules
-----
* Conv → ``nn.Conv{1,2,3}d`` (groups, stride, dilation, bias as counted); a symmetric pad is
  the conv's own ``padding``, an asymmetric one (TensorFlow's ``same`` at stride 2) a
  ``ConstantPad`` before it. BatchNorm → ``nn.BatchNorm{1,2,3}d`` in eval mode; Dense →
  ``Flatten`` + ``nn.Linear``; pooling → ``nn.MaxPool``/``nn.AvgPool`` (average over the
  real elements: ``count_include_pad=False``; symmetric pads only), ``AdaptiveAvgPool`` /
  ``AdaptiveMaxPool`` for global and adaptive pools; an ``Add`` adds the form's input.
* The modules hold NumPy's own weights (converted by :mod:`.layouts`), so the agreement
  check compares one computation.
* Threads: ``torch.set_num_threads(--threads)`` (torch's own count when unset). On
  ``--device cuda`` the input lives on the GPU, every timed call ends with
  ``torch.cuda.synchronize()`` (a kernel launch returns before the kernel ends), and
  ``cudnn.benchmark`` is on: its algorithm search happens in the warm-up call, which is
  never timed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sepconv_cli.counting.ops import Add, BatchNorm, Conv, Dense, Op, Pool
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.buffers import Array
from sepconv_cli.execution.runtimes import layouts
from sepconv_cli.execution.runtimes.base import RuntimeInfo, RuntimeUnsupportedError
from sepconv_cli.interchange.optional import require_torch

CONTEXT = "--runtime torch"


def _pad_layer(nn: Any, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Any:
    """``ConstantPad{n}d`` for per-side pads (F.pad's order: the last dim first)."""
    flat = [side for before, after in reversed(pads) for side in (before, after)]
    return getattr(nn, f"ConstantPad{len(pads)}d")(tuple(flat), value)


def _symmetric(pads: Sequence[tuple[int, int]]) -> bool:
    return all(before == after for before, after in pads)


class TorchRuntime:
    """PyTorch on the CPU or (``--device cuda``) a CUDA GPU."""

    def __init__(self, device: str, threads: int | None):
        self.torch = torch = require_torch(CONTEXT)
        if device == "cuda" and not torch.cuda.is_available():
            raise UsageError(
                "--device cuda: torch sees no CUDA GPU on this machine "
                "(torch.cuda.is_available() is False)"
            )
        self.device = device
        if threads is not None:
            torch.set_num_threads(threads)
        if device == "cuda":
            torch.backends.cudnn.benchmark = True
        provider = "cuda" if device == "cuda" else "cpu"
        if device == "cuda":
            provider = f"cuda ({torch.cuda.get_device_name(0)})"
        self.info = RuntimeInfo(
            runtime="torch",
            version=str(torch.__version__),
            device=device,
            provider=provider,
            threads=int(torch.get_num_threads()),
        )

    def _tensor(self, values: Array) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(values, np.float32)).to(self.device)

    def _module(self, op: Op, w: dict[str, Array]) -> Any:
        nn = self.torch.nn
        param = self.torch.nn.Parameter
        if isinstance(op, Conv):
            rank = len(op.kernel)
            symmetric = _symmetric(op.pads)
            conv = getattr(nn, f"Conv{rank}d")(
                op.in_channels,
                op.out_channels,
                op.kernel,
                stride=op.stride,
                padding=tuple(b for b, _ in op.pads) if symmetric else 0,
                dilation=op.dilation,
                groups=op.groups,
                bias=op.bias,
            )
            conv.weight = param(self._tensor(layouts.conv_weight(op, w["w"])), False)
            if op.bias:
                conv.bias = param(self._tensor(w["b"]), False)
            return conv if symmetric else nn.Sequential(_pad_layer(nn, op.pads), conv)
        if isinstance(op, BatchNorm):
            rank = max(len(op.in_shape) - 1, 1)
            norm = getattr(nn, f"BatchNorm{rank}d")(op.in_shape[-1], eps=layouts.BN_EPSILON)
            params = layouts.batch_norm_params(w)
            norm.weight = param(self._tensor(params["scale"]), False)
            norm.bias = param(self._tensor(params["bias"]), False)
            norm.running_mean = self._tensor(params["mean"])
            norm.running_var = self._tensor(params["var"])
            return norm.eval()
        if isinstance(op, Dense):
            linear = nn.Linear(int(np.prod(op.in_shape)), op.units, bias=op.bias)
            linear.weight = param(self._tensor(layouts.dense_weight(op, w["w"])), False)
            if op.bias:
                linear.bias = param(self._tensor(w["b"]), False)
            return nn.Sequential(nn.Flatten(), linear) if len(op.in_shape) > 1 else linear
        if isinstance(op, Pool):
            return self._pool(op)
        raise TypeError(f"no torch form for {type(op).__name__}")  # check_supported refused it

    def _pool(self, op: Pool) -> Any:
        nn = self.torch.nn
        rank = len(op.in_shape) - 1
        kind = "Avg" if op.kind == "avg" else "Max"
        if op.global_:
            return nn.Sequential(getattr(nn, f"Adaptive{kind}Pool{rank}d")(1), nn.Flatten())
        if op.output_size is not None:
            return getattr(nn, f"Adaptive{kind}Pool{rank}d")(tuple(op.output_size))
        before = tuple(b for b, _ in op.pads)
        if not _symmetric(op.pads) or any(
            2 * p > k for p, k in zip(before, op.kernel, strict=True)
        ):
            raise RuntimeUnsupportedError(
                f"{CONTEXT}: a pool padded {list(op.pads)} with a {op.kernel} window has no "
                "torch form (torch pads both sides alike, at most half the window)"
            )
        pool = getattr(nn, f"{kind}Pool{rank}d")
        extra = {"count_include_pad": False} if op.kind == "avg" else {}
        return pool(op.kernel, op.stride, before, ceil_mode=op.ceil_mode, **extra)

    def prepare(
        self, ops: Sequence[Op], x: Array, weights: Sequence[dict[str, Array]]
    ) -> TorchRunner:
        with self.torch.inference_mode():
            modules = [
                None if isinstance(op, Add) else self._module(op, w)
                for op, w in zip(ops, weights, strict=True)
            ]
            adds = [isinstance(op, Add) for op in ops]
            return TorchRunner(self, modules, adds, self._tensor(layouts.to_channels_first(x)))


class TorchRunner:
    """A form's modules called in order on an input that stays on the device."""

    def __init__(self, runtime: TorchRuntime, modules: list[Any], adds: list[bool], x: Any):
        self.torch = runtime.torch
        self.cuda = runtime.device == "cuda"
        self.steps = list(zip(modules, adds, strict=True))
        self.x = x
        self.out: Any = None

    def __call__(self) -> None:
        with self.torch.inference_mode():
            y = self.x
            for module, add in self.steps:
                y = y + self.x if add else module(y)
            self.out = y
            if self.cuda:
                self.torch.cuda.synchronize()

    def output(self) -> Array:
        self()
        return layouts.to_channels_last(self.out.cpu().numpy())
