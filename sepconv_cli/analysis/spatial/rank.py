"""Spatially separable kernels: rank, factors, low-rank approximations, cost and timing.

A k1×k2 kernel ``K`` of rank 1 is the outer product of a column ``c`` (k1 values) and a
row ``r`` (k2 values). Correlating an image with ``K`` then equals correlating it with
``c`` down the columns and the result with ``r`` along the rows: k1 + k2 multiplications
per output pixel instead of k1·k2. A kernel of rank r is a sum of r such pairs (its SVD,
which also gives the best rank-r approximation in the Frobenius norm, Eckart–Young):
r·(k1 + k2) multiplications.

Counting convention (per output pixel of one single-channel 2-D correlation): one
multiplication per kernel tap, zero taps included (a generic kernel does not know it has
zeros); adding n products takes n − 1 additions, and a sum of r separable terms r − 1 more.

Rank uses NumPy's ``matrix_rank`` rule unless a tolerance is given: singular values above
``S.max() · max(k1, k2) · eps`` (eps of float64) count.

This module needs NumPy; the ``spatial`` command imports it only when it runs. It never
prints and never imports Rich or Typer.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sepconv_cli.errors import UsageError
from sepconv_cli.spec import fields as F
from sepconv_cli.spec.layers import did_you_mean

SCHEMA = "sepconv/spatial/v1"
MAX_SIDE = 128  # largest kernel side accepted (built-in or file)
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_IMAGE_PIXELS = 1 << 26  # 64 Mi pixels: 256 MiB per float32 buffer
MAX_TIMED_TAPS = 1 << 32  # k1·k2·output pixels of the full form, per run
TOLERANCE_RULE = "S.max() * max(k1, k2) * eps(float64) (numpy.linalg.matrix_rank's default)"
COST_CONVENTION = (
    "per output pixel of a single-channel 2-D correlation: one multiplication (= one MAC) "
    "per kernel tap, zero taps included; adds: n products need n - 1 adds, and a sum of r "
    "separable terms r - 1 more. Full k1*k2; rank-1 pair k1 + k2; rank-r sum r*(k1 + k2)."
)

Matrix = npt.NDArray[np.float64]


class KernelError(UsageError):
    """A kernel that cannot be read or used; the message names the argument or the file."""


# --------------------------------------------------------------------------- kernels


@dataclass(frozen=True, eq=False)
class Kernel:
    """A 2-D kernel (float64) and where it came from."""

    name: str
    matrix: Matrix
    source: str  # "built-in" or "file"
    parameters: dict[str, float] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.matrix.shape
        return int(rows), int(cols)


_FIXED: dict[str, tuple[str, list[list[float]]]] = {
    "sobel-x": ("Sobel d/dx: [1,2,1]ᵀ ⊗ [-1,0,1]", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel-y": ("Sobel d/dy: [-1,0,1]ᵀ ⊗ [1,2,1]", [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "scharr-x": ("Scharr d/dx: [3,10,3]ᵀ ⊗ [-1,0,1]", [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]),
    "scharr-y": ("Scharr d/dy: [-1,0,1]ᵀ ⊗ [3,10,3]", [[-3, -10, -3], [0, 0, 0], [3, 10, 3]]),
    "prewitt-x": ("Prewitt d/dx: [1,1,1]ᵀ ⊗ [-1,0,1]", [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "prewitt-y": ("Prewitt d/dy: [-1,0,1]ᵀ ⊗ [1,1,1]", [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "laplacian": ("4-neighbour Laplacian (rank 2)", [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "laplacian-8": ("8-neighbour Laplacian (rank 2)", [[1, 1, 1], [1, -8, 1], [1, 1, 1]]),
    "sharpen": ("sharpen = identity - Laplacian (rank 2)", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "emboss": ("emboss", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}
_SIZED: dict[str, tuple[str, int]] = {  # name -> (description, default size)
    "gaussian": (
        "sampled Gaussian, sum 1; --sigma, default 0.3·((k-1)/2 - 1) + 0.8 (OpenCV's rule)",
        5,
    ),
    "box": ("box (mean) filter, every weight 1/(k1·k2)", 3),
    "binomial": ("binomial (Pascal row) smoothing, integer Gaussian approximation", 5),
}
_SIZE_RE = re.compile(r"^\d+([x×]\d+)?$")


def builtins() -> list[tuple[str, str]]:
    """(name, description) of every built-in kernel, for help texts."""
    sized = [
        (f"{name}:K", f"{text} (default K = {default}; K or K1xK2)")
        for name, (text, default) in _SIZED.items()
    ]
    return sized + [(name, text) for name, (text, _) in _FIXED.items()]


def default_sigma(size: int) -> float:
    """OpenCV ``getGaussianKernel``'s sigma for a size (when none is given).

    >>> round(default_sigma(5), 6)
    1.1
    """
    return 0.3 * ((size - 1) * 0.5 - 1) + 0.8


def gaussian_1d(size: int, sigma: float) -> Matrix:
    """Samples of ``exp(-x²/2σ²)`` at ``x = i - (size-1)/2``, normalised to sum 1."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return np.asarray(g / g.sum(), dtype=np.float64)


def binomial_1d(size: int) -> Matrix:
    return np.array([math.comb(size - 1, i) for i in range(size)], dtype=np.float64)


def resolve_kernel(text: str, sigma: float | None = None) -> Kernel:
    """A built-in (``gaussian:5``, ``box:3x5``, ``sobel-x``, …) or a ``.yaml``/``.csv``/
    ``.npy`` file holding a matrix. A name that is both wins as a built-in (write ``./name``
    for the file)."""
    name, _, size_text = text.strip().partition(":")
    key = name.strip().lower()
    if key in _SIZED or key in _FIXED:
        if sigma is not None and key != "gaussian":
            raise KernelError(f"--sigma: only gaussian kernels take a sigma (got {text!r})")
        return _builtin(key, size_text.strip(), text.strip(), sigma)
    path = Path(text)
    if path.suffix or path.exists() or "/" in text or "\\" in text:
        if sigma is not None:
            raise KernelError(f"--sigma: only gaussian kernels take a sigma (got {text!r})")
        return Kernel(name=text, matrix=load_kernel_file(path), source="file")
    names = [*_SIZED, *_FIXED]
    raise KernelError(
        f"KERNEL: unknown kernel {text!r}{did_you_mean(key, names)}; built-ins: "
        f"{', '.join(names)}; or a .yaml, .csv or .npy file"
    )


def _builtin(key: str, size_text: str, full: str, sigma: float | None) -> Kernel:
    if key in _FIXED:
        if size_text:
            raise KernelError(
                f"KERNEL: {key} is a fixed 3x3 kernel; it takes no size (got {full!r})"
            )
        return Kernel(
            name=key, matrix=np.array(_FIXED[key][1], dtype=np.float64), source="built-in"
        )
    default = _SIZED[key][1]
    size = (default, default)
    if size_text:
        if not _SIZE_RE.match(size_text) or len(size_text) > 20:
            raise KernelError(f"KERNEL: {full!r}: expected a size such as {key}:5 or {key}:3x5")
        parts = [int(p) for p in re.split(r"[x×]", size_text)]
        size = (parts[0], parts[-1])
    if not all(1 <= s <= MAX_SIDE for s in size):
        raise KernelError(f"KERNEL: {full!r}: each side must be 1 to {MAX_SIDE}")
    k1, k2 = size
    label = f"{key}:{k1}" if k1 == k2 else f"{key}:{k1}x{k2}"
    if key == "box":
        return Kernel(label, np.full(size, 1.0 / (k1 * k2)), "built-in")
    if key == "binomial":
        col, row = binomial_1d(k1), binomial_1d(k2)
        return Kernel(label, np.outer(col, row) / (col.sum() * row.sum()), "built-in")
    sigmas = (sigma, sigma) if sigma is not None else (default_sigma(k1), default_sigma(k2))
    params = (
        {"sigma": sigmas[0]}
        if sigmas[0] == sigmas[1]
        else {"sigma_rows": sigmas[0], "sigma_cols": sigmas[1]}
    )
    matrix = np.outer(gaussian_1d(k1, sigmas[0]), gaussian_1d(k2, sigmas[1]))
    return Kernel(label, matrix, "built-in", params)


# --------------------------------------------------------------------------- kernel files


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
    from sepconv_cli.spec.yaml_loader import YamlError, load

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


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class Factor:
    """One separable term ``scale · column ⊗ row`` of the kernel's SVD."""

    term: int
    singular_value: float
    scale: float
    scale_text: str
    column: tuple[float, ...]
    row: tuple[float, ...]
    integer: bool  # column and row are small integers (scale carries the rest)

    def matrix(self) -> Matrix:
        return self.scale * np.outer(np.array(self.column), np.array(self.row))


@dataclass(frozen=True)
class PixelCost:
    mults: int
    adds: int


@dataclass(frozen=True)
class Approximation:
    """The best rank-r approximation (the first r SVD terms)."""

    rank: int
    relative_error: float  # ||K - K_r||_F / ||K||_F
    cost: PixelCost

    @property
    def cost_per_pixel(self) -> int:
        return self.cost.mults


@dataclass(frozen=True)
class Stats:
    median_s: float
    min_s: float
    max_s: float
    runs: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median_s,
            "min_s": self.min_s,
            "max_s": self.max_s,
            "runs": self.runs,
        }


@dataclass(frozen=True)
class FormTiming:
    form: str  # "full", "separable" (exact: rank terms), "rank1" (approximation)
    terms: int  # separable terms (0 for the full kernel)
    stats: Stats
    predicted_speedup: float  # full mults / this form's mults
    speedup: float  # full median / this median
    max_abs_diff: float  # against the full form's output
    relative_error: float  # ||out - full||_F / ||full||_F


@dataclass(frozen=True)
class Timing:
    image: tuple[int, int]
    output: tuple[int, int]
    warmup: int
    forms: tuple[FormTiming, ...]
    allclose: bool  # the exact separable form reproduces the full correlation
    dtype: str = "float32"


@dataclass(frozen=True, eq=False)
class Analysis:
    kernel: Kernel
    singular_values: tuple[float, ...]
    tolerance: float
    tolerance_rule: str
    rank: int
    factors: tuple[Factor, ...]
    approximations: tuple[Approximation, ...]
    timing: Timing | None = None

    @property
    def separable(self) -> bool:
        return self.rank == 1

    @property
    def full_cost(self) -> PixelCost:
        k1, k2 = self.kernel.shape
        return PixelCost(k1 * k2, k1 * k2 - 1)

    def form_name(self, terms: int) -> str:
        k1, k2 = self.kernel.shape
        if terms == 0:
            return f"full {k1}×{k2}"
        if terms == 1:
            return f"rank-1 pair {k1}+{k2}"
        return f"rank-{terms} sum {terms}·({k1}+{k2})"


def pixel_cost(k1: int, k2: int, terms: int) -> PixelCost:
    """Multiplications and adds per output pixel of ``terms`` separable pairs."""
    return PixelCost(terms * (k1 + k2), terms * (k1 - 1 + k2 - 1) + (terms - 1))


def analyse(kernel: Kernel, tolerance: float | None = None) -> Analysis:
    """SVD of the kernel: rank, factors of every term, best rank-r approximations."""
    m = kernel.matrix
    k1, k2 = kernel.shape
    u, s, vt = np.linalg.svd(m)
    rule = TOLERANCE_RULE
    if tolerance is None:
        tolerance = float(s.max() * max(k1, k2) * np.finfo(np.float64).eps)
    else:
        rule = "given (--tolerance)"
    rank = int(np.sum(s > tolerance))
    total = float(np.sqrt(np.sum(s * s)))
    factors = tuple(_factor(i + 1, float(s[i]), u[:, i], vt[i]) for i in range(rank))
    approximations = tuple(
        Approximation(r, float(np.sqrt(np.sum(s[r:] ** 2))) / total, pixel_cost(k1, k2, r))
        for r in range(1, rank + 1)
    )
    return Analysis(
        kernel, tuple(float(v) for v in s), tolerance, rule, rank, factors, approximations
    )


def _integer_vector(
    v: Matrix, max_multiplier: int = 64, max_value: int = 100_000
) -> list[int] | None:
    """Small integers proportional to ``v`` (``[0.41, 0.82, 0.41]`` → ``[1, 2, 1]``), or None."""
    peak = float(np.abs(v).max())
    nonzero = np.abs(v) > 1e-9 * peak
    base = v / float(np.abs(v[nonzero]).min())
    for multiplier in range(1, max_multiplier + 1):
        scaled = base * multiplier
        rounded = np.round(scaled)
        if float(np.abs(rounded).max()) > max_value:
            return None
        if float(np.abs(scaled - rounded).max()) <= 1e-7 * max(1.0, float(np.abs(scaled).max())):
            ints = [int(n) for n in rounded]
            divisor = math.gcd(*ints)
            return [n // divisor for n in ints]
    return None


def _nice_scale(scale: float) -> tuple[float, str]:
    """A scale that is a simple fraction up to rounding (1/9, 1/256) snapped to it, and its
    text; else the scale as it is, with 6 significant digits."""
    frac = Fraction(scale).limit_denominator(1 << 16)
    if frac and abs(float(frac) - scale) <= 1e-12 * abs(scale):
        return float(frac), str(frac)
    return scale, f"{scale:.6g}"


def _direction(col: Sequence[float], row: Sequence[float]) -> tuple[bool, float]:
    """Which vector fixes the pair's sign, and that vector's sign: the column if its sum is
    non-zero, else the row if its sum is (a derivative stays the one with the minus sign:
    Sobel x is [1,2,1]ᵀ ⊗ [-1,0,1], Sobel y [-1,0,1]ᵀ ⊗ [1,2,1]), else the column's first
    non-zero entry. Returns (column decides, sign)."""
    for is_col, v in ((True, col), (False, row)):
        total, peak = sum(v), max(abs(x) for x in v)
        if abs(total) > 1e-9 * peak * len(v):
            return is_col, (1.0 if total > 0 else -1.0)
    peak = max(abs(x) for x in col)
    return True, next((1.0 if x > 0 else -1.0 for x in col if abs(x) > 1e-9 * peak), 1.0)


def _factor(term: int, sigma: float, u: Matrix, v: Matrix) -> Factor:
    """``σ·u⊗v`` as integer vectors and a positive scale when they exist, else √σ·u and
    √σ·v (scale 1). Signs: see ``_direction``."""
    col_int, row_int = _integer_vector(u), _integer_vector(v)
    if col_int is not None and row_int is not None:
        c, r = np.array(col_int, dtype=np.float64), np.array(row_int, dtype=np.float64)
        scale = sigma * float(u @ c) * float(v @ r) / (float(c @ c) * float(r @ r))
        col_decides, sign = _direction(col_int, row_int)
        if sign < 0:  # flip the deciding vector, and the scale with it
            scale = -scale
            if col_decides:
                col_int = [-n for n in col_int]
            else:
                row_int = [-n for n in row_int]
        if scale < 0:  # then the other vector carries the minus sign
            scale = -scale
            if col_decides:
                row_int = [-n for n in row_int]
            else:
                col_int = [-n for n in col_int]
        scale, text = _nice_scale(scale)
        return Factor(
            term,
            sigma,
            scale,
            text,
            tuple(float(n) for n in col_int),
            tuple(float(n) for n in row_int),
            True,
        )
    root = math.sqrt(sigma)
    col, row = [float(x) * root for x in u], [float(x) * root for x in v]
    sign = _direction(col, row)[1]
    return Factor(
        term, sigma, 1.0, "1", tuple(sign * x for x in col), tuple(sign * x for x in row), False
    )


# --------------------------------------------------------------------------- execution

Image = npt.NDArray[np.float32]
_BLOCK_VALUES = 32_768  # rows per block · width ≈ 128 KiB of float32: stays in cache


def _rows_per_block(width: int) -> int:
    return max(1, _BLOCK_VALUES // max(width, 1))


def correlate_full(image: Image, kernel: Image, out: Image) -> Image:
    """Valid 2-D correlation ``out[y, x] = Σ K[i, j] · image[y+i, x+j]``: one in-place
    multiply-add pass of shifted slices per tap, row block by row block."""
    k1, k2 = kernel.shape
    oh, ow = out.shape
    step = _rows_per_block(ow)
    tmp = np.empty((step, ow), dtype=image.dtype)
    for r0 in range(0, oh, step):
        r1 = min(oh, r0 + step)
        o, t = out[r0:r1], tmp[: r1 - r0]
        for i in range(k1):
            for j in range(k2):
                src = image[r0 + i : r1 + i, j : j + ow]
                if i == 0 and j == 0:
                    np.multiply(src, kernel[0, 0], out=o)
                else:
                    np.multiply(src, kernel[i, j], out=t)
                    np.add(o, t, out=o)
    return out


def correlate_separable(image: Image, columns: Image, rows: Image, out: Image) -> Image:
    """``Σ_t`` (column_t down the columns, then row_t along the rows): for each row block a
    vertical pass of k1 taps over the full width, then a horizontal pass of k2 taps,
    accumulated into ``out``. ``columns`` is terms×k1, ``rows`` terms×k2."""
    terms, k1 = columns.shape
    k2 = rows.shape[1]
    oh, ow = out.shape
    width = image.shape[1]
    step = _rows_per_block(width)
    mid = np.empty((step, width), dtype=image.dtype)
    tmp_wide = np.empty((step, width), dtype=image.dtype)
    tmp = np.empty((step, ow), dtype=image.dtype)
    for r0 in range(0, oh, step):
        r1 = min(oh, r0 + step)
        n = r1 - r0
        o, m, tw, t = out[r0:r1], mid[:n], tmp_wide[:n], tmp[:n]
        for term in range(terms):
            c, r = columns[term], rows[term]
            np.multiply(image[r0:r1], c[0], out=m)
            for i in range(1, k1):
                np.multiply(image[r0 + i : r1 + i], c[i], out=tw)
                np.add(m, tw, out=m)
            for j in range(k2):
                if term == 0 and j == 0:
                    np.multiply(m[:, :ow], r[0], out=o)
                else:
                    np.multiply(m[:, j : j + ow], r[j], out=t)
                    np.add(o, t, out=o)
    return out


def factor_arrays(factors: Sequence[Factor], terms: int) -> tuple[Image, Image]:
    """Columns and rows of the first ``terms`` factors (scale folded into the columns)."""
    cols = np.array([np.array(f.column) * f.scale for f in factors[:terms]], dtype=np.float32)
    rows = np.array([f.row for f in factors[:terms]], dtype=np.float32)
    return cols, rows


def check_image(image: tuple[int, ...], kernel: tuple[int, int]) -> tuple[int, int]:
    """Validate ``--image`` against the kernel and the limits; returns (height, width)."""
    if len(image) == 1:
        image = (image[0], image[0])
    if len(image) != 2:
        raise UsageError(f"--image: expected HxW such as 1024x1024, got {len(image)} values")
    h, w = image
    k1, k2 = kernel
    if h < k1 or w < k2:
        raise UsageError(f"--image: {h}x{w} is smaller than the {k1}x{k2} kernel")
    if h * w > MAX_IMAGE_PIXELS:
        raise UsageError(
            f"--image: {h}x{w} has {h * w:,} pixels; the limit is {MAX_IMAGE_PIXELS:,}"
        )
    taps = k1 * k2 * (h - k1 + 1) * (w - k2 + 1)
    if taps > MAX_TIMED_TAPS:
        raise UsageError(
            f"--image: the full {k1}x{k2} kernel on {h}x{w} needs {taps:,} "
            f"multiply-adds per run (limit {MAX_TIMED_TAPS:,}); use a smaller "
            "--image"
        )
    return h, w


def measure(
    run: Callable[[], object],
    *,
    repeats: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
    warmup: int = 1,
    min_runs: int = 5,
    max_runs: int = 50,
    min_time_s: float = 0.3,
) -> Stats:
    """Warm up, then time ``run``: exactly ``repeats`` times, or at least ``min_runs`` and
    until ``min_time_s`` has passed (at most ``max_runs``). Median, min and max."""
    for _ in range(warmup):
        run()
    times: list[float] = []
    start = clock()
    while True:
        t0 = clock()
        run()
        times.append(clock() - t0)
        if repeats is not None:
            if len(times) >= repeats:
                break
        elif len(times) >= max_runs or (len(times) >= min_runs and clock() - start >= min_time_s):
            break
    return Stats(statistics.median(times), min(times), max(times), len(times))


def time_forms(
    analysis: Analysis,
    image_shape: tuple[int, int],
    *,
    repeats: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
    seed: int = 0,
) -> Timing:
    """Time the full correlation, the exact separable form (all ``rank`` terms) and, for a
    kernel of rank > 1, its rank-1 approximation, on a random float32 image."""
    h, w = image_shape
    k1, k2 = analysis.kernel.shape
    image = np.random.default_rng(seed).standard_normal((h, w), dtype=np.float32)
    kernel32 = analysis.kernel.matrix.astype(np.float32)
    shape = (h - k1 + 1, w - k2 + 1)
    outputs = {name: np.empty(shape, dtype=np.float32) for name in ("full", "sep", "rank1")}
    full_stats = measure(
        lambda: correlate_full(image, kernel32, outputs["full"]), repeats=repeats, clock=clock
    )
    full = outputs["full"]
    full64 = full.astype(np.float64)
    norm = float(np.linalg.norm(full64)) or 1.0
    full_mults = analysis.full_cost.mults
    forms = [FormTiming("full", 0, full_stats, 1.0, 1.0, 0.0, 0.0)]
    plans = [("separable", analysis.rank, "sep")]
    if analysis.rank > 1:
        plans.append(("rank1", 1, "rank1"))
    for form, terms, key in plans:
        cols, rows = factor_arrays(analysis.factors, terms)
        out = outputs[key]
        stats = measure(
            partial(correlate_separable, image, cols, rows, out), repeats=repeats, clock=clock
        )
        diff = out.astype(np.float64) - full64
        forms.append(
            FormTiming(
                form,
                terms,
                stats,
                full_mults / pixel_cost(k1, k2, terms).mults,
                full_stats.median_s / stats.median_s if stats.median_s > 0 else math.inf,
                float(np.abs(diff).max()),
                float(np.linalg.norm(diff)) / norm,
            )
        )
    scale = float(np.abs(kernel32).sum()) * float(np.abs(image).max())
    allclose = bool(np.allclose(outputs["sep"], full, rtol=1e-4, atol=1e-5 * scale))
    return Timing((h, w), shape, 1, tuple(forms), allclose)


# --------------------------------------------------------------------------- renderings


def _num(value: float) -> int | float:
    """Integral values as JSON ints; others at full float64 precision (round-trip)."""
    if float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return float(value)


def spatial_dict(a: Analysis) -> dict[str, Any]:
    k1, k2 = a.kernel.shape
    rank_r = pixel_cost(k1, k2, a.rank)
    pair = pixel_cost(k1, k2, 1)
    full = a.full_cost
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "kernel": a.kernel.name,
        "source": a.kernel.source,
        "parameters": {k: _num(v) for k, v in a.kernel.parameters.items()},
        "shape": [k1, k2],
        "matrix": [[_num(x) for x in row] for row in a.kernel.matrix.tolist()],
        "singular_values": list(a.singular_values),
        "tolerance": a.tolerance,
        "tolerance_rule": a.tolerance_rule,
        "rank": a.rank,
        "separable": a.separable,
        "factors": [
            {
                "term": f.term,
                "singular_value": _num(f.singular_value),
                "scale": _num(f.scale),
                "scale_text": f.scale_text,
                "integer": f.integer,
                "column": [_num(x) for x in f.column],
                "row": [_num(x) for x in f.row],
            }
            for f in a.factors
        ],
        "approximations": [
            {
                "rank": ap.rank,
                "relative_error": ap.relative_error,
                "cost_per_pixel": ap.cost.mults,
                "adds_per_pixel": ap.cost.adds,
                "predicted_speedup": round(full.mults / ap.cost.mults, 6),
            }
            for ap in a.approximations
        ],
        "cost": {
            "convention": COST_CONVENTION,
            "full": {"mults": full.mults, "adds": full.adds},
            "rank1": {
                "mults": pair.mults,
                "adds": pair.adds,
                "predicted_speedup": round(full.mults / pair.mults, 6),
                "exact": a.separable,
            },
            "rank_r": {
                "rank": a.rank,
                "mults": rank_r.mults,
                "adds": rank_r.adds,
                "predicted_speedup": round(full.mults / rank_r.mults, 6),
            },
        },
    }
    if a.timing is not None:
        doc["timing"] = timing_dict(a.timing)
    return doc


def timing_dict(t: Timing) -> dict[str, Any]:
    out: dict[str, Any] = {
        "image": list(t.image),
        "output": list(t.output),
        "dtype": t.dtype,
        "mode": "valid correlation",
        "warmup": t.warmup,
        "method": "NumPy in-place multiply-add of shifted slices, row-blocked; separable = "
        "vertical pass then horizontal pass per term",
        "allclose": t.allclose,
    }
    for f in t.forms:
        entry: dict[str, Any] = {"terms": f.terms, **f.stats.as_dict()}
        if f.form != "full":
            entry.update(
                speedup=round(f.speedup, 4),
                predicted_speedup=round(f.predicted_speedup, 4),
                max_abs_diff=f.max_abs_diff,
                relative_error=f.relative_error,
            )
        out[f.form] = entry
    separable = next(f for f in t.forms if f.form == "separable")
    out["speedup"] = round(separable.speedup, 4)
    out["predicted_speedup"] = round(separable.predicted_speedup, 4)
    return out


def spatial_json(a: Analysis) -> str:
    return json.dumps(spatial_dict(a), indent=2) + "\n"
