"""sepconv's own worker threads: run the independent parts of one kernel at the same time.

NumPy releases the GIL inside its einsum, ufunc and copy loops, so the parts of a kernel
that are big NumPy calls on disjoint arrays run truly in parallel in Python threads
(measured: one 112×112×32 depthwise einsum split in two row halves runs 1.86× faster on
2 cores). The cost is the hand-off: waking a sleeping worker and waking the caller back
took about 40-50 µs per call on this 2-core virtual machine, more than a small layer's
whole run, so kernels do not split unconditionally (see :mod:`sepconv_cli.execution.depthwise`).

The pool is created on first use, grows to the largest number of parts asked for, and its
threads idle between calls. ``--threads N`` sets how many parts a kernel may run at once,
together with the BLAS threads (:func:`sepconv_cli.execution.timing.thread_limit`); the two never
run at the same time, since a kernel either calls BLAS or splits its own loops.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _forget_pool() -> None:
    """In a forked child: the parent's worker threads do not exist here, and a pool that
    believes they do would queue tasks nobody runs. Start afresh on first use."""
    global _lock, _pool, _pool_size
    _lock = threading.Lock()
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pool)


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared pool, with at least ``workers`` threads."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sepconv")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one): more threads
    than that only take turns on the same cores."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_all(tasks: Sequence[Callable[[], object]]) -> None:
    """Run ``tasks[1:]`` on worker threads and ``tasks[0]`` in the calling thread.

    Returns once every task has finished, even when one failed or the caller was
    interrupted (the workers write into arrays the caller owns); then raises the first
    error, the calling thread's first.
    """
    if not tasks:
        return
    if len(tasks) == 1:
        tasks[0]()
        return
    pool = _executor(len(tasks) - 1)
    futures: list[Future[object]] = [pool.submit(task) for task in tasks[1:]]
    try:
        tasks[0]()
    finally:
        wait(futures)
    for future in futures:
        future.result()  # re-raises a worker's exception here
