"""Width and resolution multipliers against naive reference counters written here.

* MobileNetV1: the paper's cost formulas (Howard et al. 2017, arXiv:1704.04861, §3.3):
  a depthwise-separable layer with width multiplier α and resolution multiplier ρ costs
  ``DK·DK·αM·ρDF·ρDF + αM·αN·ρDF·ρDF`` mult-adds, where DF is the layer's output size;
  α scales every channel count but the image's 3 input channels.
* MobileNetV2: an independent re-implementation of how torchvision builds it
  (``torchvision/models/mobilenetv2.py``): ``_make_divisible`` in floating point exactly as
  torchvision writes it, ``hidden = int(round(inp · t))`` (t is a whole number here),
  PyTorch's ``padding=1`` output size, and the last 1x1 conv at
  ``_make_divisible(1280 · max(1, α), 8)``.

Nothing below asks sepconv how to count; the two sides only meet in the asserts.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def profile(model: str, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["profile", model, *args, "--format", "json", "--no-time"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------------- MobileNetV1

# Howard et al. 2017, Table 1: conv 3x3/s2 to 32 channels, then 13 depthwise-separable
# layers (stride, output channels), average pool and a 1024 → 1000 fully connected layer.
# (Table 1's last "Conv dw / s2" maps 7x7 to 7x7: stride 1, as the table's shapes say.)
V1_BODY = [
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
]
DK = 3


def scaled(alpha: Fraction, channels: int) -> int:
    value = alpha * channels
    assert value.denominator == 1, "only α for which α·c is a whole number of channels"
    return int(value)


def mobilenet_v1_reference(alpha: Fraction, height: int, width: int) -> dict[str, Any]:
    """MACs and parameters of MobileNetV1 by the paper's formulas, BN after every conv.

    'same' padding keeps ``ceil(size / stride)``: a ρ·224 input gives ρ·112, ρ·56, ...
    """
    h, w = ceil_div(height, 2), ceil_div(width, 2)
    m = scaled(alpha, 32)
    conv1 = DK * DK * 3 * m * h * w  # standard conv, 3 input channels
    conv1_separable = DK * DK * 3 * h * w + 3 * m * h * w  # its depthwise + pointwise form
    macs = standard = conv1
    weights = DK * DK * 3 * m
    bn = 2 * m
    shapes = [(h, w, m)]
    for stride, channels in V1_BODY:
        h, w = ceil_div(h, stride), ceil_div(w, stride)
        n = scaled(alpha, channels)
        macs += DK * DK * m * h * w + m * n * h * w  # DK·DK·αM·ρDF² + αM·αN·ρDF²
        standard += DK * DK * m * n * h * w  # DK·DK·αM·αN·ρDF²
        weights += DK * DK * m + m * n
        bn += 2 * m + 2 * n
        m = n
        shapes.append((h, w, m))
    macs += m * 1000  # FC, 1000 classes (not scaled)
    standard += m * 1000
    weights += m * 1000 + 1000
    return {
        "macs": macs,
        "standard_macs": standard,
        "separable_macs": macs - conv1 + conv1_separable,
        "params": weights + bn,
        "bn_params": bn,
        "shapes": shapes,
    }


def test_reference_reproduces_the_paper() -> None:
    # Sanity check of the reference itself against Table 4 (569M, 4.2M; Conv MobileNet
    # 4866M without the classifier) before it is trusted for other α and ρ.
    ref = mobilenet_v1_reference(Fraction(1), 224, 224)
    assert round(ref["macs"] / 1e6) == 569
    assert round((ref["params"] - ref["bn_params"]) / 1e6, 1) == 4.2
    assert round((ref["standard_macs"] - 1_024_000) / 1e6) == 4866


V1_ALPHAS = ["1", "0.75", "0.5", "0.25", "0.125", "1.5", "2"]
V1_RESOLUTIONS = ["224", "192", "160", "128", "96", "100", "160x128"]


def _resolution(text: str) -> tuple[int, int]:
    parts = [int(p) for p in text.split("x")]
    return (parts[0], parts[-1])


@pytest.mark.parametrize("alpha", V1_ALPHAS)
@pytest.mark.parametrize("resolution", V1_RESOLUTIONS)
def test_mobilenet_v1_multipliers(alpha: str, resolution: str) -> None:
    height, width = _resolution(resolution)
    ref = mobilenet_v1_reference(Fraction(alpha), height, width)
    doc = profile("mobilenet_v1", "--width-multiplier", alpha, "--resolution", resolution)
    totals = doc["totals"]
    assert doc["input_shape"] == [height, width, 3]  # the image keeps its 3 channels
    assert totals["as_specified"]["macs"] == ref["macs"]
    assert totals["as_specified"]["params"] == ref["params"]
    assert totals["as_specified"]["bn_params"] == ref["bn_params"]
    assert totals["standard"]["macs"] == ref["standard_macs"]
    assert totals["separable"]["macs"] == ref["separable_macs"]
    # per-layer output shapes: conv1 and the 13 separable layers, repeats unrolled
    shapes = []
    for row in doc["layers"]:
        if row["type"] in ("conv", "separable"):
            shapes += [tuple(row["output_shape"])] * row["repeat"]
    assert shapes == ref["shapes"]
    assert doc["layers"][0]["input_shape"] == [height, width, 3]


def test_resolution_leaves_parameters_alone() -> None:
    base = profile("mobilenet_v1")["totals"]["as_specified"]["params"]
    for resolution in ("96", "160x128", "320"):
        doc = profile("mobilenet_v1", "--resolution", resolution)
        assert doc["totals"]["as_specified"]["params"] == base


# --------------------------------------------------------------------------- MobileNetV2


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision's ``_make_divisible``, float arithmetic and all (written from its
    definition: nearest multiple of ``divisor``, at least ``min_value``, bumped up one step
    if rounding down lost more than 10%)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# MobileNetV2 paper (Sandler et al. 2018, arXiv:1801.04381) Table 2, as torchvision lists it:
# t (expansion), c (output channels), n (repeats), s (stride of the first repeat)
V2_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def torch_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """PyTorch Conv2d output size."""
    return (size + 2 * padding - kernel) // stride + 1


def mobilenet_v2_reference(width_mult: float, resolution: int) -> dict[str, Any]:
    """MACs and params (batch-norm weight and bias included) of torchvision's MobileNetV2."""
    macs = params = bn = 0
    channels = []

    def conv(size: int, cin: int, cout: int, k: int, s: int, groups: int = 1) -> int:
        nonlocal macs, params, bn
        out = torch_out(size, k, s, (k - 1) // 2)
        macs += out * out * cout * (cin // groups) * k * k
        params += cout * (cin // groups) * k * k + 2 * cout  # no conv bias; BN weight+bias
        bn += 2 * cout
        return out

    input_channel = make_divisible(32 * width_mult, 8)
    last_channel = make_divisible(1280 * max(1.0, width_mult), 8)
    size = conv(resolution, 3, input_channel, 3, 2)
    channels.append(input_channel)
    for t, c, n, s in V2_SETTING:
        output_channel = make_divisible(c * width_mult, 8)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = input_channel * t  # torchvision: int(round(inp * expand_ratio))
            if t != 1:
                conv(size, input_channel, hidden, 1, 1)
            size = conv(size, hidden, hidden, 3, stride, groups=hidden)
            conv(size, hidden, output_channel, 1, 1)
            input_channel = output_channel
            channels.append(output_channel)
    conv(size, input_channel, last_channel, 1, 1)
    channels.append(last_channel)
    macs += last_channel * 1000  # Linear(last_channel, 1000)
    params += last_channel * 1000 + 1000
    return {
        "macs": macs,
        "params": params,
        "bn_params": bn,
        "channels": channels,
        "last_channel": last_channel,
        "final_size": size,
    }


def test_v2_reference_reproduces_torchvision() -> None:
    # torchvision MobileNet_V2_Weights.IMAGENET1K_V1.meta: num_params 3504872, _ops 0.301
    ref = mobilenet_v2_reference(1.0, 224)
    assert ref["params"] == 3_504_872
    assert round(ref["macs"] / 1e9, 3) == 0.301


def test_make_divisible_by_hand() -> None:
    # hand checks of the rule itself: 32·0.35 = 11.2 → nearest multiple of 8 is 8, but 8
    # loses 28.6% > 10%, so 16; 24·0.5 = 12 → int(16)//8·8 = 16; 1280·1.3 = 1664 stays;
    # 96·0.75 = 72 stays; 3 → at least 8.
    assert make_divisible(32 * 0.35, 8) == 16
    assert make_divisible(24 * 0.5, 8) == 16
    assert make_divisible(1280 * 1.3, 8) == 1664
    assert make_divisible(96 * 0.75, 8) == 72
    assert make_divisible(3, 8) == 8


V2_ALPHAS = [
    "0.1",
    "0.25",
    "0.35",
    "0.5",
    "0.6",
    "0.75",
    "0.9",
    "1.0",
    "1.05",
    "1.1",
    "1.3",
    "1.4",
    "2.0",
]


@pytest.mark.parametrize("alpha", V2_ALPHAS)
def test_mobilenet_v2_width_multiplier(alpha: str) -> None:
    ref = mobilenet_v2_reference(float(alpha), 224)
    doc = profile("mobilenet_v2", "--width-multiplier", alpha)
    total = doc["totals"]["as_specified"]
    # channel counts of conv1, the 17 bottlenecks and the last 1x1 conv, repeats unrolled
    channels = []
    for row in doc["layers"]:
        if row["type"] in ("conv", "inverted_residual", "pointwise"):
            channels += [row["output_shape"][-1]] * row["repeat"]
    assert channels == ref["channels"]
    assert total["macs"] == ref["macs"]
    assert total["params"] == ref["params"]
    assert total["bn_params"] == ref["bn_params"]


@pytest.mark.parametrize(
    ("alpha", "last"),
    # 1280·max(1, α) rounded to a multiple of 8, by hand: α ≤ 1 keeps 1280; 1280·1.05 = 1344;
    # 1280·1.1 = 1408; 1280·1.4 = 1792; 1280·2 = 2560.
    [
        ("0.35", 1280),
        ("0.5", 1280),
        ("1.0", 1280),
        ("1.05", 1344),
        ("1.1", 1408),
        ("1.4", 1792),
        ("2.0", 2560),
    ],
)
def test_mobilenet_v2_last_conv_is_1280_times_max_1_alpha(alpha: str, last: int) -> None:
    doc = profile("mobilenet_v2", "--width-multiplier", alpha)
    assert mobilenet_v2_reference(float(alpha), 224)["last_channel"] == last
    pointwise = [row for row in doc["layers"] if row["type"] == "pointwise"]
    assert pointwise[-1]["output_shape"][-1] == last
    dense = [row for row in doc["layers"] if row["type"] == "dense"]
    assert dense[-1]["input_shape"] == [last]
    assert dense[-1]["output_shape"] == [1000]  # class count is never scaled


@pytest.mark.parametrize("resolution", ["224", "192", "160", "128", "96", "100", "33"])
@pytest.mark.parametrize("alpha", ["0.35", "1.0", "1.4"])
def test_mobilenet_v2_resolution(alpha: str, resolution: str) -> None:
    ref = mobilenet_v2_reference(float(alpha), int(resolution))
    doc = profile("mobilenet_v2", "--width-multiplier", alpha, "--resolution", resolution)
    total = doc["totals"]["as_specified"]
    assert total["macs"] == ref["macs"]
    assert total["params"] == ref["params"]
    pooled = next(row for row in doc["layers"] if row["type"] == "global_pool")
    assert pooled["input_shape"][:2] == [ref["final_size"]] * 2


def test_width_multiplier_does_not_scale_the_image_channels() -> None:
    for model in ("mobilenet_v1", "mobilenet_v2"):
        doc = profile(model, "--width-multiplier", "0.5")
        assert doc["input_shape"][-1] == 3
        assert doc["layers"][0]["input_shape"][-1] == 3


def test_mobilenet_v1_truncates_fractional_widths_like_keras() -> None:
    # Keras applications.MobileNet builds each conv with int(filters * alpha) channels; at
    # alpha = 0.3: conv1 int(32 * 0.3) = 9, sep1 int(64 * 0.3) = 19, sep2 int(128 * 0.3) = 38.
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.presets import resolve_model

    model = build(resolve_model("mobilenet_v1"), width_multiplier=Fraction(3, 10))
    channels = [row.output_shape[-1] for row in model.rows[:3]]
    assert channels == [9, 19, 38]
