"""Per-type defaults beside the flat form, and which layer types a flat default reaches.

Expected values are hand arithmetic from the architectures: VGG-16 (Simonyan & Zisserman,
configuration D, as torchvision builds it: 3×3 convs with padding 1 and a bias, 2×2 max
pools, AdaptiveAvgPool2d(7), three linear layers) has 138,357,544 parameters (torchvision's
published count) and 15,346,630,656 convolution MACs plus 123,633,664 linear MACs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_models import fail, profile, write

VGG16_BODY = """
layers:
  - {type: conv, kernel: 3, filters: 64, repeat: 2}
  - {type: pool, kernel: 2}
  - {type: conv, kernel: 3, filters: 128, repeat: 2}
  - {type: pool, kernel: 2}
  - {type: conv, kernel: 3, filters: 256, repeat: 3}
  - {type: pool, kernel: 2}
  - {type: conv, kernel: 3, filters: 512, repeat: 3}
  - {type: pool, kernel: 2}
  - {type: conv, kernel: 3, filters: 512, repeat: 3}
  - {type: pool, kernel: 2}
  - {type: pool, mode: avg, output_size: 7}
  - {type: dense, units: 4096}
  - {type: dense, units: 4096}
  - {type: dense, units: 1000}
"""

# per 224×224 conv stage: H·W·9·Σ(Cin·Cout), by hand
VGG16_CONV_MACS = (
    224 * 224 * 9 * (3 * 64 + 64 * 64)
    + 112 * 112 * 9 * (64 * 128 + 128 * 128)
    + 56 * 56 * 9 * (128 * 256 + 2 * 256 * 256)
    + 28 * 28 * 9 * (256 * 512 + 2 * 512 * 512)
    + 14 * 14 * 9 * (3 * 512 * 512)
)
VGG16_LINEAR_MACS = 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000


def vgg(tmp_path: Path, defaults: str, *args: str) -> dict[str, Any]:
    text = f"name: vgg16\ninput: [224, 224, 3]\ndefaults: {defaults}\n{VGG16_BODY}"
    return profile(write(tmp_path, text), *args)


def pool_outputs(doc: dict[str, Any]) -> list[list[int]]:
    return [row["output_shape"] for row in doc["layers"] if row["type"] == "pool"]


def test_hand_counts_are_the_published_ones() -> None:
    assert VGG16_CONV_MACS == 15_346_630_656
    assert VGG16_CONV_MACS + VGG16_LINEAR_MACS == 15_470_264_320  # torchvision: 15.47 G


@pytest.mark.parametrize(
    "defaults",
    [
        "{conv: {padding: 1, bias: true}}",  # per type
        "{padding: 1, bias: true}",  # flat: a numeric padding does not reach the pools
        "{padding: 0, bias: true, conv: {padding: 1}}",  # per type wins over flat
    ],
)
def test_vgg16_pools_halve_the_size(tmp_path: Path, defaults: str) -> None:
    doc = vgg(tmp_path, defaults)
    assert pool_outputs(doc) == [
        [112, 112, 64],
        [56, 56, 128],
        [28, 28, 256],
        [14, 14, 512],
        [7, 7, 512],
        [7, 7, 512],  # the adaptive pool: the identity at 224
    ]
    total = doc["totals"]["as_specified"]
    assert total["macs"] == VGG16_CONV_MACS + VGG16_LINEAR_MACS
    assert total["params"] == 138_357_544


def test_vgg16_adaptive_pool_keeps_the_classifier_at_another_resolution(
    tmp_path: Path,
) -> None:
    doc = vgg(tmp_path, "{conv: {padding: 1, bias: true}}", "--resolution", "160")
    # 160 → 80 → 40 → 20 → 10 → 5, then AdaptiveAvgPool2d(7) gives 7×7×512 again
    assert pool_outputs(doc)[-2:] == [[5, 5, 512], [7, 7, 512]]
    fc1 = next(row for row in doc["layers"] if row["type"] == "dense")
    assert fc1["input_shape"] == [7, 7, 512]
    assert fc1["as_specified"]["macs"] == 25_088 * 4096


def test_same_still_reaches_pools(tmp_path: Path) -> None:
    # Keras pads Xception's pools `same`: a word means the same for a pool as for a conv
    path = write(
        tmp_path,
        "input: [147, 147, 8]\ndefaults: {padding: same}\nlayers:\n"
        "  - {type: pool, kernel: 3, stride: 2}\n",
    )
    assert pool_outputs(profile(path)) == [[74, 74, 8]]  # ceil(147 / 2); valid gives 73


def test_flat_stride_and_kernel_do_not_reach_pools(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input: [8, 8, 4]\ndefaults: {stride: 1, kernel: 3}\nlayers:\n"
        "  - {type: conv, filters: 4}\n  - {type: pool, kernel: 2}\n",
    )
    conv, pool = profile(path)["layers"]
    assert conv["output_shape"] == [6, 6, 4]  # kernel 3 and stride 1 from the defaults
    assert pool["output_shape"] == [3, 3, 4]  # stride = its own kernel 2: (6 - 2) // 2 + 1


def test_per_type_default_reaches_pools_and_a_layer_value_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input: [8, 8, 4]\ndefaults: {pool: {kernel: 2, mode: avg}}\nlayers:\n"
        "  - {type: pool}\n  - {type: pool, kernel: 3, stride: 1, mode: max}\n"
        "  - {type: pool, output_size: 1}\n",
    )
    first, second, third = profile(path)["layers"]
    assert first["output_shape"] == [4, 4, 4]
    assert first["as_specified"]["flops"] == 4 * 4 * 4 * 4  # avg: 4 elements per window
    assert second["output_shape"] == [2, 2, 4]
    # its own output_size replaces the default kernel: adaptive to 1×1 over 2×2 inputs
    assert third["output_shape"] == [1, 1, 4]


def test_per_type_defaults_reach_nested_layers_of_that_type_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input: [8, 8, 4]\ndefaults: {conv: {padding: 1}}\nlayers:\n"
        "  - type: residual\n    layers:\n      - {type: conv, kernel: 3, filters: 4}\n"
        "  - {type: separable, kernel: 3, filters: 4}\n",
    )
    conv, add, separable = profile(path)["layers"]
    assert conv["output_shape"] == [8, 8, 4]
    assert add["type"] == "add"
    assert separable["output_shape"] == [6, 6, 4]  # `conv:` does not reach separable


def test_residual_is_a_field_and_a_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input: [8, 8, 16]\ndefaults: {residual: false, residual_: 1}\nlayers:\n"
        "  - {type: inverted_residual, expansion: 2, filters: 16}\n",
    )
    err = fail(path)
    assert f"{path}:2:29: defaults.residual_: unknown layer field or type" in err
    path = write(
        tmp_path,
        "input: [8, 8, 16]\ndefaults: {residual: false}\nlayers:\n"
        "  - {type: inverted_residual, expansion: 2, filters: 16}\n",
    )
    assert [row["type"] for row in profile(path)["layers"]] == ["inverted_residual"]
    block = profile(path)["layers"][0]["as_specified"]
    # no add: 8·8·(16·32 + 32·9 + 32·16) MACs only
    assert block["flops"] == 2 * 8 * 8 * (16 * 32 + 32 * 9 + 32 * 16)


@pytest.mark.parametrize(
    ("defaults", "where", "message"),
    [
        ("{convv: {padding: 1}}", "2:12", "defaults.convv: unknown layer field or type"),
        ("{pool: {filters: 8}}", "2:19", "defaults.pool.filters: not a field of a pool layer"),
        ("{conv: {kernal: 3}}", "2:19", "defaults.conv.kernal: unknown key (did you mean"),
        ("{conv: {padding: -1}}", "2:28", "defaults.conv.padding: expected an integer >= 0"),
        ("{activation: relu}", "2:12", "defaults.activation: give activations per type"),
        ("{pool: {activation: elu}}", "2:31", "defaults.pool.activation: expected one of"),
    ],
)
def test_bad_defaults_are_located(tmp_path: Path, defaults: str, where: str, message: str) -> None:
    path = write(
        tmp_path, f"input: [8, 8, 4]\ndefaults: {defaults}\nlayers:\n  - {{type: global_pool}}\n"
    )
    err = fail(path)
    assert f"{path}:{where}: {message}" in err, err
