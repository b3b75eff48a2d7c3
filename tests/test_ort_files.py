"""ONNX Runtime's own files (a device id and a telemetry database under
``$XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime``, else ``~/.cache/...``) stay out of
the user's HOME: sepconv sets ``ORT_DISABLE_TELEMETRY=1`` before it imports onnxruntime
(execution/runtimes/onnxruntime_runtime.py), and the test run sets it for itself
(conftest.py). Each check runs in a fresh process with a fresh HOME, without the variable,
so it sees what a user's first run would write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

VARIABLE = "ORT_DISABLE_TELEMETRY"

# a layer timed on ORT through sepconv's own path, as `cost --time --runtime onnxruntime` does
SEPCONV_RUN = """
from dataclasses import replace
from sepconv_cli.counting.report import single_layer_report
from sepconv_cli.execution.profiling import time_report, timing_settings
from sepconv_cli.spec.flags import layer_from_flags
layer = single_layer_report(layer_from_flags({"input": "8x8x4", "kernel": "3", "filters": "8"}))
settings = replace(timing_settings(threads=1, budget_s=0.02), runtime="onnxruntime")
assert time_report(layer, settings).timing is not None
"""


def fresh_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's first run: a new HOME, no XDG cache, no ORT variable unless given."""
    env = {k: v for k, v in os.environ.items() if k not in (VARIABLE, "XDG_CACHE_HOME")}
    return {**env, "HOME": str(home), **extra}


def written(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def run(code: str, env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_test_run_itself_keeps_them_out() -> None:
    assert os.environ[VARIABLE] == "1"


def test_plain_onnxruntime_writes_them_so_the_check_below_can_fail(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    run("import onnxruntime", fresh_env(home), tmp_path)
    files = written(home)
    if not files:
        pytest.skip("this onnxruntime writes nothing on import: nothing to keep out")
    assert any("onnxruntime" in f for f in files), files


def test_a_sepconv_run_on_onnxruntime_writes_nothing_to_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    run(SEPCONV_RUN, fresh_env(home), tmp_path)
    assert written(home) == []


def test_a_users_own_setting_stands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    check = (
        "import os\n"
        "from sepconv_cli.execution.runtimes.onnxruntime_runtime import import_onnxruntime\n"
        "import_onnxruntime()\n"
        f"assert os.environ['{VARIABLE}'] == '0', os.environ['{VARIABLE}']\n"
    )
    run(check, fresh_env(home, **{VARIABLE: "0"}), tmp_path)
