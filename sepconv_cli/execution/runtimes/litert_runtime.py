"""Timing on LiteRT (TensorFlow Lite): each form is a one-form ``.tflite`` file, in memory,
run by an ``Interpreter``.

Rules
-----
* The file is written by sepconv's own TFLite writer (:mod:`sepconv_cli.interchange.
  tflite_write_ops`: float32, NHWC, the operators ``sepconv export -o model.tflite``
  writes), its weights NumPy's own as constant buffers: TFLite's layout is NumPy's
  (channels-last), so the input, the weights' values and the output need no layout change
  and the agreement check compares one computation. A batch-norm after a convolution is
  folded into it, as TFLite's converter folds it. An operation that reads a second tensor
  reads NumPy's own: an add of the form's input reads the file's input, any other residual,
  a gate or a concat's other branches are further inputs of the file, each set once, as
  the input is.
* ``Interpreter(model_content=…, num_threads=--threads)`` with LiteRT's default op
  resolver, which applies the XNNPACK delegate to every float32 operator it supports (the
  rest run on LiteRT's builtin kernels): what a deployed float model gets. The inputs are
  set once and ``invoke()`` called once when the form is prepared (XNNPACK finishes its
  setup in the first call); a timed call is ``invoke()`` and nothing else (the output stays
  in the interpreter's own buffer; ``output()`` copies it out for the agreement check).
* ``--device`` is ``cpu`` only (LiteRT's GPU delegate is a phone's GPU, not CUDA).
* LiteRT prints one ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` line on the
  process's stderr the first time it makes a delegate: sepconv's stderr is its own (notes,
  one-line errors), so the file descriptor is pointed at /dev/null while an interpreter is
  made and its tensors allocated (when the delegate is applied). LiteRT's errors are
  exceptions, and reach the user as one line.
* Anything the writer cannot express (:class:`TfliteWriteError`: a 3-D depthwise conv, a
  3-D pool, an adaptive pool whose input is not a multiple of its output …) is
  :class:`RuntimeUnsupportedError` naming the operation: in ``profile`` the row's note, in
  ``cost`` exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import import_module
from typing import Any

import numpy as np

from sepconv_cli.counting.ops import Add, Concat, Op, Scale
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.buffers import Array
from sepconv_cli.execution.runtimes.base import RuntimeInfo, RuntimeUnsupportedError
from sepconv_cli.interchange.optional import require
from sepconv_cli.interchange.tflite_write import FlatModel, TfliteWriteError
from sepconv_cli.interchange.tflite_write_ops import OpWriter

CONTEXT = "--runtime litert"
PROVIDER = "XNNPACK"  # LiteRT's default delegate for float32 on a CPU


def form_file(
    ops: Sequence[Op],
    x: Array,
    weights: Sequence[dict[str, Array]],
    operands: Sequence[dict[str, Array]],
) -> tuple[bytes, dict[str, Array]]:
    """The ``.tflite`` bytes of a linear sequence of ``ops`` (input ``input``, output the
    last operator's) with NumPy's weights as its constants, and its further inputs (tensor
    name → NumPy's array): every operand but an add's residual that is ``x`` itself."""
    batch = x.shape[0]
    m = FlatModel()
    w = OpWriter(m, batch)
    y = m.tensor("input", tuple(x.shape))
    extra: dict[str, Array] = {}

    def operand(i: int, key: str, values: Array) -> str:
        if key == "residual" and values is x:
            return "input"
        name = m.tensor(f"op{i}.{key}", tuple(values.shape))
        extra[name] = values
        return name

    for i, (op, given, held) in enumerate(zip(ops, weights, operands, strict=True)):
        others: list[str] = []
        if isinstance(op, Add | Scale | Concat):
            others = [operand(i, key, values) for key, values in held.items()]
        try:
            y = w.write(op, y, given, others, f"op{i}")
        except TfliteWriteError as exc:
            raise RuntimeUnsupportedError(f"{CONTEXT}: {exc}") from None
    expected = (batch, *ops[-1].out_shape)
    if m.shape(y) != expected:  # a writer's bug, never a silently different graph
        raise RuntimeUnsupportedError(
            f"{CONTEXT}: the written form gives {list(m.shape(y))}, sepconv counts {expected}"
        )
    return m.build(["input", *extra], [y], CONTEXT), extra


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null (LiteRT's C++ logging writes there)."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LiteRtRunner:
    """One form in one Interpreter, its inputs set once."""

    def __init__(self, runtime: LiteRtRuntime, data: bytes, inputs: dict[str, Array]):
        self.data = data  # the interpreter reads the model from these bytes: kept alive
        with _quiet_stderr():  # the delegate is made (and announced) as tensors are allocated
            self.interpreter = it = runtime.interpreter_class(
                model_content=data, num_threads=runtime.threads
            )
            it.allocate_tensors()
        by_name = {d["name"]: d["index"] for d in it.get_input_details()}
        for name, values in inputs.items():
            it.set_tensor(by_name[name], np.ascontiguousarray(values, np.float32))
        self.out = it.get_output_details()[0]["index"]
        self.invoke = it.invoke
        self.invoke()  # the first call sets up the delegate's plan: untimed, here

    def __call__(self) -> None:
        self.invoke()

    def output(self) -> Array:
        self.invoke()
        return np.array(self.interpreter.get_tensor(self.out))

    def delegated(self) -> bool:
        """Whether a delegate (XNNPACK) took part of the form."""
        return any(d["op_name"] == "DELEGATE" for d in self.interpreter._get_ops_details())


def litert_version(module: Any) -> str:
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    from importlib.metadata import version as installed

    return installed("ai-edge-litert")


class LiteRtRuntime:
    """LiteRT's Interpreter on the CPU, XNNPACK applied as LiteRT applies it by default."""

    def __init__(self, device: str, threads: int | None):
        if device != "cpu":
            raise UsageError(
                f"--device {device}: --runtime litert runs on the CPU here (LiteRT's GPU "
                "delegate is a phone's GPU, not CUDA); use --runtime onnxruntime or torch"
            )
        litert = require("ai_edge_litert", CONTEXT)
        require("tflite", CONTEXT)  # the schema's builders write each form
        self.interpreter_class = import_module("ai_edge_litert.interpreter").Interpreter
        self.threads = threads
        self.info = RuntimeInfo(
            runtime="litert",
            version=litert_version(litert),
            device="cpu",
            provider=PROVIDER,
            threads=threads,
        )

    def prepare(
        self,
        ops: Sequence[Op],
        x: Array,
        weights: Sequence[dict[str, Array]],
        operands: Sequence[dict[str, Array]],
    ) -> LiteRtRunner:
        data, extra = form_file(ops, x, weights, operands)
        return LiteRtRunner(self, data, {"input": x, **extra})
