"""Kernel files: a 2-D matrix from ``.yaml``/``.yml`` (a list of rows), ``.csv`` or ``.npy``.

Rule: every defect of the file is a ``KernelError`` (exit 2) that names the file and, where
it can, the row and column (YAML: ``file:line:col``); nothing else escapes. Files are
bounded by the same size limit as layer specs (``spec.yaml_loader.MAX_FILE_BYTES``) and by
``MAX_SIDE`` per side.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sepconv_cli.analysis.spatial.model import MAX_SIDE, KernelError, Matrix
from sepconv_cli.spec import fields as F
from sepconv_cli.spec.yaml_loader import MAX_FILE_BYTES, YamlError, load


def load_kernel_file(path: Path) -> Matrix:
    """A 2-D matrix from ``.yaml``/``.yml`` (a list of lists), ``.csv`` or ``.npy``."""
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv", ".npy"):
        raise KernelError(
            f"{name}: expected a built-in kernel name or a .yaml, .csv or .npy "
            f"file, got the extension {suffix or '(none)'!r}"
        )
    if not path.exists():
        raise KernelError(f"{name}: no such file")
    if not path.is_file():
        raise KernelError(f"{name}: not a regular file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise KernelError(
            f"{name}: file is larger than the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit"
        )
    if suffix == ".npy":
        matrix = _load_npy(path)
    elif suffix == ".csv":
        matrix = _check_rows(name, _read_csv(path), lambda i, j: "")
    else:
        matrix = _load_yaml(path)
    return _check_matrix(name, matrix)


def _load_npy(path: Path) -> Matrix:
    name = str(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise KernelError(f"{name}: not a readable .npy array ({reason})") from None
    if not isinstance(array, np.ndarray):
        raise KernelError(f"{name}: expected one array")
    if array.dtype.kind not in "iuf":
        raise KernelError(f"{name}: expected real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise KernelError(
            f"{name}: expected a 2-D matrix, got {array.ndim} dims "
            f"(shape {tuple(int(n) for n in array.shape)})"
        )
    return np.asarray(array, dtype=np.float64)


def _read_csv(path: Path) -> list[list[str]]:
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KernelError(f"{name}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    except OSError as exc:
        raise KernelError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if "\x00" in text:
        raise KernelError(f"{name}: binary file (contains NUL bytes), expected CSV text")
    rows = [
        row
        for row in csv.reader(io.StringIO(text))
        if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
    ]
    return rows


def _number(cell: Any) -> float:
    """A finite real number from a CSV cell or a YAML scalar; raises ValueError (message)."""
    if isinstance(cell, bool) or cell is None or isinstance(cell, (list, dict)):
        raise ValueError(f"expected a number, got {F.describe(cell)}")
    if isinstance(cell, str):
        text = cell.strip()
        if not text:
            raise ValueError("empty value")
        try:
            value = float(text)
        except ValueError:
            hint = " (values are separated by commas)" if " " in text else ""
            raise ValueError(f"not a number: {text[:40]!r}{hint}") from None
    elif isinstance(cell, (int, float)):
        try:
            value = float(cell)
        except OverflowError:
            raise ValueError("number too large") from None
    else:
        raise ValueError(f"expected a number, got {F.describe(cell)}")
    if math.isnan(value):
        raise ValueError("NaN is not a kernel weight")
    if math.isinf(value):
        raise ValueError("infinite value")
    return value


def _check_rows(name: str, rows: Sequence[Any], where: Callable[[int, int], str]) -> Matrix:
    """Validate a list of rows of numbers. ``where(i, j)`` gives a ``file:line:col`` prefix
    (YAML) or ``""`` (the caller's name is used)."""

    def fail(i: int, j: int, message: str) -> KernelError:
        place = where(i, j) or name
        return KernelError(f"{place}: {message}")

    if not rows:
        raise KernelError(f"{name}: empty: expected a matrix (rows of numbers)")
    if len(rows) > MAX_SIDE:
        raise KernelError(f"{name}: {len(rows)} rows; the limit is {MAX_SIDE}")
    width = None
    out: list[list[float]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise fail(
                i,
                -1,
                f"row {i + 1}: expected a list of numbers, got "
                f"{F.describe(row)} (a kernel is a list of rows, 2-D)",
            )
        if not row:
            raise fail(i, -1, f"row {i + 1} is empty")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise fail(i, -1, f"ragged rows: row {i + 1} has {len(row)} values, row 1 has {width}")
        values = []
        for j, cell in enumerate(row):
            try:
                values.append(_number(cell))
            except ValueError as exc:
                raise fail(i, j, f"row {i + 1}, column {j + 1}: {exc}") from None
        out.append(values)
    return np.array(out, dtype=np.float64)


def _load_yaml(path: Path) -> Matrix:
    try:
        doc = load(path)
    except YamlError as exc:
        raise KernelError(str(exc)) from None
    data = doc.data
    if isinstance(data, dict) and set(data) == {"kernel"}:  # ``kernel: [[...], ...]``
        data = data["kernel"]
        prefix: tuple[str, ...] = ("kernel",)
    else:
        prefix = ()
    if not isinstance(data, list):
        raise KernelError(
            f"{doc.mark(prefix) or doc.file}: expected a matrix (a list of "
            f"rows of numbers), got {F.describe(data)}"
        )

    def where(i: int, j: int) -> str:
        mark = doc.mark((*prefix, i, j) if j >= 0 else (*prefix, i))
        return str(mark) if mark else ""

    return _check_rows(doc.file, data, where)


def _check_matrix(name: str, matrix: Matrix) -> Matrix:
    if matrix.size == 0:
        raise KernelError(f"{name}: empty matrix (shape {matrix.shape[0]}x{matrix.shape[1]})")
    if max(matrix.shape) > MAX_SIDE:
        raise KernelError(
            f"{name}: a {matrix.shape[0]}x{matrix.shape[1]} kernel; each side "
            f"is limited to {MAX_SIDE}"
        )
    bad = np.argwhere(~np.isfinite(matrix))
    if bad.size:
        i, j = (int(n) for n in bad[0])
        what = "NaN" if math.isnan(matrix[i, j]) else "an infinite value"
        raise KernelError(f"{name}: row {i + 1}, column {j + 1}: {what}")
    if not np.any(matrix):
        raise KernelError(f"{name}: every weight is zero: nothing to separate")
    return matrix
