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
* ``--dtype float32,int8``: each runtime in each number format, runtime by runtime. A
  runtime timed in int8 times float32 first in the same run (:mod:`sepconv_cli.execution.
  runtimes.timed`), so its float32 column is those float32 records: both sides of its
  int8 gain come from one run, and nothing is timed twice. A runtime with no int8 here
  (NumPy: no int8 arithmetic; torch: sepconv times it in float32) is a column that says
  so in one line, not an error: the other runtimes still run.
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
from sepconv_cli.execution.runtimes.base import (
    INT8,
    RUNTIME_DTYPES,
    RUNTIMES,
    RuntimeInfo,
    RuntimeUnsupportedError,
)
from sepconv_cli.execution.runtimes.whole_graph import WholeGraph

if TYPE_CHECKING:  # the type only: execution.timing loads NumPy, which must wait until the
    # bench command has set the BLAS thread count
    from sepconv_cli.execution.timing import TimingSettings

Progress = Callable[[int, int, str], None]


SHORT = {"numpy": "NumPy", "onnxruntime": "ORT", "torch": "torch", "litert": "LiteRT"}


@dataclass(frozen=True)
class RuntimeRun:
    """One runtime's timing of every row in one number format (``not_run``: why it has no
    times at all, e.g. NumPy in int8)."""

    name: str
    info: RuntimeInfo
    layers: tuple[LayerReport, ...]
    dtype: str = "float32"
    not_run: str | None = None

    @property
    def key(self) -> str:
        """The run's key in JSON and column ids: the runtime's name in float32 (as every
        bench before number formats), ``name:int8`` otherwise."""
        return self.name if self.dtype == "float32" else f"{self.name}:{self.dtype}"

    @property
    def short(self) -> str:
        """Its name in a header: ``ORT``, ``ORT int8``."""
        return SHORT[self.name] + ("" if self.dtype == "float32" else f" {self.dtype}")

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

    @property
    def timed_runs(self) -> tuple[RuntimeRun, ...]:
        """The runs with times (a runtime without the number format asked has none: its
        one line says why, and the table has no columns for it)."""
        return tuple(run for run in self.runs if run.not_run is None)

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


def parse_dtypes(text: str | None, default: str) -> list[str]:
    """``--dtype float32,int8``: the number formats to time, in order, each one a runtime
    times, none twice. Without the flag: the model's own."""
    if text is None:
        return [default]
    names = [word.strip() for word in text.split(",") if word.strip()]
    for name in names:
        if name not in RUNTIME_DTYPES:
            raise UsageError(f"--dtype: bench times {' and '.join(RUNTIME_DTYPES)}, not {name!r}")
    if not names or len(set(names)) != len(names):
        raise UsageError(f"--dtype: name each of {', '.join(RUNTIME_DTYPES)} at most once")
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
    dtypes: Sequence[str] = ("float32",),
) -> BenchReport:
    """Every row of ``counted`` timed on each runtime in each of ``dtypes`` in turn; with
    ``whole_ref`` (the model's reference; ``input_shapes`` as ``--input-shape`` gave them
    for an ONNX file) and onnxruntime among the runtimes, its forms run whole too."""
    from sepconv_cli.execution.profiling import time_layers

    plans = [
        (name, dtype, _load(name, dtype, settings, counted))
        for name in runtimes
        for dtype in dtypes
    ]
    ran = {(name, dtype) for name, dtype, loaded in plans if isinstance(loaded, RuntimeInfo)}
    # a runtime timed in int8 gives its float32 records too (the rule above)
    timed_plans = [
        (name, dtype, loaded)
        for name, dtype, loaded in plans
        if isinstance(loaded, RuntimeInfo) and not (dtype == "float32" and (name, INT8) in ran)
    ]
    by_run: dict[tuple[str, str], RuntimeRun] = {}
    for k, (name, dtype, info) in enumerate(timed_plans):
        optimization = settings.ort_optimization if name == "onnxruntime" else None
        chosen = replace(settings, runtime=name, ort_optimization=optimization)

        def step(
            done: int, total: int, layer: str, k: int = k, what: str = f"{name} {dtype}"
        ) -> None:
            if progress is not None:
                progress(k * total + done, total * len(timed_plans), f"{what}: {layer}")

        rows = tuple(replace(layer, dtype=dtype) for layer in counted.layers)
        timed = tuple(time_layers(rows, chosen, step))
        by_run[name, dtype] = RuntimeRun(name, info, timed, dtype)
        if dtype == INT8 and (name, "float32") in ran:
            by_run[name, "float32"] = _float32_run(name, info, timed, counted, chosen)
    runs = [
        _not_run(name, dtype, why, settings, counted)
        if isinstance(why, str)
        else by_run[name, dtype]
        for name, dtype, why in plans
    ]
    whole = None
    ort = next((run for run in runs if run.key == "onnxruntime" and run.not_run is None), None)
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


def _float32_run(
    name: str,
    info: RuntimeInfo,
    timed: Sequence[LayerReport],
    counted: ProfileReport,
    settings: TimingSettings,
) -> RuntimeRun:
    """A runtime's float32 run, read off its int8 run's records (each int8 timing holds the
    float32 one of the same run); a row whose int8 form did not run has no float32 record
    either, and is timed in float32 now."""
    from sepconv_cli.execution.profiling import time_layers

    rows = [
        replace(layer, dtype="float32", timing=layer.timing.float32 if layer.timing else None)
        for layer in timed
    ]
    missing = [i for i, layer in enumerate(rows) if layer.timing is None]
    again = [replace(counted.layers[i], dtype="float32") for i in missing]
    for i, layer in zip(missing, time_layers(again, settings), strict=True):
        rows[i] = layer
    float_info = replace(info, dtype="float32", quantization=None)
    return RuntimeRun(name, float_info, tuple(rows), "float32")


def _load(
    name: str, dtype: str, settings: TimingSettings, counted: ProfileReport
) -> RuntimeInfo | str:
    """The runtime loaded for ``dtype`` (a missing package stops the bench: exit 2 with its
    install line), or why it has no ``dtype`` here."""
    if name == "numpy":
        if dtype == INT8:
            return "NumPy has no int8 arithmetic (no int8 GEMM): sepconv's kernels time floats"
        return numpy_info(settings, dtype)
    from sepconv_cli.execution.runtimes.registry import load_runtime

    optimization = settings.ort_optimization if name == "onnxruntime" else None
    try:
        return load_runtime(name, settings.device, settings.threads, optimization, dtype).info
    except RuntimeUnsupportedError as exc:
        if dtype == "float32":
            raise
        return str(exc)


def _not_run(
    name: str, dtype: str, why: str, settings: TimingSettings, counted: ProfileReport
) -> RuntimeRun:
    """A runtime and number format that has no times here, saying why on every row."""
    info = RuntimeInfo(name, "", settings.device, "", settings.threads, None, dtype)  # type: ignore[arg-type]
    rows = tuple(replace(layer, note=f"not timed: {why}") for layer in counted.layers)
    return RuntimeRun(name, info, rows, dtype, not_run=why)


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
            per_runtime[run.key] = entry
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
        run.key: {
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
        "runtimes": [
            run.info.as_dict() | ({"not_run": run.not_run} if run.not_run else {})
            for run in report.runs
        ],
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
