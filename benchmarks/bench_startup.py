"""Startup time of ``sepconv cost --format json`` (goal: median under 0.25 s).

Runs the command in a fresh process N times after a few warm-up runs and prints the median,
minimum and maximum wall time, and whether the goal is met. Uses the ``sepconv`` console
script when it is on PATH, else ``python -m sepconv_cli``.

    python benchmarks/bench_startup.py [--runs 20] [--warmup 2] [--goal 0.25]

Exit status 0 either way: this reports, it does not gate (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def command() -> list[str]:
    script = shutil.which("sepconv")
    if script:
        return [script, "cost", "--format", "json"]
    return [sys.executable, "-m", "sepconv_cli", "cost", "--format", "json"]


def run_once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[:500]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--goal", type=float, default=0.25, help="seconds (median)")
    args = parser.parse_args()

    cmd = command()
    env = {**os.environ, "NO_COLOR": "1"}
    for _ in range(args.warmup):
        run_once(cmd, env)
    times = [run_once(cmd, env) for _ in range(args.runs)]
    median = statistics.median(times)
    print(f"command: {' '.join(cmd)}")
    print(f"runs:    {args.runs} (after {args.warmup} warm-up), {os.cpu_count()} CPUs")
    print(f"median:  {median:.3f} s")
    print(f"min:     {min(times):.3f} s")
    print(f"max:     {max(times):.3f} s")
    verdict = "met" if median < args.goal else "NOT met"
    print(f"goal:    median < {args.goal:.2f} s: {verdict}")


if __name__ == "__main__":
    main()
