"""A 10,000-point sweep grid without timing (goal: whole process, median ≤ 2 s).

Runs ``sepconv sweep --vary kernel=1..100 --vary filters=8..800:8 --input 128x128x16`` (100 ×
100 points) in a fresh process for each output format asked for, once unmeasured (a warm-up)
then N times, and prints the goal and the measured median side by side, with the CPU time
(user + system) of the same runs: on a shared machine the wall time includes waiting for a
core, the CPU time does not. Uses the ``sepconv`` console script when it is on PATH, else
``python -m sepconv_cli``.

    python benchmarks/bench_sweep.py [--runs 5] [--goal 2.0] [--formats json,csv]
                                     [--points 10000]

Exit status 0 either way: this reports, it does not gate (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time


def command(points: int, fmt: str) -> list[str]:
    """A square grid of about ``points`` points: kernel 1..n × filters 8..8n:8."""
    n = max(1, math.isqrt(points))
    script = shutil.which("sepconv")
    base = [script] if script else [sys.executable, "-m", "sepconv_cli"]
    size = max(n + 28, 16)  # room for the largest kernel
    return [
        *base,
        "sweep",
        "--vary",
        f"kernel=1..{n}",
        "--vary",
        f"filters=8..{8 * n}:8",
        "--input",
        f"{size}x{size}x16",
        "--format",
        fmt,
    ]


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[:500]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--goal", type=float, default=2.0, help="seconds (median, wall)")
    parser.add_argument("--formats", default="json,csv")
    parser.add_argument("--points", type=int, default=10_000)
    args = parser.parse_args(argv)

    # without PYTHONDONTWRITEBYTECODE (set by some shells and containers): the warm-up run
    # keeps its compiled bytecode, as an installed sepconv has it (pip compiles it), instead
    # of every run compiling the whole package again (about 0.1 s)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load {load:.2f} at start"
    )
    print(f"runs:    {args.runs} per format, whole process, median")
    print(f"{'grid':<34} {'goal':>8} {'wall':>8} {'cpu':>8}  verdict")
    for fmt in args.formats.split(","):
        cmd = command(args.points, fmt)
        run_once(cmd, env)  # warm-up, unmeasured: bytecode compiled, files cached
        runs = [run_once(cmd, env) for _ in range(args.runs)]
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        n = math.isqrt(args.points)
        label = f"{n}×{n} = {n * n:,} points, --format {fmt}"
        verdict = "met" if wall <= args.goal else "NOT met"
        print(f"{label:<34} {args.goal:>7.2f}s {wall:>7.2f}s {cpu:>7.2f}s  {verdict}")


if __name__ == "__main__":
    main()
