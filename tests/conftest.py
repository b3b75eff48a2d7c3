"""Shared pytest options, a reproducible hypothesis profile for CI, and a private home.

Typer's ``CliRunner`` builds the Click command from the Typer app again at every
``invoke`` (about 20 ms: a quarter of the suite's time, over a thousand calls); the apps
never change once imported, so the session builds each one once.

Every test runs with ``HOME``, ``XDG_CACHE_HOME`` and ``XDG_STATE_HOME`` pointing into one
temporary directory of the session, so no test writes to the user's real home: not the
machine-measurement cache (``~/.cache/sepconv``), not the interactive history
(``~/.local/state/sepconv``), not a library's cache. The directory is shared by the
session, not made per test, so the machine is measured once per run, not once per timed
test. Subprocesses inherit it through the environment.

ONNX Runtime writes a device id and a telemetry database under ``$XDG_CACHE_HOME`` (else
``~/.cache``) the moment it is imported, and a test module may import it while pytest
collects, before any fixture has replaced HOME: so ``ORT_DISABLE_TELEMETRY=1``, which stops
those files, is set here when pytest loads this file, for the whole run and every
subprocess (tests/test_ort_files.py checks that sepconv sets it on its own, without this).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.testing
from hypothesis import settings

# CI (CI=true) replays the same examples every run, so a red build always means a change,
# never an unlucky draw; locally hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The environment as the test run found it, before the fixture below replaces it.
_REAL_ENV = {key: os.environ.get(key) for key in ("HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")}

# before any test module can import onnxruntime (see the module docstring)
ORT_TELEMETRY = "ORT_DISABLE_TELEMETRY"
os.environ[ORT_TELEMETRY] = "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ from the current output "
        "instead of comparing against them.",
    )
    parser.addoption(
        "--update-readme",
        action="store_true",
        default=False,
        help="Rewrite the outputs of the examples in README.md and docs/*.md from the real "
        "commands (tests/test_readme.py; same as python tests/update_readme.py).",
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
    monkeypatch.setenv(ORT_TELEMETRY, "1")  # restored for each test, should one unset it
    yield


@pytest.fixture(autouse=True, scope="session")
def _build_each_cli_once() -> Iterator[None]:
    """Memoise the Typer → Click build that ``typer.testing.CliRunner.invoke`` repeats.

    Only how often the same command object is built changes: every invoke still parses its
    arguments and runs the command afresh. If Typer renames the private hook, this patches
    nothing and the suite is merely slower.
    """
    with pytest.MonkeyPatch.context() as patch:
        build = getattr(typer.testing, "_get_command", None)
        if build is not None:
            patch.setattr(typer.testing, "_get_command", functools.cache(build))
        yield


@pytest.fixture
def fresh_runtimes() -> Iterator[None]:
    """Runtimes are loaded once per process (registry.load_runtime caches them): a test that
    hides a package, or checks what loading says, needs a fresh load, and leaves none."""
    from sepconv_cli.execution.runtimes.registry import load_runtime

    load_runtime.cache_clear()
    yield
    load_runtime.cache_clear()
