"""Attach measured times to report rows: the bridge between counting and timing.

A row repeated n times is timed once and its times multiplied by n (``timing.scale_timing``),
so a ``repeat: 1000000000`` row costs one measurement. A row whose execution would need more
memory than allowed is not run: its report says why (``note``) and has no timing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sepconv_cli.counting.report import LayerReport, ProfileReport, totals

Progress = Callable[[int, int, str], None]  # (done, total, current layer name)


def timing_settings(
    *, threads: int | None = None, budget_s: float | None = None, max_memory: int | None = None
) -> Any:
    from sepconv_cli.execution.timing import TimingSettings

    kwargs: dict[str, Any] = {"threads": threads, "max_memory": max_memory}
    if budget_s is not None:
        kwargs["budget_s"] = budget_s
    return TimingSettings(**kwargs)


def as_specified_seconds(layer: LayerReport) -> float | None:
    """Median time of the form the spec declares (the model as it would run)."""
    timing = layer.timing
    if not timing:
        return None
    forms = layer.row.forms
    key = (
        "separable"
        if forms.as_specified is forms.separable and forms.separable is not forms.standard
        else "standard"
    )
    value = timing.get(key, {}).get("median_s")
    return float(value) if isinstance(value, (int, float)) else None


NOISE_RATIO = 1.5  # median more than 1.5x the fastest sample: something else interfered


def noisy_parts(record: dict[str, Any]) -> list[str]:
    """Measurements whose median is far above their fastest sample: the machine (other
    programs, BLAS threads waking up late) interfered, so the median overstates the cost."""
    separable = record.get("separable", {})
    parts = {
        "standard": record.get("standard", {}),
        "separable": separable,
        "depthwise": separable.get("depthwise", {}),
        "pointwise": separable.get("pointwise", {}),
    }
    return [
        name
        for name, part in parts.items()
        if part.get("runs", 0) >= 3
        and part.get("min_s", 0) > 0
        and part["median_s"] > NOISE_RATIO * part["min_s"]
    ]


def time_layer(layer: LayerReport, settings: Any) -> LayerReport:
    """One row timed (raises MemoryGuardError when it cannot run within the limit)."""
    from sepconv_cli.execution.timing import scale_timing, time_forms

    record = time_forms(layer.row.forms, layer.batch, layer.dtype, settings)
    record = scale_timing(record, layer.row.repeat)
    noisy = noisy_parts(record)
    if noisy:
        record["noisy"] = noisy
    timed = replace(layer, timing=record)
    seconds = as_specified_seconds(timed)
    if seconds is not None:
        record["as_specified_s"] = seconds
    return timed


def time_layers(
    layers: Sequence[LayerReport], settings: Any, progress: Progress | None = None
) -> list[LayerReport]:
    """Time every row; rows that need too much memory keep their counts and get a note."""
    from sepconv_cli.execution.kernels import MemoryGuardError

    out = []
    for i, layer in enumerate(layers):
        if progress is not None:
            progress(i, len(layers), layer.row.name)
        try:
            out.append(time_layer(layer, settings))
        except MemoryGuardError as exc:
            out.append(replace(layer, note=f"not timed: {exc}"))
    if progress is not None:
        progress(len(layers), len(layers), "")
    return out


def add_roofline(layer: LayerReport, machine: dict[str, Any]) -> LayerReport:
    """Each timed part's best case on this machine (max of compute and memory time), its
    bound, and the share of that best case the measurement reached."""
    from sepconv_cli.execution.machine import roofline

    timing = layer.timing
    if not timing:
        return layer
    peak, bandwidth = float(machine["gemm_gflops"]), float(machine["bandwidth_gbs"])
    separable = timing.get("separable", {})
    parts = {
        "standard": (layer.standard, timing.get("standard", {})),
        "separable": (layer.separable.total, separable),
        "depthwise": (layer.separable.depthwise, separable.get("depthwise", {})),
        "pointwise": (layer.separable.pointwise, separable.get("pointwise", {})),
    }
    out: dict[str, Any] = {}
    for name, (cost, measured) in parts.items():
        median = measured.get("median_s") if isinstance(measured, dict) else None
        if not cost.flops or not median:
            continue
        best = roofline(cost.flops, cost.bytes_moved, peak, bandwidth)
        out[name] = {
            "best_s": best.best_s,
            "bound": best.bound,
            "arithmetic_intensity": round(cost.arithmetic_intensity, 4),
            "share_of_peak": round(best.best_s / median, 4),
        }
    return replace(layer, timing={**timing, "roofline": out})


def timed_profile(
    report: ProfileReport,
    settings: Any,
    progress: Progress | None = None,
    machine: dict[str, Any] | None = None,
) -> ProfileReport:
    layers = tuple(time_layers(report.layers, settings, progress))
    if machine:
        layers = tuple(add_roofline(layer, machine) for layer in layers)
    measured = [s for layer in layers if (s := as_specified_seconds(layer)) is not None]
    summary: dict[str, Any] = {
        "layers_timed": len(measured),
        "layers_not_timed": len(layers) - len(measured),
        "as_specified_s": sum(measured),
        "standard_s": sum(_median(layer, "standard") for layer in layers),
        "separable_s": sum(_median(layer, "separable") for layer in layers),
        "settings": {
            "budget_s_per_layer": settings.budget_s,
            "min_time_s": settings.min_time_s,
            "max_repeats": settings.max_repeats,
            "threads": settings.threads,
        },
    }
    if summary["separable_s"] > 0:
        summary["speedup"] = summary["standard_s"] / summary["separable_s"]
    return replace(
        report, layers=layers, totals=totals(layers), timing=summary, machine=machine or {}
    )


def _median(layer: LayerReport, form: str) -> float:
    value = (layer.timing or {}).get(form, {}).get("median_s", 0.0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def time_report(
    layer: LayerReport,
    settings: Any = None,
    *,
    progress: Any = None,
    index: int = 0,
    total: int = 1,
) -> LayerReport:
    """``layer`` with its forms executed and timed. A layer too large for memory is a
    runtime failure here (exit 3): the user asked for this one layer's time."""
    if progress is not None:
        progress(index, total, layer.row.name)
    return time_layer(layer, settings or timing_settings())
