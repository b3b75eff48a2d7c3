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
* ``--dtype int8``: each form's float32 file is calibrated on NumPy's own input and
  operands (one LiteRT run of the float file, every tensor's range) and rewritten as a
  full-integer int8 file as TensorFlow's converter writes one
  (:mod:`sepconv_cli.interchange.tflite_quant`: per-channel symmetric weights, int32
  biases, per-tensor asymmetric activations). Its inputs and output are int8 (the file has
  no ``QUANTIZE`` or ``DEQUANTIZE``): a timed call is the int8 operators alone, as a layer
  runs inside a deployed int8 model; the inputs are quantized once when the form is
  prepared, and ``output()`` dequantizes the int8 output to float32 for the agreement
  check. The runner's ``tolerance`` is :func:`base.int8_tolerance` of the output's scale
  and the form's rounding operations, its ``float_ops`` the operators left in float32
  (``CONV_3D``: TFLite has no int8 one), named. LiteRT's default resolver hands int8
  operators to XNNPACK too (a ``DELEGATE`` node, which a test checks for).
* Anything the writer cannot express (:class:`TfliteWriteError`: a 3-D depthwise conv, a
  3-D pool, an adaptive pool whose input is not a multiple of its output …) is
  :class:`RuntimeUnsupportedError` naming the operation: in ``profile`` the row's note, in
  ``cost`` exit 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Any

import numpy as np

from sepconv_cli.counting.ops import Add, Concat, Op, Scale
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.buffers import Array
from sepconv_cli.execution.runtimes.base import (
    INT8,
    RuntimeInfo,
    RuntimeUnsupportedError,
    int8_tolerance,
)
from sepconv_cli.interchange.optional import require
from sepconv_cli.interchange.tflite_quant_calibrate import Int8File, int8_file, quiet_stderr
from sepconv_cli.interchange.tflite_write import FlatModel, TfliteWriteError
from sepconv_cli.interchange.tflite_write_ops import OpWriter

CONTEXT = "--runtime litert"
PROVIDER = "XNNPACK"  # LiteRT's default delegate (float32 and int8) on a CPU
# how int8 forms are quantized, recorded with every int8 time (RuntimeInfo.quantization)
SCHEME = "TFLite full-integer S8S8, per-channel weights, min/max on the seeded input"


def form_file(
    ops: Sequence[Op],
    x: Array,
    weights: Sequence[dict[str, Array]],
    operands: Sequence[dict[str, Array]],
) -> tuple[bytes, dict[str, Array]]:
    """The ``.tflite`` bytes of a linear sequence of ``ops`` (input ``input``, output the
    last operator's) with NumPy's weights as its constants, and its further inputs (tensor
    name → NumPy's array): every operand but an add's residual that is ``x`` itself."""
    m, y, extra = form_model(ops, x, weights, operands)
    return m.build(["input", *extra], [y], CONTEXT), extra


def form_model(
    ops: Sequence[Op],
    x: Array,
    weights: Sequence[dict[str, Array]],
    operands: Sequence[dict[str, Array]],
) -> tuple[FlatModel, str, dict[str, Array]]:
    """:func:`form_file`'s graph before it is built: the model, its output and its further
    inputs."""
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
    return m, y, extra


class LiteRtRunner:
    """One form in one Interpreter, its inputs set once. An int8 form (``quantized``) takes
    its inputs quantized at their parameters and gives its output dequantized."""

    def __init__(
        self,
        runtime: LiteRtRuntime,
        data: bytes,
        inputs: dict[str, Array],
        quantized: Int8File | None = None,
    ):
        self.data = data  # the interpreter reads the model from these bytes: kept alive
        self.quantized = quantized
        self.tolerance: float | None = None
        self.float_ops: tuple[str, ...] = ()
        if quantized is not None:
            self.tolerance = int8_tolerance(quantized.output.scale, quantized.rounding_ops)
            self.float_ops = quantized.float_ops
            inputs = {name: quantized.inputs[name].quantize(v) for name, v in inputs.items()}
        with quiet_stderr():  # the delegate is made (and announced) as tensors are allocated
            self.interpreter = it = runtime.interpreter_class(
                model_content=data, num_threads=runtime.threads
            )
            it.allocate_tensors()
        by_name = {d["name"]: d["index"] for d in it.get_input_details()}
        for name, values in inputs.items():
            kind = np.int8 if quantized is not None else np.float32
            it.set_tensor(by_name[name], np.ascontiguousarray(values, kind))
        self.out = it.get_output_details()[0]["index"]
        self.invoke = it.invoke
        self.invoke()  # the first call sets up the delegate's plan: untimed, here

    def __call__(self) -> None:
        self.invoke()

    def output(self) -> Array:
        self.invoke()
        values = np.array(self.interpreter.get_tensor(self.out))
        if self.quantized is not None:
            return self.quantized.output.dequantize(values)
        return values

    def delegated(self) -> bool:
        """Whether a delegate (XNNPACK) took part of the form."""
        return any(d["op_name"] == "DELEGATE" for d in self.interpreter._get_ops_details())

    def builtin_ops(self) -> tuple[str, ...]:
        """``"name (OPERATOR)"`` of each operator no delegate took (LiteRT's builtin kernel
        runs it): those not reached walking back from a ``DELEGATE`` node's outputs to its
        inputs (the interpreter lists the replaced nodes beside the delegate's)."""
        details = self.interpreter._get_ops_details()
        nodes = [d for d in details if d["op_name"] != "DELEGATE"]
        producer = {int(t): k for k, d in enumerate(nodes) for t in d["outputs"]}
        covered: set[int] = set()
        for d in details:
            if d["op_name"] != "DELEGATE":
                continue
            boundary = {int(t) for t in d["inputs"]}
            stack = [int(t) for t in d["outputs"]]
            while stack:
                t = stack.pop()
                k = producer.get(t)
                if t in boundary or k is None or k in covered:
                    continue
                covered.add(k)
                stack.extend(int(i) for i in nodes[k]["inputs"])
        names = {d["index"]: d["name"] for d in self.interpreter.get_tensor_details()}
        return tuple(
            f"{names[int(d['outputs'][0])]} ({d['op_name']})"
            for k, d in enumerate(nodes)
            if k not in covered
        )


def litert_version(module: Any) -> str:
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    from importlib.metadata import version as installed

    return installed("ai-edge-litert")


class LiteRtRuntime:
    """LiteRT's Interpreter on the CPU, XNNPACK applied as LiteRT applies it by default;
    each form float32, or int8 as TensorFlow's converter quantizes a model."""

    def __init__(self, device: str, threads: int | None, dtype: str = "float32"):
        if dtype not in ("float32", INT8):
            raise RuntimeUnsupportedError(
                f"--runtime litert --dtype {dtype}: LiteRT times float32 and int8 here"
            )
        if device != "cpu":
            raise UsageError(
                f"--device {device}: --runtime litert runs on the CPU here (LiteRT's GPU "
                "delegate is a phone's GPU, not CUDA); use --runtime onnxruntime or torch"
            )
        litert = require("ai_edge_litert", CONTEXT)
        require("tflite", CONTEXT)  # the schema's builders write each form
        self.interpreter_class = import_module("ai_edge_litert.interpreter").Interpreter
        self.threads = threads
        self.dtype = dtype
        self.info = RuntimeInfo(
            runtime="litert",
            version=litert_version(litert),
            device="cpu",
            provider=PROVIDER,
            threads=threads,
            dtype=dtype,
            quantization=SCHEME if dtype == INT8 else None,
        )

    def prepare(
        self,
        ops: Sequence[Op],
        x: Array,
        weights: Sequence[dict[str, Array]],
        operands: Sequence[dict[str, Array]],
    ) -> LiteRtRunner:
        if self.dtype != INT8:
            data, extra = form_file(ops, x, weights, operands)
            return LiteRtRunner(self, data, {"input": x, **extra})
        m, y, extra = form_model(ops, x, weights, operands)
        feeds = {"input": x, **extra}
        try:
            quantized = int8_file(m, list(feeds), [y], feeds, "int8", f"{CONTEXT} --dtype int8")
        except TfliteWriteError as exc:  # what has no int8 form: a refusal, as the writer's
            raise RuntimeUnsupportedError(str(exc)) from None
        return LiteRtRunner(self, quantized.data, feeds, quantized)
