"""``sepconv bench``'s report in every format: one row per layer, per runtime its standard
and separable medians, its measured speed-up next to the MAC ratio and its share of the
time next to its share of the MACs (:mod:`sepconv_cli.analysis.bench`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from sepconv_cli.analysis.bench import BenchReport, bench_dict
from sepconv_cli.execution.certainty import (
    MIN_RUNS,
    conditions_of,
    fewest_runs,
    runs_text,
    summary_lines,
)
from sepconv_cli.names import shown, shown_in_markdown
from sepconv_cli.output.csv import csv_text
from sepconv_cli.output.fit import FitTable, drop, shorten
from sepconv_cli.output.markdown import md_table
from sepconv_cli.output.whole_graph import footer_lines
from sepconv_cli.units import ms_number, seconds_cell, speedup_cell


def _share(value: float | None) -> str:
    return f"{value * 100:.1f}%" if value is not None else "-"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}×" if value is not None else "-"


def _mark(report: BenchReport, index: int) -> str:
    """`` !`` a part slower than its whole on some runtime, `` ~`` noisy (certainty.py);
    else nothing. The footer says which runtime."""
    timings = [t for run in report.timed_runs if (t := run.layers[index].timing) is not None]
    if any(t.inconsistent for t in timings):
        return " !"
    return " ~" if any(t.noisy for t in timings) else ""


def _fewest(report: BenchReport, index: int) -> int | None:
    """The fewest samples any runtime took of any of the row's measurements."""
    counts = [
        runs
        for run in report.timed_runs
        if (timing := run.layers[index].timing) is not None
        and (runs := fewest_runs(timing)) is not None
    ]
    return min(counts) if counts else None


def _uncertain(report: BenchReport) -> bool:
    """Some row's time is uncertain on some runtime: few runs, inconsistent or noisy."""
    return any(
        lr.timing is not None and lr.timing.uncertain for r in report.timed_runs for lr in r.layers
    )


def _rows(
    report: BenchReport, seconds: Callable[[Any], str] = seconds_cell, runs: bool = False
) -> list[list[str]]:
    """Per layer: name, MAC ratio, MAC share, then per runtime std, sep, speed-up, share;
    with ``runs`` the row's fewest samples and its mark last."""
    rows = []
    for i, layer in enumerate(report.layers):
        cells = [layer.row.name, _ratio(report.mac_ratio(i)), _share(report.mac_share(i))]
        for run in report.timed_runs:
            cells += [
                seconds(run.seconds(i, "standard")),
                seconds(run.seconds(i, "separable")),
                speedup_cell(run.speedup(i)),
                _share(run.time_share(i)),
            ]
        if runs:
            fewest = _fewest(report, i)
            count = "-" if fewest is None else str(fewest)
            if fewest is not None and fewest < MIN_RUNS:
                count = runs_text(fewest)
            cells.append(count + _mark(report, i))
        rows.append(cells)
    return rows


def certainty_lines(report: BenchReport) -> list[str]:
    """Per runtime, why its times are uncertain (few runs, a part slower than its whole,
    noise; the whole graphs on ORT too), then what would help given the run's settings and
    load (:func:`sepconv_cli.execution.certainty.summary_lines`)."""
    timings = [lr.timing for run in report.timed_runs for lr in run.layers if lr.timing is not None]
    conditions = conditions_of(timings)
    doubts: list[str] = []
    for run in report.timed_runs:
        rows = [(lr.row.name, lr.timing, lr.row.repeat) for lr in run.layers if lr.timing]
        whole = report.whole.forms if report.whole is not None and run.key == "onnxruntime" else ()
        # each runtime's doubts; the advice once, for the whole run
        doubts += [
            line
            for line in summary_lines(rows, conditions, whole, where=run.short)
            if not line.startswith(f"{run.short}: What would help")
        ]
    if not doubts:
        return []
    everything = [
        (lr.row.name, lr.timing, lr.row.repeat)
        for run in report.timed_runs
        for lr in run.layers
        if lr.timing is not None
    ]
    whole_forms = report.whole.forms if report.whole is not None else ()
    advice = summary_lines(everything, conditions, whole_forms)[-1]
    return [*doubts, advice]


def _totals(
    report: BenchReport, seconds: Callable[[Any], str] = seconds_cell, runs: bool = False
) -> list[str]:
    std = sum(layer.standard.macs for layer in report.layers)
    sep = sum(layer.separable.total.macs for layer in report.layers)
    cells = ["total", _ratio(std / sep if sep else None), "100.0%"]
    for run in report.timed_runs:
        s, p = run.total("standard"), run.total("separable")
        cells += [seconds(s), seconds(p), speedup_cell(s / p if p else None), "100.0%"]
    return [*cells, ""] if runs else cells


def bench_table(report: BenchReport) -> RenderableType:
    table = FitTable(
        title=f"{shown(report.model)} on {len(report.timed_runs)} runtime(s): medians per layer",
        # the times go first (the speed-ups and shares are the point), then long layer
        # names (an ONNX file's node names) are cut in the middle rather than wrap a number
        steps=(
            *(
                drop(f"{run.key}_std", f"{run.key}_sep", label=f"{run.short} times")
                for run in reversed(report.timed_runs)
            ),
            shorten("layer", 14),
            shorten("layer", 11),
            # only when the Runs column (or a long name) leaves no room: time shares go,
            # last runtime first; the speed-ups and the Runs column stay
            *(
                drop(f"{run.key}_share", label=f"{run.short} %")
                for run in reversed(report.timed_runs[1:])
            ),
        ),
    )
    table.add_column("layer", "Layer", justify="left", name=True)
    table.add_column("mac_ratio", "× fewer MACs")
    table.add_column("mac_share", "MACs %")
    for run in report.timed_runs:
        short = run.short
        table.add_column(f"{run.key}_std", f"{short} std")
        table.add_column(f"{run.key}_sep", f"{short} sep")
        table.add_column(f"{run.key}_x", f"{short} ×")
        table.add_column(f"{run.key}_share", f"{short} %")
    few = _uncertain(report)
    if few:  # in no step: a time resting on one sample says so at every width
        table.add_column("runs", "Runs")
    rows = _rows(report, runs=few)
    for n, cells in enumerate(rows):
        table.add_row(*cells, end_section=n == len(rows) - 1)
    table.add_row(*_totals(report, runs=few), style="bold")
    lines = Text()
    lines.append(
        "× fewer MACs = standard / separable MACs; × = standard / separable median (the measured "
        "speed-up); MACs % and R % = the layer's share of the model's MACs and of R's time, "
        "as specified.\n"
    )
    for run in report.runs:
        if run.not_run:
            lines.append(f"{run.short}: not run: {run.not_run}\n", style="yellow")
        else:
            lines.append(f"{run.short}: {run.info.label()}\n")
    lines.append(int8_gain_lines(report))
    notes = [
        shown(f"{layer.row.name} on {run.short}: {layer.note}")
        for run in report.timed_runs
        if not run.not_run
        for layer in run.layers
        if layer.note
    ]
    for note in notes[:6]:
        lines.append(note + "\n", style="yellow")
    if len(notes) > 6:
        lines.append(f"… and {len(notes) - 6} more rows not timed (--format json lists them)\n")
    if report.whole is not None:
        # its doubts are in certainty_lines, with the layers'
        lines.append("\n".join(map(shown, footer_lines(report.whole, doubts=False))) + "\n")
    for doubt in certainty_lines(report):
        lines.append(shown(doubt) + "\n", style="yellow")
    return Group(table, lines)


def int8_gain_lines(report: BenchReport) -> Text:
    """Per runtime timed in float32 and int8: int8's gain over float32 on the whole model,
    all standard and all separable, and the operations it ran in float32."""
    text = Text()
    runs = {(run.name, run.dtype): run for run in report.runs if not run.not_run}
    for (name, dtype), fast in runs.items():
        slow = runs.get((name, "float32"))
        if dtype != "int8" or slow is None:
            continue
        gains = []
        for part in ("standard", "separable"):
            f, s = fast.total(part), slow.total(part)
            gains.append(f"{s / f:.2f}× {part}" if f and s else f"- {part}")
        text.append(f"{fast.short} vs float32 (same run): int8 is {', '.join(gains)} faster.\n")
        kinds = sorted(
            {
                entry.rsplit("(", 1)[-1].rstrip(")")
                for layer in fast.layers
                if layer.timing is not None
                for entry in layer.timing.float_ops
            }
        )
        if kinds:
            text.append(
                f"{fast.short}: run in float32 (no int8 kernel): {', '.join(kinds)}.\n",
                style="yellow",
            )
    return text


def bench_json(report: BenchReport) -> str:
    return json.dumps(bench_dict(report), indent=2) + "\n"


CSV_COLUMNS = (
    "layer",
    "runtime",
    "standard_macs",
    "separable_macs",
    "mac_ratio",
    "mac_share",
    "standard_s",
    "separable_s",
    "speedup",
    "time_share",
)


def bench_csv(report: BenchReport) -> str:
    """One row per layer and runtime (long form: easy to pivot); names exact
    (:func:`~sepconv_cli.output.csv.csv_text` quotes them)."""

    def num(value: float | None) -> Any:
        return "" if value is None else round(value, 9)

    rows = (
        [
            layer.row.name,
            run.key,
            layer.standard.macs,
            layer.separable.total.macs,
            num(report.mac_ratio(i)),
            num(report.mac_share(i)),
            num(run.seconds(i, "standard")),
            num(run.seconds(i, "separable")),
            num(run.speedup(i)),
            num(run.time_share(i)),
        ]
        for i, layer in enumerate(report.layers)
        for run in report.timed_runs
    )
    return csv_text(CSV_COLUMNS, rows)


def bench_markdown(report: BenchReport) -> str:
    header = ["Layer", "× fewer MACs", "MACs %"]
    for run in report.timed_runs:
        short = run.short
        header += [f"{short} std ms", f"{short} sep ms", f"{short} ×", f"{short} %"]
    rows = [*_rows(report, ms_number), _totals(report, ms_number)]
    runs = len(report.timed_runs)
    out = f"## {shown_in_markdown(report.model)}: time per layer on {runs} runtime(s)\n\n"
    out += md_table(header, rows, "l" + "r" * (len(header) - 1))
    out += "\n" + "\n".join(
        f"- {r.short}: " + (f"not run: {r.not_run}" if r.not_run else r.info.label())
        for r in report.runs
    )
    out += "\n" + "".join(f"- {line}\n" for line in str(int8_gain_lines(report)).splitlines())
    if report.whole is not None:
        whole_lines = footer_lines(report.whole, doubts=False)
        out += "".join(f"- {shown_in_markdown(line)}\n" for line in whole_lines)
    out += "".join(f"- {shown_in_markdown(line)}\n" for line in certainty_lines(report))
    return out
