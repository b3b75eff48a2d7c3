"""The runtimes benchmark still runs end to end (two layers, a tiny budget). Nothing here
asserts a speed: its figures are read by people, from full runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_runtimes.py"


@pytest.mark.skipif(not BENCH.exists(), reason="benchmarks/ is not part of this checkout")
def test_bench_runtimes_runs(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_runtimes", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_runtimes"] = module
    try:
        spec.loader.exec_module(module)
        code = module.main(
            [
                "--budget",
                "0.01",
                "--layers",
                "2",
                "--direct-seconds",
                "0.005",
                "--runtimes",
                "numpy,onnxruntime,torch",
            ]
        )
    finally:
        sys.modules.pop("bench_runtimes", None)
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split()[0] for line in out.splitlines() if line[:5] in ("conv1", "sep1 ")]
    assert rows[:2] == ["conv1", "sep1"]  # MobileNetV1's first two rows, in order
    assert "total" in out and "np std ms" in out
    if importlib.util.find_spec("onnxruntime") is not None:
        assert "worst ratio sepconv / direct session" in out
    else:
        assert "onnxruntime: not installed, left out" in out
