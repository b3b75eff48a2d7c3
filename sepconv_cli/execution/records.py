"""Typed timing records: what executing a layer (and a whole model) measured.

These are the values ``timing.time_forms`` and ``profiling`` produce and the renderers read.
This module imports no NumPy (``counting/report.py`` names these types, and the JSON
renderers read them without loading the kernels).

JSON keys are a contract: add keys freely, never rename. Each record's ``as_dict`` builds its
JSON explicitly, key by key, in the order reports have always printed them; optional keys
appear only when they have a value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from sepconv_cli.execution.runtimes.base import RuntimeInfo

if TYPE_CHECKING:
    from sepconv_cli.execution.timing import TimingSettings

# what a layer's record measures: both forms, and the separable form's two parts
Part = Literal["standard", "separable", "depthwise", "pointwise"]
PARTS: tuple[Part, ...] = ("standard", "separable", "depthwise", "pointwise")
# which ceiling sets a roofline's best case
Bound = Literal["compute", "memory"]


@dataclass(frozen=True)
class FormTiming:
    """One measurement: per-call seconds over ``runs`` samples (median, spread) and the
    achieved GFLOP/s at the median. A part a layer lacks has zero times and ``runs`` 0."""

    median_s: float
    min_s: float
    max_s: float
    iqr_s: float
    runs: int
    gflops: float

    def scaled(self, repeat: int) -> FormTiming:
        """``repeat`` identical instances run one after another: the times scale, the
        number of samples and the GFLOP/s do not."""
        return replace(
            self,
            median_s=self.median_s * repeat,
            min_s=self.min_s * repeat,
            max_s=self.max_s * repeat,
            iqr_s=self.iqr_s * repeat,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median_s,
            "min_s": self.min_s,
            "max_s": self.max_s,
            "iqr_s": self.iqr_s,
            "runs": self.runs,
            "gflops": self.gflops,
        }


@dataclass(frozen=True)
class PartRoofline:
    """One timed part against this machine's roofline: its best case, the ceiling that sets
    it, its FLOPs per byte and the share of that best case the measurement reached."""

    best_s: float
    bound: Bound
    arithmetic_intensity: float
    share_of_peak: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "best_s": self.best_s,
            "bound": self.bound,
            "arithmetic_intensity": self.arithmetic_intensity,
            "share_of_peak": self.share_of_peak,
        }


@dataclass(frozen=True)
class LayerTiming:
    """One report row measured: both forms, the separable form's parts, the speed-up
    (standard median / separable median) and what profiling adds afterwards."""

    standard: FormTiming
    separable: FormTiming
    depthwise: FormTiming
    pointwise: FormTiming
    speedup: float
    # parts whose median is far above their fastest sample (see profiling.noisy_parts)
    noisy: tuple[Part, ...] = ()
    # the median of the form the spec declares (see profiling.as_specified_seconds)
    as_specified_s: float | None = None
    # per timed part, when the machine's ceilings are known (see profiling.add_roofline)
    roofline: dict[Part, PartRoofline] | None = None
    # what ran it, when not NumPy (execution/runtimes): absent from NumPy's records
    runtime: RuntimeInfo | None = None
    # measurements with fewer samples than certainty.MIN_RUNS (the budget bought no more)
    few_runs: tuple[Part, ...] = ()
    # parts slower than their whole form beyond the spread (see certainty.inconsistent_parts)
    inconsistent: tuple[Part, ...] = ()
    # the 1-minute load average when the layer was timed (None: the platform has none)
    load_1m: float | None = None
    # the settings it ran with, for advice (not in the JSON: a report's settings say them)
    threads: int | None = None
    budget_s: float = 0.0
    # an int8 timing's float32 timing of the same forms on the same runtime, same run
    float32: LayerTiming | None = None
    # an int8 timing's operations the runtime ran in float32 ("form: name (OpType)")
    float_ops: tuple[str, ...] = ()

    def part(self, name: Part) -> FormTiming:
        return {
            "standard": self.standard,
            "separable": self.separable,
            "depthwise": self.depthwise,
            "pointwise": self.pointwise,
        }[name]

    def scaled(self, repeat: int) -> LayerTiming:
        """A row of ``repeat`` identical instances: every time scales by ``repeat``; GFLOP/s,
        runs and the speed-up do not."""
        return replace(
            self,
            standard=self.standard.scaled(repeat),
            separable=self.separable.scaled(repeat),
            depthwise=self.depthwise.scaled(repeat),
            pointwise=self.pointwise.scaled(repeat),
            as_specified_s=None if self.as_specified_s is None else self.as_specified_s * repeat,
            float32=None if self.float32 is None else self.float32.scaled(repeat),
        )

    def int8_speedups(self) -> dict[Part, float]:
        """An int8 timing's speed-up over float32, per part timed in both (float32 median
        / int8 median); empty for a float timing."""
        if self.float32 is None:
            return {}
        out: dict[Part, float] = {}
        for name in PARTS:
            fast, slow = self.part(name), self.float32.part(name)
            if fast.runs and slow.runs and fast.median_s > 0:
                out[name] = slow.median_s / fast.median_s
        return out

    def as_dict(self) -> dict[str, Any]:
        separable = self.separable.as_dict()
        separable["depthwise"] = self.depthwise.as_dict()
        separable["pointwise"] = self.pointwise.as_dict()
        out: dict[str, Any] = {
            "standard": self.standard.as_dict(),
            "separable": separable,
            "speedup": self.speedup,
        }
        if self.noisy:
            out["noisy"] = list(self.noisy)
        if self.as_specified_s is not None:
            out["as_specified_s"] = self.as_specified_s
        if self.roofline is not None:
            out["roofline"] = {name: part.as_dict() for name, part in self.roofline.items()}
        if self.runtime is not None:
            out["runtime"] = self.runtime.as_dict()
        if self.few_runs:
            out["few_runs"] = list(self.few_runs)
        if self.inconsistent:
            out["inconsistent"] = list(self.inconsistent)
        if self.load_1m is not None:
            out["load_1m"] = self.load_1m
        if self.float32 is not None:
            out["float32"] = self.float32.as_dict()
            out["int8_speedup"] = dict(self.int8_speedups())
        if self.float_ops:
            out["float_ops"] = list(self.float_ops)
        return out

    @property
    def uncertain(self) -> bool:
        """Noisy, few runs or inconsistent: the row's times need a second look."""
        return bool(self.noisy or self.few_runs or self.inconsistent)


@dataclass(frozen=True)
class ProfileTiming:
    """A whole model measured: sums over its rows (a row not run counts as 0 s) and the
    settings the times were taken with."""

    layers_timed: int
    layers_not_timed: int
    as_specified_s: float
    standard_s: float
    separable_s: float
    settings: TimingSettings
    speedup: float | None = None  # standard_s / separable_s; None when nothing separable ran
    runtime: RuntimeInfo | None = None  # what ran the layers, when not NumPy
    # an int8 profile's float32 sums of the same rows on the same runtime, same run
    float32: ProfileTiming | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "layers_timed": self.layers_timed,
            "layers_not_timed": self.layers_not_timed,
            "as_specified_s": self.as_specified_s,
            "standard_s": self.standard_s,
            "separable_s": self.separable_s,
            "settings": {
                "budget_s_per_layer": self.settings.budget_s,
                "min_time_s": self.settings.min_time_s,
                "max_repeats": self.settings.max_repeats,
                "threads": self.settings.threads,
            },
        }
        if self.speedup is not None:
            out["speedup"] = self.speedup
        if self.runtime is not None:
            out["runtime"] = self.runtime.as_dict()
        if self.float32 is not None:
            out["float32"] = self.float32.as_dict()
        return out
