"""sepconv's worker threads: every task runs, errors surface, nothing is left running."""

from __future__ import annotations

import functools
import os
import threading
import time

import pytest

from sepconv_cli.execution.workers import run_all


def test_every_task_runs_once_and_the_first_in_the_calling_thread() -> None:
    ran: list[tuple[int, str]] = []
    lock = threading.Lock()

    def task(k: int) -> None:
        with lock:
            ran.append((k, threading.current_thread().name))

    run_all([functools.partial(task, k) for k in range(5)])
    assert sorted(k for k, _ in ran) == [0, 1, 2, 3, 4]
    names = dict(ran)
    assert names[0] == threading.current_thread().name
    assert all(names[k].startswith("sepconv") for k in range(1, 5))


def test_tasks_run_at_the_same_time() -> None:
    """Two tasks that each wait for the other finish only if they run concurrently."""
    barrier = threading.Barrier(2, timeout=10)
    run_all([barrier.wait, barrier.wait])


def test_a_worker_error_is_raised_in_the_caller() -> None:
    def fail() -> None:
        raise ValueError("worker failed")

    with pytest.raises(ValueError, match="worker failed"):
        run_all([lambda: None, fail])


def test_the_caller_waits_for_workers_before_raising_its_own_error() -> None:
    """A failing (or interrupted) caller must not return while workers still write."""
    done = threading.Event()

    def slow() -> None:
        time.sleep(0.05)
        done.set()

    def fail() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_all([fail, slow])
    assert done.is_set()


def test_no_tasks_and_one_task() -> None:
    run_all([])
    ran: list[str] = []
    run_all([lambda: ran.append(threading.current_thread().name)])
    assert ran == [threading.current_thread().name]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_workers() -> None:
    """The parent's pool threads do not survive fork(); the child must not wait on them."""
    run_all([lambda: None, lambda: None])  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # child: exit 0 only if both tasks ran
        ran: list[int] = []
        try:
            run_all([lambda: ran.append(0), lambda: ran.append(1)])
        finally:
            os._exit(0 if sorted(ran) == [0, 1] else 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung waiting for its parent's worker threads")
