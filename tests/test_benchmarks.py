"""The kernel benchmark still runs end to end (one tiny round). Nothing here asserts a
speed: the figures it prints are read by people, from full runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from sepconv_cli.execution import workers

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_kernels.py"


@pytest.mark.skipif(not BENCH.exists(), reason="benchmarks/ is not part of this checkout")
def test_bench_kernels_runs_and_names_each_layers_kernel(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "usable_cpus", lambda: 2)  # the same on a 1-CPU runner
    spec = importlib.util.spec_from_file_location("bench_kernels", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_kernels"] = module
    try:
        spec.loader.exec_module(module)
        code = module.main(
            ["--threads", "2", "--min-time", "0", "--repeats", "1", "--rounds", "1", "--pause", "0"]
        )
    finally:
        sys.modules.pop("bench_kernels", None)
    out = capsys.readouterr().out
    assert code == 0
    kinds = ("depthwise", "pointwise", "standard")
    rows = {
        " ".join(words[:2]): line
        for line in out.splitlines()
        if len(words := line.split()) > 2 and words[1] in kinds
    }
    assert len(rows) == 1 + 9 * 3  # conv1, then depthwise, pointwise, standard per layer
    # 112*112*32*9 = 3,612,672 output elements x taps: two parts of >= 2**19 at 2 threads
    assert rows["sep1 depthwise"].rstrip().endswith("depthwise-einsum-2-threads")
    # 7*7*1024*9 = 451,584: too small to split
    assert rows["sep9 depthwise"].rstrip().endswith("depthwise-einsum")
    assert rows["sep1 pointwise"].rstrip().endswith("pointwise-gemm")
    for kind in kinds:
        assert any(line.startswith(kind) for line in out.splitlines()), kind
    assert "separable speed-up on the MobileNetV1 body" in out


COUNTING = BENCH.parent / "bench_counting.py"


@pytest.mark.skipif(not COUNTING.exists(), reason="benchmarks/ is not part of this checkout")
def test_bench_counting_runs_and_prints_each_goal_beside_its_figure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A tiny spec, one run: the rows are there (goal and figure); no speed is asserted."""
    spec = importlib.util.spec_from_file_location("bench_counting", COUNTING)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_counting"] = module
    try:
        spec.loader.exec_module(module)
        code = module.main(["--layers", "20", "--runs", "1", "--warmup", "0"])
    finally:
        sys.modules.pop("bench_counting", None)
    out = capsys.readouterr().out
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("machine: ") and "cores, Python 3." in first
    assert "libyaml: yes" in first or "libyaml: no" in first
    goals = {
        "profile --no-time --format json: wall": "<= 1 s",
        "profile --no-time --format json: peak RSS": "<= 100 MB",
        "profile --no-time table to a file: wall": "<= 2 s",
    }
    for label, goal in goals.items():
        row = next(line for line in out.splitlines() if line.startswith(label))
        figure = row[len(label) :].split()
        assert figure[:3] == goal.split(), row
        assert figure[4] in ("s", "MB") and figure[5] in ("meets", "MISSES"), row
        float(figure[3])
    assert "count 20 distinct layers (in memory)" in out
    assert "count repeat: 1,000,000,000" in out
