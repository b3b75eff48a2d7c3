"""The suite leaves the user's home alone (tests/conftest.py gives every test a private one).

Each test runs the command that writes to the home as a user would run it (a subprocess
with the environment the test gets), then checks two things: the write happened, in the
private home; and the real locations, worked out from the environment the run started
with, list exactly the same files with the same sizes and modification times as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

Listing = dict[str, tuple[int, int]] | None


def real_dir(env: dict[str, str | None], xdg: str, fallback: tuple[str, ...]) -> Path | None:
    """``$XDG_…/sepconv`` as the run found it, else ``$HOME/<fallback>/sepconv``."""
    base = env[xdg]
    if base:
        return Path(base) / "sepconv"
    home = env["HOME"]
    return Path(home, *fallback, "sepconv") if home else None


def listing(directory: Path | None) -> Listing:
    """Every file under ``directory`` with its (size, mtime in ns); None if it is absent."""
    if directory is None or not directory.exists():
        return None
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
    }


def test_the_environment_points_into_a_private_home(
    private_home: Path, real_env: dict[str, str | None]
) -> None:
    for key in ("HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        assert Path(os.environ[key]).is_relative_to(private_home), key
        if real_env[key]:
            assert os.environ[key] != real_env[key], key


def test_a_timed_profile_caches_the_machine_in_the_private_home(
    private_home: Path, real_env: dict[str, str | None]
) -> None:
    """Up to about 5 s: a timed profile measures this machine's GEMM and memory bandwidth
    (1-3 s) once per session, which is the write this test is about."""
    real = real_dir(real_env, "XDG_CACHE_HOME", (".cache",))
    before = listing(real)
    proc = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", "profile", "seed_example", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"timing"' in proc.stdout  # it was timed, so the machine was measured
    assert list((private_home / ".cache" / "sepconv").glob("machine-*.json"))
    assert listing(real) == before


def test_interactive_history_goes_to_the_private_home(
    private_home: Path, real_env: dict[str, str | None]
) -> None:
    pexpect = pytest.importorskip("pexpect")
    real = real_dir(real_env, "XDG_STATE_HOME", (".local", "state"))
    before = listing(real)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "sepconv_cli", "interactive"],
        env={**os.environ, "NO_COLOR": "1", "TERM": "xterm"},
        encoding="utf-8",
        timeout=20,
        dimensions=(50, 140),
    )
    child.expect_exact("sepconv> ")
    child.sendline("kernel 3")
    child.expect_exact("sepconv> ")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert (private_home / ".local" / "state" / "sepconv" / "history").exists()
    assert listing(real) == before
