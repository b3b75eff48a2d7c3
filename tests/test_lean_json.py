"""The lean serialisation of big reports gives exactly the bytes of the plain one.

``Cost.as_dict`` is written out key by key (no ``dataclasses.fields`` per call), and past
``PRETTY_JSON_LAYERS`` layers a profile's compact JSON is built one layer at a time with
each distinct set of counts encoded once. The reference here is ``json.dumps`` of the
whole document (the definition of the contract); values are hand-computed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.cost import Cost
from sepconv_cli.counting.network import build
from sepconv_cli.counting.report import profile_report
from sepconv_cli.output import json as json_output
from sepconv_cli.spec.layers import LayerSpec, ModelSpec
from sepconv_cli.spec.presets import preset_paths, resolve_model

PRESETS = sorted(preset_paths())


def reference(doc: object) -> str:
    return json.dumps(doc, separators=(",", ":")) + "\n"


def test_cost_as_dict_keys_follow_the_fields_and_values_are_exact() -> None:
    cost = Cost(10, 20, 30, 4, 120, 7, 8, 9, 3)
    names = [f.name for f in dataclasses.fields(Cost)]
    assert list(cost.as_dict()) == [*names, "activation_bytes", "arithmetic_intensity"]
    assert cost.as_dict() == {
        "macs": 10,
        "flops": 20,
        "params": 30,
        "bn_params": 4,
        "weight_bytes": 120,
        "input_bytes": 7,
        "output_bytes": 8,
        "intermediate_bytes": 9,
        "bytes_moved": 3,
        "activation_bytes": 7 + 9 + 8,
        "arithmetic_intensity": 6.666667,  # 20 / 3 to six places
    }
    assert Cost().as_dict()["arithmetic_intensity"] == 0.0


@pytest.mark.parametrize("name", PRESETS)
def test_compact_profile_is_json_dumps_of_the_document(name: str) -> None:
    report = profile_report(build(resolve_model(name)))
    expected = reference(json_output.profile_dict(report))
    assert json_output.compact_profile_json(report) == expected


def test_compact_profile_with_notes_repeats_and_no_layers() -> None:
    report = profile_report(build(resolve_model("mobilenet_v1")))
    noted = tuple(
        dataclasses.replace(layer, note="split in 2 parts") if i % 3 == 0 else layer
        for i, layer in enumerate(report.layers)
    )
    for variant in (
        dataclasses.replace(report, layers=noted),
        dataclasses.replace(report, layers=()),
    ):
        assert json_output.compact_profile_json(variant) == reference(
            json_output.profile_dict(variant)
        )


def big_model(count: int) -> ModelSpec:
    """Alternating conv and separable 3×3 layers at 8×8×4, every tenth one repeated twice."""
    layers = tuple(
        LayerSpec(
            type="conv" if i % 2 == 0 else "separable",
            where=f"layers[{i}]",
            kernel=(3,),
            filters=4,
            padding="same",
            repeat=2 if i % 10 == 0 else 1,
        )
        for i in range(count)
    )
    return ModelSpec(name="big", input=(8, 8, 4), layers=layers)


def test_past_the_pretty_limit_the_report_is_compact_and_the_same_document() -> None:
    report = profile_report(build(big_model(json_output.PRETTY_JSON_LAYERS + 1)))
    text = json_output.profile_json(report)
    assert text == reference(json_output.profile_dict(report))
    doc = json.loads(text)
    assert len(doc["layers"]) == json_output.PRETTY_JSON_LAYERS + 1
    # a 3x3 conv at 8x8x4 -> 4 filters, same padding: 8*8*4*(3*3*4) = 9,216 MACs; repeat 2
    assert doc["layers"][0]["as_specified"]["macs"] == 2 * 9_216
    assert doc["layers"][2]["as_specified"]["macs"] == 9_216


def test_the_cli_prints_the_compact_report_whole(tmp_path: Path) -> None:
    """Written to stdout in slices: the text arrives whole and parses."""
    lines = ["name: big", "input: [8, 8, 4]", "layers:"]
    lines += [
        f"  - {{type: {'conv' if i % 2 == 0 else 'separable'}, kernel: 3, filters: 4, "
        "padding: same}"
        for i in range(1_200)
    ]
    spec = tmp_path / "big.yaml"
    spec.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["profile", str(spec), "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    report = profile_report(build(resolve_model(str(spec))))
    assert result.stdout == reference(json_output.profile_dict(report))


def test_cost_total_is_the_field_wise_sum() -> None:
    costs = [Cost(1, 2, 3, 4, 5, 6, 7, 8, 9), Cost(10, 20, 30, 40, 50, 60, 70, 80, 90)]
    assert Cost.total(costs) == Cost(11, 22, 33, 44, 55, 66, 77, 88, 99)
    assert Cost.total([]) == Cost()
