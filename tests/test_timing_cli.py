"""Timing as the CLI exposes it: JSON keys (docs/json.md), gates, memory guard, flags.

No test here asserts a speed: only that times exist, are positive and consistent (the
separable total covers its parts within noise is NOT asserted either: it is a measurement).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
FAST = ["--time-budget", "0.05s"]
STATS = {"median_s", "min_s", "max_s", "iqr_s", "runs", "gflops"}


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def check_stats(record: dict) -> None:  # type: ignore[type-arg]
    assert record.keys() >= STATS
    assert record["runs"] >= 1
    assert 0 < record["min_s"] <= record["median_s"] <= record["max_s"]


def test_cost_time_json_has_the_design_keys() -> None:
    code, out, err = run("cost", "--time", *FAST, "--format", "json")
    assert code == 0, err
    timing = json.loads(out)["layers"][0]["timing"]
    check_stats(timing["standard"])
    check_stats(timing["separable"])
    check_stats(timing["separable"]["depthwise"])
    check_stats(timing["separable"]["pointwise"])
    assert timing["speedup"] == pytest.approx(
        timing["standard"]["median_s"] / timing["separable"]["median_s"]
    )


def test_profile_times_by_default_and_reports_machine_and_roofline() -> None:
    code, out, err = run("profile", "seed_example", *FAST, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["machine"]["gemm_gflops"] > 0 and doc["machine"]["bandwidth_gbs"] > 0
    layer = doc["layers"][0]
    check_stats(layer["timing"]["standard"])
    roofline = layer["timing"]["roofline"]
    assert roofline["depthwise"]["bound"] in ("memory", "compute")
    # best-case time from the counts: max(flops / peak, bytes / bandwidth)
    dw = layer["separable"]["depthwise"]
    peak = doc["machine"]["gemm_gflops"] * 1e9
    bandwidth = doc["machine"]["bandwidth_gbs"] * 1e9
    assert roofline["depthwise"]["best_s"] == pytest.approx(
        max(dw["flops"] / peak, dw["bytes_moved"] / bandwidth)
    )
    assert doc["timing"]["as_specified_s"] == pytest.approx(layer["timing"]["standard"]["median_s"])


def test_no_time_has_no_timing() -> None:
    code, out, _ = run("profile", "seed_example", "--no-time", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert "timing" not in doc["layers"][0] and "timing" not in doc


def test_repeated_rows_are_timed_once_and_scaled(tmp_path: Path) -> None:
    spec = tmp_path / "rep.yaml"
    spec.write_text(
        "input: [8, 8, 8]\nlayers:\n"
        "  - {type: separable, kernel: 3, filters: 8, padding: same, "
        "repeat: 1000000000}\n"
    )
    code, out, err = run("profile", str(spec), *FAST, "--format", "json")
    assert code == 0, err
    layer = json.loads(out)["layers"][0]
    assert layer["repeat"] == 10**9
    # one instance takes well over a nanosecond: 10^9 of them take seconds
    assert layer["timing"]["separable"]["median_s"] > 1.0


def test_max_latency_gate() -> None:
    code, _, err = run("cost", "--time", *FAST, "--max-latency", "1ns", "--format", "json")
    assert code == 1
    assert "--max-latency" in err and "Latency" in err
    code, _, err = run("cost", "--time", *FAST, "--max-latency", "1000s", "--format", "json")
    assert code == 0, err


def test_max_latency_needs_timing() -> None:
    code, _, err = run("profile", "seed_example", "--no-time", "--max-latency", "5ms")
    assert code == 2 and "--max-latency" in err


def test_memory_guard_refuses_before_allocating() -> None:
    # 1-D input of 10^9 x 64 float32 = 256 GB: far beyond any limit, refused with exit 3
    code, _, err = run("cost", "-i", "1000000000x64", "-k", "3", "-f", "64", "--time")
    assert code == 3
    assert "memory" in err and "GiB" in err and "Traceback" not in err


def test_memory_guard_in_profile_skips_the_layer_with_a_note(tmp_path: Path) -> None:
    code, out, err = run("profile", "seed_example", *FAST, "--max-memory", "1K", "--format", "json")
    assert code == 0, err
    layer = json.loads(out)["layers"][0]
    assert "timing" not in layer and "memory" in layer["note"]


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--threads", "0"),
        ("--threads", "two"),
        ("--time-budget", "5min"),  # a bare 5 is 5 s: tests/test_messages.py
        ("--time-budget", "-1s"),
        ("--max-memory", "lots"),
    ],
)
def test_bad_timing_flags(flag: str, value: str) -> None:
    code, _, err = run("cost", "--time", flag, value)
    assert code == 2 and err.startswith(f"sepconv: error: {flag}:")


def test_timing_flags_without_time_are_refused() -> None:
    code, _, err = run("cost", "--threads", "1")
    assert code == 2 and "--threads" in err


def test_threads_one_runs() -> None:
    pytest.importorskip("threadpoolctl")
    code, _, err = run("cost", "--time", *FAST, "--threads", "1", "--format", "json")
    assert code == 0, err


def test_sweep_time_adds_timing_to_every_point() -> None:
    code, out, err = run("sweep", "--vary", "filters=8,16", "--time", *FAST, "--format", "json")
    assert code == 0, err
    for point in json.loads(out)["points"]:
        check_stats(point["timing"]["standard"])


def test_threads_without_threadpoolctl_sets_the_blas_variables() -> None:
    # without threadpoolctl, --threads must still take effect (not be silently ignored):
    # before NumPy loads, the BLAS thread variables are set for it to read
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'threadpoolctl':\n"
        "            raise ImportError('blocked for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from sepconv_cli.cli.app import main\n"
        "try:\n"
        "    main(['cost', '--time', '--time-budget', '0.05s', '--threads', '1',\n"
        "          '--format', 'json'])\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code, os.environ.get('OPENBLAS_NUM_THREADS'), file=sys.stderr)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "exit 0 1" in result.stderr, result.stderr
