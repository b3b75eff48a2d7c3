"""The NumPy correlations (full 2-D and separable) and their timing.

Rules: a valid single-channel float32 correlation, row block by row block so the working
set stays in cache. Timing uses the project's one harness, ``execution.timing.measure``
(see ``timing_settings`` for how ``--repeats`` maps onto it); the exact separable form must
reproduce the full one (``Timing.allclose``), the rank-1 form of a rank > 1 kernel is
reported as the approximation it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

import numpy as np
import numpy.typing as npt

from sepconv_cli.analysis.spatial.model import (
    Analysis,
    Factor,
    FormTiming,
    Timing,
    pixel_cost,
)
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.timing import TimingSettings, measure

MAX_IMAGE_PIXELS = 1 << 26  # 64 Mi pixels: 256 MiB per float32 buffer
MAX_TIMED_TAPS = 1 << 32  # k1·k2·output pixels of the full form, per run

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


# the default of --repeats: at least MIN_RUNS samples and at least MIN_TIME_S in all
MIN_RUNS = 5
MIN_TIME_S = 0.3


def timing_settings(repeats: int | None) -> TimingSettings:
    """How the shared harness (``execution.timing.measure``) times one form.

    ``--repeats N``: exactly N runs of one call each, after one warm-up call (the harness's
    calibration run is the first of them). Without it: ``MIN_RUNS`` samples, each lasting at
    least ``MIN_TIME_S / MIN_RUNS`` (the harness auto-ranges the calls per sample), so at
    least ``MIN_TIME_S`` in all; a slow correlation's samples are single calls, a fast one's
    average several. The budget is unbounded so that the sample count is always reached.
    """
    if repeats is not None:
        return TimingSettings(
            min_time_s=0.0, min_repeats=repeats, max_repeats=repeats, warmup=1, budget_s=math.inf
        )
    return TimingSettings(
        min_time_s=MIN_TIME_S / MIN_RUNS,
        min_repeats=MIN_RUNS,
        max_repeats=MIN_RUNS,
        warmup=1,
        budget_s=math.inf,
    )


def with_timing(
    analysis: Analysis, image_shape: tuple[int, int], repeats: int | None = None
) -> Analysis:
    """``analysis`` with its forms timed on a random ``image_shape`` image."""
    return replace(analysis, timing=time_forms(analysis, image_shape, repeats=repeats))


def time_forms(
    analysis: Analysis,
    image_shape: tuple[int, int],
    *,
    repeats: int | None = None,
    clock: Callable[[], float] | None = None,
    seed: int = 0,
) -> Timing:
    """Time the full correlation, the exact separable form (all ``rank`` terms) and, for a
    kernel of rank > 1, its rank-1 approximation, on a random float32 image."""
    settings = timing_settings(repeats)
    h, w = image_shape
    k1, k2 = analysis.kernel.shape
    image = np.random.default_rng(seed).standard_normal((h, w), dtype=np.float32)
    kernel32 = analysis.kernel.matrix.astype(np.float32)
    shape = (h - k1 + 1, w - k2 + 1)
    outputs = {name: np.empty(shape, dtype=np.float32) for name in ("full", "sep", "rank1")}
    full_stats = measure(
        lambda: correlate_full(image, kernel32, outputs["full"]), settings, clock=clock
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
        stats = measure(partial(correlate_separable, image, cols, rows, out), settings, clock=clock)
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
    return Timing((h, w), shape, settings.warmup, tuple(forms), allclose)
