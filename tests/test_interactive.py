"""``sepconv interactive`` driven through a pseudo-terminal, as a person would use it.

Expected numbers are hand arithmetic: 12x12x3, 5x5, F filters (valid) -> 8x8xF:
standard 3*25*64*F, separable 3*25*64 + 3*F*64.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

pexpect = pytest.importorskip("pexpect")

PROMPT = "sepconv> "


def spawn(tmp_path: Path) -> Any:
    env = {
        **os.environ,
        "COLUMNS": "140",
        "NO_COLOR": "1",
        "XDG_STATE_HOME": str(tmp_path),
        "TERM": "xterm",
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "sepconv_cli", "interactive"],
        env=env,
        encoding="utf-8",
        timeout=20,
        dimensions=(50, 140),
    )
    child.expect_exact(PROMPT)
    return child


def interrupt(child: Any) -> None:
    """Ctrl-C at the prompt, until the session shows it took it. The prompt appears a moment
    before readline has the terminal; a ^C in that gap (which a person cannot hit) is lost
    on a loaded machine, so the test presses again instead of failing on the race."""
    # 5 s an attempt: a slow echo must not be taken for a lost ^C, or the next ^C would
    # land on the following prompt and shift every later expect by one prompt
    for _ in range(4):
        child.sendintr()
        if child.expect_exact(["KeyboardInterrupt", pexpect.TIMEOUT], timeout=5) == 0:
            return
    raise AssertionError("Ctrl-C at the prompt printed no KeyboardInterrupt")


def digits(n: int) -> str:
    return f"{n:,}"


def test_edits_refresh_the_table_and_bad_input_keeps_the_session(tmp_path) -> None:  # type: ignore[no-untyped-def]
    child = spawn(tmp_path)
    assert digits(256 * 3 * 25 * 64) in child.before  # the seed example: 1,228,800

    child.sendline("filters 512")
    child.expect_exact(PROMPT)
    assert digits(512 * 3 * 25 * 64) in child.before  # 2,457,600
    assert digits(3 * 25 * 64 + 3 * 512 * 64) in child.before  # 103,104

    child.sendline("kernel 3")  # 10x10 output now
    child.expect_exact(PROMPT)
    assert digits(512 * 3 * 9 * 100) in child.before  # 1,382,400

    child.sendline("kernel 0")  # refused; the layer stays as it was
    child.expect_exact(PROMPT)
    assert "unchanged" in child.before
    assert "Traceback" not in child.before

    child.sendline("frobnicate 3")
    child.expect_exact(PROMPT)
    assert "unknown command" in child.before

    child.sendline("input 224x224x32")
    child.expect_exact(PROMPT)
    assert digits(512 * 32 * 9 * 222 * 222) in child.before  # valid padding: 222x222

    child.sendline("stride 2")
    child.expect_exact(PROMPT)
    assert "111×111×512" in child.before  # floor((224 - 3) / 2) + 1 = 111

    child.sendline("reset")
    child.expect_exact(PROMPT)
    assert digits(1_228_800) in child.before

    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_history_is_kept_between_sessions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    child = spawn(tmp_path)
    child.sendline("filters 64")
    child.expect_exact(PROMPT)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    history = tmp_path / "sepconv" / "history"
    assert "filters 64" in history.read_text()


def test_time_runs_both_forms(tmp_path) -> None:  # type: ignore[no-untyped-def]
    child = spawn(tmp_path)
    child.sendline("time")
    child.expect_exact(PROMPT, timeout=60)
    # the seed layer's depthwise part (4,800 MACs) is one einsum per tap: whichever verdict
    # the measurement gets, both forms were measured
    assert "Measured" in child.before and "Traceback" not in child.before
    child.sendeof()  # Ctrl-D leaves too
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_change_shows_the_difference_and_table_shows_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    child = spawn(tmp_path)
    child.sendline("kernel=3")  # 8x8 -> 10x10 output: 1,228,800 -> 3*9*100*256 = 691,200
    child.expect_exact(PROMPT)
    assert "kernel 5 → 3" in child.before
    assert "1,228,800 → 691,200  (-537,600)" in child.before
    assert "FLOPs / byte" not in child.before  # not the full table
    child.sendline("kernal 5")
    child.expect_exact(PROMPT)
    assert "did you mean 'kernel'?" in child.before
    child.sendline("table")
    child.expect_exact(PROMPT)
    assert "FLOPs / byte" in child.before and "691,200" in child.before
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_clears_the_line_and_keeps_the_session(tmp_path) -> None:  # type: ignore[no-untyped-def]
    child = spawn(tmp_path)
    child.send("filters 99")  # half-typed, never entered
    child.expect_exact("filters 99")  # echoed: readline has the line
    interrupt(child)
    child.expect_exact(PROMPT)
    child.sendline("filters 64")  # the 99 is gone: the change is from the seed's 256
    child.expect_exact(PROMPT)
    assert "filters 256 → 64" in child.before and "99" not in child.before
    interrupt(child)  # on an empty line too
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    history = (tmp_path / "sepconv" / "history").read_text()
    assert "filters 64" in history and "filters 99" not in history


def test_needs_a_terminal() -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", "interactive"],
        input="",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("sepconv: error: interactive needs a terminal")
