"""``--plot FILE``: per-layer MACs of both forms and, when timed, a roofline chart.

matplotlib is an optional extra (``pip install 'sepconv[plot]'``); it is imported only here,
with the non-interactive Agg backend, so plotting works without a display.
"""

from __future__ import annotations

import io
from fractions import Fraction
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from sepconv_cli.counting.report import ProfileReport
from sepconv_cli.errors import UsageError
from sepconv_cli.names import shown
from sepconv_cli.output.formats import times_fewer

FORMATS = (".png", ".svg", ".pdf")
INSTALL_HINT = "pip install 'sepconv[plot]' (or: pip install matplotlib)"


def check_plot_path(path: Path) -> None:
    """Fail before any work: wrong extension, or matplotlib missing."""
    if path.suffix.lower() not in FORMATS:
        raise UsageError(f"--plot: {path.name} must end in {', '.join(FORMATS)}")
    # found, not imported: importing matplotlib loads NumPy, which must wait until the
    # command has set the BLAS thread count
    try:
        found = find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        found = False
    if not found:
        raise UsageError(f"--plot: needs matplotlib, which is not installed; {INSTALL_HINT}")


def chart_text(text: str) -> str:
    """A name as a chart shows it: :func:`~sepconv_cli.names.shown`, and each ``$``
    escaped (matplotlib reads the text between two as math: ``a$\\frac{$b`` ended the run
    in an internal error)."""
    return shown(text).replace("$", r"\$")


def render_plot(report: ProfileReport, machine: dict[str, Any] | None, fmt: str) -> bytes:
    """The figure as ``png``/``svg``/``pdf`` bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = report.timing is not None and machine is not None
    fig, axes = plt.subplots(1, 2 if timed else 1, figsize=(14 if timed else 8, 6.5), squeeze=False)
    _macs_chart(axes[0][0], report)
    if timed and machine is not None:
        _roofline_chart(axes[0][1], report, machine)
    fig.suptitle(
        f"{chart_text(report.model.name)}: standard vs depthwise-separable "
        f"(input {'×'.join(map(str, report.model.input_shape))}, "
        f"batch {report.model.batch})"
    )
    return figure_bytes(fig, fmt)


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """A finished figure laid out and saved as ``png``/``svg``/``pdf`` bytes (120 dpi), then
    closed: every sepconv chart (profile, sweep grid, bench) ends here."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def _macs_chart(ax: Any, report: ProfileReport) -> None:
    rows = [lr for lr in report.layers if lr.standard.macs or lr.separable.total.macs]
    names = [
        chart_text(lr.row.name) + (f" ×{lr.row.repeat}" if lr.row.repeat > 1 else "") for lr in rows
    ]
    y = list(range(len(rows)))
    height = 0.4
    ax.barh(
        [i - height / 2 for i in y],
        [lr.standard.macs for lr in rows],
        height,
        label="standard",
        color="#c44e52",
    )
    ax.barh(
        [i + height / 2 for i in y],
        [lr.separable.total.macs for lr in rows],
        height,
        label="separable (depthwise + pointwise)",
        color="#4c72b0",
    )
    ax.set_yticks(y, names, fontsize=7 if len(rows) > 25 else 9)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("MACs per layer (log scale)")
    std, sep = report.totals.standard.macs, report.totals.separable.macs
    ax.set_title(
        f"MACs: {std / 1e6:,.0f} M standard vs {sep / 1e6:,.0f} M separable "
        f"({times_fewer(Fraction(sep, std))})"
        if sep and std
        else "MACs per layer"
    )
    ax.legend(loc="lower right")
    ax.grid(axis="x", which="both", alpha=0.3)


def _roofline_chart(ax: Any, report: ProfileReport, machine: dict[str, Any]) -> None:
    """Achieved GFLOP/s against FLOPs per byte, under the measured GEMM and copy ceilings."""
    peak = float(machine.get("gemm_gflops", 0.0))
    bandwidth = float(machine.get("bandwidth_gbs", 0.0))
    points: dict[str, list[tuple[float, float]]] = {
        "standard": [],
        "depthwise": [],
        "pointwise": [],
    }
    for lr in report.layers:
        timing = lr.timing
        if timing is None:
            continue
        for label, cost, part in (
            ("standard", lr.standard, timing.standard),
            ("depthwise", lr.separable.depthwise, timing.depthwise),
            ("pointwise", lr.separable.pointwise, timing.pointwise),
        ):
            if cost.flops and cost.bytes_moved and part.gflops:
                points[label].append((cost.flops / cost.bytes_moved, float(part.gflops)))
    intensities = [x for values in points.values() for x, _ in values] or [1.0]
    low, high = min(intensities) / 2, max(intensities) * 2
    if peak and bandwidth:
        ridge = peak / bandwidth
        xs = [low, min(max(ridge, low), high), high]
        ax.plot(
            xs,
            [min(peak, bandwidth * x) for x in xs],
            color="black",
            lw=1.5,
            label=f"roofline: {peak:.0f} GFLOP/s GEMM, {bandwidth:.1f} GB/s copy",
        )
    styles = {
        "standard": ("o", "#c44e52"),
        "depthwise": ("^", "#55a868"),
        "pointwise": ("s", "#4c72b0"),
    }
    for label, values in points.items():
        if values:
            marker, color = styles[label]
            ax.scatter(
                [x for x, _ in values],
                [y for _, y in values],
                marker=marker,
                color=color,
                label=f"{label} layers (measured)",
                alpha=0.8,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    ax.set_ylabel("achieved GFLOP/s (NumPy)")
    ax.set_title("Roofline: depthwise layers sit on the memory slope")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(which="both", alpha=0.3)


def write_plot(report: ProfileReport, machine: dict[str, Any] | None, path: Path) -> None:
    from sepconv_cli.output.files import write_atomic_bytes

    write_atomic_bytes(
        path, render_plot(report, machine, path.suffix.lower().lstrip(".")), flag="--plot"
    )
