"""``--whole-model --dtype int8``: the whole graphs run in the number format the layers were
timed in (issue 25): ONNX Runtime's graphs quantized as the per-layer forms are, a spec's
``.tflite`` files written full-integer, and a ``.tflite`` file of another number format
refused in one line rather than timed in float32 beside int8 layers. No speed is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
FAST = ["--time-budget", "0.02s"]
SPEC = (
    "name: m\ninput: [16, 16, 8]\nlayers:\n"
    "  - {type: separable, kernel: 3, filters: 16, padding: same, activation: relu}\n"
    "  - {type: global_pool}\n"
)
pytestmark = pytest.mark.usefixtures("fresh_runtimes")  # tests/conftest.py


def _whole(tmp_path: Path, runtime: str) -> dict[str, object]:
    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = runner.invoke(app, ["profile", str(spec), *FAST, "--runtime", runtime, "--dtype",
                                 "int8", "--whole-model", "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    whole: dict[str, object] = json.loads(result.stdout)["whole_graph"]
    return whole


def test_whole_graphs_on_onnxruntime_are_int8(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    whole = _whole(tmp_path, "onnxruntime")
    runtime = whole["runtime"]
    assert isinstance(runtime, dict) and runtime["dtype"] == "int8"
    assert "U8S8" in runtime["quantization"]


def test_whole_files_on_litert_are_int8(tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("tflite")
    whole = _whole(tmp_path, "litert")
    runtime = whole["runtime"]
    assert isinstance(runtime, dict) and runtime["dtype"] == "int8"


def test_the_quantized_whole_graph_has_int8_convolutions(tmp_path: Path) -> None:
    """What is timed is int8: ORT's own optimized graph of the quantized separable form holds
    QLinearConv nodes and no float Conv."""
    pytest.importorskip("onnxruntime")
    import onnx

    from sepconv_cli.counting.network import build
    from sepconv_cli.execution.runtimes.onnxruntime_runtime import import_onnxruntime
    from sepconv_cli.interchange.whole_forms import spec_graphs
    from sepconv_cli.spec.reader import model_from_document
    from sepconv_cli.spec.yaml_loader import loads

    spec = model_from_document(loads(SPEC, "m.yaml"))
    graphs = spec_graphs(spec, build(spec), 0, "int8")
    data = graphs.graphs["separable"]
    assert isinstance(data, bytes)
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.optimized_model_filepath = str(tmp_path / "o.onnx")
    ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    kinds = [node.op_type for node in onnx.load(str(tmp_path / "o.onnx")).graph.node]
    assert kinds.count("QLinearConv") == 2 and "Conv" not in kinds


def test_a_float_tflite_file_whole_in_int8_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("tflite")
    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    model = tmp_path / "m.tflite"
    assert runner.invoke(app, ["export", str(spec), "-o", str(model)]).exit_code == 0
    result = runner.invoke(app, ["profile", str(model), "--time", *FAST, "--runtime",
                                 "litert", "--dtype", "int8", "--whole-model"])  # fmt: skip
    assert result.exit_code == 2
    assert "m.tflite is float32, and LiteRT runs a .tflite file whole as given" in result.stderr
