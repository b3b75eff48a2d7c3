"""A whole ``.tflite`` model run end to end on LiteRT, one ``Interpreter`` per form, beside the
sum of its layers timed one by one (``--whole-model --runtime litert``): the LiteRT
counterpart of :mod:`sepconv_cli.execution.runtimes.whole_graph`, giving the same
:class:`~sepconv_cli.execution.runtimes.whole_graph.WholeGraph` record.

Rules
-----
* Each form's file (:mod:`sepconv_cli.interchange.whole_forms`: a ``.tflite`` file itself,
  as given, or a spec's ``sepconv export -o model.tflite`` in each form) is loaded by
  ``Interpreter(model_path=… | model_content=…, num_threads=--threads)`` with LiteRT's
  default op resolver (XNNPACK on every float32 operator it takes, as the per-layer timing
  and a deployed model get), its tensors allocated with LiteRT's one INFO line silenced
  (:mod:`~sepconv_cli.execution.runtimes.litert_runtime`).
* Every input is set once, of the dtype and shape the file declares (a batch the file
  leaves open, -1, is the model's): ``--input-value`` where given, else seeded normal
  values (floats), seeded values over the whole range (int8, uint8: a quantized file's
  input) or zeros (other integers: indices). ``invoke()`` is called once untimed (XNNPACK
  finishes its setup in the first call); a timed call is ``invoke()`` alone, the output
  left in the interpreter's buffer — what a user's own ``invoke`` loop times.
* Timed by :func:`sepconv_cli.execution.timing.measure` (warm-up, auto-ranged loops,
  median, spread) within ``--time-budget`` seconds per form, as ONNX Runtime's whole graphs.
* Checked before timing: the first output's shape is the model's (a spec's: ``(N,
  *spatial, C)`` of its last row; a file's: its own), the same for every form run; a
  mismatch or LiteRT's refusal of the file is :class:`RuntimeFailure` (exit 3), one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sepconv_cli.errors import RuntimeFailure
from sepconv_cli.execution.runtimes.whole_graph import WholeGraph, time_forms

if TYPE_CHECKING:
    from sepconv_cli.execution.timing import TimingSettings
    from sepconv_cli.interchange.whole_forms import FormGraphs


def _input_shape(signature: Any, shape: Any, name: str, batch: int) -> tuple[int, ...]:
    dims = []
    for axis, (declared, given) in enumerate(zip(signature, shape, strict=True)):
        if declared >= 0:
            dims.append(int(given))
        elif axis == 0:
            dims.append(batch)  # a batch the file leaves open: the model's
        else:
            raise RuntimeFailure(
                f"--whole-model: input {name!r} has an open dim at axis {axis}; "
                "LiteRT runs a .tflite file whole only with every other dim fixed"
            )
    return tuple(dims)


def _values(dtype: Any, shape: tuple[int, ...], rng: Any, given: Any) -> Any:
    import numpy as np

    if given is not None:  # --input-value: the branch it decides is the one run
        numbers = list(given.numbers) if given.listed else given.numbers[0]
        return np.asarray(numbers, dtype).reshape(shape)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype in (np.dtype("int8"), np.dtype("uint8")):  # a quantized input: its whole range
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    return np.zeros(shape, dtype)


class _File:
    """One ``.tflite`` in one Interpreter, its inputs set once, invoked once."""

    def __init__(
        self,
        runtime: Any,
        data: bytes | Path,
        batch: int,
        seed: int,
        values: dict[str, Any] | None = None,
    ):
        import numpy as np

        from sepconv_cli.interchange.tflite_quant_calibrate import quiet_stderr

        self.data = data  # the interpreter reads the model from these bytes: kept alive
        source = {"model_path": str(data)} if isinstance(data, Path) else {"model_content": data}
        with quiet_stderr():  # the delegate is made (and announced) as tensors are allocated
            self.interpreter = it = runtime.interpreter_class(**source, num_threads=runtime.threads)
            details = it.get_input_details()
            resized = False
            for d in details:
                signature = d.get("shape_signature", d["shape"])
                shape = _input_shape(signature, d["shape"], d["name"], batch)
                if shape != tuple(int(x) for x in d["shape"]):
                    it.resize_tensor_input(d["index"], list(shape))
                    resized = True
            it.allocate_tensors()
        if resized:
            details = it.get_input_details()
        rng = np.random.default_rng(seed)
        for d in details:
            shape = tuple(int(x) for x in d["shape"])
            dtype = np.dtype(d["dtype"])
            given = (values or {}).get(d["name"])
            it.set_tensor(d["index"], _values(dtype, shape, rng, given))
        self.invoke = it.invoke
        self.invoke()  # the first call sets up the delegate's plan: untimed, here
        out = it.get_output_details()[0]["index"]
        self.output_shape = tuple(int(x) for x in it.get_tensor(out).shape)

    def __call__(self) -> None:
        self.invoke()


def time_whole_files(
    graphs: FormGraphs,
    expected: tuple[int, ...] | None,
    batch: int,
    settings: TimingSettings,
    progress: Callable[[str], None] | None = None,
    input_values: dict[str, Any] | None = None,
    dtype: str = "float32",
) -> WholeGraph:
    """Each form's ``.tflite`` run whole on LiteRT with ``settings``' threads and timed;
    ``expected`` is the output shape every form must give (None: the first form's own);
    ``dtype`` what the files compute in (recorded with the times)."""
    from sepconv_cli.execution.runtimes.registry import load_runtime

    runtime: Any = load_runtime("litert", settings.device, settings.threads, None, dtype)

    def open_form(data: bytes | Path) -> _File:
        return _File(runtime, data, batch, settings.seed, input_values)

    return time_forms(runtime.info, graphs, open_form, expected, settings, progress, "file")
