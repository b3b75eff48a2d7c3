"""The text of a spatial analysis that the Rich table and markdown share: numbers, vectors,
the one-line verdict, and the rows of the cost and timing tables.

Rule: plain strings, no Rich and no markup, so both renderings show the same words.
"""

from __future__ import annotations

from collections.abc import Sequence

from sepconv_cli.analysis.spatial.model import Analysis, Matrix, Timing
from sepconv_cli.units import seconds_brief


def fmt_number(x: float) -> str:
    """Kernel weights and factors: integers plainly, else 4 significant digits."""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.4g}"


def fmt_vector(values: Sequence[float]) -> str:
    return "[" + ", ".join(fmt_number(x) for x in values) + "]"


def fmt_error(x: float) -> str:
    """A relative error; below 1e-12 it is rounding (the exact form), shown as ≈0."""
    return "0" if x == 0 else "≈0" if x < 1e-12 else f"{x:.3g}"


def summary_line(a: Analysis) -> str:
    k1, k2 = a.kernel.shape
    if a.separable:
        f = a.factors[0]
        scale = "" if f.scale_text == "1" else f"{f.scale_text} · "
        return (
            f"rank 1: exactly separable, K = {scale}{fmt_vector(f.column)}ᵀ ⊗ {fmt_vector(f.row)}"
        )
    best = a.approximations[0].relative_error
    return (
        f"rank {a.rank} of {min(k1, k2)}: not separable; the best rank-1 approximation is "
        f"off by {best:.3g} (relative Frobenius error); exact as a sum of {a.rank} "
        f"separable pairs"
    )


def forms_rows(a: Analysis) -> list[tuple[str, str, str, str, str]]:
    """(form, rel. error, mults/pixel, adds/pixel, predicted speed-up) for every form."""
    full = a.full_cost
    rows = [(a.form_name(0), "0", f"{full.mults:,}", f"{full.adds:,}", "1.00×")]
    for ap in a.approximations:
        speed = full.mults / ap.cost.mults
        rows.append(
            (
                a.form_name(ap.rank),
                fmt_error(ap.relative_error),
                f"{ap.cost.mults:,}",
                f"{ap.cost.adds:,}",
                f"{speed:.2f}×" + ("" if speed > 1 else " (slower)"),
            )
        )
    return rows


def timing_rows(a: Analysis) -> list[tuple[str, str, str, str, str, str]]:
    """(form, median, min–max, measured speed-up, predicted, agreement) per timed form."""
    assert a.timing is not None
    out = []
    for f in a.timing.forms:
        s = f.stats
        if f.form == "full":
            agree = "reference"
        elif f.form == "separable":
            agree = (
                "allclose" if a.timing.allclose else "DIFFERS"
            ) + f" (max |Δ| {f.max_abs_diff:.2g})"
        else:
            agree = f"approximation (rel. error {f.relative_error:.3g})"
        out.append(
            (
                a.form_name(f.terms),
                seconds_brief(s.median_s),
                f"{s.min_s * 1e3:.3f}–{s.max_s * 1e3:.3f} ms",
                f"{f.speedup:.2f}×",
                f"{f.predicted_speedup:.2f}×",
                agree,
            )
        )
    return out


def timing_title(t: Timing) -> str:
    runs = sorted({f.stats.runs for f in t.forms})
    run_text = "/".join(str(n) for n in runs)
    return (
        f"Measured with NumPy on a random {t.image[0]}×{t.image[1]} {t.dtype} image "
        f"(valid correlation → {t.output[0]}×{t.output[1]}; median of {run_text} runs "
        f"after {t.warmup} warm-up)"
    )


def matrix_text(matrix: Matrix) -> str:
    cells = [[fmt_number(x) for x in row] for row in matrix.tolist()]
    width = max(len(c) for row in cells for c in row)
    return "\n".join("  ".join(c.rjust(width) for c in row) for row in cells)
