"""This machine's measured ceilings (float32 GEMM GFLOP/s, memory bandwidth) and the roofline.

Rules
-----
* GEMM: ``C = A @ B`` on square float32 matrices of side :data:`GEMM_N` through NumPy's
  BLAS with the BLAS threads in effect; ``2 * n**3`` FLOPs per call; one warm-up call, then
  the median of repeats.
* Bandwidth: ``np.copyto`` between two float32 arrays of :data:`COPY_BYTES` each (far
  larger than any cache); bytes moved = read + write = ``2 * nbytes`` per copy (the
  write-allocate read a CPU may add is not counted, as STREAM's Copy does not); one warm-up
  copy (it also faults the pages in), then the median of repeats. One thread: NumPy's copy
  is single-threaded, so this is the bandwidth its kernels can draw.
* Both take about 1-3 s in all (``repeats`` bounds it). The result is cached as JSON in
  ``$XDG_CACHE_HOME/sepconv`` (else ``~/.cache/sepconv``), keyed by CPU model, core
  count, NumPy version, BLAS library, its kernel and the BLAS thread count;
  ``refresh=True`` measures again.
* Load: other programs share the cores and the memory bus, so a measurement taken while
  they run is lower than the machine's ceiling. The 1-minute load average
  (``os.getloadavg``) is read before and after measuring and the larger kept; the machine
  was *busy* when it exceeds :data:`BUSY_LOAD_PER_CORE` x the cores this process may use
  (on 2 cores: above 1.0). A busy measurement is cached but *provisional*: the next call
  that finds the machine not busy measures again and replaces it; while the machine stays
  busy the provisional value is reused (measuring again under load would not be better).
  A cache file that predates the load record counts as provisional too. Where no load
  average exists (Windows) every measurement counts as not busy.
* Roofline: best-case time of work with ``flops`` and ``bytes_moved`` is
  ``max(flops / peak_flops, bytes_moved / bandwidth)``; the larger term names the bound
  ("compute" or "memory").
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sepconv_cli.execution.records import Bound

SCHEMA = "sepconv/machine/v1"
BUSY_LOAD_PER_CORE = 0.5  # load above half the cores: others take a share a ceiling can't spare
GEMM_N = 1024  # 2.1 GFLOP per call: ~10 ms at 200 GFLOP/s, long enough to time well
COPY_BYTES = 256 << 20  # per array: 8x a 32 MiB L3 cache


@dataclass(frozen=True)
class Machine:
    """Measured ceilings and what they were measured on."""

    cpu: str
    cores: int
    numpy: str
    blas: dict[str, Any]
    threads: int | None
    gemm_gflops: float
    bandwidth_gbs: float
    measured_at: str
    key: str
    cached: bool = False
    # the 1-minute load average while measuring (None: the platform has none)
    load_1m: float | None = None
    # load_1m above BUSY_LOAD_PER_CORE x cores; None: not recorded (a cache file from before)
    busy: bool | None = False

    @property
    def provisional(self) -> bool:
        """Measured under load (or under an unknown load): re-measured once it is idle."""
        return self.busy is not False

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["provisional"] = self.provisional
        out["schema"] = SCHEMA
        return out


@dataclass(frozen=True)
class Roofline:
    """Best-case time of some work on this machine, and which ceiling sets it."""

    best_s: float
    bound: Bound


def roofline(flops: int, bytes_moved: int, peak_gflops: float, bandwidth_gbs: float) -> Roofline:
    """``max(flops / peak, bytes / bandwidth)``; ties count as compute-bound.

    >>> r = roofline(2_000_000_000, 1_000_000_000, peak_gflops=100.0, bandwidth_gbs=10.0)
    >>> (r.best_s, r.bound)
    (0.1, 'memory')
    """
    compute = flops / (peak_gflops * 1e9) if peak_gflops > 0 else 0.0
    memory = bytes_moved / (bandwidth_gbs * 1e9) if bandwidth_gbs > 0 else 0.0
    return Roofline(max(compute, memory), "compute" if compute >= memory else "memory")


# --------------------------------------------------------------------------- identity


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def core_count() -> int:
    """Cores this process may run on (its affinity mask), else all the OS reports."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def blas_info() -> dict[str, Any]:
    """The BLAS NumPy calls: from threadpoolctl when installed (library, version, the
    kernel it chose for this CPU, threads), else from ``numpy.show_config``."""
    import numpy as np

    info: dict[str, Any] = {}
    try:
        import threadpoolctl

        for lib in threadpoolctl.threadpool_info():
            if lib.get("user_api") == "blas":
                info = {
                    "library": lib.get("internal_api"),
                    "version": lib.get("version"),
                    "kernel": lib.get("architecture"),
                    "threads": lib.get("num_threads"),
                    "threading": lib.get("threading_layer"),
                    "source": "threadpoolctl",
                }
                break
    except ImportError:
        pass
    if not info:
        try:
            config = np.show_config(mode="dicts")
            blas = config.get("Build Dependencies", {}).get("blas", {})
            info = {
                "library": blas.get("name"),
                "version": blas.get("version"),
                "kernel": None,
                "threads": None,
                "source": "numpy.show_config",
            }
        except (TypeError, AttributeError):  # NumPy < 1.26 has no mode="dicts"
            info = {"library": "unknown", "source": "none"}
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        info["openblas_coretype"] = coretype  # a forced kernel: slower on newer CPUs
    return info


def cache_key(
    cpu: str, cores: int, numpy_version: str, blas: dict[str, Any], threads: int | None
) -> str:
    text = json.dumps(
        [
            cpu,
            cores,
            numpy_version,
            blas.get("library"),
            blas.get("version"),
            blas.get("kernel"),
            blas.get("openblas_coretype"),
            threads,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_average() -> float | None:
    """The 1-minute load average: runnable (and uninterruptible) processes, averaged."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has none
        return None


def is_busy(load: float | None, cores: int) -> bool:
    """Whether other work took a share of the cores a ceiling measurement needs.

    >>> is_busy(1.2, 2), is_busy(0.4, 2), is_busy(None, 2)
    (True, False, False)
    """
    return load is not None and load > BUSY_LOAD_PER_CORE * cores


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sepconv"


# --------------------------------------------------------------------------- measurement


def _median_time(fn: Callable[[], object], repeats: int, clock: Callable[[], float]) -> float:
    fn()  # warm-up: page faults, BLAS buffers and thread start-up
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def measure_gemm(
    n: int = GEMM_N, repeats: int = 7, clock: Callable[[], float] = time.perf_counter
) -> float:
    """float32 GEMM GFLOP/s of NumPy's BLAS, median of ``repeats`` calls."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    seconds = _median_time(lambda: np.matmul(a, b, out=c), repeats, clock)
    return 2 * n**3 / seconds / 1e9


def measure_bandwidth(
    nbytes: int = COPY_BYTES, repeats: int = 7, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Copy bandwidth in GB/s (read + write), median of ``repeats`` copies."""
    import numpy as np

    count = nbytes // 4
    src = np.ones(count, np.float32)
    dst = np.empty(count, np.float32)
    seconds = _median_time(lambda: np.copyto(dst, src), repeats, clock)
    return 2 * count * 4 / seconds / 1e9


def machine_info(
    threads: int | None = None,
    refresh: bool = False,
    directory: Path | None = None,
    repeats: int = 7,
    load: Callable[[], float | None] | None = None,
) -> Machine:
    """This machine's ceilings: from the cache when measured before, else measured now.

    ``threads`` limits BLAS threads for the GEMM (threadpoolctl), as ``--threads`` does for
    timings, and is part of the cache key. A provisional cached value (measured busy) is
    measured again when the machine is not busy now (see the module's rules); ``load``
    reads the load average (default :func:`load_average`; tests pass a fake).
    """
    import numpy as np

    from sepconv_cli.execution.timing import thread_limit

    with thread_limit(threads):
        blas = blas_info()
        cpu, cores = cpu_model(), core_count()
        key = cache_key(cpu, cores, np.__version__, blas, threads)
        path = (directory or cache_dir()) / f"machine-{key}.json"
        load = load or load_average  # looked up now, so a test can replace it
        before = load()
        if not refresh:
            cached = _read_cache(path, key)
            if cached is not None and (not cached.provisional or is_busy(before, cores)):
                return cached
        gemm = measure_gemm(repeats=repeats)
    bandwidth = measure_bandwidth(repeats=repeats)
    seen = [x for x in (before, load()) if x is not None]
    load_1m = round(max(seen), 2) if seen else None
    machine = Machine(
        cpu,
        cores,
        np.__version__,
        blas,
        threads,
        round(gemm, 3),
        round(bandwidth, 3),
        datetime.now(timezone.utc).isoformat(timespec="seconds"),
        key,
        load_1m=load_1m,
        busy=is_busy(load_1m, cores),
    )
    _write_cache(path, machine)
    return machine


def _read_cache(path: Path, key: str) -> Machine | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SCHEMA or data.get("key") != key:
            return None
        fields = {
            k: data[k]
            for k in (
                "cpu",
                "cores",
                "numpy",
                "blas",
                "threads",
                "gemm_gflops",
                "bandwidth_gbs",
                "measured_at",
                "key",
            )
        }
        # a file written before the load was recorded has no "busy": unknown, so provisional
        load_1m, busy = data.get("load_1m"), data.get("busy")
        return Machine(
            **fields,
            cached=True,
            load_1m=float(load_1m) if load_1m is not None else None,
            busy=bool(busy) if busy is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: measure again


def _write_cache(path: Path, machine: Machine) -> None:
    """Best effort, atomically: a cache that cannot be written only costs a re-measure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        data = machine.as_dict()
        data.pop("cached")
        data.pop("provisional")  # follows from "busy"
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
