"""An inverted residual's expanded width given in channels (``expanded: 88``) as well as a
ratio (``expansion: 3.667``), and how both follow ``--width-multiplier``.

Expected values are hand arithmetic from torchvision's definitions, written out here:
MobileNetV3 scales every channel count, expanded widths included, with
``_make_divisible(c · α, 8)`` = ``max(8, int(c·α + 4) // 8 * 8)``, plus 8 when that is below
``0.9 · c·α``; MobileNetV2's hidden width is ``round(Cin · t)`` of the (already scaled)
input. With ``channel_divisor: 1`` a channel count becomes ``max(1, floor(c · α))`` (Keras).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def rows(tmp_path: Path, text: str, *args: str) -> list[dict[str, Any]]:
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["profile", str(path), *args, "--format", "json", "--no-time"])
    assert result.exit_code == 0, result.stderr
    out: list[dict[str, Any]] = json.loads(result.stdout)["layers"]
    return out


def model(input_shape: str, *layers: str, divisor: int = 8) -> str:
    body = "".join(f"  - {layer}\n" for layer in layers)
    return f"input: {input_shape}\nchannel_divisor: {divisor}\nlayers:\n{body}"


def test_expanded_88_on_24_channels_equals_the_ratio(tmp_path: Path) -> None:
    # MobileNetV3-Small's bneck (24, 3, 88, 24, RE, stride 1) at 28x28: 24 → 88 → 24 + add
    explicit, ratio = rows(
        tmp_path,
        model(
            "[28, 28, 24]",
            "{type: inverted_residual, expanded: 88, filters: 24}",
            "{type: inverted_residual, expansion: 3.667, filters: 24}",  # round(88.008) = 88
        ),
    )
    hw = 28 * 28
    macs = hw * 24 * 88 + hw * 88 * 9 + hw * 88 * 24
    assert macs == 3_932_544
    assert explicit["as_specified"]["macs"] == macs
    assert explicit["as_specified"]["params"] == 24 * 88 + 88 * 9 + 88 * 24 == 5_016
    assert explicit["as_specified"]["flops"] == 2 * macs + hw * 24  # + the residual add
    for form in ("as_specified", "standard", "separable"):
        assert explicit[form] == ratio[form], form


def test_expanded_equal_to_the_input_has_no_expansion_conv(tmp_path: Path) -> None:
    # MobileNetV3-Large's first bneck (16, 3, 16, 16, RE, stride 1): torchvision expands only
    # when expanded != input, so depthwise 3x3 then project, plus the add
    (row,) = rows(
        tmp_path, model("[112, 112, 16]", "{type: inverted_residual, expanded: 16, filters: 16}")
    )
    hw = 112 * 112
    assert row["as_specified"]["macs"] == hw * 16 * 9 + hw * 16 * 16 == 5_017_600
    assert row["as_specified"]["params"] == 16 * 9 + 16 * 16


def test_width_multiplier_scales_expanded_with_the_model_rounding(tmp_path: Path) -> None:
    # MobileNetV3-Large at width 0.75, features[4..5]: the pointwise gives the block its
    # scaled input, 40 · 0.75 = 30 → int(34) // 8 * 8 = 32 (>= 27); expanded 120 · 0.75 = 90 →
    # int(94) // 8 * 8 = 88 (>= 81); filters 40 → 32; SE _make_divisible(88 // 4 = 22, 8) =
    # int(26) // 8 * 8 = 24 (>= 19.8)
    text = model(
        "[28, 28, 3]",
        "{type: pointwise, filters: 40}",
        "{type: inverted_residual, expanded: 120, filters: 40, kernel: 5, se_ratio: 0.25, "
        "se_divisor: 8}",
        "{type: inverted_residual, expansion: 3, filters: 40, kernel: 5}",
    )
    _, block, ratio = rows(tmp_path, text, "--width-multiplier", "0.75")
    hw = 28 * 28
    assert block["input_shape"] == [28, 28, 32] and block["output_shape"] == [28, 28, 32]
    macs = hw * 32 * 88 + hw * 88 * 25 + 2 * 88 * 24 + hw * 88 * 32
    assert macs == 6_144_512
    assert block["as_specified"]["macs"] == macs
    se = 88 * 24 + 24 + 24 * 88 + 88
    assert block["as_specified"]["params"] == 32 * 88 + 88 * 25 + se + 88 * 32 == 12_168
    # the ratio is of the block's scaled input: round(32 · 3) = 96, not torchvision's 88
    assert ratio["as_specified"]["params"] == 32 * 96 + 96 * 25 + 96 * 32
    # at width 1 the explicit width is as written: 120
    _, block, _ = rows(tmp_path, text)
    assert (
        block["as_specified"]["params"] == 40 * 120 + 120 * 25 + 120 * 32 * 2 + 32 + 120 + 120 * 40
    )


def test_width_multiplier_without_a_divisor_truncates(tmp_path: Path) -> None:
    # channel_divisor 1: max(1, floor(c · α)). 120 · 0.3 = 36; filters 16 · 0.3 = 4.8 → 4;
    # an explicit se_channels 10 · 0.3 = 3 (never rounded to the divisor)
    text = model(
        "[4, 4, 8]",
        "{type: inverted_residual, expanded: 120, filters: 16, se_channels: 10}",
        divisor=1,
    )
    (row,) = rows(tmp_path, text, "--width-multiplier", "0.3")
    assert row["output_shape"] == [4, 4, 4]
    se = 36 * 3 + 3 + 3 * 36 + 36
    assert row["as_specified"]["params"] == 8 * 36 + 36 * 9 + se + 36 * 4


def test_width_floor_holds_the_expanded_width(tmp_path: Path) -> None:
    # width_floor 1.0 scales this layer by max(α, 1) = 1: expanded stays 64, filters 16
    text = model(
        "[4, 4, 8]", "{type: inverted_residual, expanded: 64, filters: 16, width_floor: 1.0}"
    )
    (row,) = rows(tmp_path, text, "--width-multiplier", "0.5")
    assert row["as_specified"]["params"] == 8 * 64 + 64 * 9 + 64 * 16


def test_a_layer_expanded_hides_a_default_expansion(tmp_path: Path) -> None:
    text = model(
        "[4, 4, 8]",
        "{type: inverted_residual, filters: 8}",
        "{type: inverted_residual, expanded: 24, filters: 8}",
    ).replace("layers:", "defaults: {expansion: 2}\nlayers:")
    a, b = rows(tmp_path, text)
    assert a["as_specified"]["params"] == 8 * 16 + 16 * 9 + 16 * 8
    assert b["as_specified"]["params"] == 8 * 24 + 24 * 9 + 24 * 8


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            "{type: inverted_residual, filters: 8, expansion: 6, expanded: 48}",
            ":3:57: layers[0].expanded: give expansion or expanded, not both",
        ),
        (
            "{type: inverted_residual, filters: 8}",
            ":3:5: layers[0]: an inverted_residual layer needs expansion or expanded",
        ),
        (
            "{type: inverted_residual, filters: 8, expanded: 0}",
            ":3:53: layers[0].expanded: expected an integer >= 1, got 0",
        ),
        (
            "{type: inverted_residual, filters: 8, expanded: 1.5}",
            ":3:53: layers[0].expanded: expected an integer >= 1, got 1.5 (a float)",
        ),
        (
            "{type: inverted_residual, filters: 8, expansion: 0}",
            ":3:54: layers[0].expansion: expected a number > 0, got 0",
        ),
        (
            "{type: conv, kernel: 3, filters: 8, expanded: 16}",
            ":3:41: layers[0].expanded: not a field of a conv layer",
        ),
    ],
)
def test_bad_widths_are_located(tmp_path: Path, layer: str, message: str) -> None:
    # columns counted by hand: in "  - {type: inverted_residual, filters: 8, expanded: 0}"
    # "  - {" is columns 1-5, "type: inverted_residual, " 6-30, "filters: 8, " 31-42, so the
    # next key is at 43 and its value at 43 + len("expanded: ") = 53; a key problem points
    # at the key, a bad value at the value
    path = tmp_path / "model.yaml"
    path.write_text(f"input: [4, 4, 8]\nlayers:\n  - {layer}\n", encoding="utf-8")
    result = runner.invoke(app, ["profile", str(path), "--no-time"])
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"sepconv: error: {path}{message}"), line


def test_defaults_may_not_give_both(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(
        "input: [4, 4, 8]\ndefaults: {expansion: 2, expanded: 16}\n"
        "layers:\n  - {type: inverted_residual, filters: 8}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    # "defaults: {" is columns 1-11, "expansion: 2, " 12-25: the second key is at 26
    assert f"{path}:2:26: defaults.expanded: give expansion or expanded, not both" in result.stdout


def test_the_schema_wants_exactly_one_width() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from sepconv_cli.spec.schema import model_schema

    validator = jsonschema.Draft202012Validator(model_schema())

    def ok(layer: dict[str, Any], defaults: dict[str, Any] | None = None) -> bool:
        spec: dict[str, Any] = {"input": [8, 8, 16], "layers": [layer]}
        if defaults is not None:
            spec["defaults"] = defaults
        return not list(validator.iter_errors(spec))

    ir: dict[str, Any] = {"type": "inverted_residual", "filters": 16}
    assert ok({**ir, "expanded": 88}) and ok({**ir, "expansion": 3.667})
    assert not ok(ir)
    assert not ok({**ir, "expanded": 88, "expansion": 6})
    assert not ok({**ir, "expanded": 0})
    assert not ok({**ir, "expansion": 6}, {"expansion": 2, "expanded": 8})
