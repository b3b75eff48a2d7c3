"""A whole model run end to end on ONNX Runtime, one session per form, beside the sum of its
layers timed one by one (``--whole-model``): what fusion and scheduling do.

Rules
-----
* Each form's graph (:mod:`sepconv_cli.interchange.whole_forms`) runs in ONE
  ``InferenceSession`` with the session options of the per-layer timing (``--threads``,
  ``--ort-optimization``, ``--device``), every input bound once (seeded random float data;
  integer inputs zero), every output bound once to a buffer of the shape the first run
  gave, so a timed call is ``run_with_iobinding`` alone, as for a layer.
* Timed by :func:`sepconv_cli.execution.timing.measure`, the routine every layer is timed
  with (warm-up, auto-ranged loops, median, spread), each form within ``--time-budget``
  seconds (the per-layer budget, given to each whole graph).
* Checked before timing: the first output's shape is the model's (the NCHW shape of its
  last row; for an ONNX file as specified, the shape its graph declares where it declares
  one), the same for all three forms. Values are not compared: each form has its own
  weights, and each layer's values were already checked against NumPy's by the per-layer
  timing. A mismatch is :class:`RuntimeFailure` (exit 3) naming the form.
* A whole graph includes every operation, the activations too (the per-layer timing runs
  none); the sum of layers counts only the rows timed on ORT (the footer says how many
  were not: over the memory limit, or an operation no kernel runs).

This module imports NumPy and onnxruntime only inside its functions: renderers read its
records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sepconv_cli.errors import RuntimeFailure
from sepconv_cli.execution.runtimes.base import RuntimeInfo

if TYPE_CHECKING:
    from sepconv_cli.execution.timing import Stats, TimingSettings
    from sepconv_cli.interchange.whole_forms import FormGraphs

FORM_LABELS = {"as_specified": "as specified", "standard": "standard", "separable": "separable"}
_NUMPY_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
}


@dataclass(frozen=True)
class WholeForm:
    """One form's whole graph: its timing (None when not run, ``note`` says why), its
    output shape, and the sum of its layers' medians on the same runtime (None when the
    layers were not timed one by one)."""

    form: str
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    iqr_s: float | None = None
    runs: int = 0
    output_shape: tuple[int, ...] | None = None
    sum_of_layers_s: float | None = None
    note: str = ""
    # the sum of the layers' slowest samples (None: only their medians are known)
    sum_of_slowest_s: float | None = None

    @property
    def ratio(self) -> float | None:
        """Sum of layers / whole graph: above 1, running the graph whole saves time."""
        if self.median_s is None or not self.sum_of_layers_s or self.median_s <= 0:
            return None
        return self.sum_of_layers_s / self.median_s

    @property
    def few_runs(self) -> bool:
        """Fewer samples than :data:`~sepconv_cli.execution.certainty.MIN_RUNS`."""
        from sepconv_cli.execution.certainty import MIN_RUNS

        return 0 < self.runs < MIN_RUNS

    @property
    def noisy(self) -> bool:
        """The median over ``NOISE_RATIO`` x the fastest sample (certainty.py's rule)."""
        from sepconv_cli.execution.certainty import NOISE_RATIO

        if self.median_s is None or not self.min_s or self.runs < 3:
            return False
        return self.median_s > NOISE_RATIO * self.min_s

    @property
    def inconsistent(self) -> bool:
        """Slower than the sum of its layers beyond the spread (certainty.py's rule)."""
        from sepconv_cli.execution.certainty import whole_slower_than_layers

        return whole_slower_than_layers(self.min_s, self.sum_of_layers_s, self.sum_of_slowest_s)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "median_s": self.median_s,
            "min_s": self.min_s,
            "max_s": self.max_s,
            "iqr_s": self.iqr_s,
            "runs": self.runs,
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "sum_of_layers_s": self.sum_of_layers_s,
            "sum_over_whole": self.ratio,
        }
        if self.sum_of_slowest_s is not None:
            out["sum_of_slowest_s"] = self.sum_of_slowest_s
        if self.noisy:
            out["noisy"] = True
        if self.inconsistent:
            out["inconsistent"] = True
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class WholeGraph:
    """The three forms run whole on one runtime."""

    runtime: RuntimeInfo
    forms: tuple[WholeForm, ...]
    layers_not_timed: int = 0  # rows in the whole graph but not in the sum of layers
    notes: tuple[str, ...] = field(default_factory=tuple)
    budget_s: float = 0.0  # --time-budget, each form's (for the advice; not in the JSON)
    load_1m: float | None = None  # the 1-minute load average after timing

    def form(self, name: str) -> WholeForm:
        return next(f for f in self.forms if f.form == name)

    def with_sums(
        self,
        sums: dict[str, float | None],
        not_timed: int,
        slowest: dict[str, float | None] | None = None,
    ) -> WholeGraph:
        """The same timings beside the per-layer sums of each form (of the medians, and of
        the slowest samples when ``slowest`` gives them)."""
        forms = tuple(
            replace(
                f,
                sum_of_layers_s=sums.get(f.form),
                sum_of_slowest_s=(slowest or {}).get(f.form),
            )
            for f in self.forms
        )
        return replace(self, forms=forms, layers_not_timed=not_timed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime.as_dict(),
            "layers_not_timed": self.layers_not_timed,
            "forms": {f.form: f.as_dict() for f in self.forms},
            "notes": list(self.notes),
        }


def _input_shape(dims: Sequence[Any], name: str, batch: int) -> tuple[int, ...]:
    shape = []
    for axis, dim in enumerate(dims):
        if isinstance(dim, int) and dim > 0:
            shape.append(dim)
        elif axis == 0:
            shape.append(batch)  # a symbolic batch: the model's
        else:
            raise RuntimeFailure(
                f"--whole-model: input {name!r} has a symbolic dim {dim!r} at axis {axis}; "
                "give it with --input-shape NAME=DIMS"
            )
    return tuple(shape)


class _Graph:
    """One graph in one session, inputs and outputs bound once."""

    def __init__(
        self,
        runtime: Any,
        data: bytes | Path,
        batch: int,
        shapes: dict[str, Any],
        seed: int,
        values: dict[str, Any] | None = None,
    ):
        import numpy as np

        from sepconv_cli.execution.runtimes.ort_binding import bind_once

        ort = runtime.ort
        self.session = ort.InferenceSession(
            str(data) if isinstance(data, Path) else data,
            runtime.session_options(),
            providers=[runtime.provider],
        )
        rng = np.random.default_rng(seed)
        feeds: dict[str, Any] = {}
        for value in self.session.get_inputs():
            dims = shapes.get(value.name, value.shape)
            shape = _input_shape(list(dims), value.name, batch)
            dtype = np.dtype(_NUMPY_TYPES.get(value.type, "float32"))
            given = (values or {}).get(value.name)
            if given is not None:  # --input-value: the branch it decides is the one run
                numbers = list(given.numbers) if given.listed else given.numbers[0]
                feeds[value.name] = np.asarray(numbers, dtype).reshape(shape)
            elif dtype.kind == "f":
                feeds[value.name] = rng.standard_normal(shape).astype(dtype)
            else:
                feeds[value.name] = np.zeros(shape, dtype)
        first = self.session.run(None, feeds)  # also learns every output's shape
        self.output_shape = tuple(int(d) for d in first[0].shape)
        outputs = [
            (meta.name, tuple(out.shape), out.dtype)
            for meta, out in zip(self.session.get_outputs(), first, strict=True)
        ]
        self.bound = bind_once(ort, self.session, runtime.device, feeds, outputs)

    def __call__(self) -> None:
        self.bound()


def _declared_output(data: bytes | Path) -> tuple[int, ...] | None:
    """The first output's shape as the graph declares it, when every dim is a number."""
    from sepconv_cli.interchange.optional import require

    onnx = require("onnx", "--whole-model")
    if isinstance(data, Path):
        model = onnx.load(str(data), load_external_data=False)
    else:
        model = onnx.load_from_string(data)
    dims = model.graph.output[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value for d in dims)
    return shape if shape and all(d > 0 for d in shape) else None


def time_whole_graphs(
    graphs: FormGraphs,
    expected: tuple[int, ...] | None,
    batch: int,
    settings: TimingSettings,
    input_shapes: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    input_values: dict[str, Any] | None = None,
    dtype: str = "float32",
) -> WholeGraph:
    """Each form's graph run whole on ``settings``' ONNX Runtime and timed; ``expected`` is
    the NCHW output shape every form must give (None: the as-specified graph's own);
    ``dtype`` what the graphs compute in (int8: quantized, recorded so).
    ``input_values`` (``--input-value``) are fed as given; other inputs get seeded normal
    values (floats) or zeros (integers)."""
    from sepconv_cli.execution.runtimes.registry import load_runtime

    runtime: Any = load_runtime(
        "onnxruntime", settings.device, settings.threads, settings.ort_optimization, dtype
    )
    declared = graphs.graphs.get("as_specified")
    if expected is None and declared is not None:
        expected = _declared_output(declared)

    def open_form(data: bytes | Path) -> Any:
        return _Graph(runtime, data, batch, input_shapes or {}, settings.seed, input_values)

    return time_forms(runtime.info, graphs, open_form, expected, settings, progress, "graph")


def time_forms(
    info: RuntimeInfo,
    graphs: FormGraphs,
    open_form: Callable[[bytes | Path], Any],
    expected: tuple[int, ...] | None,
    settings: TimingSettings,
    progress: Callable[[str], None] | None,
    what: str,
) -> WholeGraph:
    """Each form ``open_form`` makes runnable (a callable with its ``output_shape``) timed
    whole, in ``graphs``' order, one alive at a time; every form must give ``expected``
    (None: the first one's own). The runtime's own refusal of a form (its ``what``: graph,
    file) is one line naming it. Shared by ONNX Runtime's graphs and LiteRT's files."""
    from sepconv_cli.execution.machine import load_average
    from sepconv_cli.execution.timing import measure

    forms: list[WholeForm] = []
    for form, data in graphs.graphs.items():
        if data is None:
            forms.append(WholeForm(form, note=graphs.skipped.get(form, "not made")))
            continue
        if progress is not None:
            progress(form)
        try:
            runner = open_form(data)
        except (RuntimeFailure, MemoryError):
            raise
        except Exception as exc:  # the runtime's own refusal: one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RuntimeFailure(
                f"--whole-model: form {form} does not run on {info.runtime}: "
                f"{type(exc).__name__}: {first[:200]}"
            ) from None
        if expected is None:
            expected = runner.output_shape
        if runner.output_shape != expected:
            raise RuntimeFailure(
                f"--whole-model: form {form}: the whole {what}'s output is "
                f"{'x'.join(map(str, runner.output_shape))}, the model's is "
                f"{'x'.join(map(str, expected))}"
            )
        stats: Stats = measure(runner, settings, settings.budget_s)
        forms.append(
            WholeForm(
                form,
                stats.median_s,
                stats.min_s,
                stats.max_s,
                stats.iqr_s,
                stats.runs,
                runner.output_shape,
            )
        )
        del runner  # one alive at a time: a standard form's weights can be large
    return WholeGraph(
        info,
        tuple(forms),
        notes=graphs.notes,
        budget_s=settings.budget_s,
        load_1m=load_average(),
    )
