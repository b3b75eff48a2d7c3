"""Counts agree with PyTorch's layers and its FLOP counter (an established, independent counter).

For Conv1d/2d/3d configurations across strides, paddings (explicit, valid, TensorFlow
``same`` with its asymmetric pad applied through ``F.pad``), dilations, groups, bias and
batch:

* torch's output shape (channels-first) == our ``output_shape`` (channels-last);
* torch's parameter count == our ``params``;
* ``torch.utils.flop_counter.FlopCounterMode`` counts ``2 * MACs`` for a convolution and
  ignores the bias (fvcore's convention, which ours follows) — so it must equal
  ``2 * our MACs``, and our FLOPs minus the bias adds.

Skipped when torch is not installed (it is not a project dependency).
"""

from __future__ import annotations

from math import prod
from typing import Any

import pytest

torch = pytest.importorskip("torch", exc_type=ImportError)  # absent or broken: skip
import reference as ref  # noqa: E402  # tests/reference.py: pytest puts tests/ on the path
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from sepconv_cli.counting.lowering import lower  # noqa: E402
from sepconv_cli.counting.network import Row  # noqa: E402
from sepconv_cli.counting.report import LayerReport, layer_report  # noqa: E402
from sepconv_cli.counting.widths import Width  # noqa: E402
from sepconv_cli.spec.flags import layer_from_flags  # noqa: E402

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _dims(value: int | tuple[int, ...], rank: int) -> tuple[int, ...]:
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _x(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


def ours(
    shape: tuple[int, ...],
    cout: int,
    k: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    padding: Any,
    groups: int,
    bias: bool,
    batch: int,
    multiplier: int = 1,
) -> LayerReport:
    flags: dict[str, Any] = {
        "input": _x(shape),
        "kernel": _x(k),
        "stride": _x(s),
        "dilation": _x(d),
        "padding": padding if isinstance(padding, str) else _x(padding),
        "filters": str(cout),
        "groups": str(groups),
        "bias": bias,
        "depth_multiplier": str(multiplier),
    }
    layer = layer_from_flags(flags)
    assert layer.input is not None  # the flags give one
    forms = lower(layer, layer.input, Width())
    return layer_report(Row(0, "t", layer.type, layer.input, forms), batch, "float32")


class Padded(nn.Module):  # type: ignore[misc]  # torch is untyped here (pyproject.toml)
    """``F.pad`` with explicit (before, after) pads per spatial dim, then the conv."""

    def __init__(self, conv: nn.Module, pads: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.conv = conv
        flat: list[int] = []
        for before, after in reversed(pads):  # F.pad takes the last dim first
            flat += [before, after]
        self.flat = tuple(flat)

    def forward(self, x: Any) -> Any:
        return self.conv(F.pad(x, self.flat))


def torch_conv(
    shape: tuple[int, ...],
    cout: int,
    k: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    padding: Any,
    groups: int,
    bias: bool,
) -> nn.Module:
    rank = len(shape) - 1
    cin = shape[-1]
    if isinstance(padding, str):
        # valid: no pad; same: TensorFlow's pads (maybe asymmetric) applied by F.pad
        pads = ref.pads(padding, shape[:-1], k, s, d)
        conv = CONV[rank](cin, cout, k, stride=s, padding=0, dilation=d, groups=groups, bias=bias)
        return Padded(conv, pads)
    return CONV[rank](cin, cout, k, stride=s, padding=padding, dilation=d, groups=groups, bias=bias)


def run_counted(module: nn.Module, x: Any) -> tuple[Any, int]:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = module(x)
    return y, counter.get_total_flops()


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def channels_last(torch_shape: Any) -> tuple[int, ...]:
    """(N, C, *spatial) → (*spatial, C)."""
    shape = tuple(torch_shape)
    return (*shape[2:], shape[1])


# in_shape (channels-last), cout, kernel, stride, dilation, padding, groups, bias, batch
CONFIGS = [
    ((12, 12, 3), 256, 5, 1, 1, "valid", 1, False, 1),  # the seed example
    ((14, 14, 16), 16, 3, 1, 1, "same", 1, False, 1),
    ((14, 14, 16), 16, 3, 1, 1, "same", 16, False, 2),  # depthwise
    ((224, 224, 3), 8, 3, 2, 1, "same", 1, False, 1),  # asymmetric same (0, 1)
    ((15, 16, 4), 8, (3, 2), (2, 1), (1, 2), "same", 2, True, 3),
    ((9, 11, 6), 12, (3, 4), (2, 3), (2, 1), (1, 2), 3, True, 2),
    ((10, 10, 4), 4, 1, 2, 1, "valid", 1, True, 1),  # strided 1x1
    ((7, 7, 8), 16, 7, 1, 1, 3, 4, False, 1),
    # 1D
    ((100, 16), 32, 9, 4, 3, "valid", 8, True, 2),
    ((17, 4), 6, 4, 3, 2, "same", 2, False, 4),  # same, even kernel
    ((33, 6), 9, 5, 2, 1, 2, 3, True, 1),
    ((10, 2), 5, 4, 1, 1, "same", 1, True, 1),  # same: pads (1, 2)
    # 3D
    ((8, 16, 16, 3), 8, 3, 2, 1, "same", 1, False, 2),
    ((6, 7, 8, 4), 8, (3, 3, 3), (1, 2, 2), (1, 1, 2), "same", 4, True, 1),
    ((5, 9, 10, 2), 4, (2, 3, 4), (2, 1, 3), (2, 2, 1), (1, 2, 0), 2, True, 3),
    ((4, 4, 4, 6), 6, 2, 1, 1, "valid", 6, False, 1),
]
IDS = [f"{len(c[0]) - 1}d-{i}" for i, c in enumerate(CONFIGS)]


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_standard_conv_agrees_with_torch(config: tuple[Any, ...]) -> None:
    shape, cout, kernel, stride, dilation, padding, groups, bias, batch = config
    rank = len(shape) - 1
    k, s, d = _dims(kernel, rank), _dims(stride, rank), _dims(dilation, rank)
    pad = padding if isinstance(padding, str) else _dims(padding, rank)
    r = ours(shape, cout, k, s, d, pad, groups, bias, batch)

    # as specified: the conv as written, groups included
    module = torch_conv(shape, cout, k, s, d, pad, groups, bias)
    x = torch.zeros(batch, shape[-1], *shape[:-1])
    y, flops = run_counted(module, x)

    assert channels_last(y.shape) == r.row.output_shape
    assert n_params(module) == r.as_specified.params
    assert flops == 2 * r.as_specified.macs
    bias_adds = batch * prod(r.row.output_shape) if bias else 0  # one add per output
    assert flops == r.as_specified.flops - bias_adds

    # standard: the dense conv (groups = 1) for k > 1; a 1×1 conv has one form
    dense = torch_conv(shape, cout, k, s, d, pad, 1 if prod(k) > 1 else groups, bias)
    _, dense_flops = run_counted(dense, x)
    assert n_params(dense) == r.standard.params
    assert dense_flops == 2 * r.standard.macs
    assert dense_flops == r.standard.flops - bias_adds
    if groups == shape[-1] > 1:  # already depthwise: its own separable form
        assert r.separable.total == r.as_specified


def test_torch_flop_counter_ignores_bias() -> None:
    """The convention we compare against: FlopCounterMode counts 2·MACs, bias excluded."""
    x = torch.zeros(1, 3, 12, 12)
    _, with_bias = run_counted(nn.Conv2d(3, 256, 5, bias=True), x)
    _, without = run_counted(nn.Conv2d(3, 256, 5, bias=False), x)
    assert with_bias == without == 2 * 1_228_800  # 2 · 256·3·5·5·8·8


# in_shape, cout, kernel, stride, dilation, padding, multiplier, bias, batch
SEPARABLE = [
    ((12, 12, 3), 256, 5, 1, 1, "valid", 1, False, 1),  # 4,800 + 49,152
    ((14, 14, 32), 64, 3, 2, 1, "same", 1, True, 2),
    ((15, 13, 4), 10, (3, 2), (2, 1), (1, 2), "same", 3, True, 1),
    ((40, 5), 3, 7, 3, 1, 2, 2, False, 3),
    ((6, 8, 9, 2), 5, 3, (1, 2, 2), 1, (1, 0, 1), 2, True, 2),
]


@pytest.mark.parametrize("config", SEPARABLE, ids=[str(i) for i in range(len(SEPARABLE))])
def test_separable_form_agrees_with_torch(config: tuple[Any, ...]) -> None:
    shape, cout, kernel, stride, dilation, padding, mult, bias, batch = config
    rank = len(shape) - 1
    cin = shape[-1]
    k, s, d = _dims(kernel, rank), _dims(stride, rank), _dims(dilation, rank)
    pad = padding if isinstance(padding, str) else _dims(padding, rank)
    r = ours(shape, cout, k, s, d, pad, 1, bias, batch, multiplier=mult)

    # depthwise k×k, groups = Cin, Cin → Cin·M, no bias (Keras SeparableConv2D); then 1×1
    depthwise = torch_conv(shape, cin * mult, k, s, d, pad, cin, False)
    pointwise = CONV[rank](cin * mult, cout, 1, bias=bias)
    x = torch.zeros(batch, cin, *shape[:-1])
    mid, dw_flops = run_counted(depthwise, x)
    y, pw_flops = run_counted(pointwise, mid)
    _, total_flops = run_counted(nn.Sequential(depthwise, pointwise), x)

    assert channels_last(mid.shape) == (*r.row.output_shape[:-1], cin * mult)
    assert channels_last(y.shape) == r.row.output_shape
    assert dw_flops == 2 * r.separable.depthwise.macs
    assert pw_flops == 2 * r.separable.pointwise.macs
    assert total_flops == 2 * r.separable.total.macs
    assert n_params(depthwise) == r.separable.depthwise.params
    assert n_params(pointwise) == r.separable.pointwise.params
    assert n_params(depthwise) + n_params(pointwise) == r.separable.total.params


def test_mobilenet_layer_agrees_with_torch() -> None:
    """The MobileNet paper's 14×14×512, 3×3, 512-filter layer, both forms, built in torch."""
    x = torch.zeros(1, 512, 14, 14, device="meta")
    standard = nn.Conv2d(512, 512, 3, padding=1, bias=False, device="meta")
    separable = nn.Sequential(
        nn.Conv2d(512, 512, 3, padding=1, groups=512, bias=False, device="meta"),
        nn.Conv2d(512, 512, 1, bias=False, device="meta"),
    )
    _, std_flops = run_counted(standard, x)
    _, sep_flops = run_counted(separable, x)
    r = ours((14, 14, 512), 512, (3, 3), (1, 1), (1, 1), "same", 1, False, 1)
    assert std_flops == 2 * r.standard.macs == 2 * 462_422_016
    assert sep_flops == 2 * r.separable.total.macs == 2 * 52_283_392
    assert n_params(standard) == r.standard.params == 2_359_296
    assert n_params(separable) == r.separable.total.params == 266_752


@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_written_either_way_agrees_with_torch(multiplier: int) -> None:
    """``type: depthwise`` and ``conv`` with groups = Cin are the same torch module: both
    spellings' as-specified and separable forms are it, their standard form the dense conv."""
    shape, cin = (112, 112, 32), 32
    x = torch.zeros(1, cin, 112, 112, device="meta")
    depthwise = nn.Conv2d(cin, cin * multiplier, 3, padding=1, groups=cin, bias=False)
    dense = nn.Conv2d(cin, cin * multiplier, 3, padding=1, bias=False)
    _, dw_flops = run_counted(depthwise.to("meta"), x)
    _, dense_flops = run_counted(dense.to("meta"), x)
    common = {"input": "112x112x32", "kernel": "3", "padding": "1"}
    spellings = (
        {**common, "type": "depthwise", "depth_multiplier": str(multiplier)},
        {**common, "filters": str(cin * multiplier), "groups": str(cin)},
    )
    for flags in spellings:
        layer = layer_from_flags(flags)
        forms = lower(layer, shape, Width())
        r = layer_report(Row(0, "t", layer.type, shape, forms), 1, "float32")
        for cost in (r.as_specified, r.separable.total):
            assert 2 * cost.macs == dw_flops == 2 * 112 * 112 * cin * multiplier * 9
            assert cost.params == n_params(depthwise)
        assert 2 * r.standard.macs == dense_flops
        assert r.standard.params == n_params(dense)
