"""Counting speed at scale: goals, not tests.

Goals on a 2-core machine: counting a 10,000-layer spec in under 1 s, and a
``repeat: 1000000000`` of a shape-preserving layer costing no more than ``repeat: 1``.
Prints each measurement (median of 5 runs, min-max) next to its goal.

    python benchmarks/bench_counting.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sepconv_cli.counting.network import build
from sepconv_cli.counting.report import profile_report
from sepconv_cli.spec.layers import LayerSpec, ModelSpec
from sepconv_cli.spec.presets import load_model


def measure(work: Callable[[], object], runs: int = 5) -> tuple[float, float, float]:
    work()  # warm-up (imports, caches of the first run are not what we measure)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def show(label: str, result: tuple[float, float, float], goal: float | None) -> None:
    median, low, high = result
    verdict = (
        ""
        if goal is None
        else ("  meets" if median < goal else "  MISSES") + f" the {goal:g} s goal"
    )
    print(f"{label:<58} median {median:7.3f} s  (min {low:.3f}, max {high:.3f}){verdict}")


def ten_thousand_layers() -> ModelSpec:
    layers = tuple(
        LayerSpec(
            type="separable",
            where=f"layers[{i}]",
            kernel=(3,),
            filters=16 if i % 2 == 0 else 8,
            padding="same",
        )
        for i in range(10_000)
    )
    return ModelSpec(name="big", input=(8, 8, 8), layers=layers)


def main() -> None:
    big = ten_thousand_layers()
    show(
        "count 10,000 distinct layers (in memory)", measure(lambda: profile_report(build(big))), 1.0
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(
            "name: big\ninput: [8, 8, 8]\nlayers:\n"
            + "".join(
                f"  - {{type: separable, kernel: 3, filters: {16 if i % 2 == 0 else 8}, "
                "padding: same}\n"
                for i in range(10_000)
            )
        )
        show(
            "read + validate + count the same spec from YAML",
            measure(lambda: profile_report(build(load_model(path)))),
            1.0,
        )
        command = [
            sys.executable,
            "-m",
            "sepconv_cli",
            "profile",
            str(path),
            "--no-time",
            "--format",
            "json",
        ]
        show(
            "sepconv profile big.yaml --format json (process, end to end)",
            measure(lambda: subprocess.run(command, check=True, capture_output=True), 3),
            None,
        )
        for repeat in (1, 10**9):
            spec = Path(tmp) / f"repeat{repeat}.yaml"
            spec.write_text(
                "input: [56, 56, 128]\nlayers:\n  - {type: separable, kernel: 3, "
                f"filters: 128, padding: same, repeat: {repeat}}}\n"
            )
            model = load_model(spec)

            def count(m: ModelSpec = model) -> object:
                return profile_report(build(m))

            show(f"count repeat: {repeat:,}", measure(count), None)


if __name__ == "__main__":
    main()
