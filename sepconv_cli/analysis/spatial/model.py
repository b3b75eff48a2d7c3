"""The data of a spatial analysis: the kernel, its separable terms, their cost per output
pixel and the measured timing, plus the limit and the error all spatial modules share.

Rule: data and the counting convention only. ``pixel_cost`` is the one place the cost per
pixel is computed (``COST_CONVENTION`` states it); ``rank.py`` fills an ``Analysis``,
``correlate.py`` its ``Timing``, and ``sepconv_cli.output.spatial`` renders both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sepconv_cli.errors import UsageError
from sepconv_cli.execution.timing import Stats

MAX_SIDE = 128  # largest kernel side accepted (built-in or file)
COST_CONVENTION = (
    "per output pixel of a single-channel 2-D correlation: one multiplication (= one MAC) "
    "per kernel tap, zero taps included; adds: n products need n - 1 adds, and a sum of r "
    "separable terms r - 1 more. Full k1*k2; rank-1 pair k1 + k2; rank-r sum r*(k1 + k2)."
)

Matrix = npt.NDArray[np.float64]


class KernelError(UsageError):
    """A kernel that cannot be read or used; the message names the argument or the file."""


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
