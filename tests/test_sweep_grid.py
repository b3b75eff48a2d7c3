"""``sepconv sweep`` with several ``--vary``: a grid of every combination.

The base layer is the seed example (12×12×3 input, valid padding). For kernel k and F
filters the output is (13-k)×(13-k)×F, and with o = (13-k)²:

    standard  = o · F · 3 · k²      depthwise = o · 3 · k²      pointwise = o · 3 · F
    ratio     = (depthwise + pointwise) / standard = 1/F + 1/k²

Each grid point is checked against ``sepconv cost`` run with that point's flags (a separate
command, the reference), and a few against the arithmetic above by hand.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
GRID = ["--vary", "kernel=3,5,7", "--vary", "filters=16,32,64"]


def run(*args: str, command: str = "sweep") -> Any:
    return runner.invoke(app, [command, *args], env={"COLUMNS": "80"})


def ok(*args: str, command: str = "sweep") -> Any:
    result = run(*args, command=command)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def doc(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(*args, "--format", "json").stdout)
    return data


# --------------------------------------------------------------------------- every point


def test_every_point_equals_cost_with_that_points_flags() -> None:
    data = doc(*GRID)
    assert data["schema"] == "sepconv/sweep-grid/v1"
    assert data["parameters"] == ["kernel", "filters"]
    assert data["values"] == {"kernel": [3, 5, 7], "filters": [16, 32, 64]}
    assert data["count"] == 9 and len(data["points"]) == 9
    # row-major: the last --vary (filters) changes fastest
    order = [(p["values"]["kernel"], p["values"]["filters"]) for p in data["points"]]
    assert order == [(k, f) for k in (3, 5, 7) for f in (16, 32, 64)]
    for point in data["points"]:
        k, f = point["values"]["kernel"], point["values"]["filters"]
        cost = json.loads(ok("-k", str(k), "-f", str(f), "--format", "json", command="cost").stdout)
        (layer,) = cost["layers"]
        for key in ("input_shape", "output_shape", "standard"):
            assert point[key] == layer[key], (k, f, key)
        # the sweep's separable object is cost's without its "other" part (none in a conv)
        assert point["separable"] == {key: layer["separable"][key] for key in point["separable"]}
        assert set(layer["separable"]) - set(point["separable"]) == {"other"}
        assert point["ratio"]["macs"] == layer["ratio"]["macs"]
        assert point["theory_exact"] == layer["ratio"]["theory_exact"]


def test_points_by_hand() -> None:
    points = {(p["values"]["kernel"], p["values"]["filters"]): p for p in doc(*GRID)["points"]}
    # kernel 3, 64 filters: output 10×10×64 (o = 100)
    #   standard 100·64·3·9 = 172,800; depthwise 100·3·9 = 2,700; pointwise 100·3·64 = 19,200
    p = points[(3, 64)]
    assert p["output_shape"] == [10, 10, 64]
    assert p["standard"]["macs"] == 172_800
    assert p["separable"]["depthwise"]["macs"] == 2_700
    assert p["separable"]["pointwise"]["macs"] == 19_200
    assert p["ratio"]["macs_exact"] == "73/576"  # 21,900/172,800 = 1/64 + 1/9 = 73/576
    # kernel 7, 16 filters: output 6×6×16 (o = 36)
    #   standard 36·16·3·49 = 84,672; depthwise 36·3·49 = 5,292; pointwise 36·3·16 = 1,728
    p = points[(7, 16)]
    assert p["output_shape"] == [6, 6, 16]
    assert p["standard"]["macs"] == 84_672
    assert p["separable"]["macs"] == 5_292 + 1_728
    assert Fraction(p["ratio"]["macs_exact"]) == Fraction(1, 16) + Fraction(1, 49)


def test_layer_leaves_the_varied_parameters_out() -> None:
    layer = doc(*GRID)["layer"]
    assert layer["kernel"] is None and layer["filters"] is None
    assert layer["input"] == [12, 12, 3] and layer["padding"] == "valid"


def test_three_parameters_and_size_keep_the_input_channels() -> None:
    data = doc("--vary", "size=8,16", "--vary", "kernel=3", "--vary", "stride=1,2", "-i", "4x4x8")
    assert data["parameters"] == ["size", "kernel", "stride"]
    shapes = [
        (p["values"]["size"], p["values"]["stride"], p["output_shape"]) for p in data["points"]
    ]
    # valid 3×3: (n-3)//s + 1 → 8: 6 and 3; 16: 14 and 7; channels 256 (the seed's filters)
    assert shapes == [
        (8, 1, [6, 6, 256]),
        (8, 2, [3, 3, 256]),
        (16, 1, [14, 14, 256]),
        (16, 2, [7, 7, 256]),
    ]
    assert all(p["input_shape"][-1] == 8 for p in data["points"])


# --------------------------------------------------------------------------- CSV, tables


def test_csv_header_and_rows() -> None:
    out = ok(*GRID, "--format", "csv").stdout
    header = out.splitlines()[0]
    assert header == (
        "kernel,filters,input_shape,output_shape,standard_macs,separable_macs,depthwise_macs,"
        "pointwise_macs,ratio_macs,theory,standard_params,separable_params,ratio_params,"
        "standard_flops,separable_flops"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 9
    assert (rows[2]["kernel"], rows[2]["filters"], rows[2]["standard_macs"]) == (
        "3",
        "64",
        "172800",
    )


def pivot_rows(out: str) -> dict[str, list[str]]:
    """``label  cell  cell`` lines of the pivot table (from its header rule to the next blank
    line), by row label."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("──")) + 1
    rows: dict[str, list[str]] = {}
    for line in lines[start:]:
        if not line.strip():
            break
        label, *cells = line.split()
        rows[label] = cells
    return rows


def test_pivot_cells_rows_are_the_parameter_with_more_values() -> None:
    out = ok("--vary", "kernel=3,5,7", "--vary", "filters=64..1024:x2").stdout
    assert "filters \\ kernel" in out  # 5 filters values down, 3 kernels across
    assert "Cells: separable / standard MACs (--metric ratio)." in out
    rows = pivot_rows(out)
    assert list(rows) == ["64", "128", "256", "512", "1024"]
    # 1/F + 1/k²: 1/64 + 1/9 = 0.126736; 1/64 + 1/25 = 0.055625; 1/64 + 1/49 = 0.036033
    assert rows["64"] == ["0.1267", "0.0556", "0.0360"]
    # 1/1024 + 1/9 = 0.112088; + 1/25 = 0.040977; + 1/49 = 0.021385
    assert rows["1024"] == ["0.1121", "0.0410", "0.0214"]
    assert all(len(line) <= 80 for line in out.splitlines())


def test_pivot_tie_keeps_the_first_vary_as_rows_and_metric_fewer() -> None:
    out = ok("--vary", "kernel=3,5", "--vary", "filters=16,32", "--metric", "fewer").stdout
    assert "kernel \\ filters" in out
    rows = pivot_rows(out)
    # fewer = 1 / (1/F + 1/k²): k=3,F=16: 144/25 = 5.76; k=5,F=32: 800/57 = 14.04
    assert rows["3"][0] == "5.8×" and rows["5"][1] == "14.0×"


def test_pivot_wider_than_the_terminal_becomes_one_row_per_point() -> None:
    out = ok("--vary", "kernel=1..3", "--vary", "filters=1..3", "--metric", "params-ratio").stdout
    assert "kernel \\ filters" in out  # 3 × 3 fits
    wide = ok("--vary", "kernel=1..12", "--vary", "filters=8..96:8").stdout
    assert "\\" not in wide.splitlines()[2]
    assert re.search(r"One row per point \(144, the last --vary changing fastest\)", wide)
    assert all(len(line) <= 80 for line in wide.splitlines())


def test_three_parameters_long_table_note() -> None:
    out = ok("--vary", "kernel=3,5", "--vary", "filters=16,32", "--vary", "stride=1,2").stdout
    assert "Sweep grid of kernel × filters × stride" in out
    assert "3 parameters: one row per point (8)" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_markdown_pivot() -> None:
    out = ok(*GRID, "--format", "markdown").stdout
    assert out.startswith("### Sweep grid of kernel × filters")
    assert "| kernel \\\\ filters | 16 | 32 | 64 |" in out
    # 1/16 + 1/9 = 0.173611; 1/32 + 1/9 = 0.142361; 1/64 + 1/9 = 0.126736
    assert "| 3 | 0.1736 | 0.1424 | 0.1267 |" in out


def test_single_vary_is_still_sweep_v1() -> None:
    data = doc("--vary", "kernel=3,5")
    assert data["schema"] == "sepconv/sweep/v1" and data["parameter"] == "kernel"


def test_timed_grid_times_every_point_and_pivots_the_speedup() -> None:
    args = ["--vary", "kernel=3", "--vary", "filters=8,16", "-i", "8x8x4", "--time"]
    args += ["--time-budget", "0.01"]
    data = doc(*args, "--quiet")
    assert all("timing" in p for p in data["points"])
    out = ok(*args, "--quiet", "--metric", "speedup").stdout
    assert "measured speed-up" in out
    assert all(re.fullmatch(r"\d+\.\d\d×", c) for c in pivot_rows(out)["8"])


def test_heat_map(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "grid.png"
    result = ok(*GRID, "--plot", str(target), "--format", "csv")
    assert target.read_bytes().startswith(b"\x89PNG")
    assert "sepconv: wrote " in result.stderr


# --------------------------------------------------------------------------- bad input

BAD: list[tuple[str, list[str], str]] = [
    (
        "twice",
        ["--vary", "filters=8", "--vary", "cout=16"],
        r"^sepconv: error: --vary: filters is varied twice; give each parameter once "
        r"\(filters=8, cout=16\)$",
    ),
    (
        "input-and-size",
        ["--vary", "size=8", "--vary", "input=8x8x3"],
        r"--vary: size and input both set the input",
    ),
    ("flag-too", [*GRID, "--filters", "8"], r"--filters: cannot be combined with --vary filters"),
    (
        "over-limit",
        ["--vary", "kernel=1..1000", "--vary", "filters=1..1000"],
        r"--vary: the grid has 1,000,000 points \(1000 kernel × 1000 filters\), "
        r"more than 100,000",
    ),
    (
        "timed-over-1000",
        ["--vary", "kernel=1..2", "--vary", "filters=1..501", "--time"],
        r"--time: a timed grid is limited to 1,000 points \(this one has 1,002\)",
    ),
    (
        "metric-unknown",
        [*GRID, "--metric", "ratios"],
        r"--metric: unknown metric 'ratios'.*did you mean 'ratio'",
    ),
    (
        "metric-speedup-untimed",
        [*GRID, "--metric", "speedup"],
        r"--metric: speedup is measured: add --time",
    ),
    (
        "metric-one-vary",
        ["--vary", "kernel=3", "--metric", "ratio"],
        r"--metric: applies to a grid",
    ),
    (
        "plot-three",
        [*GRID, "--vary", "stride=1", "--plot", "x.png"],
        r"--plot: a heat map needs exactly two --vary \(got 3\)",
    ),
    ("plot-one", ["--vary", "kernel=3", "--plot", "x.png"], r"--plot: applies to a grid"),
    (
        "point-empty",
        ["--vary", "kernel=3,13", "--vary", "filters=8"],
        r"--vary: at kernel=13, filters=8: output would be empty",
    ),
    (
        "point-groups",
        [*GRID, "--groups", "3", "-i", "12x12x4"],
        r"--groups: .* \(at kernel=3, filters=16\)",
    ),
]


@pytest.mark.parametrize(
    ("args", "pattern"), [(a, p) for _, a, p in BAD], ids=[name for name, _, _ in BAD]
)
def test_bad_input(args: list[str], pattern: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


# --------------------------------------------------------------------------- benchmark

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_sweep.py"


@pytest.mark.skipif(not BENCH.exists(), reason="benchmarks/ is not part of this checkout")
def test_bench_sweep_runs_and_prints_goal_beside_measured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_sweep", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_sweep"] = module
    try:
        spec.loader.exec_module(module)
        monkeypatch.setenv("PYTHONPATH", str(BENCH.parent.parent))
        module.main(["--runs", "1", "--points", "9", "--formats", "csv"])
    finally:
        sys.modules.pop("bench_sweep", None)
    out = capsys.readouterr().out
    assert re.search(r"3×3 = 9 points, --format csv\s+2\.00s\s+\d+\.\d\ds\s+\d+\.\d\ds", out), out
