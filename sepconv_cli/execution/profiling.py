"""Attach measured times to report rows: the bridge between counting and timing.

A row repeated n times is timed once and its times multiplied by n (``LayerTiming.scaled``),
so a ``repeat: 1000000000`` row costs one measurement. A row whose execution would need more
memory than allowed is not run: its report says why (``note``) and has no timing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sepconv_cli.counting.report import LayerReport, ProfileReport, totals
from sepconv_cli.execution.certainty import NOISE_RATIO  # noqa: F401  (imported from here)
from sepconv_cli.execution.records import PARTS, LayerTiming, Part, PartRoofline, ProfileTiming

if TYPE_CHECKING:
    from sepconv_cli.execution.timing import TimingSettings

Progress = Callable[[int, int, str], None]  # (done, total, current layer name)


def timing_settings(
    *, threads: int | None = None, budget_s: float | None = None, max_memory: int | None = None
) -> TimingSettings:
    from sepconv_cli.execution.timing import TimingSettings

    if budget_s is None:
        return TimingSettings(threads=threads, max_memory=max_memory)
    return TimingSettings(threads=threads, max_memory=max_memory, budget_s=budget_s)


def declared_part(layer: LayerReport) -> Part:
    """The form the spec declares: the one the model would run."""
    forms = layer.row.forms
    declared = forms.as_specified is forms.separable and forms.separable is not forms.standard
    return "separable" if declared else "standard"


def as_specified_seconds(layer: LayerReport, float32: bool = False) -> float | None:
    """Median time of the layer as written (the model as it would run): its own measurement
    when it is neither form (a grouped conv), else the form it is. ``float32``: of an int8
    timing's float32 record."""
    timing = _record(layer, float32)
    if timing is None:
        return None
    if timing.as_specified_s is not None:
        return timing.as_specified_s
    return float(timing.part(declared_part(layer)).median_s)


def _record(layer: LayerReport, float32: bool) -> LayerTiming | None:
    """The layer's timing, or (``float32``) its int8 timing's float32 record."""
    if layer.timing is None or not float32:
        return layer.timing
    return layer.timing.float32


def noisy_parts(record: LayerTiming) -> tuple[Part, ...]:
    """Measurements whose median is far above their fastest sample (the rule is
    :func:`sepconv_cli.execution.certainty.noisy_parts`)."""
    from sepconv_cli.execution.certainty import noisy_parts as noisy

    return noisy(record)


def time_layer(layer: LayerReport, settings: TimingSettings) -> LayerReport:
    """One row timed (raises MemoryGuardError when it cannot run within the limit)."""
    from sepconv_cli.execution.runtimes.base import DisagreementError
    from sepconv_cli.execution.timing import time_forms

    try:
        record = time_forms(layer.row.forms, layer.batch, layer.dtype, settings)
    except DisagreementError as exc:  # the one line names the layer, form and runtime
        raise DisagreementError(f"layer {layer.row.name}: {exc}") from None
    if record.float32 is not None:  # int8: its float32 record is read the same way
        record = replace(record, float32=_finished(record.float32, layer, settings))
    return replace(layer, timing=_finished(record, layer, settings))


def _finished(record: LayerTiming, layer: LayerReport, settings: TimingSettings) -> LayerTiming:
    """A measured record scaled to the row's repeats, its certainty checked, the load and
    settings noted and its as-specified median set."""
    from sepconv_cli.execution.certainty import checked
    from sepconv_cli.execution.machine import load_average

    record = replace(
        checked(record.scaled(layer.row.repeat)),
        load_1m=load_average(),
        threads=settings.threads,
        budget_s=settings.budget_s,
    )
    if record.as_specified_s is not None:  # measured as written (scaled with the rest)
        return record
    declared = record.part(declared_part(layer)).median_s
    return replace(record, as_specified_s=float(declared))


def time_layers(
    layers: Sequence[LayerReport], settings: TimingSettings, progress: Progress | None = None
) -> list[LayerReport]:
    """Time every row; rows that need too much memory, or that no kernel executes, keep
    their counts and get a note."""
    from sepconv_cli.execution.kernels import MemoryGuardError, NotExecutableError
    from sepconv_cli.execution.runtimes.base import RuntimeUnsupportedError

    out = []
    for i, layer in enumerate(layers):
        if progress is not None:
            progress(i, len(layers), layer.row.name)
        try:
            out.append(time_layer(layer, settings))
        except (MemoryGuardError, NotExecutableError, RuntimeUnsupportedError) as exc:
            out.append(replace(layer, note=f"not timed: {exc}"))
    if progress is not None:
        progress(len(layers), len(layers), "")
    return out


def add_roofline(layer: LayerReport, machine: dict[str, Any]) -> LayerReport:
    """Each timed part's best case on this machine (max of compute and memory time), its
    bound, and the share of that best case the measurement reached."""
    from sepconv_cli.execution.machine import roofline

    timing = layer.timing
    if timing is None or timing.float32 is not None:
        # the machine's ceilings are float32's (a BLAS GEMM and a copy): an int8 time is
        # not measured against them
        return layer
    peak, bandwidth = float(machine["gemm_gflops"]), float(machine["bandwidth_gbs"])
    costs = {
        "standard": layer.standard,
        "separable": layer.separable.total,
        "depthwise": layer.separable.depthwise,
        "pointwise": layer.separable.pointwise,
    }
    out: dict[Part, PartRoofline] = {}
    for name in PARTS:
        cost, median = costs[name], timing.part(name).median_s
        if not cost.flops or not median:
            continue
        best = roofline(cost.flops, cost.bytes_moved, peak, bandwidth)
        out[name] = PartRoofline(
            best_s=best.best_s,
            bound=best.bound,
            arithmetic_intensity=round(cost.arithmetic_intensity, 4),
            share_of_peak=round(best.best_s / median, 4),
        )
    return replace(layer, timing=replace(timing, roofline=out))


def timed_profile(
    report: ProfileReport,
    settings: TimingSettings,
    progress: Progress | None = None,
    machine: dict[str, Any] | None = None,
) -> ProfileReport:
    layers = tuple(time_layers(report.layers, settings, progress))
    if machine:
        layers = tuple(add_roofline(layer, machine) for layer in layers)
    summary = _summary(layers, settings, float32=False)
    if any(layer.timing is not None and layer.timing.float32 for layer in layers):
        summary = replace(summary, float32=_summary(layers, settings, float32=True))
        machine = None  # its ceilings are float32's: no int8 time is read against them
    return replace(
        report, layers=layers, totals=totals(layers), timing=summary, machine=machine or {}
    )


def _summary(
    layers: Sequence[LayerReport], settings: TimingSettings, float32: bool
) -> ProfileTiming:
    """The whole model's sums over its rows' records (``float32``: the int8 records'
    float32 ones, from the same run)."""
    measured = [s for layer in layers if (s := as_specified_seconds(layer, float32)) is not None]
    standard_s = sum(_median(layer, "standard", float32) for layer in layers)
    separable_s = sum(_median(layer, "separable", float32) for layer in layers)
    records = (_record(layer, float32) for layer in layers)
    return ProfileTiming(
        layers_timed=len(measured),
        layers_not_timed=len(layers) - len(measured),
        as_specified_s=sum(measured),
        standard_s=standard_s,
        separable_s=separable_s,
        settings=settings,
        speedup=standard_s / separable_s if separable_s > 0 else None,
        runtime=next((t.runtime for t in records if t is not None), None),
    )


def _median(layer: LayerReport, form: Part, float32: bool = False) -> float:
    record = _record(layer, float32)
    return record.part(form).median_s if record is not None else 0.0


def time_report(
    layer: LayerReport,
    settings: TimingSettings | None = None,
    *,
    progress: Progress | None = None,
    index: int = 0,
    total: int = 1,
) -> LayerReport:
    """``layer`` with its forms executed and timed. A layer too large for memory is a
    runtime failure here (exit 3): the user asked for this one layer's time."""
    if progress is not None:
        progress(index, total, layer.row.name)
    return time_layer(layer, settings or timing_settings())
