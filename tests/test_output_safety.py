"""Nothing lost: ``--output`` is atomic, failed runs leave files alone, Ctrl-C is clean.

docs/errors.md: ``--output`` writes a temporary
file and renames it into place, so a failed run leaves an existing file untouched and no
temporary file behind; an output path in a missing directory is exit 2 naming
``--output``. A failed *gate* is not a failed run: the report is still written
(docs/scripting.md, "Using sepconv in CI": the gate script "always leaves the report ...
behind before failing"). Ctrl-C at any point exits 130 with a short message and no traceback.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()

OLD = b'{"old": "report", "bytes": "\xc3\xa9"}\n'  # what was there before the run
SPEC = "input: [12, 12, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 8}\n"
SHRINKS = (
    "input: [12, 12, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 8, stride: 2}\n"
    "  - {type: conv, kernel: 3, filters: 8, stride: 2}\n"
    "  - {type: conv, kernel: 3, filters: 8}\n"
)


def invoke(argv: list[str]) -> Any:
    result = runner.invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEPCONV_DEBUG", raising=False)
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / "shrinks.yaml").write_text(SHRINKS)
    (tmp_path / "bad.yaml").write_text(SPEC.replace("kernel: 3", "kernel: true"))
    (tmp_path / "one.json").write_text(
        json.dumps(
            {
                "schema": "sepconv/profile/v1",
                "model": "one",
                "layers": [{"name": "a", "standard": {"macs": 1, "params": 1}}],
            }
        )
    )
    (tmp_path / "other.json").write_text('{"hello": 1}\n')
    (tmp_path / "existing.json").write_bytes(OLD)
    return tmp_path


# ------------------------------------------------------------------ failed runs keep the file

FAILING_RUNS = {
    "flag-error": (["cost", "--kernel", "0"], 2),
    "spec-type-error": (["profile", "bad.yaml", "--no-time"], 2),
    "shape-error-while-counting": (["profile", "shrinks.yaml", "--no-time"], 2),
    "cost-spec-error": (["cost", "--spec", "bad.yaml"], 2),
    "compare-bad-report": (["compare", "one.json", "other.json", "--format", "json"], 2),
    "runtime-memory-guard": (
        ["cost", "--time", "--input", "100000x100000x64", "--kernel", "3", "--filters", "64"],
        3,
    ),
}


@pytest.mark.parametrize(("argv", "code"), list(FAILING_RUNS.values()), ids=list(FAILING_RUNS))
@pytest.mark.parametrize("flag", ["--output", "-o"])
def test_failed_run_leaves_existing_output_untouched(
    argv: list[str], code: int, flag: str, workdir: Path
) -> None:
    before = listing(workdir)
    mtime = (workdir / "existing.json").stat().st_mtime_ns
    result = invoke([*argv, flag, "existing.json"])
    assert result.exit_code == code, result.stderr
    assert (workdir / "existing.json").read_bytes() == OLD
    assert (workdir / "existing.json").stat().st_mtime_ns == mtime
    assert listing(workdir) == before, "a temporary file was left behind"
    assert result.stdout == ""


def test_failed_run_creates_no_output_file(workdir: Path) -> None:
    before = listing(workdir)
    result = invoke(["profile", "shrinks.yaml", "--no-time", "-o", "new.json"])
    assert result.exit_code == 2
    assert listing(workdir) == before


def test_failure_while_rendering_keeps_the_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after counting, while the report is being produced."""
    from sepconv_cli import errors
    from sepconv_cli.output.formats import Format
    from sepconv_cli.output.reports import PROFILE

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise errors.RuntimeFailure("simulated failure while rendering")

    monkeypatch.setitem(PROFILE.renderers, Format.json, broken)
    before = listing(workdir)
    result = invoke(
        ["profile", "spec.yaml", "--no-time", "--format", "json", "-o", "existing.json"]
    )
    assert result.exit_code == 3
    assert (workdir / "existing.json").read_bytes() == OLD
    assert listing(workdir) == before


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EXDEV, "Invalid cross-device link"),
    ],
    ids=["disk-full", "cross-device"],
)
def test_write_failure_keeps_the_file_and_names_output(
    failure: OSError, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename into place fails: one line naming --output, no temporary file left."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise failure

    before = listing(workdir)
    monkeypatch.setattr(os, "replace", refuse)
    monkeypatch.setattr(os, "rename", refuse)
    result = invoke(["cost", "--format", "json", "-o", "existing.json"])
    monkeypatch.undo()
    assert result.exit_code in (2, 3), result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: "), lines
    assert "--output" in lines[0]
    assert (workdir / "existing.json").read_bytes() == OLD
    assert listing(workdir) == before, "a temporary file was left behind"


def test_interrupt_while_writing_keeps_the_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C between writing the temporary file and renaming it."""

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    before = listing(workdir)
    monkeypatch.setattr(os, "replace", interrupted)
    monkeypatch.setattr(os, "rename", interrupted)
    result = invoke(["cost", "--format", "json", "-o", "existing.json"])
    monkeypatch.undo()
    assert result.exit_code == 130
    assert (workdir / "existing.json").read_bytes() == OLD
    assert listing(workdir) == before, "a temporary file was left behind"
    assert "interrupted" in result.stderr, "Ctrl-C must say so in one short line"


# ------------------------------------------------------------------ successful writes


def test_output_holds_exactly_the_report(workdir: Path) -> None:
    """-o FILE writes what stdout would have shown, and stdout stays empty."""
    shown = invoke(["cost", "--format", "json"])
    written = invoke(["cost", "--format", "json", "-o", "existing.json"])
    assert shown.exit_code == written.exit_code == 0
    assert written.stdout == ""
    assert (workdir / "existing.json").read_text(encoding="utf-8") == shown.stdout
    assert json.loads(shown.stdout)["schema"] == "sepconv/cost/v1"


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_no_temporary_file_after_success(fmt: str, workdir: Path) -> None:
    before = listing(workdir)
    result = invoke(["profile", "spec.yaml", "--no-time", "--format", fmt, "-o", "r.out"])
    assert result.exit_code == 0, result.stderr
    assert listing(workdir) == before | {"r.out"}
    assert (workdir / "r.out").stat().st_size > 0


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664, 0o755])
def test_replacing_keeps_the_permissions(mode: int, workdir: Path) -> None:
    path = workdir / "existing.json"
    path.chmod(mode)
    result = invoke(["cost", "--format", "json", "-o", "existing.json"])
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_bytes() != OLD


def test_new_file_follows_the_umask(workdir: Path) -> None:
    old = os.umask(0o027)
    try:
        result = invoke(["cost", "--format", "json", "-o", "new.json"])
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert stat.S_IMODE((workdir / "new.json").stat().st_mode) == 0o640  # 0o666 & ~0o027


@pytest.mark.parametrize("target", ["missing/out.json", "a/b/c/out.json"])
def test_missing_directory_is_a_usage_error(target: str, workdir: Path) -> None:
    before = listing(workdir)
    result = invoke(["cost", "-o", target])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: --output")
    assert target.rsplit("/", 1)[0] in lines[0]
    assert listing(workdir) == before, "nothing is created"


def test_missing_directory_is_refused_before_any_work(workdir: Path) -> None:
    """Checked up front: a slow timed run does not end by failing to save its result."""
    start = time.monotonic()
    result = invoke(["profile", "mobilenet_v1", "--time-budget", "10s", "-o", "missing/r.json"])
    assert result.exit_code == 2
    assert "--output" in result.stderr
    assert time.monotonic() - start < 5


# ------------------------------------------------------------------ gates still write


def test_budget_failure_still_writes_the_report(workdir: Path) -> None:
    result = invoke(
        [
            "profile",
            "mobilenet_v1",
            "--no-time",
            "--format",
            "json",
            "--max-macs",
            "1M",
            "-o",
            "existing.json",
        ]
    )
    assert result.exit_code == 1, result.stderr
    assert "--max-macs" in result.stderr
    report = json.loads((workdir / "existing.json").read_text())
    assert report["schema"] == "sepconv/profile/v1"
    assert report["totals"]["as_specified"]["macs"] > 1_000_000
    assert result.stdout == ""


def test_cost_budget_failure_still_writes_the_report(workdir: Path) -> None:
    result = invoke(["cost", "--format", "json", "--max-params", "10", "-o", "existing.json"])
    assert result.exit_code == 1, result.stderr
    assert "--max-params" in result.stderr
    assert json.loads((workdir / "existing.json").read_text())["schema"] == "sepconv/cost/v1"


def test_compare_gate_failure_still_writes_the_report(workdir: Path) -> None:
    # MobileNetV2 (300.8M MACs) -> MobileNetV1 (568.7M MACs): +89%
    result = invoke(
        [
            "compare",
            "mobilenet_v2",
            "mobilenet_v1",
            "-q",
            "--format",
            "markdown",
            "--max-increase",
            "macs=2%",
            "-o",
            "comment.md",
        ]
    )
    assert result.exit_code == 1, result.stderr
    assert "--max-increase" in result.stderr
    assert (workdir / "comment.md").read_text().strip()


# ------------------------------------------------------------------ special output paths


def test_output_through_a_symlink_updates_its_target(workdir: Path) -> None:
    """``-o link.json`` where link.json -> real.json: the report lands in real.json and the
    link stays a link (renaming over the link would silently detach it)."""
    (workdir / "real.json").write_bytes(OLD)
    (workdir / "link.json").symlink_to("real.json")
    result = invoke(["cost", "--format", "json", "-o", "link.json"])
    assert result.exit_code == 0, result.stderr
    assert (workdir / "link.json").is_symlink(), "the symlink was replaced by a regular file"
    assert json.loads((workdir / "real.json").read_text())["schema"] == "sepconv/cost/v1"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_output_to_a_named_pipe_is_not_lost(workdir: Path) -> None:
    """``-o pipe`` (or /dev/stdout, /dev/null): renaming a regular file over it loses the
    report (and, as root, replaces the device node). Either the reader receives the report,
    or the run is refused with exit 2 naming --output; never a silent exit 0 with nothing
    delivered."""
    fifo = workdir / "report.fifo"
    os.mkfifo(fifo)
    # hold the read end open (non-blocking) so the writer's open does not wait for a reader;
    # the report (a few KiB) fits in the pipe's buffer, so the writer never blocks either
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sepconv_cli", "cost", "--format", "json", "-o", str(fifo)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        chunks = []
        while True:
            try:
                chunk = os.read(reader, 65536)
            except BlockingIOError:  # a writer still holds it open with nothing written
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(reader)
    received = b"".join(chunks)
    still_a_pipe = stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert "Traceback" not in proc.stderr
    if proc.returncode == 2:
        assert "--output" in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    assert still_a_pipe, "the named pipe was replaced by a regular file"
    assert json.loads(received)["schema"] == "sepconv/cost/v1", "the reader got no report"


# ------------------------------------------------------------------ Ctrl-C


def sepconv_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "sepconv_cli", *argv]


@pytest.fixture(scope="module")
def startup_s(tmp_path_factory: pytest.TempPathFactory) -> float:
    """How long this machine takes to reach a command and fail (imports, parsing)."""
    root = tmp_path_factory.mktemp("startup")
    start = time.monotonic()
    subprocess.run(
        sepconv_cmd("profile", "nosuch.yaml", "--no-time"),
        cwd=root,
        capture_output=True,
        timeout=60,
    )
    return time.monotonic() - start


@pytest.fixture(scope="module")
def slow_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three lines that take many seconds: a 1x1 conv with padding 1 grows the input by 2
    every time, so its 99,999 repeats never fold into one row (the row limit is 100,000)."""
    path = tmp_path_factory.mktemp("slow") / "grows.yaml"
    path.write_text(
        "input: [4, 4, 8]\nlayers:\n"
        "  - {type: conv, kernel: 1, filters: 8, padding: 1, repeat: 99999}\n"
    )
    return path


def interrupt(argv: list[str], cwd: Path, after_s: float) -> tuple[int, str, str, float]:
    # a shell's background job starts with SIGINT ignored, and Python then installs no
    # Ctrl-C handler: give the child the default disposition, as a terminal's program has
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(after_s)
    assert proc.poll() is None, "finished before it could be interrupted; use a bigger input"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("still running 20 s after SIGINT")
    return proc.returncode, out, err, time.monotonic() - sent


def assert_interrupted(code: int, out: str, err: str, took_s: float) -> None:
    assert "Traceback" not in err + out, err[-2000:]
    assert code == 130, (code, err[-2000:])
    assert took_s < 10, f"took {took_s:.1f} s to stop"
    # notes (e.g. "this machine is busy") may precede the error; the error itself is one line
    lines = [line for line in err.splitlines() if not line.startswith("sepconv: note:")]
    assert len(lines) == 1 and lines[0].startswith("sepconv: ") and "interrupted" in lines[0], (
        f"expected one short 'interrupted' line on stderr, got {err!r}"
    )
    assert out == "", "no partial report on stdout"


@pytest.mark.parametrize("phase_s", [0.3, 3.0], ids=["counting", "later"])
def test_sigint_while_counting_a_big_model(
    phase_s: float, slow_spec: Path, startup_s: float, tmp_path: Path
) -> None:
    (tmp_path / "existing.json").write_bytes(OLD)
    before = listing(tmp_path)
    code, out, err, took = interrupt(
        sepconv_cmd(
            "profile", str(slow_spec), "--no-time", "--format", "json", "-o", "existing.json"
        ),
        tmp_path,
        2 * startup_s + phase_s,
    )
    assert_interrupted(code, out, err, took)
    assert (tmp_path / "existing.json").read_bytes() == OLD
    assert listing(tmp_path) == before, "a temporary file was left behind"


def test_sigint_during_a_timed_profile(startup_s: float, tmp_path: Path) -> None:
    """Timing every MobileNetV1 layer for 1 s each takes half a minute: interrupt it."""
    code, out, err, took = interrupt(
        sepconv_cmd("profile", "mobilenet_v1", "--time-budget", "1s", "--format", "json"),
        tmp_path,
        2 * startup_s + 1.0,
    )
    assert_interrupted(code, out, err, took)


# A driver that runs the installed console script exactly as pip's wrapper does, but sends
# itself SIGINT the first time a given module is imported: a deterministic Ctrl-C at start-up
# (typer: before any command runs) or while loading (yaml: imported when a spec is read).
CTRL_C_AT_IMPORT = r"""
import builtins, os, signal, sys
from importlib.metadata import entry_points
target = sys.argv[1]
real_import = builtins.__import__
def hook(name, *args, **kwargs):
    if name == target or name.startswith(target + "."):
        builtins.__import__ = real_import
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)
builtins.__import__ = hook
(ep,) = entry_points(group="console_scripts", name="sepconv")
sys.argv = ["sepconv", *sys.argv[2:]]
sys.exit(ep.load()())
"""


@pytest.mark.parametrize("module", ["typer", "yaml"], ids=["start-up", "loading"])
def test_sigint_at_start_up_and_while_loading(module: str, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CTRL_C_AT_IMPORT,
            module,
            "profile",
            "spec.yaml",
            "--no-time",
            "--format",
            "json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode == 130, (proc.returncode, proc.stderr[-1500:])
    assert "interrupted" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("where", ["count", "render"])
def test_keyboard_interrupt_in_process(
    where: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same contract through CliRunner, with Ctrl-C injected at a known point."""
    from sepconv_cli.cli import profile as cmd_profile

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    target = {"count": "load_model", "render": "render_profile"}[where]
    if not hasattr(cmd_profile, target):
        pytest.skip(f"cmd_profile.{target} was renamed")
    monkeypatch.setattr(cmd_profile, target, interrupted)
    before = listing(workdir)
    result = invoke(
        ["profile", "spec.yaml", "--no-time", "--format", "json", "-o", "existing.json"]
    )
    assert result.exit_code == 130
    assert (workdir / "existing.json").read_bytes() == OLD
    assert listing(workdir) == before
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], result.stderr
