"""Where reports go: stdout, or ``--output FILE`` (and ``--plot FILE``) written atomically.

The file is written to a temporary sibling and renamed into place, so a run that fails
never leaves a half-written report and never destroys the file that was there before.

Every file written announces itself: :func:`write_atomic_bytes` hands its path to the
announcer the CLI registers (:func:`announce_with`; ``cli/console`` says ``sepconv: wrote
FILE`` on stderr unless ``--quiet``), since this layer prints nothing itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from sepconv_cli.errors import UsageError

_announcer: list[Callable[[Path], None]] = []  # at most one: the CLI's


def announce_with(announce: Callable[[Path], None]) -> None:
    """Call ``announce(path)`` after each file is written from now on (replacing any
    announcer before it)."""
    _announcer[:] = [announce]


def check_output_path(
    path: Path,
    flag: str = "--output",
    inputs: Sequence[str | Path | None] = (),
    *,
    others: Sequence[tuple[str, Path | None]] = (),
    reading: str = "the model",
    writing: str = "the report",
) -> None:
    """Fail early (exit 2), before any work, when the file could not be written, or when
    something the user has would be lost: ``path`` is one of the command's ``inputs`` (files
    it reads: ``profile m.onnx -o m.onnx`` would replace the model with its report; named in
    the message as ``reading``, replaced by ``writing``), or is the file another output flag
    of ``others`` (``(flag, path)``) names (``-o r.svg --plot r.svg``: one replaces the
    other)."""
    for given in inputs:
        if given is not None and _same_file(path, Path(given)):
            raise UsageError(f"{flag}: {path} is {reading} being read; {writing} would replace it")
    if path.exists():  # only an existing file can be one a model reads beside it
        _refuse_model_data(path, flag, inputs, writing)
    for other_flag, other in others:
        if other is not None and _same_path(path, other):
            raise UsageError(
                f"{flag}: {path} is also {other_flag}'s file; one would replace the other"
            )
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{flag}: {path} is a directory")
    if not parent.exists():
        raise UsageError(f"{flag}: directory {parent} does not exist")
    if not parent.is_dir():
        raise UsageError(f"{flag}: {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag}: directory {parent} is not writable")


def _refuse_model_data(
    path: Path, flag: str, inputs: Sequence[str | Path | None], writing: str
) -> None:
    """Refuse ``path`` when it is a file an input model reads beside it (an ONNX file's
    external data: ``-o m.onnx.data`` would replace the weights)."""
    models = [Path(given) for given in inputs if given is not None]
    if not any(model.suffix.lower() == ".onnx" for model in models):
        return
    # imported here: only a run that writes over an existing file next to a model pays for it
    from sepconv_cli.interchange.onnx_validate import files_read

    for model in models:
        for data in files_read(model)[1:]:
            if _same_file(path, data):
                raise UsageError(
                    f"{flag}: {path} holds the weights of {model}; {writing} would replace them"
                )


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one existing file (links and relative paths resolved)."""
    try:
        return a.exists() and b.is_file() and os.path.samefile(a, b)
    except OSError:
        return False


def _same_path(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file, existing or still to be written."""
    try:
        return _same_file(a, b) or a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop: not the same as anything else
        return False


def write_atomic(path: Path, text: str, flag: str = "--output") -> None:
    write_atomic_bytes(path, text.encode("utf-8"), flag)


def write_atomic_bytes(
    path: Path, data: bytes, flag: str = "--output", *, announce: bool = True
) -> None:
    """Replace ``path`` atomically, then announce it (see the module's rule; ``announce=False``
    for a caller that says more itself). A symlink is written through (the link stays, its
    target gets the report); a pipe or device (``/dev/stdout``, a FIFO) is written to
    directly, since there is no file to replace, and is not announced (no file was
    written)."""
    given = path
    if path.is_symlink():
        path = path.resolve()
    check_output_path(path, flag)
    if path.exists() and not path.is_file():
        try:
            with path.open("wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise UsageError(f"{flag}: cannot write {path}: {exc.strerror or exc}") from None
        return
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write in {parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # keep the permissions of the file being replaced; a new file gets the umask's
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"{flag}: cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if announce:
        for say in _announcer:
            say(given)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
