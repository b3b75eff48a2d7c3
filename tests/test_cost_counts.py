"""Counts of single layers against numbers that do not come from the code under test.

Expected values are hand arithmetic written out below, the MobileNet paper's published
numbers, or ``reference.py`` (a naive loop-counting reference written from
docs/conventions.md).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
import reference as ref  # tests/reference.py: pytest puts tests/ on the path

from sepconv_cli.counting.lowering import lower
from sepconv_cli.counting.network import Row
from sepconv_cli.counting.ops import Conv
from sepconv_cli.counting.report import LayerReport, layer_report
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.spec.flags import layer_from_flags


def report(flags: dict[str, Any], batch: int = 1, dtype: str = "float32") -> LayerReport:
    """flags (as the CLI passes them) → spec → forms → report, through the public functions."""
    layer = layer_from_flags(flags)
    assert layer.input is not None
    forms = lower(layer, layer.input, Width())
    row = Row(0, "t", layer.type, layer.input, forms)
    return layer_report(row, batch, dtype)


SEED = {"input": "12x12x3", "kernel": "5", "filters": "256"}


# --------------------------------------------------------------------------- seed example


def test_seed_example_macs() -> None:
    r = report(SEED)
    # valid padding: 12 - 5 + 1 = 8 per spatial dim
    assert r.row.output_shape == (8, 8, 256)
    assert r.standard.macs == 256 * 3 * 5 * 5 * 8 * 8 == 1_228_800
    assert r.separable.depthwise.macs == 3 * 5 * 5 * 8 * 8 == 4_800
    assert r.separable.pointwise.macs == 256 * 3 * 8 * 8 == 49_152
    assert r.separable.total.macs == 4_800 + 49_152 == 53_952
    assert r.separable.other.macs == 0


def test_seed_example_params_and_ratio() -> None:
    r = report(SEED)
    assert r.standard.params == 256 * 3 * 5 * 5 == 19_200
    assert r.separable.depthwise.params == 3 * 5 * 5 == 75
    assert r.separable.pointwise.params == 3 * 256 == 768
    assert r.separable.total.params == 75 + 768
    # M = 1, groups = 1: the ratio is exactly 1/256 + 1/25 = (25 + 256) / 6400 = 281/6400
    assert r.ratio_macs == Fraction(281, 6400)
    assert r.theory == Fraction(281, 6400)
    assert r.as_specified.macs == 1_228_800


def test_seed_example_bytes_float32() -> None:
    r = report(SEED)
    assert r.standard.weight_bytes == 19_200 * 4
    # input 12*12*3 = 432 values, output 8*8*256 = 16384 values
    assert r.standard.input_bytes == 432 * 4 == 1_728
    assert r.standard.output_bytes == 16_384 * 4 == 65_536
    assert r.standard.activation_bytes == 1_728 + 65_536
    # separable adds the depthwise output 8*8*3 = 192 values as an intermediate tensor
    assert r.separable.total.intermediate_bytes == 192 * 4
    assert r.separable.total.activation_bytes == 1_728 + 768 + 65_536 == 68_032


# --------------------------------------------------------------------------- MobileNet paper


def test_mobilenet_paper_single_layer_example() -> None:
    """Howard et al. 2017 (arXiv:1704.04861), section 3.1: a 14×14×512 feature map, 3×3
    kernel, 512 filters: 462M vs 52.3M mult-adds, 2.36M vs 0.27M parameters."""
    r = report({"input": "14x14x512", "kernel": "3", "filters": "512", "padding": "same"})
    assert r.row.output_shape == (14, 14, 512)
    assert r.standard.macs == 462_422_016  # 14*14*512*512*9
    assert r.separable.total.macs == 52_283_392  # 14*14*512*9 + 14*14*512*512
    assert r.separable.depthwise.macs == 14 * 14 * 512 * 9 == 903_168
    assert r.separable.pointwise.macs == 14 * 14 * 512 * 512 == 51_380_224
    assert r.standard.params == 2_359_296  # 512*512*9
    assert r.separable.total.params == 266_752  # 512*9 + 512*512
    assert r.theory == Fraction(1, 512) + Fraction(1, 9)
    assert r.ratio_macs == r.theory


# --------------------------------------------------------------------------- FLOPs, bias


def test_flops_are_twice_macs_without_bias() -> None:
    r = report(SEED)
    assert r.standard.flops == 2 * 1_228_800
    assert r.separable.total.flops == 2 * 53_952
    assert r.separable.depthwise.flops == 2 * 4_800
    assert r.separable.pointwise.flops == 2 * 49_152


def test_bias_adds_one_flop_per_output_and_cout_params_never_macs() -> None:
    r = report({**SEED, "bias": True})
    outputs = 8 * 8 * 256  # 16,384 output elements
    assert r.standard.macs == 1_228_800
    assert r.standard.flops == 2 * 1_228_800 + outputs == 2_473_984
    assert r.standard.params == 19_200 + 256 == 19_456


def test_bias_only_on_the_pointwise_of_the_separable_form() -> None:
    r = report({**SEED, "bias": True})
    assert r.separable.depthwise.params == 75  # no depthwise bias (Keras)
    assert r.separable.depthwise.flops == 2 * 4_800
    assert r.separable.pointwise.params == 768 + 256
    assert r.separable.pointwise.flops == 2 * 49_152 + 8 * 8 * 256
    assert r.separable.total.params == 75 + 768 + 256 == 1_099
    assert r.separable.total.macs == 53_952


# --------------------------------------------------------------------------- bytes, batch


@pytest.mark.parametrize(
    ("dtype", "itemsize"),
    [("float32", 4), ("float16", 2), ("int8", 1), ("float64", 8), ("bfloat16", 2)],
)
def test_bytes_per_dtype(dtype: str, itemsize: int) -> None:
    r = report(SEED, dtype=dtype)
    assert r.itemsize == itemsize
    assert r.standard.weight_bytes == 19_200 * itemsize
    assert r.standard.activation_bytes == (432 + 16_384) * itemsize
    assert r.separable.total.weight_bytes == 843 * itemsize
    assert r.separable.total.activation_bytes == (432 + 192 + 16_384) * itemsize
    assert r.standard.macs == 1_228_800  # dtype never changes counts


def test_batch_multiplies_macs_and_activations_not_params() -> None:
    one, four = report(SEED, batch=1), report(SEED, batch=4)
    assert four.standard.macs == 4 * 1_228_800
    assert four.standard.flops == 4 * 2 * 1_228_800
    assert four.separable.total.macs == 4 * 53_952
    assert four.standard.activation_bytes == 4 * one.standard.activation_bytes == 4 * 67_264
    assert four.separable.total.activation_bytes == 4 * 68_032
    assert four.standard.params == 19_200
    assert four.standard.weight_bytes == 19_200 * 4
    assert four.separable.total.params == 843


def test_batch_with_bias_multiplies_the_bias_flops_too() -> None:
    r = report({**SEED, "bias": True}, batch=3)
    assert r.standard.flops == 3 * (2 * 1_228_800 + 16_384)
    assert r.standard.params == 19_456


# --------------------------------------------------------------------------- grouped, depthwise


def test_grouped_conv_standard_form_is_dense_separable_ignores_groups() -> None:
    # 12x12x4, 3x3, 8 filters, groups 2 → 10x10x8; each output sees 4/2 = 2 input channels
    r = report({"input": "12x12x4", "kernel": "3", "filters": "8", "groups": "2"})
    assert r.row.output_shape == (10, 10, 8)
    assert r.row.form == "grouped"
    assert r.as_specified.macs == 10 * 10 * 8 * 2 * 9 == 14_400
    assert r.as_specified.params == 8 * 2 * 9 == 144
    # standard: the dense conv, every output sees all 4 input channels
    assert r.standard.macs == 10 * 10 * 8 * 4 * 9 == 28_800
    assert r.standard.params == 8 * 4 * 9 == 288
    assert r.separable.depthwise.macs == 10 * 10 * 4 * 9 == 3_600
    assert r.separable.pointwise.macs == 10 * 10 * 4 * 8 == 3_200
    # the standard form is dense, so the law holds: 1/8 + 1/9 = 17/72 = 6,800 / 28,800
    assert r.theory == Fraction(17, 72) == r.ratio_macs


def test_conv_with_groups_equal_to_channels_is_depthwise() -> None:
    # groups = Cin = Cout = 6: one input channel per output channel; 9 - 3 + 1 = 7
    r = report({"input": "9x9x6", "kernel": "3", "filters": "6", "groups": "6"})
    assert r.row.form == "depthwise"
    assert r.as_specified.macs == r.separable.total.macs == 7 * 7 * 6 * 1 * 9 == 2_646
    assert r.separable.depthwise.macs == 2_646 and r.separable.pointwise.macs == 0
    assert r.standard.macs == 7 * 7 * 6 * 6 * 9 == 15_876
    assert r.standard.params == 6 * 6 * 9 == 324
    assert r.theory is None  # its own separable form: no pointwise, no law


def test_conv_with_one_input_channel_is_dense() -> None:
    # groups = 1 = Cin: dense, so its separable form is depthwise 1 → 1 then pointwise 1 → 8
    r = report({"input": "6x6x1", "kernel": "3", "filters": "8"})
    assert r.row.form == "standard"
    assert r.standard.macs == 4 * 4 * 8 * 9 == 1_152
    assert r.separable.total.macs == 4 * 4 * 9 + 4 * 4 * 8 == 272


def test_depthwise_conv_with_a_disagreeing_depth_multiplier_is_an_error() -> None:
    # groups = Cin = 4, filters 8: already depthwise with M = 2; M = 3 beside it disagrees
    flags = {"input": "6x6x4", "kernel": "3", "filters": "8", "groups": "4"}
    assert report({**flags, "depth_multiplier": "2"}).separable.total.macs == 4 * 4 * 8 * 9
    with pytest.raises(ShapeError, match="filters / groups = 8/4 = 2") as info:
        report({**flags, "depth_multiplier": "3"})
    assert info.value.field == "depth_multiplier"


def test_depthwise_layer_with_multiplier() -> None:
    # depthwise 3x3, M = 2 on 12x12x4 → 10x10x8; standard form = full 4→8 conv
    r = report({"type": "depthwise", "input": "12x12x4", "kernel": "3", "depth_multiplier": "2"})
    assert r.row.form == "depthwise"
    assert r.row.output_shape == (10, 10, 8)
    assert r.as_specified.macs == 10 * 10 * 8 * 1 * 9 == 7_200
    assert r.as_specified.params == 8 * 9 == 72
    assert r.standard.macs == 10 * 10 * 8 * 4 * 9 == 28_800
    assert r.standard.params == 8 * 4 * 9 == 288
    assert r.separable.total.macs == 7_200


def test_separable_with_depth_multiplier() -> None:
    # conv 12x12x3 → 16, 3x3, M = 2: depthwise 3 → 6 channels, pointwise 6 → 16
    r = report({"input": "12x12x3", "kernel": "3", "filters": "16", "depth_multiplier": "2"})
    assert r.separable.depthwise.macs == 10 * 10 * 6 * 9 == 5_400
    assert r.separable.pointwise.macs == 10 * 10 * 6 * 16 == 9_600
    assert r.separable.depthwise.params == 6 * 9
    assert r.separable.pointwise.params == 6 * 16
    assert r.separable.total.intermediate_bytes == 10 * 10 * 6 * 4
    assert r.theory is None  # M != 1: the closed form does not apply


def test_one_by_one_conv_has_nothing_to_separate() -> None:
    r = report({"input": "7x7x32", "kernel": "1", "filters": "64"})
    assert r.standard.macs == 7 * 7 * 32 * 64
    assert r.separable.total.macs == 7 * 7 * 32 * 64
    assert r.theory is None


# --------------------------------------------------------------------------- exactness


def test_exact_counts_for_a_10_to_the_12_long_1d_input() -> None:
    n = 10**12
    r = report({"input": f"{n}x3", "kernel": "3", "filters": "256"})
    out = n - 3 + 1  # 999,999,999,998
    assert r.row.output_shape == (999_999_999_998, 256)
    std = out * 256 * 3 * 3
    assert std == 2_303_999_999_995_392
    assert r.standard.macs == std
    assert r.separable.depthwise.macs == out * 3 * 3 == 8_999_999_999_982
    assert r.separable.pointwise.macs == out * 3 * 256 == 767_999_999_998_464
    assert r.separable.total.macs == 776_999_999_998_446
    for value in (
        r.standard.macs,
        r.standard.flops,
        r.separable.total.macs,
        r.standard.activation_bytes,
    ):
        assert type(value) is int


def test_exact_counts_beyond_float_precision() -> None:
    # 2**53 ≈ 9.007e15: these counts cannot survive a float round trip
    n, batch = 10**12 + 1, 10**15 - 1
    r = report({"input": f"{n}x7", "kernel": "3", "filters": "1001"}, batch=batch)
    out = n - 2
    expected = batch * out * 1001 * 7 * 3
    # (10^15 - 1)(10^12 - 1) * 21021 = 21021 * (10^27 - 10^15 - 10^12 + 1)
    assert expected == 21021 * 10**27 - 21021 * 10**15 - 21021 * 10**12 + 21021
    assert expected == 21_020_999_999_978_957_979_000_000_021_021
    assert r.standard.macs == expected
    assert type(r.standard.macs) is int
    assert float(expected) != expected  # the check above would fail for a float count
    assert r.standard.flops == 2 * expected
    assert r.ratio_macs == Fraction(1, 1001) + Fraction(1, 3)


# --------------------------------------------------------------------------- output sizes

# (flags, expected output shape, hand arithmetic)
OUTPUT_CASES = [
    # 1D
    ({"input": "10x2", "kernel": "3", "stride": "2"}, (4, 5), "floor((10-3)/2)+1 = 4"),
    ({"input": "10x2", "kernel": "3", "dilation": "2"}, (6, 5), "10 - (2*2+1) + 1 = 6"),
    (
        {"input": "10x2", "kernel": "3", "stride": "2", "padding": "1"},
        (5, 5),
        "floor((10+2-3)/2)+1 = 5",
    ),
    ({"input": "10x2", "kernel": "3", "stride": "3", "padding": "same"}, (4, 5), "ceil(10/3) = 4"),
    (
        {"input": "10x2", "kernel": "4", "stride": "1", "padding": "same"},
        (10, 5),
        "ceil(10/1) = 10",
    ),
    (
        {"input": "11x2", "kernel": "2", "stride": "4", "dilation": "3", "padding": "2"},
        (3, 5),
        "floor((11+4-4)/4)+1 = 3",
    ),
    # 2D
    (
        {"input": "7x9x2", "kernel": "3x5", "stride": "2x1"},
        (3, 5, 5),
        "floor(4/2)+1 = 3, 9-5+1 = 5",
    ),
    (
        {"input": "224x224x3", "kernel": "3", "stride": "2", "padding": "same"},
        (112, 112, 5),
        "ceil(224/2) = 112",
    ),
    (
        {"input": "15x16x3", "kernel": "3", "stride": "2", "dilation": "2x1"},
        (6, 7, 5),
        "floor((15-5)/2)+1 = 6, floor((16-3)/2)+1 = 7",
    ),
    ({"input": "6x6x3", "kernel": "3", "padding": "1x2"}, (6, 8, 5), "6+2-3+1 = 6, 6+4-3+1 = 8"),
    (
        {"input": "7x7x3", "kernel": "3", "dilation": "2", "padding": "same"},
        (7, 7, 5),
        "ceil(7/1) = 7",
    ),
    # 3D
    (
        {"input": "8x32x32x3", "kernel": "3", "stride": "2", "padding": "same"},
        (4, 16, 16, 5),
        "ceil(8/2) = 4, ceil(32/2) = 16",
    ),
    (
        {"input": "8x10x12x1", "kernel": "3x3x5", "stride": "1x2x3"},
        (6, 4, 3, 5),
        "8-3+1 = 6, floor(7/2)+1 = 4, floor(7/3)+1 = 3",
    ),
    (
        {"input": "5x5x5x2", "kernel": "2", "dilation": "3", "padding": "1"},
        (4, 4, 4, 5),
        "5+2-4+1 = 4",
    ),
]


@pytest.mark.parametrize(
    ("flags", "expected", "why"), OUTPUT_CASES, ids=[c[2] for c in OUTPUT_CASES]
)
def test_output_shape_cases(flags: dict[str, str], expected: tuple[int, ...], why: str) -> None:
    r = report({**flags, "filters": "5"})
    assert r.row.output_shape == expected
    # the naive reference agrees with the hand arithmetic too
    f = flags
    shape = tuple(int(x) for x in f["input"].split("x"))
    rank = len(shape) - 1

    def dims(key: str, default: str) -> tuple[int, ...]:
        parts = tuple(int(x) for x in f.get(key, default).split("x"))
        return parts * rank if len(parts) == 1 else parts

    pad = f.get("padding", "valid")
    padding: Any = pad if pad in ("valid", "same") else dims("padding", "0")
    got = ref.spatial_out(
        shape[:-1], dims("kernel", "1"), dims("stride", "1"), dims("dilation", "1"), padding
    )
    assert (*got, 5) == expected


@pytest.mark.parametrize(
    ("size", "k", "s", "d", "pads"),
    [
        (224, 3, 2, 1, (0, 1)),  # total = 111*2 + 3 - 224 = 1 → the odd pad after
        (10, 3, 3, 1, (1, 1)),  # out 4, total = 3*3 + 3 - 10 = 2
        (7, 3, 1, 2, (2, 2)),  # total = 6 + 5 - 7 = 4
        (10, 4, 1, 1, (1, 2)),  # total = 9 + 4 - 10 = 3
        (9, 1, 2, 1, (0, 0)),  # total = max(8 + 1 - 9, 0) = 0
        (5, 2, 4, 1, (0, 1)),  # out = ceil(5/4) = 2; total = 1*4 + 1*1 + 1 - 5 = 1
    ],
)
def test_same_padding_pads_are_tensorflow_s(
    size: int, k: int, s: int, d: int, pads: tuple[int, int]
) -> None:
    r = report(
        {
            "input": f"{size}x1",
            "kernel": str(k),
            "stride": str(s),
            "dilation": str(d),
            "padding": "same",
            "filters": "1",
        }
    )
    conv = r.row.forms.standard[0]
    assert isinstance(conv, Conv)
    assert conv.pads == (pads,)
    assert ref.same_pads_1d(size, k, s, d) == pads


def test_explicit_padding_is_symmetric() -> None:
    r = report({"input": "6x6x3", "kernel": "3", "padding": "1x2", "filters": "4"})
    conv = r.row.forms.standard[0]
    assert isinstance(conv, Conv)
    assert conv.pads == ((1, 1), (2, 2))


def test_separable_form_uses_the_same_stride_padding_and_dilation() -> None:
    flags = {
        "input": "9x10x3",
        "kernel": "3",
        "stride": "2",
        "dilation": "2",
        "padding": "same",
        "filters": "4",
    }
    r = report(flags)
    # same, stride 2: ceil(9/2) = 5, ceil(10/2) = 5
    assert r.row.output_shape == (5, 5, 4)
    dw = r.row.forms.separable[0]
    assert isinstance(dw, Conv)
    assert dw.stride == (2, 2) and dw.dilation == (2, 2)
    assert dw.out_shape == (5, 5, 3)
    assert r.separable.depthwise.macs == 5 * 5 * 3 * 9
    assert r.separable.pointwise.macs == 5 * 5 * 3 * 4


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "flags",
    [
        {"input": "4x4x3", "kernel": "5", "filters": "8"},  # 4 - 5 + 1 = 0
        {"input": "4x3", "kernel": "3", "dilation": "2", "filters": "8"},  # 4 - 5 + 1 = 0
        {"input": "6x6x6x1", "kernel": "3x3x7", "filters": "2"},  # 6 - 7 + 1 = 0
        {"input": "2x2x1", "kernel": "4", "padding": "0", "filters": "1"},
    ],
)
def test_empty_output_is_a_shape_error(flags: dict[str, str]) -> None:
    with pytest.raises(ShapeError):
        report(flags)


def test_padding_can_rescue_an_otherwise_empty_output() -> None:
    r = report({"input": "4x4x3", "kernel": "5", "padding": "1", "filters": "8"})
    assert r.row.output_shape == (2, 2, 8)  # 4 + 2 - 5 + 1 = 2


@pytest.mark.parametrize(
    "flags",
    [
        {"input": "12x12x3", "kernel": "3", "filters": "256", "groups": "2"},  # 3 % 2
        {"input": "12x12x4", "kernel": "3", "filters": "6", "groups": "4"},  # 6 % 4
        {"input": "12x12x3", "kernel": "3", "filters": "256", "groups": "5"},
    ],
)
def test_groups_must_divide_both_channel_counts(flags: dict[str, str]) -> None:
    with pytest.raises(ShapeError) as info:
        report(flags)
    assert info.value.field == "groups"


def test_per_dim_value_count_must_match_the_rank() -> None:
    with pytest.raises(ShapeError):
        report({"input": "12x12x3", "kernel": "3x3x3", "filters": "4"})


# --------------------------------------------------------------------------- Conv vs reference

CONV_CONFIGS = [
    # in_shape, cout, kernel, stride, dilation, padding, groups, bias, batch, itemsize
    ((12, 12, 3), 256, (5, 5), (1, 1), (1, 1), "valid", 1, False, 1, 4),
    ((14, 14, 32), 32, (3, 3), (1, 1), (1, 1), "same", 32, False, 2, 4),
    ((17, 8), 12, (4,), (3,), (2,), "same", 4, True, 3, 2),
    ((33, 6), 9, (5,), (2,), (1,), (2,), 3, False, 1, 1),
    ((9, 11, 4), 8, (3, 2), (2, 3), (1, 2), (1, 0), 2, True, 5, 8),
    ((10, 7, 6), 6, (1, 1), (1, 1), (1, 1), "valid", 1, True, 1, 4),
    ((6, 7, 8, 4), 8, (3, 3, 3), (1, 2, 2), (1, 1, 2), "same", 4, False, 2, 2),
    ((5, 9, 10, 2), 4, (2, 3, 4), (2, 1, 3), (2, 2, 1), (1, 2, 0), 1, True, 1, 1),
    ((1, 1, 16), 16, (1, 1), (1, 1), (1, 1), "valid", 16, False, 7, 4),
    ((31, 31, 3), 24, (7, 7), (2, 2), (1, 1), (3, 3), 1, False, 1, 4),
    ((100, 16), 64, (9,), (4,), (3,), "valid", 8, True, 2, 4),
    ((3, 3, 3, 3), 9, (3, 3, 3), (1, 1, 1), (1, 1, 1), "same", 3, True, 1, 4),
]


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=[str(i) for i in range(len(CONV_CONFIGS))])
def test_conv_cost_matches_reference(config: tuple[Any, ...]) -> None:
    shape, cout, k, s, d, padding, groups, bias, batch, itemsize = config
    pads = ref.pads(padding, shape[:-1], k, s, d)
    conv = Conv(shape, cout, k, s, d, pads, groups=groups, bias=bias)
    got = conv.cost(batch, itemsize)
    want = ref.conv(shape, cout, k, s, d, padding, groups, bias, batch, itemsize)
    assert conv.out_shape == want.out_shape
    assert got.macs == want.macs
    assert got.flops == want.flops
    assert got.params == want.params
    assert got.weight_bytes == want.weight_bytes
    assert got.input_bytes == want.input_bytes
    assert got.output_bytes == want.output_bytes
    assert got.activation_bytes == want.activation_bytes
    assert got.bytes_moved == want.weight_bytes + want.input_bytes + want.output_bytes


SEPARABLE_CONFIGS = [
    # flags, batch, dtype → reference arguments
    ({"input": "12x12x3", "kernel": "5", "filters": "256"}, 1, "float32"),
    ({"input": "14x14x512", "kernel": "3", "filters": "512", "padding": "same"}, 1, "float32"),
    (
        {
            "input": "17x9x4",
            "kernel": "3x2",
            "filters": "10",
            "stride": "2",
            "dilation": "1x2",
            "padding": "same",
            "depth_multiplier": "3",
            "bias": True,
        },
        3,
        "float16",
    ),
    (
        {
            "input": "40x5",
            "kernel": "7",
            "filters": "3",
            "stride": "3",
            "padding": "2",
            "bias": True,
        },
        2,
        "int8",
    ),
    (
        {
            "input": "6x8x9x2",
            "kernel": "3",
            "filters": "5",
            "stride": "1x2x2",
            "padding": "1x0x1",
            "depth_multiplier": "2",
        },
        4,
        "float64",
    ),
]


@pytest.mark.parametrize(
    ("flags", "batch", "dtype"),
    SEPARABLE_CONFIGS,
    ids=[str(i) for i in range(len(SEPARABLE_CONFIGS))],
)
def test_both_forms_match_reference(flags: dict[str, Any], batch: int, dtype: str) -> None:
    itemsize = {"float32": 4, "float16": 2, "int8": 1, "float64": 8}[dtype]
    r = report(flags, batch=batch, dtype=dtype)
    shape = tuple(int(x) for x in flags["input"].split("x"))
    rank = len(shape) - 1

    def dims(key: str, default: str) -> tuple[int, ...]:
        parts = tuple(int(x) for x in flags.get(key, default).split("x"))
        return parts * rank if len(parts) == 1 else parts

    pad = flags.get("padding", "valid")
    padding: Any = pad if pad in ("valid", "same") else dims("padding", "0")
    args = (
        shape,
        int(flags["filters"]),
        dims("kernel", "1"),
        dims("stride", "1"),
        dims("dilation", "1"),
        padding,
    )
    bias = bool(flags.get("bias", False))
    std = ref.conv(*args, groups=1, bias=bias, batch=batch, itemsize=itemsize)
    sep = ref.separable(
        *args,
        multiplier=int(flags.get("depth_multiplier", "1")),
        bias=bias,
        batch=batch,
        itemsize=itemsize,
    )
    assert r.row.output_shape == std.out_shape == sep.total.out_shape
    for got, want in (
        (r.standard, std),
        (r.separable.total, sep.total),
        (r.separable.depthwise, sep.depthwise),
        (r.separable.pointwise, sep.pointwise),
    ):
        assert (got.macs, got.flops, got.params, got.weight_bytes) == (
            want.macs,
            want.flops,
            want.params,
            want.weight_bytes,
        )
        assert (got.input_bytes, got.intermediate_bytes, got.output_bytes) == (
            want.input_bytes,
            want.intermediate_bytes,
            want.output_bytes,
        )
