"""``sepconv spatial``: spatially separable kernels (rank, factors, cost, timing).

NumPy and Rich are imported only when the command runs, so registering it costs nothing
for the other commands' start-up.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sepconv_cli.cli.options import (
    EXIT_CODES_HELP,
    FormatOption,
    Messages,
    OutputOption,
    QuietOption,
    emit,
)
from sepconv_cli.errors import RuntimeFailure, UsageError
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.formats import Format
from sepconv_cli.spec.fields import FieldError, flag_value, per_dim, positive_int
from sepconv_cli.units import seconds_brief

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()

if TYPE_CHECKING:
    from rich.console import RenderableType

    from sepconv_cli.analysis.spatial import Analysis, Matrix, Timing

SPATIAL_HELP = (
    "Cost per output pixel: one multiplication per kernel tap (zero taps included): full "
    "k1·k2, rank-1 pair k1+k2, rank-r sum r·(k1+k2); adds are n-1 per sum of n products. "
    "Rank: SVD, singular values above S.max()·max(k1,k2)·eps (NumPy's matrix_rank rule) "
    "unless --tolerance is given. " + EXIT_CODES_HELP
)
_BUILTIN_HELP = (
    "Built-ins: gaussian:K (--sigma), box:K, binomial:K (K = 5 or 3x5), sobel-x, "
    "sobel-y, scharr-x, scharr-y, prewitt-x, prewitt-y, laplacian, laplacian-8, "
    "sharpen, emboss. Or a matrix in a .yaml (list of rows), .csv or .npy file."
)


def _float_flag(value: str | None, flag: str, *, positive: bool) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        raise UsageError(f"{flag}: expected a number, got {value[:40]!r}") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise UsageError(
            f"{flag}: expected a {'positive' if positive else 'non-negative'} "
            f"finite number, got {value[:40]!r}"
        )
    return number


def _int_flag(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return positive_int(flag_value(value), maximum=10_000)
    except FieldError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _image_flag(value: str) -> tuple[int, ...]:
    try:
        return per_dim(flag_value(value))
    except FieldError as exc:
        raise UsageError(f"--image: {exc}") from None


@app.command(epilog=SPATIAL_HELP)
def spatial(
    kernel: Annotated[str, typer.Argument(metavar="KERNEL", help=_BUILTIN_HELP)],
    sigma: Annotated[
        str | None,
        typer.Option(
            "--sigma",
            metavar="S",
            help="Standard deviation of gaussian:K, in pixels. "
            "[default: 0.3·((K-1)/2 - 1) + 0.8, OpenCV's rule: 1.1 for K = 5]",
        ),
    ] = None,
    tolerance: Annotated[
        str | None,
        typer.Option(
            "--tolerance",
            metavar="TOL",
            help="Singular values above TOL count towards the rank. "
            "[default: S.max()·max(k1,k2)·eps]",
        ),
    ] = None,
    time: Annotated[
        bool,
        typer.Option(
            "--time/--no-time",
            help="Run the full 2-D correlation and the separable form(s) with "
            "NumPy on a random float32 image, check they agree and report the speed-up.",
        ),
    ] = False,
    image: Annotated[
        str | None,
        typer.Option("--image", metavar="HxW", help="Image size for --time. [default: 1024x1024]"),
    ] = None,
    repeats: Annotated[
        str | None,
        typer.Option(
            "--repeats",
            metavar="N",
            help="Timed runs per form, after one warm-up. [default: "
            "at least 5, until 0.3 s, at most 50]",
        ),
    ] = None,
    format: FormatOption = Format.table,
    output: OutputOption = None,
    quiet: QuietOption = False,
) -> None:
    """Spatially separable kernels: rank, factors, best low-rank approximations and the
    cost per output pixel (k1·k2 for the full kernel, k1+k2 for a rank-1 pair).

    Example: sepconv spatial sobel-x shows Sobel = [1,2,1]ᵀ ⊗ [-1,0,1], 6 instead of 9
    multiplications per pixel.
    """
    Messages.quiet = quiet
    if output is not None:
        check_output_path(output)
    sigma_value = _float_flag(sigma, "--sigma", positive=True)
    tol_value = _float_flag(tolerance, "--tolerance", positive=False)
    repeat_count = _int_flag(repeats, "--repeats")
    image_dims = _image_flag(image) if image is not None else None
    if not time:
        for flag, given in (("--image", image), ("--repeats", repeats)):
            if given is not None:
                raise UsageError(f"{flag}: only used with --time")

    from sepconv_cli.analysis import spatial as core

    analysis = core.analyse(core.resolve_kernel(kernel, sigma_value), tol_value)
    if time:
        shape = core.check_image(image_dims or (1024, 1024), analysis.kernel.shape)
        Messages.note(
            f"timing {analysis.kernel.name} on a random {shape[0]}x{shape[1]} float32 image ..."
        )
        from dataclasses import replace

        analysis = replace(analysis, timing=core.time_forms(analysis, shape, repeats=repeat_count))
    emit(render_spatial(analysis, format), output)
    if analysis.timing is not None and not analysis.timing.allclose:
        raise RuntimeFailure(
            "the separable output differs from the full 2-D correlation (please report it)"
        )


def render_spatial(analysis: Analysis, format: Format) -> Any:
    from sepconv_cli.analysis import spatial as core

    if format is Format.json:
        return core.spatial_json(analysis)
    if format is Format.csv:
        return spatial_csv(analysis)
    if format is Format.markdown:
        return spatial_markdown(analysis)
    return spatial_table(analysis)


def spatial_table(a: Analysis) -> RenderableType:
    """Kernel, rank and factors, then every form's cost, then the timing (when measured)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    k1, k2 = a.kernel.shape
    params = ", ".join(f"{k} {v:.4g}" for k, v in a.kernel.parameters.items())
    head = Text(
        f"{a.kernel.name}: {k1}×{k2} kernel ({a.kernel.source}"
        + (f", {params}" if params else "")
        + ")",
        style="bold",
    )
    parts: list[RenderableType] = [head]
    if k1 <= 16 and k2 <= 16:
        parts.append(Text(matrix_text(a.kernel.matrix)))
    else:
        parts.append(Text(f"({k1}×{k2} weights not shown; --format json lists them)", style="dim"))
    parts.append(Text(""))
    parts.append(Text(summary_line(a), style="green" if a.separable else "yellow"))
    shown = ", ".join(f"{s:.4g}" for s in a.singular_values[:10])
    more = ", …" if len(a.singular_values) > 10 else ""
    parts.append(
        Text(
            f"Singular values: {shown}{more}\nRank tolerance: {a.tolerance:.3g} = "
            f"{a.tolerance_rule}",
            style="dim",
        )
    )

    factors = Table(
        title="Separable terms (K = Σ scale · column ⊗ row)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
    )
    for name, justify in (
        ("Term", "right"),
        ("σ", "right"),
        ("Scale", "right"),
        ("Column", "left"),
        ("Row", "left"),
    ):
        factors.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in a.factors[:12]:
        factors.add_row(
            str(f.term),
            f"{f.singular_value:.4g}",
            f.scale_text,
            fmt_vector(f.column),
            fmt_vector(f.row),
        )
    if len(a.factors) > 12:
        factors.add_row("…", "", "", f"{len(a.factors) - 12} more terms (--format json)", "")
    parts += [Text(""), factors]

    forms = Table(
        title="Cost per output pixel",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
    )
    forms.add_column("Form")
    for name in ("Rel. error", "Mults", "Adds", "Predicted speed-up"):
        forms.add_column(name, justify="right")
    for i, row in enumerate(forms_rows(a)):
        style = "green" if i == a.rank else ""
        forms.add_row(*row, style=style)
    parts += [
        forms,
        Text(
            "Rel. error = ||K - K_r||_F / ||K||_F of the best rank-r approximation "
            "(SVD). Mults = multiplications\n(one per tap, zeros included); adds = "
            "n - 1 per sum of n products. Speed-up = full mults / form mults.",
            style="dim",
        ),
    ]
    if a.timing is not None:
        timed = Table(
            title=timing_title(a.timing),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            header_style="bold",
        )
        timed.add_column("Form")
        for name in ("Median", "Min–max", "Speed-up", "Predicted"):
            timed.add_column(name, justify="right")
        timed.add_column("Output vs full")
        for cells in timing_rows(a):
            timed.add_row(*cells)
        parts += [Text(""), timed]
    return Group(*parts)


# --------------------------------------------------------------------------- text renderings

CSV_COLUMNS = (
    "kernel",
    "shape",
    "rank",
    "tolerance",
    "separable",
    "form",
    "terms",
    "relative_error",
    "mults_per_pixel",
    "adds_per_pixel",
    "predicted_speedup",
)
CSV_TIMING_COLUMNS = ("median_s", "min_s", "max_s", "runs", "speedup", "max_abs_diff")


def spatial_csv(a: Analysis) -> str:
    """One row per form: the full kernel, then the rank-r sums r = 1..rank."""
    columns = list(CSV_COLUMNS) + (list(CSV_TIMING_COLUMNS) if a.timing else [])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    k1, k2 = a.kernel.shape
    full = a.full_cost
    timed = {f.terms: f for f in a.timing.forms} if a.timing else {}
    common = {
        "kernel": a.kernel.name,
        "shape": f"{k1}x{k2}",
        "rank": a.rank,
        "tolerance": a.tolerance,
        "separable": str(a.separable).lower(),
    }
    rows = [("full", 0, 0.0, full)] + [
        (f"rank{ap.rank}", ap.rank, ap.relative_error, ap.cost) for ap in a.approximations
    ]
    for form, terms, error, cost in rows:
        row: dict[str, Any] = {
            **common,
            "form": form,
            "terms": terms,
            "relative_error": error,
            "mults_per_pixel": cost.mults,
            "adds_per_pixel": cost.adds,
            "predicted_speedup": round(full.mults / cost.mults, 6),
        }
        if terms in timed:
            f = timed[terms]
            row.update(
                median_s=f.stats.median_s,
                min_s=f.stats.min_s,
                max_s=f.stats.max_s,
                runs=f.stats.runs,
                speedup=round(f.speedup, 4),
                max_abs_diff=f.max_abs_diff,
            )
        writer.writerow(row)
    return buffer.getvalue()


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


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":---" if x == "l" else "---:" for x in align) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def spatial_markdown(a: Analysis) -> str:
    from sepconv_cli.analysis import spatial as core

    k1, k2 = a.kernel.shape
    params = ", ".join(f"{k} = {v:.4g}" for k, v in a.kernel.parameters.items())
    out = [
        f"### {a.kernel.name}: {k1}×{k2} kernel ({a.kernel.source}"
        + (f", {params}" if params else "")
        + ")\n"
    ]
    if k1 <= 16 and k2 <= 16:
        out.append("```text\n" + matrix_text(a.kernel.matrix) + "\n```\n")
    out.append(
        f"**{summary_line(a)}.** Rank by SVD, tolerance {a.tolerance:.3g} "
        f"({a.tolerance_rule}); singular values "
        + ", ".join(f"{s:.4g}" for s in a.singular_values[:12])
        + (", …" if len(a.singular_values) > 12 else "")
        + ".\n"
    )
    out.append(
        _md_table(
            ["Term", "σ", "Scale", "Column", "Row"],
            [
                [
                    str(f.term),
                    f"{f.singular_value:.4g}",
                    f.scale_text,
                    fmt_vector(f.column),
                    fmt_vector(f.row),
                ]
                for f in a.factors
            ],
            "lrrll",
        )
    )
    out.append(
        _md_table(
            ["Form", "Rel. error", "Mults/pixel", "Adds/pixel", "Predicted speed-up"],
            [list(r) for r in forms_rows(a)],
            "lrrrr",
        )
    )
    out.append(f"\nCost convention: {core.COST_CONVENTION}\n")
    if a.timing is not None:
        out.append(f"\n{timing_title(a.timing)}:\n\n")
        out.append(
            _md_table(
                ["Form", "Median", "Min–max", "Speed-up", "Predicted", "Output vs full"],
                [list(r) for r in timing_rows(a)],
                "lrrrrl",
            )
        )
    return "\n".join(out)


def matrix_text(matrix: Matrix) -> str:
    cells = [[fmt_number(x) for x in row] for row in matrix.tolist()]
    width = max(len(c) for row in cells for c in row)
    return "\n".join("  ".join(c.rjust(width) for c in row) for row in cells)
