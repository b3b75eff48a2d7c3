"""``--whole-model``: each form of a model run end to end as one ONNX Runtime session, beside
the sum of its layers (issue 15 item 5), and ``sepconv bench --plot``. No test asserts a
speed; output shapes are checked against hand arithmetic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.execution.runtimes.base import RuntimeInfo
from sepconv_cli.execution.runtimes.whole_graph import WholeForm, WholeGraph
from sepconv_cli.output.whole_graph import footer_lines

runner = CliRunner()
FAST = ["--time-budget", "0.02s"]
HAS_ORT = __import__("importlib.util").util.find_spec("onnxruntime") is not None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed")
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


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


# every test here loads runtimes afresh (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fresh_runtimes")


def check_form(entry: dict[str, Any], shape: list[int], summed: bool) -> None:
    assert isinstance(entry["median_s"], float) and entry["median_s"] > 0
    for key in ("min_s", "max_s", "iqr_s"):
        assert isinstance(entry[key], float)
    assert entry["min_s"] <= entry["median_s"] <= entry["max_s"]
    assert isinstance(entry["runs"], int) and entry["runs"] >= 1
    assert entry["output_shape"] == shape
    if summed:
        assert isinstance(entry["sum_of_layers_s"], float) and entry["sum_of_layers_s"] > 0
        ratio = entry["sum_of_layers_s"] / entry["median_s"]
        assert entry["sum_over_whole"] == pytest.approx(ratio)
    else:
        assert entry["sum_of_layers_s"] is None and entry["sum_over_whole"] is None


@needs_ort
def test_profile_whole_model_json_every_form(spec: Path) -> None:
    args = ["profile", str(spec), "--runtime", "onnxruntime", "--whole-model", *FAST]
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    whole = data["whole_graph"]
    assert whole["runtime"]["name"] == "onnxruntime"
    assert whole["layers_not_timed"] == 0 and whole["notes"] == []
    assert list(whole["forms"]) == list(FORMS)
    for form in FORMS:
        check_form(whole["forms"][form], [1, 10], summed=True)
    # the sums are the profile's own per-layer totals
    timing = data["timing"]
    for form in FORMS:
        assert whole["forms"][form]["sum_of_layers_s"] == timing[f"{form}_s"]


@needs_ort
def test_profile_whole_model_footer_in_table_and_markdown(spec: Path) -> None:
    args = ["profile", str(spec), "--runtime", "onnxruntime", "--whole-model", *FAST]
    code, out, err = run(*args)
    assert code == 0, err
    text = " ".join(out.split())  # the footer wraps at the terminal's width
    footer = text[text.index("Whole graph on onnxruntime: as specified ") :]
    assert " · standard " in footer and " · separable " in footer
    assert footer.count("(sum of layers ") == 3
    code, out, err = run(*args, "--format", "markdown")
    assert code == 0, err
    assert "- Whole graph on onnxruntime: as specified " in out


@needs_ort
def test_profile_without_whole_model_has_no_key(spec: Path) -> None:
    code, out, err = run(
        "profile", str(spec), "--runtime", "onnxruntime", *FAST, "--format", "json"
    )
    assert code == 0, err
    assert "whole_graph" not in json.loads(out)


@needs_ort
def test_onnx_file_as_specified_is_the_file(spec: Path, tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    code, _, err = run("export", str(spec), "-o", str(path))
    assert code == 0, err
    args = ["profile", str(path), "--runtime", "onnxruntime", "--whole-model", *FAST]
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    whole = json.loads(out)["whole_graph"]
    for form in FORMS:  # an ONNX file's layers are not timed one by one: no sums
        check_form(whole["forms"][form], [1, 10], summed=False)
    code, out, err = run(*args)
    assert code == 0, err
    assert "Whole graph on onnxruntime: as specified " in out
    assert "sum of layers" not in out


@needs_ort
def test_onnx_file_that_is_no_spec_times_as_specified_only(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    import numpy as np

    helper = onnx.helper
    w = onnx.numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Hardmax", ["c"], ["y"]),  # nothing a spec can write
        ],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
        [w],
    )
    path = tmp_path / "sin.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    args = ["profile", str(path), "--runtime", "onnxruntime", "--whole-model", *FAST]
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    whole = json.loads(out)["whole_graph"]
    check_form(whole["forms"]["as_specified"], [1, 4, 8, 8], summed=False)
    for form in ("standard", "separable"):
        assert whole["forms"][form]["median_s"] is None
        assert whole["forms"][form]["note"].startswith("standard and separable whole graphs")
    assert len(whole["notes"]) == 1 and "\n" not in whole["notes"][0]
    code, out, err = run(*args)
    assert code == 0, err
    assert "standard not run · separable not run" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--whole-model"], "--whole-model"),  # NumPy timing: no ORT session to run
        (["--whole-model", "--runtime", "torch"], "--whole-model"),
        (["--whole-model", "--no-time"], "--whole-model"),
    ],
)
def test_whole_model_errors_are_one_line(spec: Path, args: list[str], flag: str) -> None:
    if "--no-time" in args and not HAS_ORT:
        pytest.skip("onnxruntime is not installed")
    if "--no-time" in args:
        args = [*args, "--runtime", "onnxruntime"]
    code, _, err = run("profile", str(spec), *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sepconv: error: {flag}:")


def test_footer_line_from_hand_made_timings() -> None:
    info = RuntimeInfo("onnxruntime", "1.0", threads=1, optimization="all")
    whole = WholeGraph(
        info,
        (
            WholeForm("as_specified", 0.0031, 0.003, 0.0032, 0.0001, 5, (1, 10), 0.004),
            WholeForm("standard", 0.0123, 0.012, 0.013, 0.0001, 5, (1, 10), None),
            WholeForm("separable", note="not made"),
        ),
        layers_not_timed=2,
    )
    assert footer_lines(whole) == [
        "Whole graph on onnxruntime: as specified 3.10 ms (sum of layers 4.00 ms) · "
        "standard 12.3 ms · separable not run",
        "The sums leave out 2 row(s) not timed on onnxruntime alone; the whole graphs run them.",
    ]
    assert whole.form("as_specified").ratio == pytest.approx(0.004 / 0.0031)


@needs_ort
def test_a_wrong_output_shape_stops_the_run(spec: Path) -> None:
    from sepconv_cli.counting.network import build
    from sepconv_cli.errors import RuntimeFailure
    from sepconv_cli.execution.runtimes.whole_graph import time_whole_graphs
    from sepconv_cli.execution.timing import TimingSettings
    from sepconv_cli.interchange.whole_forms import spec_graphs
    from sepconv_cli.spec.presets import resolve_model

    model_spec = resolve_model(str(spec))
    graphs = spec_graphs(model_spec, build(model_spec))
    settings = TimingSettings(budget_s=0.01, threads=1, runtime="onnxruntime")
    with pytest.raises(RuntimeFailure, match="form as_specified: the whole graph's output is 1x10"):
        time_whole_graphs(graphs, (1, 11), 1, settings)


@needs_ort
def test_bench_whole_graph_totals_are_the_ort_sums(spec: Path) -> None:
    code, out, err = run(
        "bench", str(spec), "--runtime", "numpy,onnxruntime", *FAST, "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    whole = data["whole_graph"]
    for form in FORMS:
        check_form(whole["forms"][form], [1, 10], summed=True)
        assert whole["forms"][form]["sum_of_layers_s"] == data["totals"]["onnxruntime"][f"{form}_s"]
    code, out, err = run("bench", str(spec), "--runtime", "numpy,onnxruntime", *FAST)
    assert code == 0, err
    assert "Whole graph on onnxruntime: as specified " in out
    code, out, err = run(
        "bench",
        str(spec),
        "--runtime",
        "onnxruntime",
        "--no-whole-model",
        *FAST,
        "--format",
        "json",
    )
    assert code == 0, err
    assert "whole_graph" not in json.loads(out)


def test_bench_numpy_only_has_no_whole_graph(spec: Path) -> None:
    code, out, err = run("bench", str(spec), "--runtime", "numpy", *FAST, "--format", "json")
    assert code == 0, err
    assert "whole_graph" not in json.loads(out)


def test_bench_plot_is_written(spec: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    code, _, err = run("bench", str(spec), "--runtime", "numpy", *FAST, "--plot", str(path))
    assert code == 0, err
    assert path.read_bytes().startswith(b"\x89PNG")
    svg = tmp_path / "bench.svg"
    code, _, err = run("bench", str(spec), "--runtime", "numpy", *FAST, "--plot", str(svg))
    assert code == 0, err
    assert "<svg" in svg.read_text(encoding="utf-8")


def test_bench_plot_wrong_extension_is_one_line(spec: Path, tmp_path: Path) -> None:
    code, _, err = run("bench", str(spec), "--runtime", "numpy", "--plot", str(tmp_path / "x.txt"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: --plot:")
    assert not (tmp_path / "x.txt").exists()


@needs_ort
def test_onnx_file_whole_run_feeds_the_input_values(tmp_path: Path) -> None:
    """--input-value reaches the whole-graph run: an If on sr whose then-branch (sr =
    16000) is a conv to 4 channels and whose else-branch a conv to 2 gives the then-branch's
    1×4×8×8 output with sr=16000 (zeros, the default for an integer input, would take the
    else-branch's 1×2×8×8)."""
    onnx = pytest.importorskip("onnx")
    import numpy as np

    helper = onnx.helper
    tensor = onnx.TensorProto

    def branch(name: str, filters: int) -> Any:
        w = onnx.numpy_helper.from_array(np.ones((filters, 3, 3, 3), np.float32), f"w_{name}")
        conv = helper.make_node("Conv", ["x", f"w_{name}"], [f"y_{name}"], pads=[1, 1, 1, 1])
        out = helper.make_tensor_value_info(f"y_{name}", tensor.FLOAT, None)
        return helper.make_graph([conv], name, [], [out], [w])

    sixteen = onnx.numpy_helper.from_array(np.array(16000, np.int64), "sixteen")
    graph = helper.make_graph(
        [
            helper.make_node("Equal", ["sr", "sixteen"], ["is16"]),
            helper.make_node(
                "If",
                ["is16"],
                ["y"],
                then_branch=branch("then", 4),
                else_branch=branch("else", 2),
            ),
        ],
        "g",
        [
            helper.make_tensor_value_info("x", tensor.FLOAT, [1, 3, 8, 8]),
            helper.make_tensor_value_info("sr", tensor.INT64, []),
        ],
        [helper.make_tensor_value_info("y", tensor.FLOAT, None)],
        [sixteen],
    )
    path = tmp_path / "if.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    args = ["profile", str(path), "--runtime", "onnxruntime", "--whole-model", *FAST]
    code, out, err = run(*args, "--input-value", "sr=16000", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["whole_graph"]["forms"]["as_specified"]["output_shape"] == [1, 4, 8, 8]
