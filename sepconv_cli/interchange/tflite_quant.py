"""A float32 TFLite graph (:class:`~tflite_write.FlatModel`) rewritten as a full-integer int8
one, as TensorFlow's converter writes a model with ``Optimize.DEFAULT``, a representative
dataset and ``TFLITE_BUILTINS_INT8``: the same operators on int8 tensors.

The ranges come from running the float graph (:mod:`tflite_quant_calibrate`); this module
only applies the rules, so a test can hand it chosen ranges.

Rules
-----
* Activations: int8, one scale and zero point per tensor, asymmetric over the tensor's
  calibrated range widened to hold 0 (``min ≤ 0 ≤ max``): ``scale = (max − min) / 255``,
  the zero point ``−128 − min / scale`` rounded (half away from zero) and clamped to
  [−128, 127], TensorFlow's nudging. An all-zero tensor gets scale 1, zero point 0.
* Weights of ``CONV_2D`` and ``FULLY_CONNECTED`` (quantized_dimension 0, the output
  channel) and ``DEPTHWISE_CONV_2D`` (quantized_dimension 3): int8, symmetric per channel,
  ``scale[c] = max|w[c]| / 127`` (1 where a channel is all zeros), zero point 0, values
  rounded and clamped to [−127, 127]. Their bias: int32, ``scale[c] = s_in · s_w[c]``, zero
  point 0. A batch-norm is already folded into them (the float writer folds it).
* A fused ``RELU``/``RELU6`` stays the operator's fused activation; its output's range is
  the activated tensor's (the float graph's tensor after the activation), so the kernel's
  clamp and the output range agree, as TensorFlow writes it.
* What keeps its input's scale and zero point (TFLite's int8 kernels require it, and
  TensorFlow writes it so): ``RESHAPE``, ``TRANSPOSE``, ``PAD``, ``PADV2`` (its pad value
  quantized at the input's parameters: float32's lowest becomes −128), ``MAX_POOL_2D``,
  ``AVERAGE_POOL_2D``, ``REDUCE_MAX``, ``SPLIT_V``. ``CONCATENATION`` takes its output's
  parameters for every input: an input computed by an operator whose output parameters are
  free (a convolution, an elementwise operator) or a graph input is given them, as
  TensorFlow propagates them; any other is requantized by a ``QUANTIZE`` int8 → int8.
* Fixed output ranges, as TFLite's kernels require: ``LOGISTIC`` and ``SOFTMAX`` scale 1/256
  zero point −128, ``TANH`` 1/128 and 0.
* The float32 constants an elementwise operator reads (a lone batch-norm's scale and shift,
  a pool's size correction, a layer norm's ε, γ and β, a hard-sigmoid's 3 and 1/6): int8,
  per tensor, asymmetric over their own values widened to hold 0.
* Operators with no int8 form here (``CONV_3D``: TFLite has no int8 3-D convolution) run in
  float32 between a ``DEQUANTIZE`` and a ``QUANTIZE``, and are named in ``float_ops``
  (``"name (OPERATOR)"``): never silently.
* Input and output: ``io="float32"`` puts a ``QUANTIZE`` after each graph input and a
  ``DEQUANTIZE`` before the output, so the file takes and gives float32 (TensorFlow's
  default); ``io="int8"`` makes them int8 tensors with their parameters (the caller
  quantizes and dequantizes; a timed call is then the int8 operators alone).
* Operator versions are those TensorFlow's converter writes for int8 (``CONV_2D`` 3,
  ``FULLY_CONNECTED`` 4, most others 2).
* ``rounding_ops``: the operators that round a value to a new scale (all but those that only
  move or select int8 values of one scale, and the ``DEQUANTIZE``), plus each int8 graph
  input (quantized once by the caller): the count of rounding steps that
  :func:`sepconv_cli.execution.runtimes.base.int8_tolerance` takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from sepconv_cli.interchange.tflite_write import (
    FlatModel,
    Operator,
    Quantization,
    TfliteWriteError,
)

QMIN, QMAX = -128, 127
WEIGHT_MAX = 127  # symmetric weights: [-127, 127], TensorFlow's narrow range
# operator → the quantized_dimension of its weights (the output channel)
WEIGHTED = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}
SAME_SCALE = {
    "RESHAPE",
    "TRANSPOSE",
    "PAD",
    "PADV2",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "REDUCE_MAX",
    "SPLIT_V",
}
FIXED = {"LOGISTIC": (1 / 256, -128), "SOFTMAX": (1 / 256, -128), "TANH": (1 / 128, 0)}
OWN = {"ADD", "SUB", "MUL", "MEAN", "RELU", "RELU6", "HARD_SWISH", "LEAKY_RELU", "GELU", "RSQRT"}
JOINED = {"CONCATENATION"}
# int8 operators that only move or select values of one scale: no rounding
EXACT = {"RESHAPE", "TRANSPOSE", "PAD", "PADV2", "SPLIT_V", "MAX_POOL_2D", "REDUCE_MAX"}
# the versions TensorFlow's converter writes for these operators on int8 tensors
VERSIONS = {
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 4,
    "QUANTIZE": 1,
    "DEQUANTIZE": 2,
    "RESHAPE": 1,
    "HARD_SWISH": 1,
}
DEFAULT_VERSION = 2
Io = Literal["float32", "int8"]
Range = tuple[float, float]


@dataclass(frozen=True)
class Affine:
    """One tensor's int8 parameters: ``real = scale · (q − zero_point)``."""

    scale: float
    zero_point: int

    def quantization(self) -> Quantization:
        return Quantization((self.scale,), (self.zero_point,))

    def quantize(self, values: Any) -> np.ndarray[Any, Any]:
        """``values`` as int8 at these parameters (rounded half away from zero, as TFLite's
        ``QUANTIZE`` rounds, and clamped)."""
        q = round_away(np.asarray(values, np.float64) / self.scale) + self.zero_point
        return np.asarray(np.clip(q, QMIN, QMAX), np.int8)

    def dequantize(self, q: Any) -> np.ndarray[Any, Any]:
        return (self.scale * (np.asarray(q, np.float64) - self.zero_point)).astype(np.float32)


def round_away(values: Any) -> np.ndarray[Any, Any]:
    """Rounded to the nearest integer, halves away from zero (C's ``round``)."""
    v = np.asarray(values, np.float64)
    return np.asarray(np.sign(v) * np.floor(np.abs(v) + 0.5))


def activation_params(low: float, high: float) -> Affine:
    """TensorFlow's asymmetric int8 parameters for a tensor seen in [low, high]."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    if not high - low > 0:  # an all-zero tensor: any scale represents it
        return Affine(1.0, 0)
    scale = float(np.float32((high - low) / (QMAX - QMIN)))
    from_min = QMIN - low / scale
    zero = QMIN if from_min < QMIN else QMAX if from_min > QMAX else int(round_away(from_min))
    return Affine(scale, zero)


def channel_weights(w: Any, axis: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Symmetric per-channel int8 weights along ``axis`` and their float32 scales."""
    w = np.asarray(w, np.float64)
    others = tuple(i for i in range(w.ndim) if i != axis)
    peak = np.max(np.abs(w), axis=others) if others else np.abs(w)
    scales = np.where(peak > 0, peak / WEIGHT_MAX, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = scales.size
    q = round_away(w / scales.astype(np.float64).reshape(shape))
    return np.clip(q, -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8), scales


@dataclass
class Quantized:
    """The int8 graph and what its callers need to feed, read and check it."""

    model: FlatModel
    inputs: list[str]
    outputs: list[str]
    input_params: dict[str, Affine]  # graph input name → its parameters (int8 io)
    output_params: list[Affine]  # each output's int8 parameters (before a DEQUANTIZE)
    rounding_ops: int = 0
    float_ops: list[str] = field(default_factory=list)


class _Rewriter:
    def __init__(self, src: FlatModel, ranges: dict[int, Range], where: str) -> None:
        self.src = src
        self.ranges = ranges
        self.where = where
        self.m = FlatModel()
        self.int8: dict[int, tuple[str, Affine]] = {}  # source tensor → int8 tensor
        self.float: dict[int, str] = {}  # source tensor → float32 tensor
        self.requantized: dict[tuple[int, Affine], str] = {}
        self.override: dict[int, Affine] = {}  # a concat's parameters given to its inputs
        self.rounding = 0
        self.float_ops: list[str] = []

    # ----------------------------------------------------------------------- tensors

    def name(self, i: int) -> str:
        return self.src.tensors[i].name

    def params(self, i: int) -> Affine:
        """Source tensor ``i``'s parameters: a concat's, or its calibrated range's."""
        if i in self.override:
            return self.override[i]
        if i not in self.ranges:
            raise TfliteWriteError(f"{self.where}: {self.name(i)}: no calibrated range")
        return activation_params(*self.ranges[i])

    def emit(
        self,
        code: str,
        inputs: list[str | None],
        outputs: list[tuple[str, tuple[int, ...]]],
        options: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> list[str]:
        self.m.versions[code] = VERSIONS.get(code, DEFAULT_VERSION)
        return self.m.op_many(code, inputs, outputs, options, **(fields or {}))

    def int8_out(self, name: str, shape: tuple[int, ...], params: Affine, code: str) -> str:
        """A ``QUANTIZE`` of ``name`` (float32 or int8) to ``params``."""
        out = self.emit(code, [name], [(f"{name}/quantize", shape)])[0]
        self.m.retype(out, "int8", params.quantization())
        self.rounding += 1
        return out

    def as_int8(self, i: int, want: Affine | None = None) -> tuple[str, Affine]:
        """Source tensor ``i`` as an int8 tensor (at ``want`` when given)."""
        shape = self.src.tensors[i].shape
        if i not in self.int8:
            params = want or self.params(i)
            self.int8[i] = (self.int8_out(self.float[i], shape, params, "QUANTIZE"), params)
        name, params = self.int8[i]
        if want is None or want == params:
            return name, params
        if (i, want) not in self.requantized:
            self.requantized[i, want] = self.int8_out(name, shape, want, "QUANTIZE")
        return self.requantized[i, want], want

    def as_float(self, i: int) -> str:
        if i not in self.float:
            name, _ = self.int8[i]
            shape = self.src.tensors[i].shape
            self.float[i] = self.emit("DEQUANTIZE", [name], [(f"{name}/dequantize", shape)])[0]
        return self.float[i]

    def constant(self, i: int, params: Affine | None = None) -> str:
        """Source constant ``i``: int32 as it is; float32 as int8 at ``params`` (else its own
        values' range)."""
        t = self.src.tensors[i]
        values = self.src.buffers[t.buffer]
        assert values is not None
        if t.dtype != "float32":
            return self.m.constant(t.name, values, t.dtype)
        if params is None:
            params = activation_params(float(np.min(values)), float(np.max(values)))
        name = self.m.constant(t.name, params.quantize(values), "int8")
        self.m.retype(name, "int8", params.quantization())
        return name

    def is_constant(self, i: int) -> bool:
        return self.src.tensors[i].buffer != 0

    # ----------------------------------------------------------------------- operators

    def concat_parameters(self) -> None:
        """Each concat's output parameters given to the inputs free to take them."""
        for op in self.src.ops:
            if op.code not in JOINED:
                continue
            params = self.params(op.outputs[0])
            for i in op.inputs:
                producer = self.src.producer.get(i)
                code = None if producer is None else self.src.ops[producer].code
                free = code is None or code in WEIGHTED or code in OWN
                if free and not self.is_constant(i) and i not in self.override:
                    self.override[i] = params

    def rewrite(self, k: int) -> None:
        op = self.src.ops[k]
        if op.code in WEIGHTED:
            self.weighted(op)
        elif op.code in SAME_SCALE or op.code in OWN or op.code in FIXED or op.code in JOINED:
            self.integer(op)
        else:
            self.in_float(op)

    def weighted(self, op: Operator) -> None:
        x, p_in = self.as_int8(op.inputs[0])
        weights = self.src.value(self.name(op.inputs[1]))
        if weights is None:
            raise TfliteWriteError(
                f"{self.where}: {self.name(op.outputs[0])} ({op.code}): its weights are "
                "computed, not constant: no int8 form here"
            )
        axis = WEIGHTED[op.code]
        q, scales = channel_weights(weights, axis)
        zeros = (0,) * scales.size
        w = self.m.constant(self.name(op.inputs[1]), q, "int8")
        self.m.retype(w, "int8", Quantization(tuple(map(float, scales)), zeros, axis))
        inputs: list[str | None] = [x, w]
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            bias = self.src.value(self.name(op.inputs[2]))
            assert bias is not None
            bias_scales = (np.float64(p_in.scale) * scales.astype(np.float64)).astype(np.float32)
            limit = np.iinfo(np.int32)
            qb = np.clip(round_away(bias / bias_scales), limit.min, limit.max).astype(np.int32)
            b = self.m.constant(self.name(op.inputs[2]), qb, "int32")
            self.m.retype(b, "int32", Quantization(tuple(map(float, bias_scales)), zeros, 0))
            inputs.append(b)
        self.finish(op, inputs, [self.params(op.outputs[0])])
        self.rounding += 1

    def integer(self, op: Operator) -> None:
        out_params: Affine | None = None
        if op.code in FIXED:
            scale, zero = FIXED[op.code]
            out_params = Affine(scale, zero)
        elif op.code in OWN or op.code in JOINED:
            out_params = self.params(op.outputs[0])
        inputs: list[str | None] = []
        first: Affine | None = None
        for j, i in enumerate(op.inputs):
            if i < 0:
                inputs.append(None)
            elif self.is_constant(i):
                pad_value = op.code == "PADV2" and j == 2
                inputs.append(self.constant(i, first if pad_value else None))
            else:
                name, params = self.as_int8(i, out_params if op.code in JOINED else None)
                first = first or params
                inputs.append(name)
        if out_params is None:  # same scale: the (first) input's
            assert first is not None
            out_params = first
        self.finish(op, inputs, [out_params] * len(op.outputs))
        if op.code not in EXACT and op.code not in JOINED:
            self.rounding += 1

    def finish(self, op: Operator, inputs: list[str | None], params: list[Affine]) -> None:
        specs = [(self.name(i), self.src.tensors[i].shape) for i in op.outputs]
        names = self.emit(op.code, inputs, specs, op.options, op.fields)
        for i, name, p in zip(op.outputs, names, params, strict=True):
            self.m.retype(name, "int8", p.quantization())
            self.int8[i] = (name, p)

    def in_float(self, op: Operator) -> None:
        inputs: list[str | None] = []
        for i in op.inputs:
            if i < 0:
                inputs.append(None)
            elif self.is_constant(i):
                t = self.src.tensors[i]
                values = self.src.buffers[t.buffer]
                inputs.append(self.m.constant(t.name, values, t.dtype))
            else:
                inputs.append(self.as_float(i))
        specs = [(self.name(i), self.src.tensors[i].shape) for i in op.outputs]
        self.m.versions.pop(op.code, None)  # the float operator's own version, 1
        names = self.m.op_many(op.code, inputs, specs, op.options, **op.fields)
        for i, name in zip(op.outputs, names, strict=True):
            self.float[i] = name
        self.float_ops.append(f"{names[0]} ({op.code})")


def quantize(
    src: FlatModel,
    inputs: list[str],
    outputs: list[str],
    ranges: dict[int, Range],
    io: Io = "float32",
    where: str = "the model",
) -> Quantized:
    """``src`` (float32, its graph ``inputs`` and ``outputs``) as an int8 graph, every
    activation quantized from ``ranges`` (source tensor index → the range it was seen in)."""
    r = _Rewriter(src, ranges, where)
    r.concat_parameters()
    input_params: dict[str, Affine] = {}
    new_inputs: list[str] = []
    for name in inputs:
        i = src.index[name]
        t = src.tensors[i]
        created = r.m.tensor(t.name, t.shape)
        new_inputs.append(created)
        if io == "int8":
            params = r.params(i)
            r.m.retype(created, "int8", params.quantization())
            r.int8[i] = (created, params)
            input_params[created] = params
            r.rounding += 1  # the caller quantizes it once
        else:
            r.float[i] = created
    for k in range(len(src.ops)):
        r.rewrite(k)
    new_outputs: list[str] = []
    output_params: list[Affine] = []
    for name in outputs:
        i = src.index[name]
        if io == "int8":
            out, params = r.as_int8(i)
        else:
            params = r.int8[i][1] if i in r.int8 else r.params(i)
            out = r.as_float(i)
        new_outputs.append(out)
        output_params.append(params)
    return Quantized(r.m, new_inputs, new_outputs, input_params, output_params, r.rounding,
                     r.float_ops)  # fmt: skip
