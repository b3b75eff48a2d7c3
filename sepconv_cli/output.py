"""Where reports go: stdout, or ``--output FILE`` written atomically.

The file is written to a temporary sibling and renamed into place, so a run that fails
never leaves a half-written report and never destroys the file that was there before.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UsageError


def check_output_path(path: Path) -> None:
    """Fail early (exit 2), before any work, when the report could not be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--output: {path} is a directory")
    if not parent.exists():
        raise UsageError(f"--output: directory {parent} does not exist")
    if not parent.is_dir():
        raise UsageError(f"--output: {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--output: directory {parent} is not writable")


def write_atomic(path: Path, text: str) -> None:
    check_output_path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UsageError(f"--output: cannot write in {parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"--output: cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
