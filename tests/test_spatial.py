"""``sepconv spatial``: ranks, factors, approximations, cost and the NumPy execution.

Expected values are independent of the code under test: known ranks of classic kernels,
hand algebra (the Laplacian's singular values are |-2 ± √6|, from its eigenvalues), Sobel's
textbook factors, and a naive per-pixel correlation written out below.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sepconv_cli.analysis.spatial import correlate, kernels, rank
from sepconv_cli.cli.app import app
from sepconv_cli.execution.timing import measure

runner = CliRunner()
EPS = float(np.finfo(np.float64).eps)


def run(*args: str) -> Any:
    return runner.invoke(app, ["spatial", *args])


def ok(*args: str) -> Any:
    result = run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def doc(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(*args, "--format", "json", "--quiet").stdout)
    return data


def rebuild(data: dict[str, Any], terms: int | None = None) -> np.ndarray:
    """Σ scale · column ⊗ row over the reported factors."""
    out = np.zeros(data["shape"])
    for f in data["factors"][:terms]:
        out += f["scale"] * np.outer(f["column"], f["row"])
    return out


def naive_correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid correlation, one output pixel at a time: out[y, x] = Σ K[i, j]·image[y+i, x+j]."""
    k1, k2 = kernel.shape
    h, w = image.shape
    out = np.zeros((h - k1 + 1, w - k2 + 1))
    for y in range(h - k1 + 1):
        for x in range(w - k2 + 1):
            total = 0.0
            for i in range(k1):
                for j in range(k2):
                    total += float(kernel[i, j]) * float(image[y + i, x + j])
            out[y, x] = total
    return out


def gaussian_reference(size: int, sigma: float) -> np.ndarray:
    g = np.array([math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(size)])
    out: np.ndarray = np.outer(g, g) / g.sum() ** 2
    return out


# --------------------------------------------------------------------------- ranks


@pytest.mark.parametrize(
    ("kernel", "rank"),
    [
        ("gaussian:5", 1),
        ("gaussian:7", 1),
        ("gaussian:3x7", 1),
        ("box:3", 1),
        ("box:5x3", 1),
        ("binomial:5", 1),
        ("sobel-x", 1),
        ("sobel-y", 1),
        ("scharr-x", 1),
        ("prewitt-y", 1),
        ("laplacian", 2),
        ("laplacian-8", 2),
        ("sharpen", 2),
    ],
)
def test_known_ranks(kernel: str, rank: int) -> None:
    data = doc(kernel)
    assert data["rank"] == rank
    assert data["separable"] is (rank == 1)
    assert len(data["factors"]) == rank
    assert [a["rank"] for a in data["approximations"]] == list(range(1, rank + 1))


def test_gaussian_with_sigma_is_rank_one_and_matches_the_formula() -> None:
    data = doc("gaussian:7", "--sigma", "2")
    assert data["rank"] == 1 and data["parameters"] == {"sigma": 2}
    assert np.allclose(data["matrix"], gaussian_reference(7, 2.0), rtol=1e-9, atol=0)


def test_gaussian_default_sigma_is_opencvs_rule() -> None:
    data = doc("gaussian:5")
    assert data["parameters"]["sigma"] == pytest.approx(0.3 * ((5 - 1) * 0.5 - 1) + 0.8)
    assert data["parameters"]["sigma"] == pytest.approx(1.1)
    assert np.allclose(data["matrix"], gaussian_reference(5, 1.1), rtol=1e-9, atol=0)
    assert sum(map(sum, data["matrix"])) == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(5, 5), (4, 6), (7, 3)])
def test_random_matrix_is_full_rank(tmp_path: Path, shape: tuple[int, int]) -> None:
    path = tmp_path / "random.npy"
    np.save(path, np.random.default_rng(7).standard_normal(shape))
    data = doc(str(path))
    assert data["rank"] == min(shape)
    assert data["separable"] is False
    assert data["shape"] == list(shape)


def test_constructed_rank_two_kernel_from_yaml(tmp_path: Path) -> None:
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, -1.0, 0.5])
    c, d = np.array([0.0, 1.0, 0.0, -1.0]), np.array([2.0, 0.0, 1.0])
    kernel = np.outer(a, b) + np.outer(c, d)
    path = tmp_path / "k.yaml"
    path.write_text(
        "\n".join("- [" + ", ".join(repr(float(x)) for x in row) + "]" for row in kernel) + "\n"
    )
    data = doc(str(path))
    assert data["rank"] == 2 and data["shape"] == [4, 3]
    assert np.allclose(rebuild(data), kernel)


def test_tolerance_is_stated_and_follows_numpys_rule() -> None:
    data = doc("laplacian")
    sigma_max = 2 + math.sqrt(6)  # |-2 - √6|, the Laplacian's largest |eigenvalue|
    assert data["tolerance"] == pytest.approx(sigma_max * 3 * EPS, rel=1e-9)
    assert "eps" in data["tolerance_rule"]
    assert "tolerance" in ok("laplacian").stdout.lower()


def test_a_larger_tolerance_lowers_the_rank() -> None:
    # the Laplacian's second singular value is √6 - 2 ≈ 0.449
    assert doc("laplacian", "--tolerance", "0.5")["rank"] == 1
    assert doc("laplacian", "--tolerance", "0.4")["rank"] == 2


# --------------------------------------------------------------------------- factors


@pytest.mark.parametrize(
    "kernel",
    [
        "gaussian:5",
        "box:3",
        "box:3x5",
        "binomial:5",
        "sobel-x",
        "sobel-y",
        "scharr-y",
        "laplacian",
        "laplacian-8",
        "sharpen",
        "emboss",
    ],
)
def test_factors_reproduce_the_kernel(kernel: str) -> None:
    data = doc(kernel)
    assert np.allclose(rebuild(data), data["matrix"], rtol=1e-9, atol=1e-12)


def test_random_kernel_factors_reproduce_it(tmp_path: Path) -> None:
    kernel = np.random.default_rng(3).standard_normal((6, 6))
    np.save(tmp_path / "r.npy", kernel)
    assert np.allclose(rebuild(doc(str(tmp_path / "r.npy"))), kernel)


def test_sobel_has_its_textbook_integer_factors() -> None:
    # Sobel x = smoothing [1, 2, 1] down the columns ⊗ central difference [-1, 0, 1]
    (f,) = doc("sobel-x")["factors"]
    assert (f["column"], f["row"], f["scale"], f["integer"]) == ([1, 2, 1], [-1, 0, 1], 1, True)
    (f,) = doc("sobel-y")["factors"]
    assert (f["column"], f["row"], f["scale"]) == ([-1, 0, 1], [1, 2, 1], 1)
    (f,) = doc("scharr-x")["factors"]
    assert (f["column"], f["row"]) == ([3, 10, 3], [-1, 0, 1])


def test_box_and_binomial_factors_carry_an_exact_scale() -> None:
    (f,) = doc("box:3")["factors"]
    assert (f["column"], f["row"], f["scale_text"]) == ([1, 1, 1], [1, 1, 1], "1/9")
    (f,) = doc("binomial:5")["factors"]
    assert (f["column"], f["row"], f["scale_text"]) == ([1, 4, 6, 4, 1], [1, 4, 6, 4, 1], "1/256")


def test_gaussian_factors_are_the_1d_gaussian() -> None:
    # √σ scaling of a separable, sum-1 Gaussian gives back the 1-D sum-1 Gaussian
    (f,) = doc("gaussian:5")["factors"]
    g = [math.exp(-((i - 2) ** 2) / (2 * 1.1**2)) for i in range(5)]
    g = [x / sum(g) for x in g]
    assert f["integer"] is False
    assert np.allclose(f["column"], g) and np.allclose(f["row"], g)


# --------------------------------------------------------------------------- approximations


def test_laplacian_rank_one_error_by_hand() -> None:
    # L = [[0,1,0],[1,-4,1],[0,1,0]] is symmetric; on (a, b, a) it acts as λ² + 4λ - 2 = 0,
    # so its singular values are 2 + √6 and √6 - 2 (and 0). ||L||_F² = 20.
    data = doc("laplacian")
    s1, s2 = 2 + math.sqrt(6), math.sqrt(6) - 2
    assert data["singular_values"][:2] == pytest.approx([s1, s2])
    errors = [a["relative_error"] for a in data["approximations"]]
    assert errors[0] == pytest.approx(s2 / math.sqrt(20))
    assert errors[1] == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_approximation_error_falls_with_rank(tmp_path: Path, seed: int) -> None:
    kernel = np.random.default_rng(seed).standard_normal((7, 7))
    np.save(tmp_path / "k.npy", kernel)
    data = doc(str(tmp_path / "k.npy"))
    errors = [a["relative_error"] for a in data["approximations"]]
    assert len(errors) == 7
    assert all(a > b for a, b in itertools.pairwise(errors))
    assert errors[-1] == pytest.approx(0, abs=1e-12)
    for r, error in enumerate(errors, start=1):  # the reported factors give that error
        residual = np.linalg.norm(kernel - rebuild(data, r)) / np.linalg.norm(kernel)
        assert error == pytest.approx(residual, rel=1e-6, abs=1e-12)


# --------------------------------------------------------------------------- cost


@pytest.mark.parametrize(
    ("kernel", "full", "pair", "rank_r"),
    [
        ("sobel-x", (9, 8), (6, 4), (1, 6, 4)),  # 3·3 vs 3+3; adds 8 vs 2+2
        ("gaussian:5", (25, 24), (10, 8), (1, 10, 8)),
        ("box:3x5", (15, 14), (8, 6), (1, 8, 6)),
        ("laplacian", (9, 8), (6, 4), (2, 12, 9)),  # 2·(3+3); adds 2·4 + 1
    ],
)
def test_cost_per_pixel(
    kernel: str, full: tuple[int, int], pair: tuple[int, int], rank_r: tuple[int, int, int]
) -> None:
    cost = doc(kernel)["cost"]
    assert (cost["full"]["mults"], cost["full"]["adds"]) == full
    assert (cost["rank1"]["mults"], cost["rank1"]["adds"]) == pair
    assert (cost["rank_r"]["rank"], cost["rank_r"]["mults"], cost["rank_r"]["adds"]) == rank_r
    assert cost["rank1"]["predicted_speedup"] == pytest.approx(full[0] / pair[0])
    assert "convention" in cost


def test_approximation_costs_are_r_times_k1_plus_k2(tmp_path: Path) -> None:
    np.save(tmp_path / "k.npy", np.random.default_rng(0).standard_normal((4, 6)))
    data = doc(str(tmp_path / "k.npy"))
    assert [a["cost_per_pixel"] for a in data["approximations"]] == [10, 20, 30, 40]


# --------------------------------------------------------------------------- execution


@pytest.fixture(params=[32_768, 17], ids=["one-block", "many-blocks"])
def block_values(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(correlate, "_BLOCK_VALUES", request.param)
    return int(request.param)


@pytest.mark.parametrize("kernel", ["sobel-x", "gaussian:5", "box:3x5", "laplacian", "emboss"])
def test_numpy_forms_equal_the_naive_correlation(kernel: str, block_values: int) -> None:
    analysis = rank.analyse(kernels.resolve_kernel(kernel))
    image = np.random.default_rng(1).standard_normal((13, 11)).astype(np.float32)
    k32 = analysis.kernel.matrix.astype(np.float32)
    expected = naive_correlate(image.astype(np.float64), analysis.kernel.matrix)
    shape = expected.shape
    full = correlate.correlate_full(image, k32, np.empty(shape, np.float32))
    assert np.allclose(full, expected, rtol=1e-5, atol=1e-5)
    cols, rows = correlate.factor_arrays(analysis.factors, analysis.rank)
    separable = correlate.correlate_separable(image, cols, rows, np.empty(shape, np.float32))
    assert np.allclose(separable, expected, rtol=1e-5, atol=1e-5)
    assert np.allclose(separable, full, rtol=1e-5, atol=1e-5)


def test_rank_one_form_of_a_rank_two_kernel_is_the_rank_one_approximation() -> None:
    analysis = rank.analyse(kernels.resolve_kernel("laplacian"))
    image = np.random.default_rng(2).standard_normal((9, 10)).astype(np.float32)
    f = analysis.factors[0]
    approx = f.scale * np.outer(f.column, f.row)
    cols, rows = correlate.factor_arrays(analysis.factors, 1)
    out = correlate.correlate_separable(image, cols, rows, np.empty((7, 8), np.float32))
    assert np.allclose(out, naive_correlate(image.astype(np.float64), approx), atol=1e-5)


def test_measure_uses_the_injected_clock() -> None:
    ticks = iter(float(n) for n in range(1000))
    calls: list[int] = []
    settings = correlate.timing_settings(repeats=4)
    stats = measure(lambda: calls.append(1), settings, clock=lambda: next(ticks))
    assert len(calls) == 5  # one warm-up and four timed runs
    assert (stats.runs, stats.median_s, stats.min_s, stats.max_s) == (4, 1.0, 1.0, 1.0)


def test_default_timing_takes_at_least_five_runs_and_three_tenths_of_a_second() -> None:
    # the --repeats help: "at least 5, until 0.3 s"; each call takes 10 ms on a fake clock
    now = [0.0]

    def call() -> None:
        now[0] += 0.01

    stats = measure(call, correlate.timing_settings(repeats=None), clock=lambda: now[0])
    assert stats.runs >= 5
    assert stats.runs * stats.loops * 0.01 >= 0.3
    assert stats.median_s == pytest.approx(0.01)


def test_time_flag_reports_agreeing_forms() -> None:
    data = doc("gaussian:5", "--time", "--image", "64x48", "--repeats", "2")
    t = data["timing"]
    assert t["image"] == [64, 48] and t["output"] == [60, 44] and t["dtype"] == "float32"
    assert t["allclose"] is True
    assert t["full"]["runs"] == 2 and t["separable"]["runs"] == 2
    assert t["separable"]["predicted_speedup"] == pytest.approx(25 / 10)
    assert t["separable"]["max_abs_diff"] < 1e-5
    for form in ("full", "separable"):
        assert t[form]["min_s"] <= t[form]["median_s"] <= t[form]["max_s"]
    assert t["speedup"] == pytest.approx(
        t["full"]["median_s"] / t["separable"]["median_s"], rel=1e-3
    )
    assert "rank1" not in t  # a separable kernel's rank-1 form is the exact one


def test_time_rank_two_kernel_times_the_rank_one_approximation_too() -> None:
    t = doc("laplacian", "--time", "--image", "40x40", "--repeats", "2")["timing"]
    assert t["allclose"] is True
    assert t["separable"]["terms"] == 2 and t["rank1"]["terms"] == 1
    assert t["separable"]["predicted_speedup"] == pytest.approx(9 / 12)
    assert t["rank1"]["relative_error"] > 0.01  # an approximation, reported as such


def test_time_table_shows_measured_and_predicted() -> None:
    out = ok("sobel-x", "--time", "--image", "32x32", "--repeats", "2", "-q").stdout
    assert "Speed-up" in out and "Predicted" in out and "1.50×" in out and "allclose" in out


# --------------------------------------------------------------------------- formats


def test_table_format() -> None:
    result = ok("sobel-x")
    out = result.stdout
    for text in (
        "sobel-x",
        "3×3",
        "rank 1",
        "exactly separable",
        "[1, 2, 1]",
        "[-1, 0, 1]",
        "full 3×3",
        "rank-1 pair 3+3",
        "1.50×",
        "Tolerance",
    ):
        assert text.lower() in out.lower(), text
    assert "\x1b[" not in out
    assert result.stderr == ""


def test_table_for_a_non_separable_kernel() -> None:
    out = ok("laplacian").stdout
    assert "not separable" in out and "rank-2 sum" in out and "0.101" in out


def test_json_format_keys() -> None:
    data = doc("sobel-x")
    assert data["schema"] == "sepconv/spatial/v1"
    for key in (
        "kernel",
        "shape",
        "rank",
        "tolerance",
        "separable",
        "factors",
        "approximations",
        "cost",
        "matrix",
        "singular_values",
    ):
        assert key in data, key
    assert data["kernel"] == "sobel-x" and data["shape"] == [3, 3]
    assert data["matrix"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert set(data["approximations"][0]) >= {"rank", "relative_error", "cost_per_pixel"}
    assert "timing" not in data


def test_csv_format() -> None:
    rows = list(csv.DictReader(io.StringIO(ok("laplacian", "--format", "csv").stdout)))
    assert [r["form"] for r in rows] == ["full", "rank1", "rank2"]
    assert [int(r["mults_per_pixel"]) for r in rows] == [9, 6, 12]
    assert {r["rank"] for r in rows} == {"2"} and {r["separable"] for r in rows} == {"false"}
    assert float(rows[1]["relative_error"]) == pytest.approx((math.sqrt(6) - 2) / math.sqrt(20))


def test_csv_with_timing_has_timing_columns() -> None:
    out = ok(
        "box:3", "--time", "--image", "20x20", "--repeats", "2", "-q", "--format", "csv"
    ).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["runs"] == "2" and rows[1]["runs"] == "2" and float(rows[1]["speedup"]) > 0


def test_markdown_format() -> None:
    out = ok("box:3", "--format", "markdown").stdout
    assert out.startswith("### box:3: 3×3 kernel")
    assert "| full 3×3 | 0 | 9 | 8 | 1.00× |" in out
    # σ of (1/9)·1⊗1 is (1/9)·√3·√3 = 1/3
    assert "| 1 | 0.3333 | 1/9 | [1, 1, 1] | [1, 1, 1] |" in out


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    result = ok("sobel-x", "--format", "json", "--output", str(target))
    assert result.stdout == ""
    assert json.loads(target.read_text())["rank"] == 1


def test_kernel_files_in_every_format_agree(tmp_path: Path) -> None:
    kernel = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    (tmp_path / "k.csv").write_text("# a comment\n1, 2, 1\n2,4,2\n1,2,1\n\n")
    (tmp_path / "k.yaml").write_text("kernel:\n  - [1, 2, 1]\n  - [2, 4, 2]\n  - [1, 2, 1]\n")
    np.save(tmp_path / "k.npy", np.array(kernel, dtype=np.int64))
    for name in ("k.csv", "k.yaml", "k.npy"):
        data = doc(str(tmp_path / name))
        assert data["matrix"] == kernel and data["rank"] == 1, name
        assert data["factors"][0]["column"] == [1, 2, 1], name


# --------------------------------------------------------------------------- bad input


def _write(name: str, text: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        (tmp / name).write_text(text)
        return [str(tmp / name)]

    return make


def _npy(name: str, array: Any) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        np.save(tmp / name, array)
        return [str(tmp / name)]

    return make


BAD: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("unknown-name", lambda t: ["gausian:5"], r"KERNEL\b.*gausian.*did you mean 'gaussian'"),
    ("size-zero", lambda t: ["gaussian:0"], r"KERNEL\b.*gaussian:0"),
    ("size-word", lambda t: ["box:big"], r"KERNEL\b.*box:big"),
    ("size-huge", lambda t: ["box:1000"], r"KERNEL\b.*128"),
    ("fixed-with-size", lambda t: ["sobel-x:5"], r"KERNEL\b.*sobel-x"),
    ("sigma-zero", lambda t: ["gaussian:5", "--sigma", "0"], r"--sigma\b"),
    ("sigma-word", lambda t: ["gaussian:5", "--sigma", "wide"], r"--sigma\b.*wide"),
    ("sigma-nan", lambda t: ["gaussian:5", "--sigma", "nan"], r"--sigma\b"),
    ("sigma-not-gaussian", lambda t: ["box:3", "--sigma", "1"], r"--sigma\b.*gaussian"),
    ("tolerance-negative", lambda t: ["laplacian", "--tolerance", "-1"], r"--tolerance\b"),
    ("image-without-time", lambda t: ["sobel-x", "--image", "64x64"], r"--image\b.*--time"),
    ("repeats-without-time", lambda t: ["sobel-x", "--repeats", "3"], r"--repeats\b"),
    ("repeats-zero", lambda t: ["sobel-x", "--time", "--repeats", "0"], r"--repeats\b"),
    (
        "image-smaller-than-kernel",
        lambda t: ["gaussian:5", "--time", "--image", "4x4"],
        r"--image\b.*smaller",
    ),
    ("image-3d", lambda t: ["sobel-x", "--time", "--image", "8x8x8"], r"--image\b"),
    ("image-word", lambda t: ["sobel-x", "--time", "--image", "big"], r"--image\b"),
    (
        "image-too-large",
        lambda t: ["sobel-x", "--time", "--image", "100000x100000"],
        r"--image\b.*limit",
    ),
    ("format-xml", lambda t: ["sobel-x", "--format", "xml"], r"--format\b"),
    ("missing-file", lambda t: [str(t / "nope.csv")], r"nope\.csv\b.*no such file"),
    ("extension", _write("k.txt", "1,2\n"), r"k\.txt\b.*extension"),
    ("csv-ragged", _write("k.csv", "1,2,1\n2,4\n"), r"k\.csv\b.*ragged"),
    ("csv-word", _write("k.csv", "1,2,x\n"), r"k\.csv\b.*row 1, column 3.*'x'"),
    ("csv-nan", _write("k.csv", "1,2\nnan,1\n"), r"k\.csv\b.*row 2, column 1.*NaN"),
    ("csv-inf", _write("k.csv", "1,inf\n"), r"k\.csv\b.*infinite"),
    ("csv-empty", _write("k.csv", "\n\n"), r"k\.csv\b.*empty"),
    ("csv-empty-cell", _write("k.csv", "1,,2\n"), r"k\.csv\b.*empty value"),
    ("csv-zeros", _write("k.csv", "0,0\n0,0\n"), r"k\.csv\b.*zero"),
    ("yaml-1d", _write("k.yaml", "[1, 2, 3]\n"), r"k\.yaml:1:\d+: .*row 1.*2-D"),
    ("yaml-3d", _write("k.yaml", "- [[1], [2]]\n"), r"k\.yaml:1:\d+: row 1, column 1"),
    ("yaml-ragged", _write("k.yaml", "- [1, 2]\n- [1]\n"), r"k\.yaml:2:\d+: ragged"),
    ("yaml-bool", _write("k.yaml", "- [1, true]\n"), r"k\.yaml:1:\d+: .*true"),
    ("yaml-nan", _write("k.yaml", "- [1, .nan]\n"), r"k\.yaml:1:\d+: .*NaN"),
    ("yaml-mapping", _write("k.yaml", "a: 1\n"), r"k\.yaml:1:\d+: expected a matrix"),
    ("yaml-empty-list", _write("k.yaml", "[]\n"), r"k\.yaml\b.*empty"),
    ("yaml-syntax", _write("k.yaml", "- [1, 2\n"), r"k\.yaml:\d+:\d+: YAML syntax"),
    ("npy-1d", _npy("k.npy", np.ones(3)), r"k\.npy\b.*2-D.*\(3,\)"),
    ("npy-3d", _npy("k.npy", np.ones((2, 2, 2))), r"k\.npy\b.*2-D"),
    ("npy-nan", _npy("k.npy", np.array([[1.0, np.nan]])), r"k\.npy\b.*NaN"),
    ("npy-empty", _npy("k.npy", np.ones((0, 3))), r"k\.npy\b.*empty"),
    ("npy-complex", _npy("k.npy", np.ones((2, 2), complex)), r"k\.npy\b.*complex"),
    ("npy-strings", _npy("k.npy", np.array([["a"]])), r"k\.npy\b.*dtype"),
    ("npy-too-big", _npy("k.npy", np.ones((200, 3))), r"k\.npy\b.*128"),
    ("npy-garbage", _write("k.npy", "not numpy"), r"k\.npy\b.*\.npy"),
]


@pytest.mark.parametrize(
    ("make_args", "pattern"), [(m, p) for _, m, p in BAD], ids=[name for name, _, _ in BAD]
)
def test_bad_input(tmp_path: Path, make_args: Callable[[Path], list[str]], pattern: str) -> None:
    result = run(*make_args(tmp_path))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_registering_the_commands_imports_neither_numpy_nor_rich() -> None:
    code = (
        "import sys\nimport sepconv_cli.cli.app\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'rich'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
