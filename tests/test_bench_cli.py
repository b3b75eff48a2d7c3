"""``sepconv bench``: a model on several runtimes in one report (issue 15). No test here
asserts a speed; MAC figures are checked against hand arithmetic."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
FAST = ["--time-budget", "0.02s"]
HAS_ORT = __import__("importlib.util").util.find_spec("onnxruntime") is not None
SPEC = """name: tiny
input: [16, 16, 8]
layers:
  - {type: conv, kernel: 3, filters: 16, stride: 2, padding: same, name: conv1}
  - {type: separable, kernel: 3, filters: 32, padding: same, name: sep1}
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


def runtimes() -> str:
    return "numpy,onnxruntime" if HAS_ORT else "numpy"


def test_bench_json_has_every_layer_on_every_runtime(spec: Path) -> None:
    code, out, err = run("bench", str(spec), "--runtime", runtimes(), *FAST, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schema"] == "sepconv/bench/v1" and data["model"] == "tiny"
    names = runtimes().split(",")
    assert [r["name"] for r in data["runtimes"]] == names
    conv1 = data["layers"][0]
    # by hand: output 8x8x16; standard 8*8*16 * 3*3*8 = 73,728; separable: depthwise
    # 8*8*8*9 = 4,608 + pointwise 8*8*8*16 = 8,192 = 12,800
    assert conv1["macs"] == {"as_specified": 73728, "standard": 73728, "separable": 12800}
    assert conv1["mac_ratio"] == pytest.approx(73728 / 12800)
    assert sum(layer["mac_share"] for layer in data["layers"]) == pytest.approx(1)
    for name in names:
        shares = [layer["runtimes"][name]["time_share"] for layer in data["layers"]]
        assert sum(shares) == pytest.approx(1)
        timed = conv1["runtimes"][name]
        assert timed["standard_s"] > 0 and timed["separable_s"] > 0
        assert timed["speedup"] == pytest.approx(timed["standard_s"] / timed["separable_s"])
        assert data["totals"][name]["standard_s"] > 0


def test_bench_csv_and_markdown(spec: Path) -> None:
    code, out, err = run("bench", str(spec), "--runtime", runtimes(), *FAST, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 * len(runtimes().split(","))
    assert rows[0]["layer"] == "conv1" and rows[0]["standard_macs"] == "73728"
    code, out, err = run("bench", str(spec), "--runtime", "numpy", *FAST, "--format", "markdown")
    assert code == 0, err
    assert "| Layer | × fewer MACs | MACs % | NumPy std ms |" in out


def test_bench_table_names_each_runtime(spec: Path) -> None:
    code, out, err = run("bench", str(spec), "--runtime", runtimes(), *FAST)
    assert code == 0, err
    assert "tiny on" in out and "NumPy: numpy " in out
    if HAS_ORT:
        assert "ORT: onnxruntime " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "numpy,tflite"], "--runtime: 'tflite' is not one of"),
        (["--runtime", "numpy,numpy"], "--runtime: a runtime is named twice"),
        (["--runtime", ","], "--runtime: name at least one of"),
        (["--runtime", "numpy", "--ort-optimization", "all"], "--ort-optimization: only"),
        (["--runtime", "numpy", "--device", "cuda"], "--device cuda: NumPy runs on the CPU"),
    ],
)
def test_bench_flags_are_checked(spec: Path, args: list[str], message: str) -> None:
    code, _out, err = run("bench", str(spec), *args)
    assert code == 2 and message in err


def test_bench_with_a_missing_runtime_is_exit_2(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    code, _out, err = run("bench", str(spec), "--runtime", "numpy,torch", *FAST)
    assert code == 2 and "pip install torch (the CPU-only build is enough)" in err


def test_the_bench_command_loads_no_numpy_before_it_sets_the_blas_threads() -> None:
    # NumPy fixes its BLAS thread count when it is loaded; without threadpoolctl sepconv can
    # only set it before then, so importing the command must not load NumPy
    import subprocess
    import sys

    code = (
        "import sys, sepconv_cli.cli.bench, sepconv_cli.analysis.bench\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_long_layer_names_are_cut_not_wrapped_at_80_columns(tmp_path: Path) -> None:
    """An ONNX file's node names are long: at 80 columns the name is cut in the middle, and
    every layer stays one line (no number wraps onto a second)."""
    names = [f"features.{i}.block.{i}.conv_with_a_long_exported_name" for i in range(3)]
    path = tmp_path / "long.yaml"
    layers = "".join(f"  - {{type: conv, kernel: 3, filters: 8, name: {n}}}\n" for n in names)
    path.write_text(f"name: long\ninput: [16, 16, 8]\nlayers:\n{layers}", encoding="utf-8")
    result = runner.invoke(app, ["bench", str(path), "--runtime", "numpy", *FAST],
                           env={"COLUMNS": "80"})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith("─"))
    body = lines[rule + 1 : rule + 1 + len(names)]
    assert all(line.lstrip().startswith("featu") and "…" in line for line in body), body
    assert lines[rule + 1 + len(names)].strip() == ""  # then the blank line before the total
