"""``sepconv sweep``: every point checked against hand arithmetic, every format, bad input.

The base layer is the seed example (12×12×3 input, 5×5 kernel, 256 filters, valid padding:
8×8 output). For F filters: standard 3·25·64·F MACs; separable depthwise 3·25·64 plus
pointwise 3·F·64; ratio 1/F + 1/25.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, ["sweep", *args])


def ok(*args: str) -> Any:
    result = run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert all(line.startswith("sepconv: wrote ") for line in result.stderr.splitlines())
    return result


def doc(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(*args, "--format", "json").stdout)
    return data


def exact(fraction: Fraction) -> str:
    return f"{fraction.numerator}/{fraction.denominator}"


# --------------------------------------------------------------------------- arithmetic


def test_filters_sweep_matches_hand_arithmetic() -> None:
    values = [16, 32, 64, 128, 256, 512]
    data = doc("--vary", "filters=16,32,64,128,256,512")
    assert data["schema"] == "sepconv/sweep/v1"
    assert data["parameter"] == "filters" and data["values"] == values
    for f, point in zip(values, data["points"], strict=True):
        standard, depthwise, pointwise = 3 * 25 * 64 * f, 3 * 25 * 64, 3 * f * 64
        assert point["value"] == f
        assert point["output_shape"] == [8, 8, f]
        assert point["standard"]["macs"] == standard
        assert point["separable"]["macs"] == depthwise + pointwise
        assert point["separable"]["depthwise"]["macs"] == depthwise
        assert point["separable"]["pointwise"]["macs"] == pointwise
        assert point["standard"]["params"] == 3 * 25 * f
        assert point["separable"]["params"] == 3 * 25 + 3 * f
        theory = Fraction(1, f) + Fraction(1, 25)
        assert point["ratio"]["macs_exact"] == exact(theory)
        assert point["ratio"]["macs"] == pytest.approx(float(theory), abs=1e-6)  # 6 decimals
        assert point["theory_exact"] == exact(theory)
    assert data["points"][4]["standard"]["macs"] == 1_228_800  # the seed example
    assert data["points"][4]["separable"]["macs"] == 53_952


def test_default_sweep_is_filters_8_to_1024_on_the_seed_example() -> None:
    data = doc()
    assert data["parameter"] == "filters"
    assert data["values"] == [8, 16, 32, 64, 128, 256, 512, 1024]
    assert data["layer"]["input"] == [12, 12, 3] and data["layer"]["kernel"] == 5
    assert data["layer"]["filters"] is None  # the varied parameter


def test_filters_asymptote_is_one_over_k_squared() -> None:
    data = doc("--vary", "filters=8..512:x2")
    assert data["values"] == [8, 16, 32, 64, 128, 256, 512]
    assert data["asymptote"]["exact"] == "1/25"
    assert data["asymptote"]["part"] == "pointwise"
    ratios = [p["ratio"]["macs"] for p in data["points"]]
    assert all(a > b > 1 / 25 for a, b in itertools.pairwise(ratios))


def test_kernel_sweep_matches_hand_arithmetic() -> None:
    data = doc("--vary", "kernel=1..9")
    assert data["values"] == list(range(1, 10))
    for k, point in zip(range(1, 10), data["points"], strict=True):
        out = 12 - k + 1
        standard = 256 * 3 * k * k * out * out
        assert point["output_shape"] == [out, out, 256]
        assert point["standard"]["macs"] == standard
        if k == 1:  # a 1×1 conv has nothing to separate: both forms are the same
            assert point["separable"]["macs"] == standard
            assert point["theory"] is None
            continue
        separable = 3 * k * k * out * out + 256 * 3 * out * out
        assert point["separable"]["macs"] == separable
        assert point["theory_exact"] == exact(Fraction(1, 256) + Fraction(1, k * k))
        assert point["ratio"]["macs_exact"] == point["theory_exact"]
    assert data["asymptote"]["exact"] == "1/256"


def test_ranges_with_steps_and_lists() -> None:
    assert doc("--vary", "kernel=1..9:2")["values"] == [1, 3, 5, 7, 9]
    assert doc("--vary", "kernel=3,3x5,5x3")["values"] == [3, [3, 5], [5, 3]]
    assert doc("--vary", "filters=10..20:5,64")["values"] == [10, 15, 20, 64]
    assert doc("--vary", "cout=1..4:x3")["values"] == [1, 3]


def test_asymmetric_kernel_point() -> None:
    (point,) = doc("--vary", "kernel=3x5")["points"]
    # output 10×8; standard 256·3·15·80, separable 3·15·80 + 256·3·80
    assert point["standard"]["macs"] == 256 * 3 * 15 * 80
    assert point["separable"]["macs"] == 3 * 15 * 80 + 256 * 3 * 80
    assert point["theory_exact"] == exact(Fraction(1, 256) + Fraction(1, 15))


def test_input_sweep() -> None:
    data = doc("--vary", "input=8x8x32,16x16x32,20x10x4", "-k", "3", "-f", "64")
    expected = [((6, 6), 32), ((14, 14), 32), ((18, 8), 4)]
    for (out, cin), point in zip(expected, data["points"], strict=True):
        pixels = out[0] * out[1]
        assert point["output_shape"] == [*out, 64]
        assert point["standard"]["macs"] == 64 * cin * 9 * pixels
        assert point["separable"]["macs"] == cin * 9 * pixels + 64 * cin * pixels
    assert data["values"] == [[8, 8, 32], [16, 16, 32], [20, 10, 4]]
    assert data["asymptote"] is None


def test_size_sweep_keeps_the_input_channels() -> None:
    data = doc("--vary", "size=8..32:8", "--input", "10x10x4", "-k", "3", "-f", "16", "-p", "same")
    assert data["values"] == [8, 16, 24, 32]
    for s, point in zip([8, 16, 24, 32], data["points"], strict=True):
        assert point["input_shape"] == [s, s, 4] and point["output_shape"] == [s, s, 16]
        assert point["standard"]["macs"] == 16 * 4 * 9 * s * s
        assert point["separable"]["macs"] == 4 * 9 * s * s + 16 * 4 * s * s
        # the ratio does not depend on the spatial size
        assert point["ratio"]["macs_exact"] == exact(Fraction(1, 16) + Fraction(1, 9))


def test_size_sweep_with_unequal_sides() -> None:
    (point,) = doc("--vary", "size=12x6", "--input", "10x10x4", "-k", "3", "-f", "16")["points"]
    assert point["input_shape"] == [12, 6, 4]
    assert point["output_shape"] == [10, 4, 16]  # valid padding: 12-3+1, 6-3+1
    assert point["standard"]["macs"] == 16 * 4 * 9 * 40


def test_depth_multiplier_sweep() -> None:
    data = doc("--vary", "multiplier=1..3")
    assert data["parameter"] == "depth_multiplier"
    for m, point in zip([1, 2, 3], data["points"], strict=True):
        assert point["standard"]["macs"] == 1_228_800
        assert point["separable"]["macs"] == 3 * m * 25 * 64 + 256 * 3 * m * 64
        assert point["separable"]["params"] == 3 * m * 25 + 3 * m * 256
        # the 1/Cout + 1/k² law is for M = 1 only
        assert (point["theory"] is None) == (m != 1)


def test_stride_sweep() -> None:
    data = doc("--vary", "stride=1..3")
    for s, point in zip([1, 2, 3], data["points"], strict=True):
        out = (12 - 5) // s + 1  # 8, 4, 3
        assert point["output_shape"] == [out, out, 256]
        assert point["standard"]["macs"] == 256 * 3 * 25 * out * out
        assert point["separable"]["macs"] == 3 * 25 * out * out + 256 * 3 * out * out


def test_other_layer_flags_apply_to_every_point() -> None:
    data = doc("--vary", "filters=8,16", "--bias", "--batch", "2", "--dtype", "float16")
    for f, point in zip([8, 16], data["points"], strict=True):
        assert point["standard"]["macs"] == 2 * 3 * 25 * 64 * f  # the batch multiplies MACs
        assert point["standard"]["params"] == 3 * 25 * f + f  # and a bias per filter
        assert point["separable"]["params"] == 75 + 3 * f + f  # bias on the pointwise only
        assert point["standard"]["weight_bytes"] == 2 * (3 * 25 * f + f)
    assert data["layer"]["bias"] is True and data["layer"]["dtype"] == "float16"


# --------------------------------------------------------------------------- formats


def test_table_has_the_numbers_and_the_chart() -> None:
    out = ok("--vary", "filters=8..512:x2").stdout
    for text in (
        "Sweep of filters",
        "1.23 M",
        "54.0 K",
        "0.0439",
        "22.8×",
        "▲",
        "1/prod(k) = 1/25 = 0.0400",
        "█",
        "░",
    ):
        assert text in out, text
    assert "\x1b[" not in out


def test_chart_floor_is_constant_and_bars_shrink_towards_it() -> None:
    out = ok("--vary", "filters=8..512:x2").stdout
    bars = re.findall(r"^\s*(\d+) │(█*)(░*)\s", out, flags=re.MULTILINE)
    assert [int(v) for v, _, _ in bars] == [8, 16, 32, 64, 128, 256, 512]
    floors = {len(floor) for _, floor, _ in bars}
    assert len(floors) == 1 and floors.pop() > 0  # 1/25 in every bar
    tails = [len(tail) for _, _, tail in bars]
    assert tails == sorted(tails, reverse=True) and tails[0] > tails[-1]
    marker = next(line for line in out.splitlines() if "▲" in line)
    bar_start = next(line for line in out.splitlines() if "│█" in line).index("│") + 1
    assert marker.index("▲") - bar_start == len(bars[0][1])  # the marker sits on the floor


def test_json_keys() -> None:
    data = doc("--vary", "kernel=3,5")
    assert set(data) >= {
        "schema",
        "parameter",
        "values",
        "points",
        "layer",
        "conventions",
        "asymptote",
    }
    point = data["points"][0]
    assert set(point) >= {"value", "standard", "separable", "ratio", "theory"}
    assert set(point["standard"]) >= {"macs", "flops", "params"}


def test_csv_format() -> None:
    out = ok("--vary", "filters=16,32", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["value"] for r in rows] == ["16", "32"]
    assert [int(r["standard_macs"]) for r in rows] == [3 * 25 * 64 * 16, 3 * 25 * 64 * 32]
    assert [int(r["separable_macs"]) for r in rows] == [4800 + 3 * 16 * 64, 4800 + 3 * 32 * 64]
    assert float(rows[0]["theory"]) == pytest.approx(1 / 16 + 1 / 25)


def test_markdown_format() -> None:
    out = ok("--vary", "filters=16,256", "--format", "markdown").stdout
    assert out.startswith("### Sweep of filters")
    assert "| 256 | 8×8×256 | 1,228,800 | 53,952 | 0.0439 | 0.0439 | 19,200 | 843 |" in out
    assert "```text" in out and "▲" in out


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "sweep.csv"
    result = ok("--vary", "kernel=3", "--format", "csv", "-o", str(target))
    assert result.stdout == ""
    assert target.read_text().startswith("parameter,value,")


# --------------------------------------------------------------------------- bad input

BAD: list[tuple[str, list[str], str]] = [
    ("no-equals", ["--vary", "filters"], r"--vary\b.*NAME=VALUES"),
    ("unknown-name", ["--vary", "filter=8"], r"--vary\b.*'filter'.*did you mean 'filters'"),
    ("empty-values", ["--vary", "filters="], r"--vary\b"),
    ("empty-item", ["--vary", "filters=8,,16"], r"--vary\b.*empty value"),
    ("zero", ["--vary", "filters=0,8"], r"--vary\b.*filters=0"),
    ("float", ["--vary", "filters=2.5"], r"--vary\b.*2\.5"),
    ("word", ["--vary", "kernel=big"], r"--vary\b.*big"),
    ("reversed-range", ["--vary", "kernel=9..1"], r"--vary\b.*empty range"),
    ("zero-step", ["--vary", "kernel=1..9:0"], r"--vary\b.*step"),
    ("factor-one", ["--vary", "filters=8..64:x1"], r"--vary\b.*factor"),
    ("bad-range", ["--vary", "kernel=1...9"], r"--vary\b.*range"),
    ("too-many", ["--vary", "filters=1..5000"], r"--vary\b.*1000"),
    ("input-range", ["--vary", "input=8..16"], r"--vary\b.*size="),
    ("input-not-a-shape", ["--vary", "input=8"], r"--vary\b.*input=8"),
    ("flag-and-vary", ["--vary", "kernel=3", "--kernel", "5"], r"--kernel\b.*--vary"),
    ("kernel-too-large", ["--vary", "kernel=1..13"], r"--vary\b.*kernel=13.*empty"),
    ("size-rank", ["--vary", "size=8x8x8"], r"--vary\b.*size=8x8x8.*spatial dim"),
    ("groups", ["--vary", "filters=8", "--groups", "2"], r"--groups\b.*filters=8"),
    ("bad-base-flag", ["--vary", "filters=8", "--stride", "0"], r"--stride\b"),
    ("bad-dtype", ["--dtype", "float8"], r"--dtype\b.*float8"),
    ("format-xml", ["--format", "xml"], r"--format\b"),
]


@pytest.mark.parametrize(
    ("args", "pattern"), [(a, p) for _, a, p in BAD], ids=[name for name, _, _ in BAD]
)
def test_bad_input(args: list[str], pattern: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]
