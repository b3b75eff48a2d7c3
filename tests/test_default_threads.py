"""The default thread count never fails (issue 12, item 3).

Without threadpoolctl, the BLAS thread count can be set only before NumPy loads. Without
``--threads``, a run where NumPy was already loaded (by ``--plot``'s matplotlib, say) times
with the count BLAS has and records that count; an explicit ``--threads`` is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy  # noqa: F401  (loaded, as the issue's matplotlib loaded it)
import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.cli.console import Messages
from sepconv_cli.cli.timing_flags import timing_settings_from_flags
from sepconv_cli.errors import UsageError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@pytest.fixture
def no_threadpoolctl(monkeypatch: pytest.MonkeyPatch) -> None:
    """threadpoolctl not importable (``import threadpoolctl`` raises ImportError), with
    NumPy loaded, and no BLAS thread variable set."""
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Messages, "quiet", False)


def test_default_uses_the_count_blas_read(
    no_threadpoolctl: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    settings = timing_settings_from_flags(None, None, None)
    assert settings.threads == 3
    err = capsys.readouterr().err
    assert "timing with 3 threads, not 1" in err and "threadpoolctl" in err


def test_default_without_variables_is_one_thread_per_cpu(
    no_threadpoolctl: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert timing_settings_from_flags(None, None, None).threads == cpus
    assert ("not 1" in capsys.readouterr().err) == (cpus != 1)


def test_default_at_one_blas_thread_says_nothing(
    no_threadpoolctl: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert timing_settings_from_flags(None, None, None).threads == 1
    assert capsys.readouterr().err == ""


def test_explicit_threads_are_refused_when_they_cannot_be_set(no_threadpoolctl: None) -> None:
    with pytest.raises(UsageError, match=r"^--threads: .*threadpoolctl"):
        timing_settings_from_flags("1", None, None)


def test_timed_profile_records_the_threads_it_ran_with(
    no_threadpoolctl: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    result = runner.invoke(
        app, ["profile", "seed_example", "--time-budget", "0.05s", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["timing"]["settings"]["threads"] == 2
    assert "timing with 2 threads, not 1" in result.stderr


def test_profile_plot_without_threadpoolctl_pins_one_thread(tmp_path: Path) -> None:
    """The issue's run: ``profile ... --plot x.png`` with matplotlib but no threadpoolctl,
    in a fresh process. The thread count is set before matplotlib loads NumPy: one thread,
    as documented, and no note."""
    pytest.importorskip("matplotlib")
    plot = tmp_path / "x.png"
    code = (
        "import os, sys\n"
        "sys.modules['threadpoolctl'] = None\n"
        "from sepconv_cli.cli.app import main\n"
        "try:\n"
        f"    main(['profile', 'seed_example', '--time-budget', '0.05', '--plot', {str(plot)!r},\n"
        "          '--format', 'json'])\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code, os.environ.get('OPENBLAS_NUM_THREADS'), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["PYTHONPATH"] = str(ROOT)
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert "exit 0 1" in result.stderr, result.stderr
    assert json.loads(result.stdout)["timing"]["settings"]["threads"] == 1
    assert "not 1" not in result.stderr
    assert plot.stat().st_size > 0
