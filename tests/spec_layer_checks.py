"""What the tests of the spec language's newer layers (``test_spec_layers_more.py``,
``test_spec_elementwise_more.py``, ``test_spec_tables.py``) each ask of the command line:
every form's totals, the one error line a bad value gets, each row's timing note."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
FORMS = ("as_specified", "standard", "separable")
NOT_EXECUTED = "operation is counted, not executed (no kernel here runs it)"
"""Why a layer no kernel runs is not timed (the end of its row's note)."""


def totals(*args: str) -> dict[str, tuple[int, int, int]]:
    """(MACs, params, FLOPs) of each form of ``sepconv profile *args``."""
    done = runner.invoke(app, ["profile", *args, "--no-time", "--format", "json"])
    assert done.exit_code == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)["totals"]
    return {f: (doc[f]["macs"], doc[f]["params"], doc[f]["flops"]) for f in FORMS}


def error_line(spec: Path) -> str:
    """The one line ``sepconv profile SPEC`` prints for a spec it refuses (exit 2)."""
    done = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert done.exit_code == 2, done.output
    (line,) = done.stderr.splitlines()
    return line


def timing_notes(spec: Path) -> dict[str, str]:
    """Each row's note, by name, in a timed JSON profile of ``spec`` (exit 0)."""
    done = runner.invoke(
        app, ["profile", str(spec), "--time", "--time-budget", "0.05s", "--format", "json"]
    )
    assert done.exit_code == 0, done.output
    return {row["name"]: row.get("note", "") for row in json.loads(done.stdout)["layers"]}
