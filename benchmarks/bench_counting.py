"""Counting speed at scale: goals, not tests (issue 16).

Whole process, median of 5 runs, on a generated 10,000-layer spec (alternating ``conv`` and
``separable`` 3×3 layers, 56×56×64, ``padding: same``):

* ``sepconv profile SPEC --no-time --format json``: at most 1 s, peak memory at most 100 MB;
* ``sepconv profile SPEC --no-time --output big.txt`` (the table, to a file): at most 2 s.

Then, in this process: counting 10,000 distinct layers in memory and from YAML (under 1 s
each), and a ``repeat: 1000000000`` of a shape-preserving layer costing no more than
``repeat: 1``. Each figure is printed beside its goal, under a line naming the machine.

``--before DIR`` also runs the same commands with the code of another checkout (say the
commit before a change, ``git worktree add DIR COMMIT``), so one run prints before and
after side by side and checks their JSON is byte-identical.

    python benchmarks/bench_counting.py [--layers 10000] [--runs 5] [--warmup 1] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sepconv_cli.counting.network import build
from sepconv_cli.counting.report import profile_report
from sepconv_cli.spec.layers import LayerSpec, ModelSpec
from sepconv_cli.spec.presets import load_model

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000


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


def machine() -> str:
    """CPU model, cores, Python, and whether PyYAML has libyaml (the YAML parser used)."""
    import yaml

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if "model name" in line]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (
        f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PyYAML {yaml.__version__} with libyaml: "
        f"{'yes' if getattr(yaml, '__with_libyaml__', False) else 'no'}{load}"
    )


def big_spec(layers: int) -> str:
    """Issue 16's spec: alternating conv and separable 3×3 layers, 56×56×64, same padding."""
    kinds = ("conv", "separable")
    return "name: big\ninput: [56, 56, 64]\nlayers:\n" + "".join(
        f"  - {{type: {kinds[i % 2]}, kernel: 3, filters: 64, padding: same}}\n"
        for i in range(layers)
    )


def child_environment() -> dict[str, str]:
    """This process's environment for the measured children, less
    ``PYTHONDONTWRITEBYTECODE``: with it set (some shells and containers set it), no run
    keeps the bytecode it compiles, so every run compiles the whole package again (about
    0.1 s) and the warm-up cannot do its job. An installed sepconv has its bytecode (pip
    compiles it), which is what these figures are about."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float  # user + system: what the process itself used, whatever else ran
    peak_bytes: int


def run_process(argv: list[str], code: Path, stdout: Path) -> Run:
    """One whole ``python -m sepconv_cli`` process with ``code`` first on the path: wall
    time, and the child's own peak resident memory (``wait4``'s rusage)."""
    env = {**child_environment(), "PYTHONPATH": str(code), "NO_COLOR": "1"}
    with stdout.open("wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "sepconv_cli", *argv],
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
            cwd=code,
        )
        assert child.stderr is not None
        errors = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"sepconv {' '.join(argv)} failed ({child.returncode}): {errors[-500:]!r}")
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * scale)


@dataclass(frozen=True)
class Figure:
    label: str
    goal: str
    limit: float
    argv: list[str]
    measure: str = "wall"  # "wall", "cpu" or "memory"


def process_figures(spec: Path, out: Path) -> list[Figure]:
    json_argv = ["profile", str(spec), "--no-time", "--format", "json"]
    table_argv = ["profile", str(spec), "--no-time", "--output", str(out / "table.txt")]
    return [
        Figure("profile --no-time --format json: wall", "<= 1 s", 1.0, json_argv),
        Figure("  the same: CPU (user + system)", "-", 0, json_argv, "cpu"),
        Figure("profile --no-time --format json: peak RSS", "<= 100 MB", 100, json_argv, "memory"),
        Figure("profile --no-time table to a file: wall", "<= 2 s", 2.0, table_argv),
        Figure("  the same: CPU (user + system)", "-", 0, table_argv, "cpu"),
    ]


def whole_process(spec: Path, out: Path, runs: int, warmup: int, before: Path | None) -> None:
    """Issue 16's three figures, each the median of ``runs`` whole processes."""
    codes = {"after": ROOT} if before is None else {"before": before, "after": ROOT}
    # each command runs `runs` times per code base, interleaved, so a busy spell of the
    # machine falls on both columns alike
    samples: dict[tuple[str, str], list[Run]] = {}
    commands = {" ".join(f.argv): f.argv for f in process_figures(spec, out)}
    for _ in range(warmup):  # imports compiled, files cached
        for name, code in codes.items():
            for argv in commands.values():
                run_process(argv, code, out / f"{name}.warm")
    for i in range(runs):
        for key, argv in commands.items():
            for name, code in codes.items():
                result = run_process(argv, code, out / f"{name}-{i}.out")
                samples.setdefault((name, key), []).append(result)
    print(f"whole process, median of {runs} runs (peak RSS: wait4's ru_maxrss of the child)")
    columns = " ".join(f"{name:>10}" for name in codes)
    print(f"{'figure':<44} {'goal':>9} {columns}")
    for figure in process_figures(spec, out):
        cells = []
        after = 0.0
        for name in codes:
            runs_of = samples[(name, " ".join(figure.argv))]
            if figure.measure == "memory":
                value = statistics.median(r.peak_bytes for r in runs_of) / MB
                cells.append(f"{value:7.0f} MB")
            else:
                value = statistics.median(
                    r.cpu_s if figure.measure == "cpu" else r.wall_s for r in runs_of
                )
                cells.append(f"{value:8.2f} s")
            after = value
        verdict = "" if not figure.limit else "meets" if after <= figure.limit else "MISSES"
        print(f"{figure.label:<44} {figure.goal:>9} {' '.join(cells)}  {verdict}")
    if before is not None:
        same = (out / "before-0.out").read_bytes() == (out / "after-0.out").read_bytes()
        print(f"JSON before and after byte-identical: {'yes' if same else 'NO'}")


def ten_thousand_layers(count: int) -> ModelSpec:
    layers = tuple(
        LayerSpec(
            type="separable",
            where=f"layers[{i}]",
            kernel=(3,),
            filters=16 if i % 2 == 0 else 8,
            padding="same",
        )
        for i in range(count)
    )
    return ModelSpec(name="big", input=(8, 8, 8), layers=layers)


def in_process(tmp: Path, layers: int, runs: int) -> None:
    big = ten_thousand_layers(layers)
    show(
        f"count {layers:,} distinct layers (in memory)",
        measure(lambda: profile_report(build(big)), runs),
        1.0,
    )
    path = tmp / "distinct.yaml"
    path.write_text(
        "name: big\ninput: [8, 8, 8]\nlayers:\n"
        + "".join(
            f"  - {{type: separable, kernel: 3, filters: {16 if i % 2 == 0 else 8}, "
            "padding: same}\n"
            for i in range(layers)
        )
    )
    show(
        "read + validate + count the same spec from YAML",
        measure(lambda: profile_report(build(load_model(path))), runs),
        1.0,
    )
    for repeat in (1, 10**9):
        spec = tmp / f"repeat{repeat}.yaml"
        spec.write_text(
            "input: [56, 56, 128]\nlayers:\n  - {type: separable, kernel: 3, "
            f"filters: 128, padding: same, repeat: {repeat}}}\n"
        )
        model = load_model(spec)

        def count(m: ModelSpec = model) -> object:
            return profile_report(build(m))

        show(f"count repeat: {repeat:,}", measure(count, runs), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=10_000, help="layers of the big spec")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first")
    parser.add_argument(
        "--before", type=Path, help="a checkout of older code: before/after columns"
    )
    args = parser.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        spec = tmp / "big.yaml"
        spec.write_text(big_spec(args.layers))
        print(
            f"spec: {args.layers:,} layers, alternating conv and separable 3x3 at 56x56x64, "
            f"{spec.stat().st_size / MB:.2f} MB of YAML"
        )
        whole_process(spec, tmp, args.runs, args.warmup, args.before)
        print("in this process:")
        in_process(tmp, args.layers, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
