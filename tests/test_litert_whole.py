"""``--whole-model --runtime litert`` (issue 25 item 2): a ``.tflite`` file run whole on
LiteRT, as given, beside the sum of its layers timed one by one; a spec's three forms written
as ``.tflite`` files and run whole; the one-line refusals. No test asserts a speed; output
shapes are checked against hand arithmetic. Skips where LiteRT (``ai_edge_litert``) or the
``tflite`` schema package is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("tflite")
pytest.importorskip("onnx")  # the reader reads a .tflite as the ONNX graph of its ops

from tflite_builder import TfliteBuilder  # tests/tflite_builder.py

from sepconv_cli.cli.app import app

runner = CliRunner()
FAST = ["--time-budget", "0.2s"]  # at least 5 samples of 10 ms each
FORMS = ("as_specified", "standard", "separable")
# by hand: 16x16x8 → conv1 (stride 2) 8x8x16 → sep1 8x8x32 → global pool 32 → dense 10
SPEC = """name: tiny
input: [16, 16, 8]
layers:
  - {type: conv, kernel: 3, filters: 16, stride: 2, padding: same, name: conv1,
     batch_norm: true, activation: relu}
  - {type: separable, kernel: 3, filters: 32, padding: same, name: sep1}
  - {type: global_pool, name: gap}
  - {type: dense, units: 10, name: fc}
"""

# every test here loads runtimes afresh (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fresh_runtimes")


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def conv_then_depthwise(path: Path) -> Path:
    """9×9×3 → CONV_2D 3×3/2 SAME, 16 filters, ReLU6 → 5×5×16 → DEPTHWISE 3×3, multiplier 2
    → 5×5×32 (a bias on each: LiteRT needs it)."""
    b = TfliteBuilder()
    x = b.tensor("x", (1, 9, 9, 3))
    w = b.weight("net/conv/w", np.full((16, 3, 3, 3), 0.1))
    bias = b.weight("net/conv/b", np.zeros(16))
    y = b.tensor("net/conv/Conv2D", (1, 5, 5, 16))
    b.op(
        "CONV_2D",
        [x, w, bias],
        [y],
        "Conv2DOptions",
        Padding=0,
        StrideW=2,
        StrideH=2,
        FusedActivationFunction=3,
    )
    dw = b.weight("net/dw/w", np.full((1, 3, 3, 32), 0.1))
    dwb = b.weight("net/dw/b", np.zeros(32))
    z = b.tensor("net/dw/depthwise", (1, 5, 5, 32))
    b.op(
        "DEPTHWISE_CONV_2D",
        [y, dw, dwb],
        [z],
        "DepthwiseConv2DOptions",
        Padding=0,
        StrideW=1,
        StrideH=1,
        DepthMultiplier=2,
    )
    path.write_bytes(b.build([x], [z]))
    return path


def int8_conv(path: Path) -> Path:
    """An int8 file, its input int8: 5×5×3 → CONV_2D 3×3 SAME, 4 filters → 5×5×4."""
    b = TfliteBuilder()
    x = b.tensor("x", (1, 5, 5, 3), "int8", scales=(0.02,), zero_points=(-1,))
    w = b.tensor(
        "w",
        (4, 3, 3, 3),
        "int8",
        data=np.ones((4, 3, 3, 3), np.int8),
        scales=(0.1, 0.2, 0.3, 0.4),
        zero_points=(0, 0, 0, 0),
    )
    bias = b.tensor(
        "b",
        (4,),
        "int32",
        data=np.zeros(4, np.int32),
        scales=(0.002, 0.004, 0.006, 0.008),
        zero_points=(0, 0, 0, 0),
    )
    y = b.tensor("y", (1, 5, 5, 4), "int8", scales=(0.05,), zero_points=(3,))
    b.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1)
    path.write_bytes(b.build([x], [y]))
    return path


def check_timed(entry: dict[str, Any], shape: list[int]) -> None:
    assert isinstance(entry["median_s"], float) and entry["median_s"] > 0
    assert entry["min_s"] <= entry["median_s"] <= entry["max_s"]
    assert isinstance(entry["runs"], int) and entry["runs"] >= 5
    assert entry["output_shape"] == shape


def check_runtime(whole: dict[str, Any], threads: int | None = None) -> None:
    runtime = whole["runtime"]
    assert runtime["name"] == "litert"
    assert runtime["provider"] == "XNNPACK" and runtime["device"] == "cpu"
    if threads is not None:
        assert runtime["threads"] == threads


def test_a_tflite_file_runs_whole_as_given_beside_its_timed_layers(tmp_path: Path) -> None:
    path = conv_then_depthwise(tmp_path / "m.tflite")
    args = ["profile", str(path), "--time", "--runtime", "litert", "--whole-model", *FAST]
    code, out, err = run(*args, "--threads", "1", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    whole = data["whole_graph"]
    check_runtime(whole, threads=1)
    assert list(whole["forms"]) == list(FORMS)
    entry = whole["forms"]["as_specified"]
    check_timed(entry, [1, 5, 5, 32])
    # the layers were timed too, on LiteRT, and their sum stands beside the whole file
    assert data["timing"]["runtime"]["name"] == "litert"
    assert all(layer["timing"] is not None for layer in data["layers"])
    assert entry["sum_of_layers_s"] == pytest.approx(data["timing"]["as_specified_s"])
    assert entry["sum_over_whole"] == pytest.approx(entry["sum_of_layers_s"] / entry["median_s"])
    # the file's other forms are not written as TFLite: not run, and one line says why
    for form in ("standard", "separable"):
        assert whole["forms"][form]["median_s"] is None
        assert "not written as TFLite" in whole["forms"][form]["note"]
    assert any("not written as TFLite" in note for note in whole["notes"])


def test_the_table_footer_names_litert_and_the_forms_not_run(tmp_path: Path) -> None:
    path = conv_then_depthwise(tmp_path / "m.tflite")
    args = ["profile", str(path), "--time", "--runtime", "litert", "--whole-model", *FAST]
    code, out, err = run(*args, "--format", "markdown")
    assert code == 0, err
    assert "Whole graph on litert: as specified " in out
    assert "standard not run" in out and "separable not run" in out
    assert "not written as TFLite" in out


def test_without_time_the_file_runs_whole_alone(tmp_path: Path) -> None:
    path = conv_then_depthwise(tmp_path / "m.tflite")
    code, out, err = run(
        "profile", str(path), "--runtime", "litert", "--whole-model", *FAST, "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    entry = data["whole_graph"]["forms"]["as_specified"]
    check_timed(entry, [1, 5, 5, 32])
    assert entry["sum_of_layers_s"] is None and data.get("timing") is None


def test_an_int8_file_runs_whole_on_int8_input(tmp_path: Path) -> None:
    path = int8_conv(tmp_path / "q.tflite")
    code, out, err = run(
        "profile", str(path), "--runtime", "litert", "--whole-model", *FAST, "--format", "json"
    )
    assert code == 0, err
    check_timed(json.loads(out)["whole_graph"]["forms"]["as_specified"], [1, 5, 5, 4])


def test_a_spec_runs_each_form_whole_as_a_tflite_file(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    args = ["profile", str(spec), "--runtime", "litert", "--whole-model", *FAST]
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    whole = data["whole_graph"]
    check_runtime(whole)
    assert whole["notes"] == []
    timing = data["timing"]
    for form in FORMS:
        entry = whole["forms"][form]
        check_timed(entry, [1, 10])  # channels-last, as the file's output: N × units
        assert entry["sum_of_layers_s"] == pytest.approx(timing[f"{form}_s"])


def test_refusals_are_one_line(tmp_path: Path) -> None:
    path = conv_then_depthwise(tmp_path / "m.tflite")
    code, _, err = run("profile", str(path), "--runtime", "onnxruntime", "--whole-model")
    assert code == 2 and "--runtime litert" in err and len(err.strip().splitlines()) == 1
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"")  # refused before it is read
    code, _, err = run("profile", str(onnx_file), "--runtime", "litert", "--whole-model")
    assert code == 2 and "--runtime onnxruntime" in err
    code, _, err = run("profile", str(path), "--runtime", "torch", "--whole-model")
    assert code == 2 and "--runtime litert" in err


def test_litert_says_nothing_on_stderr(tmp_path: Path) -> None:
    """The XNNPACK INFO line LiteRT prints on fd 2 stays hidden for the whole file too."""
    path = conv_then_depthwise(tmp_path / "m.tflite")
    args = ["profile", str(path), "--runtime", "litert", "--whole-model", *FAST]
    done = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", *args, "--format", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "INFO" not in done.stderr and "XNNPACK delegate" not in done.stderr
    assert json.loads(done.stdout)["whole_graph"]["forms"]["as_specified"]["median_s"] > 0
