"""The round trip: every preset → ``sepconv export`` → ``sepconv profile model.onnx`` gives
the preset's MACs and params (issue 14).

Two independent paths meet here: the YAML spec lowered by ``counting/`` and the ONNX graph
read node by node by ``interchange/``. The preset's own numbers are pinned to published and
torchvision counts in tests/test_presets.py and tests/test_torchvision_presets.py.

As specified, every preset must agree. The standard and separable what-ifs agree too for
presets written with plain convolutions; a YAML ``separable`` layer is one layer whose
standard form is a single dense conv, while its ONNX export is a depthwise and a pointwise
node, each with its own standard form, so those presets (mobilenet_v1, xception) differ
there by design (docs/conventions.md, the three forms).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

pytest.importorskip("onnx")

runner = CliRunner()
PRESETS = (
    "seed_example",
    "mobilenet_v1",
    "mobilenet_v2",
    "xception",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "mnasnet1_0",
    "resnet50",
    "shufflenet_v2_x1_0",
    "convnext_tiny",
    "efficientnet_v2_s",
    "regnet_y_400mf",
)
WRITTEN_WITH_SEPARABLE_LAYERS = {"seed_example", "mobilenet_v1", "xception"}


def totals(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["profile", *args, "--no-time", "--format", "json", "-q"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert not doc.get("uncounted_nodes"), doc.get("uncounted_nodes")
    found: dict[str, Any] = doc["totals"]
    return found


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_exported_and_read_back_counts_the_same(tmp_path: Path, preset: str) -> None:
    path = tmp_path / f"{preset}.onnx"
    exported = runner.invoke(app, ["export", preset, "-o", str(path), "-q"])
    assert exported.exit_code == 0, exported.stderr
    spec, graph = totals(preset), totals(str(path))
    forms = ["as_specified"]
    if preset not in WRITTEN_WITH_SEPARABLE_LAYERS:
        forms += ["standard", "separable"]
    for form in forms:
        for key in ("macs", "params", "bn_params"):
            assert graph[form][key] == spec[form][key], (form, key)


def exported(tmp_path: Path, preset: str) -> Path:
    path = tmp_path / f"{preset}.onnx"
    result = runner.invoke(app, ["export", preset, "-o", str(path), "-q"])
    assert result.exit_code == 0, result.stderr
    return path


def test_cost_of_an_onnx_file_compares_each_convolution(tmp_path: Path) -> None:
    # the worked example: 12x12x3, 5x5, 256 filters: 256·3·25·64 = 1,228,800 standard,
    # 3·25·64 + 256·3·64 = 53,952 separable
    result = runner.invoke(
        app, ["cost", "--spec", str(exported(tmp_path, "seed_example")), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    (layer,) = json.loads(result.stdout)["layers"]
    assert layer["standard"]["macs"] == 1_228_800
    assert layer["separable"]["macs"] == 53_952


def test_cost_of_mobilenet_v1_onnx_lists_its_27_convolutions(tmp_path: Path) -> None:
    # Table 1: a stem conv and 13 depthwise + pointwise pairs, each one depthwise-separable
    # row by the pairs rule (the five identical 512 pairs folded into one row that repeats 5
    # times); every MAC but the classifier's
    # 1024·1000 is in a convolution: 568,740,352 − 1,024,000 (Table 4's total, exact in
    # tests/test_presets.py)
    result = runner.invoke(
        app, ["cost", "--spec", str(exported(tmp_path, "mobilenet_v1")), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    layers = json.loads(result.stdout)["layers"]
    assert sum(layer["repeat"] for layer in layers) == 1 + 13
    assert len(layers) == 1 + 9
    # the paper's standard form: MobileNet Table 4's 4,866 M mult-adds for Conv MobileNet,
    # less the classifier's 1024·1000
    assert sum(layer["standard"]["macs"] for layer in layers) == 4_867_293_184 - 1_024_000
    assert sum(layer["as_specified"]["macs"] for layer in layers) == 568_740_352 - 1_024_000


def test_cost_of_an_onnx_file_refuses_layer_flags(tmp_path: Path) -> None:
    path = exported(tmp_path, "seed_example")
    result = runner.invoke(app, ["cost", "--spec", str(path), "-k", "3"])
    assert result.exit_code == 2
    assert result.stderr.startswith("sepconv: error: --kernel: cannot be combined with --spec")


def test_cost_of_an_onnx_file_passes_the_readers_notes_on_once(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weights = helper.make_tensor("W", TensorProto.FLOAT, [8, 3, 3, 3], [0.5] * 216)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "W"], ["y"], name="conv", pads=[1, 1, 1, 1])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weights],
    )
    path = tmp_path / "symbolic.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = runner.invoke(app, ["cost", "--spec", str(path), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert "symbolic batch" in result.stderr
    assert "sepconv: note: sepconv:" not in result.stderr
    # 16x16 output, 8 filters, 3 channels, 3x3: 256·8·3·9 = 55,296
    assert json.loads(result.stdout)["layers"][0]["standard"]["macs"] == 55_296
