"""Reading a TensorFlow Lite file: its main subgraph as plain, checked records.

The flatbuffer is parsed with the ``tflite`` package (the schema's generated readers, no
TensorFlow). Everything the rest of sepconv reads is copied out into :class:`TfGraph`, and
checked on the way, so a damaged or hostile file is one line naming the operator or tensor,
never an IndexError from deep inside the parser:

* the file identifier ``TFL3``; every index (operator code, tensor, buffer) in range;
* dims ≥ 0 and a constant's bytes exactly its dims × its type's size;
* each tensor written by one operator at most, and read only after it is written (TFLite
  stores operators in execution order, and its interpreter relies on it).

Constants stay bytes until a rule asks for a value (:meth:`TfTensor.array`): weights are
never decoded, only their dims counted.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.optional import require

TYPES: dict[int, tuple[str, int]] = {
    0: ("float32", 4),
    1: ("float16", 2),
    2: ("int32", 4),
    3: ("uint8", 1),
    4: ("int64", 8),
    6: ("bool", 1),
    7: ("int16", 2),
    9: ("int8", 1),
    10: ("float64", 8),
    12: ("uint64", 8),
    15: ("uint32", 4),
    16: ("uint16", 2),
    18: ("bfloat16", 2),
}
"""TFLite TensorType → (NumPy-style name, bytes per value); the others (strings, complex,
int4, resources) are named by :data:`OTHER_TYPES` and never decoded."""

OTHER_TYPES = {5: "string", 8: "complex64", 11: "complex128", 13: "resource", 14: "variant"}
OTHER_TYPES[17] = "int4"


@dataclass(frozen=True)
class TfTensor:
    """One tensor of the subgraph: dims as the file holds them (channels-last), the storage
    type, a constant's bytes, and its quantization (scales per channel along ``axis``)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: bytes | None = None  # a constant's value (a weight, a shape, an axis)
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    axis: int = 0
    sparse: bool = False  # a sparse weight (DENSIFY makes it dense at run time)
    variable: bool = False  # state an operator updates (an LSTM's, a stream's)

    @property
    def is_constant(self) -> bool:
        return self.data is not None or self.sparse

    @property
    def quantized(self) -> bool:
        return bool(self.scales)

    def array(self) -> Any:
        """The constant's value as a NumPy array of its dims (little-endian, as stored)."""
        if self.data is None:
            raise ValueError(f"tensor {self.name} holds no constant value")
        numpy_type = {"bool": "bool", "bfloat16": "uint16"}.get(self.dtype, self.dtype)
        values = np.frombuffer(self.data, dtype=np.dtype(numpy_type).newbyteorder("<"))
        return values.reshape(self.shape)

    def float_value(self) -> Any:
        """The constant as float32 for an ONNX float op: a quantized one dequantized per
        channel (``(q - zero_point) × scale`` along its axis), a float16 one widened, a
        sparse one zeros of its dims (its values never change a count)."""
        if self.data is None:
            return np.zeros(self.shape, np.float32)
        values = self.array()
        if self.quantized and values.dtype.kind in "iu":
            shape = [1] * max(values.ndim, 1)
            if len(self.scales) > 1 and values.ndim:
                shape[self.axis] = len(self.scales)
            scales = np.asarray(self.scales, np.float32)
            zeros = np.asarray(self.zero_points or [0], np.float32)
            scales = scales.reshape(shape) if scales.size > 1 else scales
            zeros = zeros.reshape(shape) if zeros.size > 1 else zeros[:1]
            return ((values.astype(np.float32) - zeros) * scales).astype(np.float32)
        return values.astype(np.float32)


@dataclass(frozen=True)
class TfOperator:
    """One operator: its builtin name (``CONV_2D``; ``CUSTOM:Name`` for a custom one), its
    tensors by index (-1 for an optional input left out) and its options by field name."""

    index: int
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    custom_options: bytes = b""


@dataclass(frozen=True)
class TfGraph:
    """The main subgraph of a TFLite file, checked; ``subgraphs`` counts all of them (the
    others are bodies of WHILE, IF and CALL_ONCE operators)."""

    tensors: tuple[TfTensor, ...]
    operators: tuple[TfOperator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    version: int
    description: str
    subgraphs: int


def read_tflite(path: Path) -> TfGraph:
    """The checked main subgraph of the TFLite file ``path``; anything wrong is one line."""
    tflite = require("tflite", str(path))
    if not path.is_file():
        raise UsageError(f"MODEL: no such file: {path}")
    buffer = path.read_bytes()
    if len(buffer) < 8 or buffer[4:8] != b"TFL3":
        raise UsageError(
            f"{path}: not a TensorFlow Lite model (no TFL3 identifier at byte 4): a damaged "
            "file, or another format with a .tflite name"
        )
    try:
        return _read(tflite, buffer, path)
    except UsageError:
        raise
    except (IndexError, ValueError, TypeError, OverflowError, struct.error) as exc:
        # the generated readers index past the end of a damaged file, or decode garbage
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(
            f"{path}: not a readable TensorFlow Lite model ({type(exc).__name__}: {reason}): "
            "a damaged or truncated file"
        ) from None


def _read(tflite: Any, buffer: bytes, path: Path) -> TfGraph:
    model = tflite.Model.GetRootAsModel(buffer, 0)
    if model.SubgraphsLength() < 1:
        raise UsageError(f"{path}: a TensorFlow Lite model with no subgraph")
    graph = model.Subgraphs(0)
    codes = [_op_name(tflite, model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    buffers = model.BuffersLength()
    tensors = tuple(
        _tensor(model, graph.Tensors(i), i, buffers, buffer, path)
        for i in range(graph.TensorsLength())
    )
    count = len(tensors)
    operators = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = op.OpcodeIndex()
        if not 0 <= code < len(codes):
            raise UsageError(f"{path}: operator {i} names operator code {code}, not in the file")
        inputs = _indices(op.InputsAsNumpy() if op.InputsLength() else [], count, path, i)
        outputs = _indices(op.OutputsAsNumpy() if op.OutputsLength() else [], count, path, i)
        custom = bytes(op.CustomOptionsAsNumpy()) if op.CustomOptionsLength() else b""
        operators.append(TfOperator(i, codes[code], inputs, outputs, _options(tflite, op), custom))
    inputs = _indices(graph.InputsAsNumpy() if graph.InputsLength() else [], count, path, -1)
    outputs = _indices(graph.OutputsAsNumpy() if graph.OutputsLength() else [], count, path, -1)
    result = TfGraph(
        tensors,
        tuple(operators),
        inputs,
        outputs,
        model.Version(),
        _text(model.Description()),
        model.SubgraphsLength(),
    )
    _check_order(result, path)
    return result


def _op_name(tflite: Any, code: Any) -> str:
    """An operator code's builtin name; since schema v3a the code lives in ``BuiltinCode``
    and the old byte field holds at most 127 (PLACEHOLDER_FOR_GREATER_OP_CODES)."""
    number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    names = _enum("BuiltinOperator")
    name = names.get(number, f"BUILTIN_{number}")
    if name == "CUSTOM":
        return f"CUSTOM:{_text(code.CustomCode()) or '?'}"
    return name


@cache
def _enum(module: str) -> dict[int, str]:
    """The generated enum ``tflite.<module>.<module>`` as {value: name}, read once."""
    cls = getattr(import_module(f"tflite.{module}"), module)
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _tensor(model: Any, tensor: Any, index: int, buffers: int, data: bytes, path: Path) -> TfTensor:
    name = _text(tensor.Name()) or f"tensor_{index}"
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    if any(d < 0 for d in shape):
        raise UsageError(f"{path}: tensor {name!r} has a negative dim {shape}")
    code = tensor.Type()
    dtype, size = TYPES.get(code, (OTHER_TYPES.get(code, f"type {code}"), 0))
    value = None
    number = tensor.Buffer()
    if not 0 <= number < max(buffers, 1):
        raise UsageError(f"{path}: tensor {name!r} names buffer {number}, not in the file")
    if number > 0:  # buffer 0 is the empty sentinel every computed tensor names
        stored = model.Buffers(number)
        offset, length = stored.Offset(), stored.Size()
        if offset > 1:  # a model over 2 GB keeps its buffers after the flatbuffer
            if offset + length > len(data):
                raise UsageError(f"{path}: tensor {name!r}'s data runs past the end of the file")
            value = data[offset : offset + length]
        elif stored.DataLength():
            value = stored.DataAsNumpy().tobytes()
    sparse = tensor.Sparsity() is not None
    if sparse:  # the stored values are the nonzeros only: a weight whose dims count
        value = None
    if value is not None and size and len(value) != prod(shape) * size:
        raise UsageError(
            f"{path}: tensor {name!r} holds {len(value):,} bytes where its dims {shape} "
            f"as {dtype} need {prod(shape) * size:,}"
        )
    quant = tensor.Quantization()
    scales: tuple[float, ...] = ()
    zeros: tuple[int, ...] = ()
    axis = 0
    if quant is not None and quant.ScaleLength():
        scales = tuple(float(s) for s in quant.ScaleAsNumpy())
        zeros = tuple(int(z) for z in quant.ZeroPointAsNumpy()) if quant.ZeroPointLength() else ()
        axis = quant.QuantizedDimension()
    return TfTensor(
        index,
        name,
        shape,
        dtype,
        value,
        scales,
        zeros,
        axis,
        sparse=sparse,
        variable=bool(tensor.IsVariable()),
    )


def _indices(values: Any, count: int, path: Path, operator: int) -> tuple[int, ...]:
    result = tuple(int(v) for v in values)
    for v in result:
        if not -1 <= v < count:
            where = f"operator {operator}" if operator >= 0 else "the subgraph's inputs/outputs"
            raise UsageError(f"{path}: {where} names tensor {v}; the file has {count}")
    return result


def _options(tflite: Any, op: Any) -> dict[str, Any]:
    """An operator's builtin options as ``{field: value}``, read through the generated
    table class the union type names (``Conv2DOptions`` → StrideW, Padding, …)."""
    kind = op.BuiltinOptionsType()
    table = op.BuiltinOptions()
    if not kind or table is None:
        return {}
    name = _enum("BuiltinOptions").get(kind)
    if name is None:
        return {}
    cls, fields = _option_fields(name)
    options = cls()
    options.Init(table.Bytes, table.Pos)
    values: dict[str, Any] = {}
    for attribute, vector in fields:
        method = getattr(options, attribute)
        if vector:  # a vector field (ReshapeOptions.NewShape)
            length = getattr(options, attribute + "Length")()
            values[attribute] = tuple(method(j) for j in range(length))
        else:
            values[attribute] = method()
    return values


@cache
def _option_fields(name: str) -> tuple[type, tuple[tuple[str, bool], ...]]:
    """The generated options class ``name`` and its fields' getters, each marked when it
    reads a vector: found once per class, not once per operator."""
    cls = getattr(import_module(f"tflite.{name}"), name)
    members = set(dir(cls))
    fields = []
    for attribute in sorted(members):
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", attribute) or attribute.startswith("GetRoot"):
            continue
        if attribute.endswith(("Length", "IsNone", "AsNumpy")) or attribute == "Init":
            continue
        vector = attribute + "AsNumpy" in members
        if vector or getattr(cls, attribute).__code__.co_argcount == 1:
            fields.append((attribute, vector))
    return cls, tuple(fields)


def _check_order(graph: TfGraph, path: Path) -> None:
    """Each tensor written once, and read after it is written (or a graph input, a constant,
    a variable)."""
    written: dict[int, int] = {}
    ready = set(graph.inputs) | {t.index for t in graph.tensors if t.is_constant or t.variable}
    for op in graph.operators:
        for t in op.inputs:
            if t >= 0 and t not in ready and t not in written:
                later = any(t in other.outputs for other in graph.operators[op.index :])
                if later:
                    raise UsageError(
                        f"{path}: operator {op.index} ({op.op}) reads tensor "
                        f"{graph.tensors[t].name!r} before the operator that writes it: the "
                        "operators are not in execution order"
                    )
        for t in op.outputs:
            if t in written:
                raise UsageError(
                    f"{path}: tensor {graph.tensors[t].name!r} is written twice (operators "
                    f"{written[t]} and {op.index})"
                )
            if t >= 0:
                written[t] = op.index
