"""Writing a TensorFlow Lite file: one subgraph of tensors, constant buffers and builtin
operators, serialized as the schema's flatbuffer (``TFL3``); float32, or int8 where
:mod:`tflite_quant` rewrites a float32 one.

:class:`FlatModel` is the graph being written: tensors are named (a name is the handle the
writers pass around, made unique as the ONNX builder makes node names), constants keep
their NumPy arrays until :meth:`FlatModel.build`, so a batch-norm can still be folded into
the convolution before it (:meth:`FlatModel.fold`) and an activation fused into the
operator before it (:meth:`FlatModel.fuse`). The operations themselves are
:mod:`tflite_write_ops`'s; the whole-model walk is :mod:`tflite_export`'s.

Rules
-----
* Layout: TFLite's, which is sepconv's own: channels-last ``(N, *spatial, C)``, a flat
  ``(N, C)``; a weight in the layout its operator reads (``CONV_2D`` ``(Cout, kh, kw,
  Cin/groups)``, ``DEPTHWISE_CONV_2D`` ``(1, kh, kw, C·M)``, ``FULLY_CONNECTED`` ``(units,
  features)``, ``CONV_3D`` ``(kd, kh, kw, Cin, Cout)``).
* Every constant buffer is aligned to 16 bytes in the file (what TFLite's converter does,
  so LiteRT and XNNPACK read weights in place); the flatbuffer's 2 GiB limit is checked
  before anything is serialized (:class:`TfliteWriteError` naming the size).
* Operator codes carry both the deprecated 8-bit builtin code (at most 127) and the 32-bit
  one, version 1 (``FlatModel.versions`` raises it where an int8 operator needs the version
  TensorFlow's converter writes): what every LiteRT and every reader since TF 2.4 accepts.
* A quantized tensor carries its scales and zero points (one each, or one per channel along
  ``quantized_dimension``), as TensorFlow's converter writes them (no min/max).
* The ``tflite`` package (the schema's generated builders) and ``flatbuffers`` are imported
  only when a file is built (:func:`sepconv_cli.interchange.optional.require`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import numpy as np

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.optional import require
from sepconv_cli.names import unique_name

# TensorType of the tensors written: float32 activations and weights, int32 shapes, axes and
# quantized biases, int8 quantized activations and weights
TENSOR_TYPES = {"float32": 0, "int32": 2, "int8": 9}
SAME, VALID = 0, 1  # tflite.Padding
# tflite.ActivationFunctionType of the activations an operator can fuse
FUSED = {"relu": 1, "relu6": 3}
# the operators whose options hold a FusedActivationFunction
FUSING = {
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "ADD": "AddOptions",
    "MUL": "MulOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "CONCATENATION": "ConcatenationOptions",
}
ALIGNMENT = 16  # bytes: each constant buffer's start in the file
FLATBUFFER_LIMIT = 2**31 - 1  # bytes: the most one flatbuffer can address
DESCRIPTION = "sepconv"


class TfliteWriteError(UsageError):
    """A part of a model or form that has no exact TensorFlow Lite form here (exit 2), named.
    Timing on LiteRT reports it as a runtime's refusal; ``export`` as the layer's."""


@dataclass(frozen=True)
class Quantization:
    """A tensor's affine quantization: ``real = scale · (q − zero_point)``, one scale and zero
    point per tensor, or one per channel along ``dimension``."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    dimension: int = 0


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    buffer: int = 0  # 0: no data (an activation); else the index of its constant
    quant: Quantization | None = None


@dataclass
class _Operator:
    code: str
    inputs: list[int]
    outputs: list[int]
    options: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


Operator = _Operator  # what a rewriting pass (tflite_quant) reads of an operator


class FlatModel:
    """The tensors, constants and operators of one TFLite subgraph being written."""

    def __init__(self) -> None:
        self.tensors: list[_Tensor] = []
        self.index: dict[str, int] = {}  # tensor name → index
        self.buffers: list[np.ndarray[Any, Any] | None] = [None]  # 0: TFLite's empty buffer
        self.ops: list[_Operator] = []
        self.producer: dict[int, int] = {}  # tensor index → the operator that writes it
        self.read: set[int] = set()  # tensors some operator reads
        self.versions: dict[str, int] = {}  # operator code → its version, where not 1

    # ----------------------------------------------------------------------- tensors

    def unique(self, name: str) -> str:
        return unique_name(name, self.index)

    def tensor(self, name: str, shape: tuple[int, ...], dtype: str = "float32") -> str:
        """A tensor an operator computes (or a graph input), named ``name`` made unique."""
        if any(d < 1 for d in shape):
            raise TfliteWriteError(f"{name}: a tensor of shape {list(shape)} has no TFLite form")
        name = self.unique(name)
        self.index[name] = len(self.tensors)
        self.tensors.append(_Tensor(name, tuple(int(d) for d in shape), dtype))
        return name

    def constant(self, name: str, values: Any, dtype: str = "float32") -> str:
        """A constant tensor holding a copy of ``values`` (float32 weights, int32 shapes and
        axes, int8 quantized weights): folding changes it in place, never the caller's array
        (NumPy's weights)."""
        array = np.array(values, dtype=np.dtype(dtype), order="C")
        name = self.tensor(name, array.shape, dtype)  # () for a scalar
        self.buffers.append(array)
        self.tensors[self.index[name]].buffer = len(self.buffers) - 1
        return name

    def retype(self, name: str, dtype: str, quant: Quantization | None = None) -> None:
        """Tensor ``name`` (computed, or a graph input) as ``dtype`` with ``quant``."""
        t = self.tensors[self.index[name]]
        t.dtype, t.quant = dtype, quant

    def dtype(self, name: str) -> str:
        return self.tensors[self.index[name]].dtype

    def quantization(self, name: str) -> Quantization | None:
        return self.tensors[self.index[name]].quant

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[self.index[name]].shape

    def value(self, name: str) -> np.ndarray[Any, Any] | None:
        """A constant's array (modifiable until :meth:`build`); None for a computed tensor."""
        return self.buffers[self.tensors[self.index[name]].buffer]

    # ----------------------------------------------------------------------- operators

    def op(
        self,
        code: str,
        inputs: list[str | None],
        output: tuple[str, tuple[int, ...]],
        options: str | None = None,
        **fields: Any,
    ) -> str:
        """Add builtin operator ``code`` reading ``inputs`` (None: an optional input left
        out) and writing one new tensor ``output`` = (name, shape); returns its name."""
        return self.op_many(code, inputs, [output], options, **fields)[0]

    def op_many(
        self,
        code: str,
        inputs: list[str | None],
        outputs: list[tuple[str, tuple[int, ...]]],
        options: str | None = None,
        **fields: Any,
    ) -> list[str]:
        ins = [-1 if name is None else self.index[name] for name in inputs]
        names = [self.tensor(name, shape) for name, shape in outputs]
        outs = [self.index[name] for name in names]
        self.read.update(i for i in ins if i >= 0)
        for i in outs:
            self.producer[i] = len(self.ops)
        self.ops.append(_Operator(code, ins, outs, options, dict(fields)))
        return names

    def last_writer(self, name: str) -> _Operator | None:
        """The operator that wrote ``name`` when it is the last one added and nothing has
        read ``name`` yet: one whose weights or activation may still change."""
        i = self.index[name]
        k = self.producer.get(i)
        if k is None or k != len(self.ops) - 1 or i in self.read:
            return None
        return self.ops[k]

    def fuse(self, name: str, function: str) -> bool:
        """Fuse ``function`` into the operator that just wrote ``name``, where TFLite can."""
        op = self.last_writer(name)
        if op is None or function not in FUSED or op.code not in FUSING:
            return False
        if op.fields.get("FusedActivationFunction", 0):
            return False
        op.fields["FusedActivationFunction"] = FUSED[function]
        return True

    def fold(self, name: str, scale: Any, shift: Any) -> bool:
        """Fold ``y · scale + shift`` (per output channel) into the convolution or dense
        layer that just wrote ``name``: its weights scaled per output channel and its bias
        ``bias · scale + shift``, in float64, as TFLite's converter folds a batch-norm."""
        op = self.last_writer(name)
        if op is None or op.code not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            return False
        if op.fields.get("FusedActivationFunction", 0) or len(op.inputs) < 3:
            return False
        weight, bias = self.buffers[self.tensors[op.inputs[1]].buffer], None
        if op.inputs[2] >= 0:
            bias = self.buffers[self.tensors[op.inputs[2]].buffer]
        if weight is None or bias is None:
            return False
        s = np.asarray(scale, np.float64)
        axis = 3 if op.code == "DEPTHWISE_CONV_2D" else 0
        shape = [1] * weight.ndim
        shape[axis] = s.size
        weight[...] = (weight.astype(np.float64) * s.reshape(shape)).astype(np.float32)
        bias[...] = (bias.astype(np.float64) * s + np.asarray(shift, np.float64)).astype(np.float32)
        return True

    # ----------------------------------------------------------------------- the file

    def weight_count(self) -> int:
        """Values in the float32 or int8 constants of more than one value, and in quantized
        int32 ones (an int8 file's biases): the file's weights (a scalar such as a
        hard-sigmoid's 3 is a constant, not a weight; int32 shapes and axes are neither)."""
        count = 0
        for t in self.tensors:
            array = self.buffers[t.buffer]
            if array is None or array.size < 2:
                continue
            if t.dtype in ("float32", "int8") or (t.dtype == "int32" and t.quant is not None):
                count += array.size
        return count

    def nbytes(self) -> int:
        """The file's size, its constants aligned, plus the tables (a bound, not exact)."""
        data = sum(a.nbytes + ALIGNMENT for a in self.buffers if a is not None)
        return data + 256 * (len(self.tensors) + len(self.ops)) + 4096

    def build(self, inputs: list[str], outputs: list[str], where: str = "the model") -> bytes:
        """The ``.tflite`` file's bytes: one subgraph reading ``inputs``, writing
        ``outputs``."""
        size = self.nbytes()
        if size > FLATBUFFER_LIMIT:
            raise TfliteWriteError(
                f"{where}: the file would be {size / 2**30:.1f} GiB with its weights, past the "
                "2 GiB a TFLite flatbuffer can address; lower --width-multiplier or write "
                "--form separable"
            )
        tfl = require("tflite", where)
        flatbuffers = import_module("flatbuffers")  # tflite's own dependency
        b = flatbuffers.Builder(size)
        buffers = [self._buffer(b, tfl, array) for array in self.buffers]
        tensors = [self._tensor(b, tfl, t) for t in self.tensors]
        codes = list(dict.fromkeys(op.code for op in self.ops))
        ops = [self._operator(b, tfl, op, codes.index(op.code)) for op in self.ops]
        opcodes = [self._code(b, tfl, code, self.versions.get(code, 1)) for code in codes]
        tensor_vec = _tables(b, tfl.SubGraphStartTensorsVector, tensors)
        op_vec = _tables(b, tfl.SubGraphStartOperatorsVector, ops)
        in_vec = _ints(b, tfl.SubGraphStartInputsVector, [self.index[n] for n in inputs])
        out_vec = _ints(b, tfl.SubGraphStartOutputsVector, [self.index[n] for n in outputs])
        graph_name = b.CreateString("main")
        tfl.SubGraphStart(b)
        tfl.SubGraphAddTensors(b, tensor_vec)
        tfl.SubGraphAddOperators(b, op_vec)
        tfl.SubGraphAddInputs(b, in_vec)
        tfl.SubGraphAddOutputs(b, out_vec)
        tfl.SubGraphAddName(b, graph_name)
        graph = tfl.SubGraphEnd(b)
        graphs = _tables(b, tfl.ModelStartSubgraphsVector, [graph])
        code_vec = _tables(b, tfl.ModelStartOperatorCodesVector, opcodes)
        buffer_vec = _tables(b, tfl.ModelStartBuffersVector, buffers)
        description = b.CreateString(DESCRIPTION)
        tfl.ModelStart(b)
        tfl.ModelAddVersion(b, 3)
        tfl.ModelAddOperatorCodes(b, code_vec)
        tfl.ModelAddSubgraphs(b, graphs)
        tfl.ModelAddDescription(b, description)
        tfl.ModelAddBuffers(b, buffer_vec)
        b.Finish(tfl.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _buffer(b: Any, tfl: Any, array: np.ndarray[Any, Any] | None) -> int:
        data = None
        if array is not None and array.size:
            payload = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            b.StartVector(1, len(payload), ALIGNMENT)
            b.head = b.head - len(payload)
            b.Bytes[b.head : b.head + len(payload)] = payload
            data = b.EndVector()
        tfl.BufferStart(b)
        if data is not None:
            tfl.BufferAddData(b, data)
        return int(tfl.BufferEnd(b))

    @staticmethod
    def _tensor(b: Any, tfl: Any, t: _Tensor) -> int:
        name = b.CreateString(t.name)
        shape = _ints(b, tfl.TensorStartShapeVector, list(t.shape))
        quant = None if t.quant is None else _quantization(b, tfl, t.quant)
        tfl.TensorStart(b)
        tfl.TensorAddShape(b, shape)
        tfl.TensorAddType(b, TENSOR_TYPES[t.dtype])
        tfl.TensorAddBuffer(b, t.buffer)
        tfl.TensorAddName(b, name)
        if quant is not None:
            tfl.TensorAddQuantization(b, quant)
        return int(tfl.TensorEnd(b))

    @staticmethod
    def _operator(b: Any, tfl: Any, op: _Operator, code: int) -> int:
        table, kind = None, 0
        if op.options:
            module = import_module(f"tflite.{op.options}")
            getattr(module, f"{op.options}Start")(b)
            for key, value in op.fields.items():
                getattr(module, f"{op.options}Add{key}")(b, value)
            table = getattr(module, f"{op.options}End")(b)
            kind = getattr(tfl.BuiltinOptions, op.options)
        ins = _ints(b, tfl.OperatorStartInputsVector, op.inputs)
        outs = _ints(b, tfl.OperatorStartOutputsVector, op.outputs)
        tfl.OperatorStart(b)
        tfl.OperatorAddOpcodeIndex(b, code)
        tfl.OperatorAddInputs(b, ins)
        tfl.OperatorAddOutputs(b, outs)
        if table is not None:
            tfl.OperatorAddBuiltinOptionsType(b, kind)
            tfl.OperatorAddBuiltinOptions(b, table)
        return int(tfl.OperatorEnd(b))

    @staticmethod
    def _code(b: Any, tfl: Any, code: str, version: int) -> int:
        number = getattr(tfl.BuiltinOperator, code)
        tfl.OperatorCodeStart(b)
        tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(number, 127))
        tfl.OperatorCodeAddBuiltinCode(b, number)
        tfl.OperatorCodeAddVersion(b, version)
        return int(tfl.OperatorCodeEnd(b))


def _quantization(b: Any, tfl: Any, quant: Quantization) -> int:
    tfl.QuantizationParametersStartScaleVector(b, len(quant.scales))
    for scale in reversed(quant.scales):
        b.PrependFloat32(scale)
    scales = b.EndVector()
    tfl.QuantizationParametersStartZeroPointVector(b, len(quant.zero_points))
    for zero in reversed(quant.zero_points):
        b.PrependInt64(zero)
    zeros = b.EndVector()
    tfl.QuantizationParametersStart(b)
    tfl.QuantizationParametersAddScale(b, scales)
    tfl.QuantizationParametersAddZeroPoint(b, zeros)
    tfl.QuantizationParametersAddQuantizedDimension(b, quant.dimension)
    return int(tfl.QuantizationParametersEnd(b))


def _ints(b: Any, start: Any, values: list[int]) -> int:
    start(b, len(values))
    for v in reversed(values):
        b.PrependInt32(v)
    return int(b.EndVector())


def _tables(b: Any, start: Any, items: list[int]) -> int:
    start(b, len(items))
    for item in reversed(items):
        b.PrependUOffsetTRelative(item)
    return int(b.EndVector())
