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
