"""The timing flags (``--threads``, ``--time-budget``, ``--max-memory``) read into the
settings timing runs with, and the BLAS thread count those settings really get.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sepconv_cli.cli.console import Messages


def timing_from_flags(
    enabled: bool,
    threads: str | None,
    time_budget: str | None,
    max_memory: str | None,
    *,
    off_hint: str = "add --time",
    runtime: str | None = None,
    device: str | None = None,
    ort_optimization: str | None = None,
) -> Any:
    """TimingSettings when timing is on; None when off, refusing timing flags given without
    it (never silently ignored)."""
    from sepconv_cli.errors import UsageError

    if enabled:
        # NumPy's BLAS threads matter only when NumPy is what is timed
        numpy_timed = runtime in (None, "numpy")
        settings = timing_settings_from_flags(threads, time_budget, max_memory, note=numpy_timed)
        return with_runtime(settings, runtime, device, ort_optimization, threads)
    for flag, value in (
        ("--threads", threads),
        ("--time-budget", time_budget),
        ("--max-memory", max_memory),
        ("--runtime", runtime),
        ("--device", device),
        ("--ort-optimization", ort_optimization),
    ):
        if value is not None:
            raise UsageError(f"{flag}: only applies when timing ({off_hint})")
    return None


def with_runtime(
    settings: Any,
    runtime: str | None,
    device: str | None,
    ort_optimization: str | None,
    threads: str | None = None,
) -> Any:
    """``settings`` on the runtime ``--runtime`` names (``--device``, ``--ort-optimization``
    checked against it), loaded now: a missing package or GPU is exit 2 before any work.
    A runtime other than NumPy runs ``--threads`` threads (1 by default) of its own,
    whatever the BLAS library NumPy loaded is stuck with."""
    from dataclasses import replace

    from sepconv_cli.errors import UsageError
    from sepconv_cli.execution.runtimes.base import DEVICES, ORT_OPTIMIZATION, RUNTIMES

    name = runtime or "numpy"
    for flag, value, allowed in (
        ("--runtime", name, RUNTIMES),
        ("--device", device or "cpu", DEVICES),
        ("--ort-optimization", ort_optimization or "all", tuple(ORT_OPTIMIZATION)),
    ):
        if value not in allowed:
            raise UsageError(f"{flag}: {value!r} is not one of {', '.join(allowed)}")
    if name == "numpy":
        if device == "cuda":
            raise UsageError(
                "--device cuda: NumPy runs on the CPU; add --runtime onnxruntime or torch"
            )
        if ort_optimization is not None:
            raise UsageError("--ort-optimization: only applies with --runtime onnxruntime")
        return settings
    if ort_optimization is not None and name != "onnxruntime":
        raise UsageError("--ort-optimization: only applies with --runtime onnxruntime")
    from sepconv_cli.cli.options import parse_flag
    from sepconv_cli.spec.fields import positive_int

    count = 1
    if threads is not None:
        count = parse_flag(threads, "--threads", lambda v: positive_int(v, maximum=4096))
    settings = replace(
        settings,
        runtime=name,
        device=device or "cpu",
        ort_optimization=ort_optimization,
        threads=count,
    )
    from sepconv_cli.execution.runtimes.registry import load_runtime

    load_runtime(name, settings.device, settings.threads, ort_optimization)
    return settings


def timing_settings_from_flags(
    threads: str | None, time_budget: str | None, max_memory: str | None, *, note: bool = True
) -> Any:
    """Validate the timing flags (each error names its flag) into TimingSettings.

    Without ``--threads`` the count is 1 where sepconv can set it, else the BLAS library's
    own count (see :func:`_pin_blas_threads`): the default never fails."""
    from sepconv_cli.cli.options import parse_flag
    from sepconv_cli.errors import UsageError
    from sepconv_cli.execution.profiling import timing_settings
    from sepconv_cli.spec.fields import positive_int
    from sepconv_cli.units import parse_bytes, parse_seconds

    thread_count = 1  # see ThreadsOption: steady, comparable single-thread times by default
    if threads is not None:
        thread_count = parse_flag(threads, "--threads", lambda v: positive_int(v, maximum=4096))
    budget = None
    if time_budget is not None:
        # a bare number is seconds here (the metavar says SECONDS); --max-latency keeps
        # requiring a unit, as latencies are quoted in ms as often as in s
        budget = float(parse_seconds(time_budget, "--time-budget", bare_unit="s"))
        if budget <= 0:
            raise UsageError(f"--time-budget: must be more than 0 s, got {time_budget!r}")
        if budget > 3600:
            raise UsageError(f"--time-budget: at most 1 hour (3600 s), got {time_budget!r}")
    memory = parse_bytes(max_memory, "--max-memory") if max_memory is not None else None
    thread_count = _pin_blas_threads(thread_count, explicit=threads is not None, note=note)
    return timing_settings(threads=thread_count, budget_s=budget, max_memory=memory)


_BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def _pin_blas_threads(threads: int, *, explicit: bool, note: bool = True) -> int:
    """The thread count timing will really run with.

    With threadpoolctl, ``timing.thread_limit()`` sets ``threads`` around each measurement.
    Without it, the BLAS libraries read the ``*_NUM_THREADS`` variables once, when NumPy
    loads them: set before that, they take effect. Once NumPy is loaded (``--plot``'s
    matplotlib loads it, for one) the count cannot change: an explicit ``--threads`` is
    refused, and the default times with the count BLAS has, reported as the run's thread
    count (and in a note), never pretending to be 1."""
    from sepconv_cli.errors import UsageError

    try:
        import threadpoolctl  # noqa: F401

        return threads
    except ImportError:
        pass
    if "numpy" not in sys.modules:
        for name in _BLAS_THREAD_VARIABLES:
            os.environ[name] = str(threads)
        return threads
    if explicit and note:
        raise UsageError(
            "--threads: NumPy is already loaded, so only threadpoolctl can set the BLAS "
            "thread count (pip install 'sepconv[threads]')"
        )
    in_effect = blas_threads_in_effect()
    if in_effect != threads and note:
        Messages.note(
            f"sepconv: note: timing with {in_effect} threads, not {threads}: NumPy was loaded "
            "before sepconv could set the BLAS thread count, and threadpoolctl is not "
            "installed (pip install 'sepconv[threads]' for steady single-thread times)"
        )
    return in_effect


def default_threads() -> int:
    """The thread count a timing without ``--threads`` runs with (1 where sepconv can set
    it), without a note: ``interactive`` times as ``cost --time`` does by default."""
    return _pin_blas_threads(1, explicit=False, note=False)


def blas_threads_in_effect() -> int:
    """The thread count a BLAS library loaded without threadpoolctl uses: the first of its
    variables set to a positive integer when it loaded, else one per CPU this process may
    run on (OpenBLAS's and BLIS's rule; MKL counts physical cores, at most this)."""
    for name in _BLAS_THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
