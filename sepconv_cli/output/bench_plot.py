"""``sepconv bench --plot FILE``: per layer, each runtime's measured separable speed-up next
to how many times fewer MACs the separable form has (standard / separable: what the
arithmetic promises), on a log axis with a line at 1× (left of
it, the separable form is slower there).

Chosen over time share vs MAC share: the speed-up is the question bench answers ("does
making this layer separable pay on my runtime, and by how much"), and the gap between a
runtime's bar and the × fewer MACs bar is the lesson (a depthwise layer is memory-bound). The
shares stay in the table. matplotlib is imported only here (``sepconv[plot]``), with the
Agg backend; :func:`sepconv_cli.output.plot.check_plot_path` refuses a missing matplotlib
or a wrong extension before any timing.
"""

from __future__ import annotations

from pathlib import Path

from sepconv_cli.analysis.bench import BenchReport
from sepconv_cli.output.plot import chart_text, figure_bytes

RUNTIME_LABELS = {
    "numpy": "NumPy",
    "onnxruntime": "ONNX Runtime",
    "torch": "PyTorch",
    "litert": "LiteRT",
}


def _dtype_suffix(dtype: str, mixed: bool) -> str:
    """`` int8``, and `` float32`` too when the plot holds both."""
    return f" {dtype}" if mixed or dtype != "float32" else ""


def render_bench_plot(report: BenchReport, fmt: str) -> bytes:
    """The figure as ``png``/``svg``/``pdf`` bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [i for i in range(len(report.layers)) if report.mac_ratio(i) is not None]
    names = [
        chart_text(report.layers[i].row.name)
        + (f" ×{report.layers[i].row.repeat}" if report.layers[i].row.repeat > 1 else "")
        for i in rows
    ]
    mixed = len({run.dtype for run in report.timed_runs}) > 1
    series: list[tuple[str, list[float | None]]] = [
        ("× fewer MACs (standard / separable)", [report.mac_ratio(i) for i in rows])
    ]
    series += [
        (
            f"{RUNTIME_LABELS[run.name]}{_dtype_suffix(run.dtype, mixed)} measured",
            [run.speedup(i) for i in rows],
        )
        for run in report.runs
        if not run.not_run
    ]
    height = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.45 * len(rows) * len(series) / 2 + 1.5)))
    for k, (label, values) in enumerate(series):
        y = [n + (k - (len(series) - 1) / 2) * height for n in range(len(rows))]
        kept = [(yy, v) for yy, v in zip(y, values, strict=True) if v]
        color = "0.65" if k == 0 else None
        ax.barh(
            [yy for yy, _ in kept], [v for _, v in kept], height=height, label=label, color=color
        )
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel("separable speed-up (×, log scale; left of 1×: separable is slower)")
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title(f"{chart_text(report.model)}: measured speed-up vs MAC ratio, per layer")
    return figure_bytes(fig, fmt)


def write_bench_plot(report: BenchReport, path: Path) -> None:
    from sepconv_cli.output.files import write_atomic_bytes

    data = render_bench_plot(report, path.suffix.lower().lstrip("."))
    write_atomic_bytes(path, data, flag="--plot")
