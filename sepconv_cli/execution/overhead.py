"""When a timing measures NumPy's call overhead instead of the layer's work.

A NumPy form's time is the fixed cost of its calls (argument parsing, dispatch,
allocation: about 1-5 µs a call, einsum's the dearest) plus the time its work takes. On a
tiny layer the first term is nearly all of it, and a speed-up or a "memory-bound" reading
taken from such times teaches the wrong lesson.

Rule
----
A timed part (standard, separable, depthwise, pointwise) is *call overhead* when both hold:

1. its median is under :data:`OVERHEAD_FLOOR_S` (100 µs): a form makes up to about 30
   NumPy calls (the depthwise part one einsum per kernel tap), so below 100 µs their fixed
   cost can be most of the time; and
2. it reached under :data:`OVERHEAD_SHARE` (10 %) of its roofline best case on this
   machine: its achieved GFLOP/s is under a tenth of the measured GEMM peak *and* its
   achieved bandwidth (bytes moved / median) under a tenth of the measured copy bandwidth,
   so neither the arithmetic nor the memory traffic explains the time.

A layer is *too small to time meaningfully* when any timed part is call overhead: the
speed-up divides the standard time by the separable one, and the memory-bound reading
rests on the depthwise part's share of the time. A large but slow part (a 10 ms depthwise
at 5 % of the peak) fails condition 1 and is reported as measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sepconv_cli.counting.cost import Cost
from sepconv_cli.counting.report import LayerReport
from sepconv_cli.execution.machine import roofline
from sepconv_cli.execution.records import Part
from sepconv_cli.units import fmt_seconds, human_bytes

OVERHEAD_FLOOR_S = 100e-6
OVERHEAD_SHARE = 0.10


@dataclass(frozen=True)
class Overhead:
    """One part whose time is call overhead: what it measured against the ceilings."""

    part: Part
    median_s: float
    bytes_moved: int
    flops: int
    bandwidth_gbs: float  # the machine's
    peak_gflops: float  # the machine's
    share: float  # of the roofline best case reached

    @property
    def achieved_gbs(self) -> float:
        return self.bytes_moved / self.median_s / 1e9

    @property
    def achieved_gflops(self) -> float:
        return self.flops / self.median_s / 1e9

    def message(self) -> str:
        """Why no speed-up or bound is named, in the measured numbers."""
        what = "form" if self.part in ("standard", "separable") else "part"
        return (
            f"Too small to time meaningfully: the {self.part} {what} took "
            f"{fmt_seconds(self.median_s)} to move {human_bytes(self.bytes_moved)} "
            f"({self.achieved_gbs:.2f} GB/s; this machine copies {self.bandwidth_gbs:.1f} "
            f"GB/s) and compute {self.flops:,} FLOPs ({self.achieved_gflops:.2f} GFLOP/s; "
            f"its GEMM peak is {self.peak_gflops:.1f}). That time is NumPy's per-call "
            "overhead, not arithmetic or memory traffic, so no speed-up or bound is named. "
            f"Try a larger layer (its forms should take {fmt_seconds(OVERHEAD_FLOOR_S)} or "
            "more), e.g. input 112x112x32."
        )


def _costs(layer: LayerReport) -> dict[Part, Cost]:
    return {
        "standard": layer.standard,
        "separable": layer.separable.total,
        "depthwise": layer.separable.depthwise,
        "pointwise": layer.separable.pointwise,
    }


def overhead_parts(layer: LayerReport, machine: dict[str, Any]) -> list[Overhead]:
    """The timed parts of ``layer`` whose time is call overhead (the module's rule), the
    furthest from its roofline first. Empty when not timed or the ceilings are unknown."""
    timing = layer.timing
    peak = float(machine.get("gemm_gflops") or 0.0)
    bandwidth = float(machine.get("bandwidth_gbs") or 0.0)
    if timing is None or peak <= 0 or bandwidth <= 0:
        return []
    out = []
    for name, cost in _costs(layer).items():
        median = timing.part(name).median_s
        if not timing.part(name).runs or median <= 0 or median >= OVERHEAD_FLOOR_S:
            continue
        share = roofline(cost.flops, cost.bytes_moved, peak, bandwidth).best_s / median
        if share < OVERHEAD_SHARE:
            out.append(Overhead(name, median, cost.bytes_moved, cost.flops, bandwidth, peak, share))
    return sorted(out, key=lambda o: o.share)


def too_small_to_time(layer: LayerReport, machine: dict[str, Any]) -> str | None:
    """The message for a layer too small to time meaningfully, else None."""
    parts = overhead_parts(layer, machine)
    return parts[0].message() if parts else None
