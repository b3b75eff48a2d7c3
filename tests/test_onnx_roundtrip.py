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
