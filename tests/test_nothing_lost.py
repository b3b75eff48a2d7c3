"""Nothing lost (issue 22, item 5): no run of sepconv destroys a file the user had.

- ``-o``/``--output`` or ``--plot`` naming any file the command reads (a model, a spec, a
  report to compare, a kernel), however spelled (relative, absolute, ``./``, a symlink, a
  hard link), is refused: exit 2, one line naming the flag, before any work (a timed
  profile would take seconds), the file byte for byte as it was. So is ``--plot`` naming
  ``--output``'s file: the plot would replace the report.
- Every other failure — a bad flag, an unknown flag, a bad or truncated model, an internal
  error — leaves an existing output file byte for byte as it was, its mtime too, and no
  temporary file beside it.
- A failed gate (exit 1) is not a failed run: the report is written whole (the CI recipe
  keeps it), and the inputs are untouched.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()

SPEC = "input: [12, 12, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 8}\n"
OTHER = SPEC.replace("filters: 8", "filters: 16")
LAYERS = "- {input: [12, 12, 3], kernel: 3, filters: 8}\n"
KERNEL = "1,2\n2,4\n"
OLD = b"what was here before \xc3\xa9\n"


def invoke(argv: list[str]) -> Any:
    result = runner.invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEPCONV_DEBUG", raising=False)
    for name, text in (
        ("spec.yaml", SPEC),
        ("spec.svg", SPEC),  # a spec whose name a plot could have
        ("other.yaml", OTHER),
        ("layers.yaml", LAYERS),
        ("kernel.csv", KERNEL),
        ("bad.yaml", SPEC.replace("kernel: 3", "kernel: true")),
    ):
        (tmp_path / name).write_text(text)
    (tmp_path / "existing.out").write_bytes(OLD)
    return tmp_path


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime (a symlink's target's)."""
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir() if p.is_file()
    }


def one_error_line(stderr: str, flag: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sepconv: error: {flag}: "), stderr
    return lines[0]


# ------------------------------------------------------------------ an output names an input

REFUSED = {
    "profile-output": (["profile", "spec.yaml", "-o", "spec.yaml"], "--output"),
    "profile-long-flag-json": (
        ["profile", "spec.yaml", "--format", "json", "--output", "./spec.yaml"],
        "--output",
    ),
    "profile-plot": (["profile", "spec.svg", "--no-time", "--plot", "spec.svg"], "--plot"),
    "cost-spec": (["cost", "--spec", "layers.yaml", "-o", "layers.yaml"], "--output"),
    "compare-base": (["compare", "spec.yaml", "other.yaml", "-o", "spec.yaml"], "--output"),
    "compare-new": (["compare", "spec.yaml", "other.yaml", "-o", "other.yaml"], "--output"),
    "bench-output": (["bench", "spec.yaml", "-o", "spec.yaml"], "--output"),
    "bench-plot": (["bench", "spec.svg", "--plot", "spec.svg"], "--plot"),
    "export": (["export", "spec.yaml", "-o", "spec.yaml"], "--output"),
    "spatial-kernel-file": (["spatial", "kernel.csv", "-o", "kernel.csv"], "--output"),
    # a report is never written as .svg: --output refuses the name before --plot sees it
    "profile-plot-is-output": (
        ["profile", "spec.yaml", "--no-time", "-o", "r.svg", "--plot", "./r.svg"],
        "--output",
    ),
    "bench-plot-is-output": (["bench", "spec.yaml", "-o", "r.svg", "--plot", "r.svg"], "--output"),
    "sweep-plot-is-output": (
        ["sweep", "-v", "filters=8,16", "-v", "kernel=3,5", "-o", "g.svg", "--plot", "g.svg"],
        "--output",
    ),
}


@pytest.mark.parametrize(("argv", "flag"), list(REFUSED.values()), ids=list(REFUSED))
def test_an_output_naming_an_input_is_refused(argv: list[str], flag: str, workdir: Path) -> None:
    before = snapshot(workdir)
    start = time.monotonic()
    done = invoke(argv)
    assert done.exit_code == 2, done.stdout + done.stderr
    one_error_line(done.stderr, flag)
    assert done.stdout == ""
    assert snapshot(workdir) == before  # nothing changed, nothing written, nothing left
    assert time.monotonic() - start < 5, "refused before the work (profile times by default)"


@pytest.mark.parametrize("spelling", ["absolute", "symlink", "hardlink", "dotdot"])
def test_any_spelling_of_the_input_is_refused(spelling: str, workdir: Path) -> None:
    target = workdir / "spec.yaml"
    if spelling == "absolute":
        output = str(target)
    elif spelling == "symlink":
        (workdir / "link.yaml").symlink_to("spec.yaml")
        output = "link.yaml"
    elif spelling == "hardlink":
        os.link(target, workdir / "hard.yaml")
        output = "hard.yaml"
    else:
        (workdir / "sub").mkdir()
        output = "sub/../spec.yaml"
    before = snapshot(workdir)
    done = invoke(["profile", "spec.yaml", "--no-time", "--format", "json", "-o", output])
    assert done.exit_code == 2, done.stderr
    assert "is the model being read" in one_error_line(done.stderr, "--output")
    assert snapshot(workdir) == before


def test_export_spec_never_replaces_its_model(workdir: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx_graphs import node, save, weight  # tests/onnx_graphs.py

    model = save(
        workdir / "m.onnx",
        [node("Conv", ["x", "w"], ["y"], "conv")],
        {"x": [1, 3, 8, 8]},
        ["y"],
        [weight("w", 4, 3, 3, 3)],
    )
    assert onnx.load(str(model)).graph.node[0].op_type == "Conv"
    before = snapshot(workdir)
    done = invoke(["export-spec", "m.onnx", "-o", "./m.onnx"])
    assert done.exit_code == 2
    one_error_line(done.stderr, "--output")
    assert snapshot(workdir) == before


# ------------------------------------------------------------------ other failures


def truncated_onnx(directory: Path) -> str:
    """The first 40 bytes of a real model: a download cut short."""
    onnx = pytest.importorskip("onnx")
    from onnx_graphs import conv_model

    whole = conv_model(directory / "whole.onnx", [1, 3, 8, 8], [4, 3, 3, 3])
    assert onnx.load(str(whole)).graph.node
    (directory / "cut.onnx").write_bytes(whole.read_bytes()[:40])
    return "cut.onnx"


FAILURES: dict[str, tuple[list[str], int]] = {
    "bad-flag-value": (["profile", "spec.yaml", "--batch", "0"], 2),
    "unknown-flag": (["profile", "spec.yaml", "--no-such-flag"], 2),
    "flag-given-a-value": (["cost", "--bias=yes"], 2),
    "bad-spec": (["profile", "bad.yaml", "--no-time"], 2),
    "missing-model": (["profile", "missing.yaml", "--no-time"], 2),
    "unknown-preset": (["compare", "mobilenet_v9", "spec.yaml"], 2),
    "cost-bad-spec": (["cost", "--spec", "bad.yaml"], 2),
    "bench-bad-spec": (["bench", "bad.yaml"], 2),
    "export-bad-opset": (["export", "spec.yaml", "--opset", "3"], 2),
    "export-bad-spec": (["export", "bad.yaml"], 2),
    "spatial-bad-kernel": (["spatial", "nosuch-kernel"], 2),
    "sweep-bad-vary": (["sweep", "-v", "filters=0"], 2),
    "truncated-onnx": (["profile", "{cut}"], 2),
    "export-spec-truncated-onnx": (["export-spec", "{cut}"], 2),
}


@pytest.mark.parametrize(("argv", "code"), list(FAILURES.values()), ids=list(FAILURES))
def test_a_failed_run_leaves_the_output_as_it_was(
    argv: list[str], code: int, workdir: Path
) -> None:
    if "{cut}" in argv:
        argv = [a.replace("{cut}", truncated_onnx(workdir)) for a in argv]
    before = snapshot(workdir)
    done = invoke([*argv, "-o", "existing.out"])
    assert done.exit_code == code, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) >= 1 and done.stdout == ""
    assert snapshot(workdir) == before


@pytest.mark.parametrize(
    "failure", [ValueError("a bug"), MemoryError()], ids=["internal-error", "out-of-memory"]
)
def test_an_internal_failure_leaves_the_output_as_it_was(
    failure: BaseException, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while rendering (exit 3 "internal error") or memory running out: the report is
    never half written over the file."""
    from sepconv_cli.output.formats import Format
    from sepconv_cli.output.reports import PROFILE

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setitem(PROFILE.renderers, Format.json, broken)
    before = snapshot(workdir)
    done = invoke(["profile", "spec.yaml", "--no-time", "--format", "json", "-o", "existing.out"])
    assert done.exit_code == 3, done.stderr
    assert snapshot(workdir) == before


def test_an_internal_failure_in_export_spec_leaves_the_output(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnx")
    from sepconv_cli.interchange import spec_writer

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(spec_writer, "export_spec", broken)
    truncated_onnx(workdir)
    before = snapshot(workdir)
    done = invoke(["export-spec", "whole.onnx", "-o", "existing.out"])
    assert done.exit_code == 3 and "internal error" in done.stderr
    assert snapshot(workdir) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "spec.yaml", "--no-time", "--format", "json", "--max-macs", "1"],
        ["cost", "--spec", "layers.yaml", "--format", "json", "--max-params", "1"],
        ["compare", "spec.yaml", "other.yaml", "--format", "json", "--max-increase", "1%"],
    ],
    ids=["profile", "cost", "compare"],
)
def test_a_failed_gate_writes_the_whole_report_and_keeps_the_inputs(
    argv: list[str], workdir: Path
) -> None:
    inputs = {name: (workdir / name).read_bytes() for name in ("spec.yaml", "other.yaml")}
    done = invoke([*argv, "-o", "existing.out"])
    assert done.exit_code == 1, done.stderr
    report = json.loads((workdir / "existing.out").read_text())
    assert report["schema"].startswith("sepconv/")
    assert {name: (workdir / name).read_bytes() for name in inputs} == inputs
    assert not [p for p in workdir.iterdir() if p.name.endswith(".tmp")]
