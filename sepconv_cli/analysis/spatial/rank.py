"""The SVD of a kernel: its rank, its separable terms (as small integers when they exist) and
its best rank-r approximations with their cost per output pixel.

Rank uses NumPy's ``matrix_rank`` rule unless a tolerance is given: singular values above
``S.max() · max(k1, k2) · eps`` (eps of float64) count. By Eckart–Young the first r SVD
terms are the best rank-r approximation in the Frobenius norm.

Rule: analysis only (it never times and never renders).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from sepconv_cli.analysis.spatial.model import (
    Analysis,
    Approximation,
    Factor,
    Kernel,
    Matrix,
    pixel_cost,
)

TOLERANCE_RULE = "S.max() * max(k1, k2) * eps(float64) (numpy.linalg.matrix_rank's default)"


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
