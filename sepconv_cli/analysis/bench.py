"""``sepconv bench MODEL --runtime numpy,onnxruntime,torch``: one model timed on several
runtimes, layer by layer, next to its MACs.

Rules
-----
* Each runtime times every row the way ``sepconv profile --runtime R`` does (same budget,
  same agreement check against NumPy first); a row a runtime cannot run has no time there
  and says why.
* Per row and runtime: the standard and separable medians, the measured separable
  speed-up (standard / separable median) next to the MAC ratio (standard / separable MACs),
  and the row's share of the model's time as specified next to its share of the MACs as
  specified. A share is of the rows that runtime timed.
* Runtimes are named in the order given; each is loaded before any timing (a missing one is
  exit 2 with its install line).
* With onnxruntime among them (and ``--whole-model``, the default), the model's three forms
  also run end to end as one ORT session each (:mod:`sepconv_cli.analysis.whole_model`),
  beside the sum of that runtime's per-layer medians.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sepconv_cli.counting.report import LayerReport, ProfileReport
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.certainty import fewest_runs
from sepconv_cli.execution.runtimes.base import RUNTIMES, RuntimeInfo
from sepconv_cli.execution.runtimes.whole_graph import WholeGraph

if TYPE_CHECKING:  # the type only: execution.timing loads NumPy, which must wait until the
    # bench command has set the BLAS thread count
    from sepconv_cli.execution.timing import TimingSettings

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RuntimeRun:
    """One runtime's timing of every row."""

    name: str
    info: RuntimeInfo
    layers: tuple[LayerReport, ...]

    def seconds(self, index: int, part: str) -> float | None:
        timing = self.layers[index].timing
        if timing is None:
            return None
        if part == "as_specified":
            return timing.as_specified_s
        return float(timing.part(part).median_s)  # type: ignore[arg-type]

    def total(self, part: str) -> float:
        return sum(s for i in range(len(self.layers)) if (s := self.seconds(i, part)))

    def slowest(self, index: int, part: str) -> float | None:
        """The row's slowest sample of ``part`` (as specified: of the form it is; a layer
        measured apart as written has only its median)."""
        layer = self.layers[index]
        timing = layer.timing
        if timing is None:
            return None
        if part == "as_specified":
            if layer.row.forms.as_specified_apart:
                return timing.as_specified_s
            from sepconv_cli.execution.profiling import declared_part

            part = declared_part(layer)
        return float(timing.part(part).max_s)  # type: ignore[arg-type]

    def total_slowest(self, part: str) -> float:
        """The rows' slowest samples of ``part`` summed: the most their sum can be."""
        return sum(s for i in range(len(self.layers)) if (s := self.slowest(i, part)))

    def time_share(self, index: int) -> float | None:
        seconds, total = self.seconds(index, "as_specified"), self.total("as_specified")
        return None if seconds is None or not total else seconds / total

    def speedup(self, index: int) -> float | None:
        std, sep = self.seconds(index, "standard"), self.seconds(index, "separable")
        return None if std is None or not sep else std / sep


@dataclass(frozen=True)
class BenchReport:
    model: str
    counted: ProfileReport
    runs: tuple[RuntimeRun, ...]
    settings: TimingSettings
    whole: WholeGraph | None = None  # the forms run whole on onnxruntime (--whole-model)

    @property
    def layers(self) -> tuple[LayerReport, ...]:
        return self.counted.layers

    def mac_ratio(self, index: int) -> float | None:
        layer = self.layers[index]
        sep = layer.separable.total.macs
        return layer.standard.macs / sep if sep else None

    def mac_share(self, index: int) -> float | None:
        total = sum(layer.as_specified.macs for layer in self.layers)
        return self.layers[index].as_specified.macs / total if total else None


def parse_runtimes(text: str | None, installed: Callable[[str], bool]) -> list[str]:
    """``--runtime a,b``: the names in order, each known, none twice. Without the flag:
    numpy and every other runtime that is installed."""
    if text is None:
        return [name for name in RUNTIMES if name == "numpy" or installed(name)]
    names = [word.strip() for word in text.split(",") if word.strip()]
    if not names:
        raise UsageError("--runtime: name at least one of " + ", ".join(RUNTIMES))
    for name in names:
        if name not in RUNTIMES:
            raise UsageError(f"--runtime: {name!r} is not one of {', '.join(RUNTIMES)}")
    if len(set(names)) != len(names):
        raise UsageError(f"--runtime: a runtime is named twice in {text!r}")
    return names


def numpy_info(settings: TimingSettings, dtype: str) -> RuntimeInfo:
    import numpy as np

    return RuntimeInfo("numpy", np.__version__, "cpu", "cpu", settings.threads, None, dtype)


def bench(
    counted: ProfileReport,
    runtimes: Sequence[str],
    settings: TimingSettings,
    progress: Progress | None = None,
    whole_ref: str | None = None,
    input_shapes: dict[str, Any] | None = None,
    input_values: dict[str, Any] | None = None,
) -> BenchReport:
    """Every row of ``counted`` timed on each runtime in turn; with ``whole_ref`` (the
    model's reference; ``input_shapes`` as ``--input-shape`` gave them for an ONNX file)
    and onnxruntime among the runtimes, its forms run whole too."""
    from sepconv_cli.execution.profiling import time_layers
    from sepconv_cli.execution.runtimes.registry import load_runtime

    infos: dict[str, RuntimeInfo] = {}
    for name in runtimes:  # all loaded first: a missing one stops the run before any timing
        if name == "numpy":
            infos[name] = numpy_info(settings, counted.model.dtype)
        else:
            optimization = settings.ort_optimization if name == "onnxruntime" else None
            infos[name] = load_runtime(name, settings.device, settings.threads, optimization).info
    runs = []
    for k, name in enumerate(runtimes):
        optimization = settings.ort_optimization if name == "onnxruntime" else None
        chosen = replace(settings, runtime=name, ort_optimization=optimization)

        def step(done: int, total: int, layer: str, k: int = k, name: str = name) -> None:
            if progress is not None:
                progress(k * total + done, total * len(runtimes), f"{name}: {layer}")

        timed = time_layers(counted.layers, chosen, step)
        runs.append(RuntimeRun(name, infos[name], tuple(timed)))
    whole = None
    ort = next((run for run in runs if run.name == "onnxruntime"), None)
    if whole_ref is not None and ort is not None:
        from sepconv_cli.analysis.whole_model import whole_model

        if progress is not None:
            progress(len(runtimes), len(runtimes), "onnxruntime: whole graphs")
        chosen = replace(settings, runtime="onnxruntime")
        whole = whole_model(
            whole_ref, counted.model, chosen, input_shapes, input_values=input_values
        ).with_sums(
            {part: ort.total(part) for part in ("as_specified", "standard", "separable")},
            sum(layer.timing is None for layer in ort.layers),
            {part: ort.total_slowest(part) for part in ("as_specified", "standard", "separable")},
        )
    return BenchReport(counted.model.name, counted, tuple(runs), settings, whole)


def bench_dict(report: BenchReport) -> dict[str, Any]:
    """The JSON of a bench (``sepconv/bench/v1``, docs/json.md)."""
    layers = []
    for i, layer in enumerate(report.layers):
        per_runtime: dict[str, Any] = {}
        for run in report.runs:
            timed = run.layers[i]
            entry: dict[str, Any] = {
                "standard_s": run.seconds(i, "standard"),
                "separable_s": run.seconds(i, "separable"),
                "as_specified_s": run.seconds(i, "as_specified"),
                "speedup": run.speedup(i),
                "time_share": run.time_share(i),
            }
            if timed.timing is not None:  # how sure the times are (certainty.py)
                entry["runs"] = fewest_runs(timed.timing)
                for key in ("few_runs", "inconsistent", "noisy"):
                    if flagged := getattr(timed.timing, key):
                        entry[key] = list(flagged)
            if timed.note:
                entry["note"] = timed.note
            per_runtime[run.name] = entry
        layers.append(
            {
                "name": layer.row.name,
                "type": layer.row.type,
                "repeat": layer.row.repeat,
                "macs": {
                    "as_specified": layer.as_specified.macs,
                    "standard": layer.standard.macs,
                    "separable": layer.separable.total.macs,
                },
                "mac_ratio": report.mac_ratio(i),
                "mac_share": report.mac_share(i),
                "runtimes": per_runtime,
            }
        )
    totals = {
        run.name: {
            "standard_s": run.total("standard"),
            "separable_s": run.total("separable"),
            "as_specified_s": run.total("as_specified"),
            "speedup": (
                run.total("standard") / run.total("separable") if run.total("separable") else None
            ),
        }
        for run in report.runs
    }
    out: dict[str, Any] = {
        "schema": "sepconv/bench/v1",
        "model": report.model,
        "batch": report.counted.model.batch,
        "dtype": report.counted.model.dtype,
        "runtimes": [run.info.as_dict() for run in report.runs],
        "settings": {
            "budget_s_per_layer": report.settings.budget_s,
            "threads": report.settings.threads,
            "device": report.settings.device,
        },
        "layers": layers,
        "totals": totals,
    }
    if report.whole is not None:
        out["whole_graph"] = report.whole.as_dict()
    return out
