"""Property tests (hypothesis): laws that hold for every configuration.

* The MobileNet ratio law: for M = 1 and groups = 1 (kernel larger than 1×1),
  separable / standard MACs == 1/Cout + 1/prod(k), exactly, as fractions.
* Output shapes follow docs/conventions.md's rule (checked against the window-walking
  reference).
* ``cost.Conv`` counts agree with the naive reference for grouped, depthwise, multiplied,
  biased and batched convolutions.
"""

from __future__ import annotations

from fractions import Fraction
from math import prod
from typing import Any

import reference as ref  # tests/reference.py: pytest puts tests/ on the path
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sepconv_cli.counting.lowering import lower
from sepconv_cli.counting.network import Row
from sepconv_cli.counting.ops import Conv
from sepconv_cli.counting.report import layer_report
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.spec.flags import layer_from_flags

SETTINGS = settings(max_examples=80, deadline=None)


@st.composite
def window_configs(draw: Any, max_size: int = 24) -> dict[str, Any]:
    """A random 1D/2D/3D window: sizes, kernel, stride, dilation and a padding mode."""
    rank = draw(st.integers(1, 3))
    dims = st.lists(st.integers(1, max_size), min_size=rank, max_size=rank)
    small = st.lists(st.integers(1, 4), min_size=rank, max_size=rank)
    padding: Any = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            st.lists(st.integers(0, 3), min_size=rank, max_size=rank).map(tuple),
        )
    )
    return {
        "spatial": tuple(draw(dims)),
        "kernel": tuple(draw(small)),
        "stride": tuple(draw(small)),
        "dilation": tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))),
        "padding": padding,
    }


def flag_text(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


def report_for(cfg: dict[str, Any], cin: int, cout: int, batch: int = 1) -> Any:
    flags = {
        "input": flag_text((*cfg["spatial"], cin)),
        "kernel": flag_text(cfg["kernel"]),
        "stride": flag_text(cfg["stride"]),
        "dilation": flag_text(cfg["dilation"]),
        "padding": cfg["padding"] if isinstance(cfg["padding"], str) else flag_text(cfg["padding"]),
        "filters": str(cout),
    }
    layer = layer_from_flags(flags)
    assert layer.input is not None  # the flags give one
    forms = lower(layer, layer.input, Width())
    return layer_report(Row(0, "t", layer.type, layer.input, forms), batch, "float32")


def nonempty(cfg: dict[str, Any]) -> bool:
    out = ref.spatial_out(
        cfg["spatial"], cfg["kernel"], cfg["stride"], cfg["dilation"], cfg["padding"]
    )
    return all(o > 0 for o in out)


# --------------------------------------------------------------------------- the ratio law


@SETTINGS
@given(
    cfg=window_configs(), cin=st.integers(1, 16), cout=st.integers(1, 64), batch=st.integers(1, 4)
)
def test_ratio_law_is_exact(cfg: dict[str, Any], cin: int, cout: int, batch: int) -> None:
    assume(prod(cfg["kernel"]) > 1 and nonempty(cfg))
    r = report_for(cfg, cin, cout, batch)
    ratio = Fraction(r.separable.total.macs, r.standard.macs)
    law = Fraction(1, cout) + Fraction(1, prod(cfg["kernel"]))
    assert ratio == law
    assert r.theory == law
    assert r.ratio_macs == law


@SETTINGS
@given(
    cin=st.integers(1, 64),
    cout=st.integers(1, 512),
    k=st.integers(2, 7),
    size=st.integers(7, 64),
    stride=st.integers(1, 3),
)
def test_ratio_law_on_square_2d_same_layers(
    cin: int, cout: int, k: int, size: int, stride: int
) -> None:
    """The MobileNet setting: a 2-D k×k conv with same padding."""
    cfg = {
        "spatial": (size, size),
        "kernel": (k, k),
        "stride": (stride, stride),
        "dilation": (1, 1),
        "padding": "same",
    }
    r = report_for(cfg, cin, cout)
    assert Fraction(r.separable.total.macs, r.standard.macs) == (
        Fraction(1, cout) + Fraction(1, k * k)
    )


# --------------------------------------------------------------------------- output shapes


@SETTINGS
@given(cfg=window_configs(), cin=st.integers(1, 8), cout=st.integers(1, 8))
def test_output_shape_rule(cfg: dict[str, Any], cin: int, cout: int) -> None:
    want = ref.spatial_out(
        cfg["spatial"], cfg["kernel"], cfg["stride"], cfg["dilation"], cfg["padding"]
    )
    if not all(o > 0 for o in want):
        try:
            report_for(cfg, cin, cout)
        except ShapeError:
            return
        raise AssertionError(f"expected a ShapeError for an empty output {want}")
    r = report_for(cfg, cin, cout)
    assert r.row.output_shape == (*want, cout)
    # every form ends in the same shape
    for ops in (r.row.forms.standard, r.row.forms.separable):
        assert ops[-1].out_shape == (*want, cout)


@SETTINGS
@given(size=st.integers(1, 300), k=st.integers(1, 9), s=st.integers(1, 6), d=st.integers(1, 4))
def test_same_padding_gives_ceil_in_over_stride(size: int, k: int, s: int, d: int) -> None:
    cfg = {"spatial": (size,), "kernel": (k,), "stride": (s,), "dilation": (d,), "padding": "same"}
    r = report_for(cfg, 2, 3)
    assert r.row.output_shape == (-(-size // s), 3)
    conv = r.row.forms.standard[0]
    assert isinstance(conv, Conv)
    before, after = conv.pads[0]
    assert (before, after) == ref.same_pads_1d(size, k, s, d)
    assert after - before in (0, 1)


# --------------------------------------------------------------------------- Conv vs reference


@st.composite
def conv_configs(draw: Any) -> dict[str, Any]:
    cfg = draw(window_configs(max_size=16))
    groups = draw(st.integers(1, 4))
    cin = groups * draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 4))
    return {
        **cfg,
        "groups": groups,
        "cin": cin,
        "cout": cout,
        "bias": draw(st.booleans()),
        "batch": draw(st.integers(1, 5)),
        "itemsize": draw(st.sampled_from([1, 2, 4, 8])),
    }


@SETTINGS
@given(c=conv_configs())
def test_conv_cost_matches_reference(c: dict[str, Any]) -> None:
    shape = (*c["spatial"], c["cin"])
    pads = ref.pads(c["padding"], c["spatial"], c["kernel"], c["stride"], c["dilation"])
    conv = Conv(
        shape,
        c["cout"],
        c["kernel"],
        c["stride"],
        c["dilation"],
        pads,
        groups=c["groups"],
        bias=c["bias"],
    )
    want = ref.conv(
        shape,
        c["cout"],
        c["kernel"],
        c["stride"],
        c["dilation"],
        c["padding"],
        c["groups"],
        c["bias"],
        c["batch"],
        c["itemsize"],
    )
    if not all(o > 0 for o in want.out_shape[:-1]):
        try:
            conv.cost(c["batch"], c["itemsize"])
        except ShapeError:
            return
        raise AssertionError("expected a ShapeError for an empty output")
    got = conv.cost(c["batch"], c["itemsize"])
    assert conv.out_shape == want.out_shape
    assert (got.macs, got.flops, got.params, got.weight_bytes) == (
        want.macs,
        want.flops,
        want.params,
        want.weight_bytes,
    )
    assert (got.input_bytes, got.output_bytes) == (want.input_bytes, want.output_bytes)


@SETTINGS
@given(c=conv_configs(), multiplier=st.integers(1, 3))
def test_both_forms_of_a_conv_layer_match_reference(c: dict[str, Any], multiplier: int) -> None:
    # a 1×1 conv has nothing to separate; its forms are equal (tested elsewhere)
    assume(prod(c["kernel"]) > 1)
    cfg = {k: c[k] for k in ("spatial", "kernel", "stride", "dilation", "padding")}
    assume(nonempty(cfg))
    itemsize = c["itemsize"]
    dtype = {1: "int8", 2: "float16", 4: "float32", 8: "float64"}[itemsize]
    flags = {
        "input": flag_text((*c["spatial"], c["cin"])),
        "kernel": flag_text(c["kernel"]),
        "stride": flag_text(c["stride"]),
        "dilation": flag_text(c["dilation"]),
        "padding": c["padding"] if isinstance(c["padding"], str) else flag_text(c["padding"]),
        "filters": str(c["cout"]),
        "groups": str(c["groups"]),
        "depth_multiplier": str(multiplier),
        "bias": c["bias"],
    }
    # groups = Cin > 1: already depthwise, its multiplier is Cout / Cin (docs/conventions.md)
    depthwise = c["groups"] == c["cin"] > 1
    if depthwise:
        flags["depth_multiplier"] = str(c["cout"] // c["cin"])
    layer = layer_from_flags(flags)
    assert layer.input is not None  # the flags give one
    forms = lower(layer, layer.input, Width())
    r = layer_report(Row(0, "t", layer.type, layer.input, forms), c["batch"], dtype)
    shape = (*c["spatial"], c["cin"])
    args = (shape, c["cout"], c["kernel"], c["stride"], c["dilation"], c["padding"])
    common = {"bias": c["bias"], "batch": c["batch"], "itemsize": itemsize}
    written = ref.conv(*args, groups=c["groups"], **common)
    std = ref.conv(*args, groups=1, **common)  # the standard form is always dense
    sep = ref.separable(*args, multiplier=multiplier, **common)
    zero = ref.RefCost(0, 0, 0, 0, 0, 0, 0, ())
    # a depthwise conv is its own separable form: all depthwise, no pointwise
    sep_parts = (written, written, zero) if depthwise else (sep.total, sep.depthwise, sep.pointwise)
    assert r.row.output_shape == std.out_shape
    for got, want in (
        (r.as_specified, written),
        (r.standard, std),
        (r.separable.total, sep_parts[0]),
        (r.separable.depthwise, sep_parts[1]),
        (r.separable.pointwise, sep_parts[2]),
    ):
        assert (got.macs, got.flops, got.params, got.weight_bytes) == (
            want.macs,
            want.flops,
            want.params,
            want.weight_bytes,
        )
        assert got.activation_bytes == want.activation_bytes
    if multiplier == 1 and not depthwise:  # grouped or not: the standard form is dense
        assert r.theory == Fraction(1, c["cout"]) + Fraction(1, prod(c["kernel"]))
    else:
        assert r.theory is None
