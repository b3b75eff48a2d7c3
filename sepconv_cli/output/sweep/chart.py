"""The sweep's chart: one horizontal bar of separable/standard MACs per point, on one scale,
with the asymptote marked. ``chart`` is the model (bars of glyph segments); ``chart_text``
draws it as plain Unicode (markdown) and ``table.sweep_chart`` in colour.

Rule: no Rich here; both drawings take their bars, suffixes and limit text from this model.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sepconv_cli.analysis.sweep import Point, SweepReport
from sepconv_cli.output.formats import times_fewer
from sepconv_cli.spec.vary import value_text

CHART_WIDTH = 48
MIN_CHART_WIDTH = 16  # below this a bar no longer shows its parts
# one glyph per part in every sweep: █ always means pointwise, whichever part is drawn first
GLYPHS = {"pointwise": "█", "depthwise": "░", "same": "▒"}


@dataclass(frozen=True)
class Bar:
    label: str
    segments: tuple[tuple[str, str], ...]  # (part, glyphs): part in GLYPHS
    ratio: Fraction | None


def chart(report: SweepReport, width: int = CHART_WIDTH) -> tuple[list[Bar], int | None, str]:
    """A horizontal bar of separable/standard MACs per point, on a common linear scale.

    Each bar is split into its pointwise (█) and depthwise (░) parts, the same glyphs in
    every sweep; the part that tends to the asymptote is drawn first (pointwise for a
    filters sweep, depthwise for a kernel sweep, depthwise otherwise), so the bars shrink
    towards the ▲ mark. A point whose forms are equal (a 1×1 kernel: nothing to separate,
    ratio 1) is drawn as "same" and does not set the scale; a bar longer than the scale ends
    in ▸. Returns the bars, the asymptote's column (or None) and the legend.
    """
    a = report.asymptote
    floor_part = a.part if a else "depthwise"
    rest_part = "pointwise" if floor_part == "depthwise" else "depthwise"

    def separated(p: Point) -> bool:
        # a 1×1 conv's separable form is the conv itself (no depthwise part): nothing split
        return bool(p.report.separable.depthwise.macs)

    ratios = [float(p.ratio) for p in report.points if p.ratio is not None and separated(p)]
    if not ratios:
        ratios = [float(p.ratio) for p in report.points if p.ratio is not None]
    scale = max([*ratios, float(a.value) if a else 0.0, 1e-12])

    def cells(fraction: float) -> int:
        return round(fraction / scale * width)

    bars = []
    for p in report.points:
        r = p.report
        std = r.standard.macs
        label = value_text(p.value)
        if not std or p.ratio is None:
            bars.append(Bar(label, (), None))
            continue
        total = float(p.ratio)
        if not separated(p):
            n = cells(total)
            glyphs = GLYPHS["same"] * n if n <= width else GLYPHS["same"] * (width - 1) + "▸"
            bars.append(Bar(label, (("same", glyphs),), p.ratio))
            continue
        first = cells(getattr(r.separable, floor_part).macs / std)
        end = max(cells(total), first)
        if end == 0 and total > 0:  # too small for a cell: still show that it is there
            bars.append(Bar(label, ((rest_part, "▏"),), p.ratio))
            continue
        bars.append(
            Bar(
                label,
                (
                    (floor_part, GLYPHS[floor_part] * first),
                    (rest_part, GLYPHS[rest_part] * (end - first)),
                ),
                p.ratio,
            )
        )
    column = cells(float(a.value)) if a else None
    legend = (
        f"{GLYPHS['pointwise']} pointwise/standard   {GLYPHS['depthwise']} depthwise/standard"
        + (
            f"   {GLYPHS['same']} 1×1 kernel: nothing to separate (ratio 1)"
            if any(b.segments and b.segments[0][0] == "same" for b in bars)
            else ""
        )
        + f"   (full width = {scale:.4g})"
    )
    return bars, column, legend


def bar_suffix(bar: Bar) -> str:
    if bar.ratio is None:
        return "-"
    return f"{float(bar.ratio):.4f} ({times_fewer(bar.ratio)})"


def chart_text(report: SweepReport, width: int = CHART_WIDTH) -> str:
    """The chart as plain Unicode lines (markdown's code block; the table adds colour)."""
    bars, column, legend = chart(report, width)
    label_width = max([len(b.label) for b in bars] + [len(report.parameter)])
    lines = [f"{report.parameter.rjust(label_width)}  separable / standard MACs"]
    for b in bars:
        body = "".join(glyphs for _, glyphs in b.segments)
        lines.append(f"{b.label.rjust(label_width)} │{body.ljust(width)} {bar_suffix(b)}")
    if column is not None and report.asymptote is not None:
        lines.append(" " * (label_width + 2 + column) + "▲ " + limit_text(report))
    lines.append(legend)
    return "\n".join(lines) + "\n"


def limit_text(report: SweepReport) -> str:
    a = report.asymptote
    assert a is not None
    return f"limit as {report.parameter} → ∞: {a.text}"
