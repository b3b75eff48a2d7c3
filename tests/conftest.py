"""Shared pytest options, a reproducible hypothesis profile for CI, and a private home.

Every test runs with ``HOME``, ``XDG_CACHE_HOME`` and ``XDG_STATE_HOME`` pointing into one
temporary directory of the session, so no test writes to the user's real home: not the
machine-measurement cache (``~/.cache/sepconv``), not the interactive history
(``~/.local/state/sepconv``), not a library's cache. The directory is shared by the
session, not made per test, so the machine is measured once per run, not once per timed
test. Subprocesses inherit it through the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# CI (CI=true) replays the same examples every run, so a red build always means a change,
# never an unlucky draw; locally hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The environment as the test run found it, before the fixture below replaces it.
_REAL_ENV = {key: os.environ.get(key) for key in ("HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ from the current output "
        "instead of comparing against them.",
    )


@pytest.fixture(scope="session")
def real_env() -> dict[str, str | None]:
    """HOME and the XDG cache and state variables as the run found them (the user's)."""
    return dict(_REAL_ENV)


@pytest.fixture(scope="session")
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's stand-in for ``$HOME`` (with ``.cache`` and ``.local/state`` in it)."""
    home = tmp_path_factory.mktemp("home")
    (home / ".cache").mkdir()
    (home / ".local" / "state").mkdir(parents=True)
    return home


@pytest.fixture(autouse=True)
def _isolated_home(private_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point HOME and the XDG cache and state directories at :func:`private_home`.

    A test may still set its own (monkeypatch or a subprocess ``env``); this only replaces
    the user's.
    """
    monkeypatch.setenv("HOME", str(private_home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(private_home / ".cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(private_home / ".local" / "state"))
    yield
