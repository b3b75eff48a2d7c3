"""Model specs: shape propagation, every layer type in its three forms, repeats, batch-norm,
totals, scale and errors.

Every expected count is hand arithmetic written next to the assert (positions × output
channels × input channels per group × kernel taps); none comes from sepconv itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
FORMS = ("as_specified", "standard", "separable")
SUMMED = ("macs", "flops", "params", "bn_params", "weight_bytes", "activation_bytes")


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def profile(path: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["profile", str(path), *args, "--format", "json", "--no-time"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def spec(tmp_path: Path, input_shape: str, *layers: str) -> dict[str, Any]:
    """Profile a model whose layers are given one flow mapping per line."""
    body = "".join(f"  - {layer}\n" for layer in layers)
    return profile(write(tmp_path, f"name: t\ninput: {input_shape}\nlayers:\n{body}"))


def one(tmp_path: Path, input_shape: str, layer: str) -> dict[str, Any]:
    doc = spec(tmp_path, input_shape, layer)
    assert len(doc["layers"]) == 1
    row: dict[str, Any] = doc["layers"][0]
    return row


def fail(path: Path, *args: str) -> str:
    """Run a profile that must fail as bad input: exit 2, one stderr line, no traceback."""
    result = runner.invoke(app, ["profile", str(path), *args, "--format", "json", "--no-time"])
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    err = result.stderr
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def assert_totals_are_row_sums(doc: dict[str, Any]) -> None:
    for form in FORMS:
        for key in SUMMED:
            rows = sum(row[form][key] for row in doc["layers"])
            assert doc["totals"][form][key] == rows, (form, key)


# --------------------------------------------------------------------------- shapes


def test_shape_propagation_2d(tmp_path: Path) -> None:
    doc = spec(
        tmp_path,
        "[32, 32, 3]",
        # same, stride 2: ceil(32/2) = 16
        "{type: conv, kernel: 3, filters: 16, stride: 2, padding: same}",
        # valid: 16 - 3 + 1 = 14
        "{type: conv, kernel: 3, filters: 16}",
        # max pool 3, stride 2, padding 1: floor((14 + 2 - 3)/2) + 1 = 7
        "{type: pool, kernel: 3, stride: 2, padding: 1, mode: max}",
        # same, stride 2: ceil(7/2) = 4
        "{type: separable, kernel: 3, filters: 24, stride: 2, padding: same}",
        # depthwise 2x2 valid, multiplier 2: 4 - 2 + 1 = 3, 24·2 = 48 channels
        "{type: depthwise, kernel: 2, depth_multiplier: 2}",
        # kernel [3, 1] with explicit padding [1, 0]: (3 + 2 - 3) + 1 = 3, (3 - 1) + 1 = 3
        "{type: conv, kernel: [3, 1], padding: [1, 0], filters: 8}",
        # dilation 2: the window spans 2·(3 - 1) + 1 = 5; padding 2: (3 + 4 - 5) + 1 = 3
        "{type: conv, kernel: 3, dilation: 2, padding: 2, filters: 8}",
        "{type: pointwise, filters: 12}",
        "{type: global_pool}",
        "{type: dense, units: 10}",
    )
    shapes = [(row["input_shape"], row["output_shape"]) for row in doc["layers"]]
    assert shapes == [
        ([32, 32, 3], [16, 16, 16]),
        ([16, 16, 16], [14, 14, 16]),
        ([14, 14, 16], [7, 7, 16]),
        ([7, 7, 16], [4, 4, 24]),
        ([4, 4, 24], [3, 3, 48]),
        ([3, 3, 48], [3, 3, 8]),
        ([3, 3, 8], [3, 3, 8]),
        ([3, 3, 8], [3, 3, 12]),
        ([3, 3, 12], [12]),
        ([12], [10]),
    ]
    assert doc["input_shape"] == [32, 32, 3]


def test_shape_propagation_1d_and_3d(tmp_path: Path) -> None:
    # 1-D: floor((100 - 5)/2) + 1 = 48; same stride 2: ceil(48/2) = 24
    doc = spec(
        tmp_path,
        "[100, 16]",
        "{type: conv, kernel: 5, stride: 2, filters: 32}",
        "{type: separable, kernel: 3, stride: 2, padding: same, filters: 8}",
    )
    assert [row["output_shape"] for row in doc["layers"]] == [[48, 32], [24, 8]]
    # conv: 48 positions · 32 · 16 · 5
    assert doc["layers"][0]["as_specified"]["macs"] == 48 * 32 * 16 * 5
    # 3-D, same stride 2: ceil(8/2) = 4, ceil(6/2) = 3, ceil(5/2) = 3
    doc = spec(
        tmp_path, "[8, 6, 5, 4]", "{type: conv, kernel: 3, stride: 2, padding: same, filters: 2}"
    )
    row = doc["layers"][0]
    assert row["output_shape"] == [4, 3, 3, 2]
    assert row["as_specified"]["macs"] == 4 * 3 * 3 * 2 * 4 * 27


# --------------------------------------------------------------------------- layer types


def test_conv_with_groups(tmp_path: Path) -> None:
    # 16x16x8 → 3x3 same, 16 filters, groups 4: 256 positions
    row = one(
        tmp_path, "[16, 16, 8]", "{type: conv, kernel: 3, filters: 16, groups: 4, padding: same}"
    )
    assert row["form"] == "grouped"
    assert row["output_shape"] == [16, 16, 16]
    # as specified: the layer as written, groups included: 256·16·(8/4)·9
    assert row["as_specified"]["macs"] == 256 * 16 * 2 * 9 == 73_728
    assert row["as_specified"]["params"] == 16 * 2 * 9 == 288
    # standard: the dense conv (groups 1): 256·16·8·9
    assert row["standard"]["macs"] == 256 * 16 * 8 * 9 == 294_912
    assert row["standard"]["params"] == 16 * 8 * 9 == 1_152
    # separable form ignores groups: depthwise 256·8·9 + pointwise 256·8·16
    sep = row["separable"]
    assert sep["depthwise"]["macs"] == 256 * 8 * 9 == 18_432
    assert sep["pointwise"]["macs"] == 256 * 8 * 16 == 32_768
    assert sep["macs"] == 18_432 + 32_768
    assert sep["params"] == 8 * 9 + 8 * 16 == 200
    assert row["ratio"]["macs"] == pytest.approx(51_200 / 294_912, abs=1e-6)


def test_conv_1x1_has_no_spatial_part_to_separate(tmp_path: Path) -> None:
    row = one(tmp_path, "[8, 8, 4]", "{type: conv, kernel: 1, filters: 16}")
    for form in FORMS:
        assert row[form]["macs"] == 64 * 4 * 16
        assert row[form]["params"] == 4 * 16


def test_conv_bias_counts_and_separable_bias_on_pointwise_only(tmp_path: Path) -> None:
    # 6x6x4, 3x3 valid → 4x4x8 = 16 positions, 128 outputs
    row = one(tmp_path, "[6, 6, 4]", "{type: conv, kernel: 3, filters: 8, bias: true}")
    assert row["standard"]["macs"] == 16 * 8 * 4 * 9 == 4608
    assert row["standard"]["params"] == 8 * 4 * 9 + 8  # weights + bias
    assert row["standard"]["flops"] == 2 * 4608 + 128  # + one add per output
    # Keras SeparableConv2D: depthwise (no bias) 4·9, pointwise 4·8 + 8 bias
    assert row["separable"]["params"] == 4 * 9 + 4 * 8 + 8
    assert row["separable"]["depthwise"]["params"] == 4 * 9
    assert row["separable"]["pointwise"]["params"] == 4 * 8 + 8
    macs = 16 * 4 * 9 + 16 * 4 * 8
    assert row["separable"]["flops"] == 2 * macs + 128


def test_depthwise_with_multiplier(tmp_path: Path) -> None:
    # 16x16x16, 3x3 same, M = 2 → 16x16x32
    row = one(
        tmp_path, "[16, 16, 16]", "{type: depthwise, kernel: 3, depth_multiplier: 2, padding: same}"
    )
    assert row["form"] == "depthwise"
    assert row["output_shape"] == [16, 16, 32]
    # as specified = its separable form = the depthwise layer itself: 256·32·1·9
    for form in ("as_specified", "separable"):
        assert row[form]["macs"] == 256 * 32 * 9 == 73_728
        assert row[form]["params"] == 32 * 9
    # standard form: the full conv 16 → 32 with groups = 1: 256·32·16·9
    assert row["standard"]["macs"] == 256 * 32 * 16 * 9 == 1_179_648
    assert row["standard"]["params"] == 32 * 16 * 9


def test_pointwise(tmp_path: Path) -> None:
    row = one(tmp_path, "[10, 10, 32]", "{type: pointwise, filters: 8}")
    assert row["output_shape"] == [10, 10, 8]
    # the declared form follows the type: a pointwise layer has no spatial part to separate,
    # so it is declared neither standard nor separable
    assert row["form"] == "none"
    for form in FORMS:
        assert row[form]["macs"] == 100 * 32 * 8


def test_one_by_one_conv_has_one_form(tmp_path: Path) -> None:
    """A 1×1 ``conv`` has one form (its three forms are the same convolution), so it is
    declared "none" like the ``pointwise`` layer it equals: the form follows the operation."""
    row = one(tmp_path, "[10, 10, 32]", "{type: conv, kernel: 1, filters: 8}")
    assert row["form"] == "none"
    for form in FORMS:
        assert row[form]["macs"] == 100 * 32 * 8  # 10·10 positions × 8 filters × 32 channels
        assert row[form]["params"] == 32 * 8


def test_separable(tmp_path: Path) -> None:
    # 14x14x32, 3x3 same, 64 filters, M = 1: 196 positions
    row = one(tmp_path, "[14, 14, 32]", "{type: separable, kernel: 3, filters: 64, padding: same}")
    assert row["form"] == "separable"
    dw, pw = 196 * 32 * 9, 196 * 32 * 64
    for form in ("as_specified", "separable"):
        assert row[form]["macs"] == dw + pw
        assert row[form]["params"] == 32 * 9 + 32 * 64
    assert row["separable"]["depthwise"]["macs"] == dw
    assert row["separable"]["pointwise"]["macs"] == pw
    assert row["standard"]["macs"] == 196 * 64 * 32 * 9
    assert row["standard"]["params"] == 64 * 32 * 9
    # the MobileNet law for M = 1, groups = 1: separable/standard = 1/Cout + 1/k² exactly
    assert (dw + pw) * 64 * 9 == 196 * 64 * 32 * 9 * (9 + 64)
    assert row["ratio"]["macs"] == pytest.approx(1 / 64 + 1 / 9, abs=1e-6)


def test_separable_with_depth_multiplier(tmp_path: Path) -> None:
    # 8x8x4, 3x3 same, M = 3, 10 filters: depthwise 4 → 12, pointwise 12 → 10
    row = one(
        tmp_path,
        "[8, 8, 4]",
        "{type: separable, kernel: 3, filters: 10, depth_multiplier: 3, padding: same}",
    )
    assert row["separable"]["depthwise"]["macs"] == 64 * 12 * 9
    assert row["separable"]["pointwise"]["macs"] == 64 * 12 * 10
    assert row["separable"]["params"] == 12 * 9 + 12 * 10
    assert row["standard"]["macs"] == 64 * 10 * 4 * 9


def test_inverted_residual_with_residual_add(tmp_path: Path) -> None:
    # 8x8x16, t = 6 → hidden 96, 16 filters, stride 1: shapes match, so an add
    row = one(tmp_path, "[8, 8, 16]", "{type: inverted_residual, expansion: 6, filters: 16}")
    assert row["form"] == "separable"
    assert row["output_shape"] == [8, 8, 16]
    expand, dw, project = 64 * 16 * 96, 64 * 96 * 9, 64 * 96 * 16
    assert row["as_specified"]["macs"] == expand + dw + project
    assert row["as_specified"]["params"] == 16 * 96 + 96 * 9 + 96 * 16
    # the add is 1 FLOP per output element (64·16); no bias, no batch-norm declared
    assert row["as_specified"]["flops"] == 2 * (expand + dw + project) + 64 * 16
    # standard form: the depthwise and the projection it feeds as one dense 3x3 conv from
    # the expanded width to the output, 96 → 16
    assert row["standard"]["macs"] == expand + 64 * 16 * 96 * 9
    assert row["separable"]["depthwise"]["macs"] == dw
    assert row["separable"]["pointwise"]["macs"] == expand + project


def test_inverted_residual_without_add(tmp_path: Path) -> None:
    # stride 2 (shapes differ) and channel change: no add; residual: false: no add either
    doc = spec(
        tmp_path,
        "[8, 8, 16]",
        "{type: inverted_residual, expansion: 6, filters: 16, stride: 2}",
        "{type: inverted_residual, expansion: 6, filters: 24}",
        "{type: inverted_residual, expansion: 6, filters: 24, residual: false}",
    )
    s2, grow, off = doc["layers"]
    assert s2["output_shape"] == [4, 4, 16]
    macs = 64 * 16 * 96 + 16 * 96 * 9 + 16 * 96 * 16  # expand at 8x8, dw and project at 4x4
    assert s2["as_specified"]["macs"] == macs
    assert s2["as_specified"]["flops"] == 2 * macs
    macs = 16 * 16 * 96 + 16 * 96 * 9 + 16 * 96 * 24
    assert grow["as_specified"]["flops"] == 2 * macs
    hidden = 24 * 6
    macs = 16 * 24 * hidden + 16 * hidden * 9 + 16 * hidden * 24
    assert off["as_specified"]["flops"] == 2 * macs  # shapes match but the add is off


def test_inverted_residual_expansion_one(tmp_path: Path) -> None:
    # t = 1 (MobileNetV2's first block): no expansion conv; dw 3x3 then project
    row = one(tmp_path, "[6, 6, 32]", "{type: inverted_residual, expansion: 1, filters: 16}")
    dw, project = 36 * 32 * 9, 36 * 32 * 16
    assert row["as_specified"]["macs"] == dw + project
    assert row["as_specified"]["params"] == 32 * 9 + 32 * 16
    assert row["standard"]["macs"] == 36 * 16 * 32 * 9  # one dense 3x3 conv 32 → 16
    # t = 1 and 16 → 16 channels at stride 1: no expansion, but the residual add
    row = one(tmp_path, "[6, 6, 16]", "{type: inverted_residual, expansion: 1, filters: 16}")
    macs = 36 * 16 * 9 + 36 * 16 * 16
    assert row["as_specified"]["macs"] == macs
    assert row["as_specified"]["flops"] == 2 * macs + 36 * 16


def test_dense(tmp_path: Path) -> None:
    # after global pooling: 64 features → 10 units, bias on by default
    doc = spec(tmp_path, "[4, 4, 64]", "{type: global_pool}", "{type: dense, units: 10}")
    dense = doc["layers"][1]
    assert dense["input_shape"] == [64]
    assert dense["form"] == "none"
    for form in FORMS:
        assert dense[form]["macs"] == 64 * 10
        assert dense[form]["params"] == 64 * 10 + 10
        assert dense[form]["flops"] == 2 * 640 + 10
    # on a spatial input it flattens: 4·4·8 = 128 features
    row = one(tmp_path, "[4, 4, 8]", "{type: dense, units: 10, bias: false}")
    assert row["as_specified"]["macs"] == 128 * 10
    assert row["as_specified"]["params"] == 128 * 10


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool(tmp_path: Path, mode: str) -> None:
    doc = spec(
        tmp_path,
        "[9, 9, 4]",
        # stride defaults to the kernel: floor((9 - 3)/3) + 1 = 3
        f"{{type: pool, kernel: 3, mode: {mode}}}",
        # kernel 3, stride 2, padding 1 on 3: floor((3 + 2 - 3)/2) + 1 = 2
        f"{{type: pool, kernel: 3, stride: 2, padding: 1, mode: {mode}}}",
        # same, stride 2 on 2: ceil(2/2) = 1
        f"{{type: pool, kernel: 2, stride: 2, padding: same, mode: {mode}}}",
    )
    assert [row["output_shape"] for row in doc["layers"]] == [[3, 3, 4], [2, 2, 4], [1, 1, 4]]
    for row in doc["layers"]:
        assert row["form"] == "none"
        for form in FORMS:
            assert row[form]["macs"] == 0
            assert row[form]["params"] == 0
    # one operation per window element per output: 3·3·4 outputs × 9
    assert doc["layers"][0]["as_specified"]["flops"] == 36 * 9


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_global_pool(tmp_path: Path, mode: str) -> None:
    row = one(tmp_path, "[7, 5, 32]", f"{{type: global_pool, mode: {mode}}}")
    assert row["output_shape"] == [32]
    assert row["as_specified"]["macs"] == 0
    assert row["as_specified"]["params"] == 0
    assert row["as_specified"]["flops"] == 7 * 5 * 32  # one per input element


def test_residual_identity_shortcut(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: t
input: [8, 8, 16]
layers:
  - type: residual
    name: block
    layers:
      - {type: conv, kernel: 3, filters: 16, padding: same}
      - {type: conv, kernel: 3, filters: 16, padding: same}
""",
    )
    doc = profile(path)
    types = [row["type"] for row in doc["layers"]]
    assert types == ["conv", "conv", "add"]
    add = doc["layers"][-1]
    assert add["output_shape"] == [8, 8, 16]
    assert add["as_specified"]["macs"] == 0
    assert add["as_specified"]["flops"] == 64 * 16
    conv = 64 * 16 * 16 * 9
    assert doc["totals"]["as_specified"]["macs"] == 2 * conv
    assert doc["totals"]["as_specified"]["flops"] == 2 * 2 * conv + 64 * 16
    assert_totals_are_row_sums(doc)


def test_residual_conv_shortcut(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: t
input: [8, 8, 16]
layers:
  - type: residual
    name: down
    layers:
      - {type: separable, kernel: 3, filters: 32, padding: same}
      - {type: pool, kernel: 3, stride: 2, padding: same, mode: max}
    shortcut:
      - {type: conv, kernel: 1, filters: 32, stride: 2}
  - {type: global_pool}
""",
    )
    doc = profile(path)
    rows = doc["layers"]
    assert [row["type"] for row in rows] == ["separable", "pool", "conv", "add", "global_pool"]
    shortcut = rows[2]
    assert shortcut["input_shape"] == [8, 8, 16]  # the block's input, not the pool's output
    assert shortcut["output_shape"] == [4, 4, 32]
    assert shortcut["as_specified"]["macs"] == 16 * 32 * 16  # 4x4 positions, 1x1, 16 → 32
    assert rows[3]["output_shape"] == [4, 4, 32]
    assert rows[4]["input_shape"] == [4, 4, 32]
    assert_totals_are_row_sums(doc)


def test_residual_shape_mismatch_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: t
input: [8, 8, 16]
layers:
  - {type: conv, kernel: 1, filters: 16}
  - type: residual
    layers:
      - {type: conv, kernel: 3, filters: 32, padding: same}
""",
    )
    err = fail(path)
    assert "layers[1]" in err
    assert "8x8x32" in err and "8x8x16" in err


# --------------------------------------------------------------------------- batch-norm


def test_batch_norm_accounting(tmp_path: Path) -> None:
    doc = spec(
        tmp_path,
        "[16, 16, 8]",
        # conv 8 → 16: BN on 16 channels
        "{type: conv, kernel: 3, filters: 16, padding: same, batch_norm: true}",
        # separable 16 → 32, BN after each conv: depthwise (16) and pointwise (32)
        "{type: separable, kernel: 3, filters: 32, padding: same, batch_norm: true}",
        # separable 32 → 32, BN only on its output (Xception's SeparableConv2D → BN)
        "{type: separable, kernel: 3, filters: 32, padding: same, batch_norm: output}",
        # inverted residual 32 → 32, t = 2: BN on 64, 64 and 32
        "{type: inverted_residual, expansion: 2, filters: 32, batch_norm: true}",
        "{type: conv, kernel: 3, filters: 8, padding: same}",  # none declared
    )
    conv, sep_each, sep_out, inv, plain = doc["layers"]
    assert conv["as_specified"]["bn_params"] == 2 * 16
    assert conv["as_specified"]["params"] == 16 * 8 * 9 + 2 * 16
    # FLOPs: 2 per MAC + BN's scale and shift, 2 per element of 16x16x16
    assert conv["as_specified"]["flops"] == 2 * 256 * 16 * 8 * 9 + 2 * 256 * 16
    assert sep_each["as_specified"]["bn_params"] == 2 * 16 + 2 * 32
    assert sep_each["as_specified"]["params"] == 16 * 9 + 16 * 32 + 2 * 16 + 2 * 32
    # its standard form is one conv, followed by one BN
    assert sep_each["standard"]["bn_params"] == 2 * 32
    assert sep_each["standard"]["params"] == 32 * 16 * 9 + 2 * 32
    assert sep_out["as_specified"]["bn_params"] == 2 * 32
    assert sep_out["as_specified"]["params"] == 32 * 9 + 32 * 32 + 2 * 32
    assert inv["as_specified"]["bn_params"] == 2 * 64 + 2 * 64 + 2 * 32
    assert inv["as_specified"]["params"] == 32 * 64 + 64 * 9 + 64 * 32 + 2 * (64 + 64 + 32)
    assert plain["as_specified"]["bn_params"] == 0
    total = doc["totals"]["as_specified"]
    assert total["bn_params"] == 32 + 96 + 64 + 320
    assert_totals_are_row_sums(doc)


def test_batch_norm_default_applies_to_every_layer(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: t
input: [4, 4, 3]
defaults: {padding: same, batch_norm: true}
layers:
  - {type: conv, kernel: 3, filters: 8}
  - {type: conv, kernel: 3, filters: 4, batch_norm: false}
""",
    )
    first, second = profile(path)["layers"]
    assert first["as_specified"]["bn_params"] == 16
    assert second["as_specified"]["bn_params"] == 0


# --------------------------------------------------------------------------- totals, repeats


def test_totals_are_the_plain_sum_of_rows(tmp_path: Path) -> None:
    doc = spec(
        tmp_path,
        "[32, 32, 3]",
        "{type: conv, kernel: 3, filters: 16, stride: 2, padding: same, batch_norm: true}",
        "{type: separable, kernel: 3, filters: 16, padding: same, repeat: 3}",
        "{type: depthwise, kernel: 3, padding: same, stride: 2}",
        "{type: inverted_residual, expansion: 6, filters: 16, batch_norm: true, repeat: 2}",
        "{type: pool, kernel: 2, mode: avg}",
        "{type: global_pool}",
        "{type: dense, units: 5}",
    )
    assert_totals_are_row_sums(doc)
    for preset in ("xception", "mobilenet_v2"):
        result = runner.invoke(app, ["profile", preset, "--format", "json", "--no-time"])
        assert result.exit_code == 0, result.stderr
        assert_totals_are_row_sums(json.loads(result.stdout))


def test_shape_preserving_repeat_folds_into_one_row(tmp_path: Path) -> None:
    doc = spec(
        tmp_path, "[8, 8, 8]", "{type: conv, kernel: 3, filters: 8, padding: same, repeat: 5}"
    )
    assert len(doc["layers"]) == 1
    row = doc["layers"][0]
    assert row["repeat"] == 5
    # one instance: 64 positions · 8 · 8 · 9 = 36,864 MACs and 576 params; five of them
    assert row["as_specified"]["macs"] == 5 * 64 * 8 * 8 * 9 == 184_320
    assert row["as_specified"]["params"] == 5 * 8 * 8 * 9
    assert row["separable"]["macs"] == 5 * (64 * 8 * 9 + 64 * 8 * 8)
    assert doc["totals"]["as_specified"]["macs"] == 184_320


def test_repeat_that_changes_shape_unrolls(tmp_path: Path) -> None:
    doc = spec(
        tmp_path,
        "[16, 16, 4]",
        "{type: separable, kernel: 3, filters: 4, stride: 2, padding: same, repeat: 3}",
    )
    rows = doc["layers"]
    assert [row["repeat"] for row in rows] == [1, 1, 1]
    assert [row["output_shape"] for row in rows] == [[8, 8, 4], [4, 4, 4], [2, 2, 4]]
    assert [row["as_specified"]["macs"] for row in rows] == [
        n * n * 4 * 9 + n * n * 4 * 4 for n in (8, 4, 2)
    ]
    assert len({row["name"] for row in rows}) == 3


def test_repeat_changing_shape_once_then_folding(tmp_path: Path) -> None:
    # the first instance maps 4 → 8 channels; the other three see 8 channels each time
    doc = spec(
        tmp_path, "[6, 6, 4]", "{type: conv, kernel: 3, filters: 8, padding: same, repeat: 4}"
    )
    rows = doc["layers"]
    assert [row["repeat"] for row in rows] == [1, 3]
    assert rows[0]["as_specified"]["macs"] == 36 * 8 * 4 * 9
    assert rows[1]["as_specified"]["macs"] == 3 * 36 * 8 * 8 * 9
    assert rows[1]["input_shape"] == [6, 6, 8]


def test_repeated_residual_block_folds(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: t
input: [5, 5, 8]
layers:
  - type: residual
    name: middle
    repeat: 8
    layers:
      - {type: separable, kernel: 3, filters: 8, padding: same}
      - {type: separable, kernel: 3, filters: 8, padding: same}
""",
    )
    doc = profile(path)
    assert [row["repeat"] for row in doc["layers"]] == [8, 8, 8]
    per_sep = 25 * 8 * 9 + 25 * 8 * 8
    assert doc["totals"]["as_specified"]["macs"] == 8 * 2 * per_sep
    assert doc["totals"]["as_specified"]["flops"] == 8 * (2 * 2 * per_sep + 25 * 8)


def test_huge_repeat_counts_exactly_in_one_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: t
input: [8, 8, 4]
layers:
  - {type: conv, kernel: 3, filters: 4, padding: same, batch_norm: true, repeat: 1000000000}
""",
    )
    # one row whose counts cover all 10^9 instances: the work does not grow with the repeat
    # (a loop over 10^9 instances would never finish). Speed itself is measured in
    # benchmarks/bench_counting.py, not asserted here.
    doc = profile(path)
    assert len(doc["layers"]) == 1
    row = doc["layers"][0]
    assert row["repeat"] == 10**9
    assert row["as_specified"]["macs"] == 10**9 * 64 * 4 * 4 * 9 == 9_216_000_000_000
    assert row["as_specified"]["params"] == 10**9 * (4 * 4 * 9 + 2 * 4)
    assert isinstance(doc["totals"]["as_specified"]["macs"], int)


def _ten_thousand_layers(tmp_path: Path) -> Path:
    # 10,000 distinct entries (not a repeat), alternating 8 → 16 → 8 channels so that no
    # two neighbours are identical: every entry is its own row.
    lines = ["name: big", "input: [8, 8, 8]", "layers:"]
    for i in range(10_000):
        filters = 16 if i % 2 == 0 else 8
        lines.append(f"  - {{type: separable, kernel: 3, filters: {filters}, padding: same}}")
    return write(tmp_path, "\n".join(lines) + "\n", "big.yaml")


# 5,000 layers 8 → 16 and 5,000 layers 16 → 8, separable 3x3 at 8x8 = 64 positions each
TEN_THOUSAND_MACS = 5000 * ((64 * 8 * 9 + 64 * 8 * 16) + (64 * 16 * 9 + 64 * 16 * 8))


def test_ten_thousand_layers_count_exactly() -> None:
    # Counting at scale: a 10,000-layer spec. The < 1 s goal is measured by
    # benchmarks/bench_counting.py (no test asserts a wall-clock speed); this checks the
    # counting itself at that size.
    from sepconv_cli.counting.network import build
    from sepconv_cli.counting.report import profile_report
    from sepconv_cli.spec.layers import LayerSpec, ModelSpec

    layers = tuple(
        LayerSpec(
            type="separable",
            where=f"layers[{i}]",
            kernel=(3,),
            filters=16 if i % 2 == 0 else 8,
            padding="same",
        )
        for i in range(10_000)
    )
    model = ModelSpec(name="big", input=(8, 8, 8), layers=layers)
    report = profile_report(build(model))
    assert len(report.layers) == 10_000
    assert report.totals.as_specified.macs == TEN_THOUSAND_MACS


def test_ten_thousand_layer_spec_profiles(tmp_path: Path) -> None:
    # The same as a user meets it: `sepconv profile big.yaml --format json`, end to end
    # (read and validate the YAML, count, render). Timed in benchmarks/bench_counting.py.
    path = _ten_thousand_layers(tmp_path)
    result = runner.invoke(app, ["profile", str(path), "--format", "json", "--no-time"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["layers"]) == 10_000
    assert doc["totals"]["as_specified"]["macs"] == TEN_THOUSAND_MACS


def test_batch_multiplies_activation_counts_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: t\ninput: [8, 8, 4]\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 8, padding: same}\n",
    )
    one_ = profile(path)["totals"]["as_specified"]
    four = profile(path, "--batch", "4")["totals"]["as_specified"]
    assert one_["macs"] == 64 * 8 * 4 * 9
    assert four["macs"] == 4 * 64 * 8 * 4 * 9
    assert four["params"] == one_["params"] == 8 * 4 * 9


# --------------------------------------------------------------------------- errors


def test_empty_output_names_the_layer_and_position(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: t
input: [8, 8, 3]
layers:
  - {type: conv, kernel: 3, filters: 8, padding: same}
  - {type: pool, kernel: 2}
  - {type: conv, kernel: 5, filters: 8}
""",
    )
    # layers[2] is on line 6 of the file (messages say file:line:col); 8 → pool 2 → 4, and a
    # valid 5x5 on 4 is empty
    err = fail(path)
    assert re.search(rf"{re.escape(str(path))}:6:\d+: layers\[2\]", err), err
    assert "empty" in err


def test_empty_output_in_a_folded_repeat_is_caught(tmp_path: Path) -> None:
    # valid 3x3 repeated: 7 → 5 → 3 → 1 → empty at the fourth instance
    path = write(
        tmp_path,
        "name: t\ninput: [7, 7, 2]\nlayers:\n"
        "  - {type: conv, kernel: 1, filters: 2}\n"
        "  - {type: conv, kernel: 3, filters: 2, repeat: 4}\n",
    )
    err = fail(path)
    assert "layers[1]" in err and f"{path}:5" in err


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: t
input: [8, 8, 3]
layers:
  - {type: conv, kernel: 3, filters: 8}
  - {type: conv, kernel: 3, filtres: 8}
""",
    )
    err = fail(path)
    assert f"{path}:5:" in err
    assert "layers[1].filtres" in err
    assert "did you mean 'filters'" in err


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: t\nimput: [8, 8, 3]\ninput: [8, 8, 3]\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 8}\n",
    )
    err = fail(path)
    assert f"{path}:2" in err and "did you mean 'input'" in err


def test_unknown_layer_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: t\ninput: [8, 8, 3]\nlayers:\n  - {type: seperable, kernel: 3, filters: 8}\n",
    )
    err = fail(path)
    assert f"{path}:4" in err
    assert "layers[0].type" in err and "'seperable'" in err
    assert "did you mean 'separable'" in err


def test_missing_input(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nlayers:\n  - {type: conv, kernel: 3, filters: 8}\n")
    err = fail(path)
    assert str(path) in err and "input" in err


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ninput: [8, 8, 3]\nlayers:\n  - {type: conv, kernel: 3}\n")
    err = fail(path)
    assert "layers[0]" in err and "filters" in err


def test_inverted_residual_batch_norm_output_only_after_the_projection(tmp_path: Path) -> None:
    # batch_norm: output puts one batch-norm after the block's last conv (the projection):
    # 2 params per output channel = 2 * 24, none after the expansion or the depthwise
    path = write(
        tmp_path,
        "name: t\ninput: [8, 8, 16]\nlayers:\n"
        "  - {type: inverted_residual, expansion: 6, filters: 24, batch_norm: output}\n",
    )
    assert profile(path)["totals"]["as_specified"]["bn_params"] == 2 * 24
