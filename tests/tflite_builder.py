"""A small TensorFlow Lite file writer for the tests: hand-made models of one or a few
operators, and damaged ones. Imports nothing from sepconv (it builds the files sepconv's
reader is held to); uses the ``tflite`` package's generated flatbuffer builders.

    b = TfliteBuilder()
    x = b.tensor("x", (1, 8, 8, 3))
    w = b.tensor("w", (16, 3, 3, 3), data=np.ones((16, 3, 3, 3), np.float32))
    y = b.tensor("y", (1, 8, 8, 16))
    b.op("CONV_2D", [x, w, -1], [y], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1)
    path.write_bytes(b.build(inputs=[x], outputs=[y]))
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TYPES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "int8": 9}


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    buffer: int
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    axis: int = 0


@dataclass
class _Op:
    code: int
    inputs: list[int]
    outputs: list[int]
    options: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    custom: bytes = b""


class TfliteBuilder:
    def __init__(self) -> None:
        self.tensors: list[_Tensor] = []
        self.buffers: list[bytes] = [b""]  # buffer 0: the empty sentinel
        self.codes: list[tuple[str, str]] = []
        self.ops: list[_Op] = []

    def tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: str = "float32",
        data: Any = None,
        scales: tuple[float, ...] = (),
        zero_points: tuple[int, ...] = (),
        axis: int = 0,
        raw: bytes | None = None,
    ) -> int:
        """A tensor; ``data`` (an array) or ``raw`` (bytes as stored) makes it a constant."""
        buffer = 0
        if data is not None or raw is not None:
            self.buffers.append(raw if raw is not None else np.asarray(data).tobytes())
            buffer = len(self.buffers) - 1
        self.tensors.append(_Tensor(name, tuple(shape), dtype, buffer, scales, zero_points, axis))
        return len(self.tensors) - 1

    def weight(self, name: str, array: Any) -> int:
        array = np.asarray(array, np.float32)
        return self.tensor(name, array.shape, data=array)

    def op(
        self,
        name: str,
        inputs: list[int],
        outputs: list[int],
        options: str | None = None,
        custom: bytes = b"",
        **fields: Any,
    ) -> None:
        """An operator: builtin ``name`` (``CUSTOM:Code`` for a custom one) with the options
        table ``options`` (``Conv2DOptions``) holding ``fields`` (``StrideW=2``)."""
        key = ("CUSTOM", name.split(":", 1)[1]) if name.startswith("CUSTOM:") else (name, "")
        if key not in self.codes:
            self.codes.append(key)
        self.ops.append(_Op(self.codes.index(key), inputs, outputs, options, fields, custom))

    def build(self, inputs: list[int], outputs: list[int], version: int = 3) -> bytes:
        import flatbuffers
        import tflite

        b = flatbuffers.Builder(1024)

        def vector(start: Any, values: list[Any], kind: str = "Int32") -> int:
            start(b, len(values))
            for v in reversed(values):
                getattr(b, f"Prepend{kind}")(v)
            return int(b.EndVector())

        buffers = []
        for data in self.buffers:
            data_vec = b.CreateByteVector(data) if data else None
            tflite.BufferStart(b)
            if data_vec is not None:
                tflite.BufferAddData(b, data_vec)
            buffers.append(tflite.BufferEnd(b))
        tensors = []
        for t in self.tensors:
            name = b.CreateString(t.name)
            shape = vector(tflite.TensorStartShapeVector, list(t.shape))
            quant = None
            if t.scales:
                scales = vector(
                    tflite.QuantizationParametersStartScaleVector, list(t.scales), "Float32"
                )
                zeros = vector(
                    tflite.QuantizationParametersStartZeroPointVector,
                    list(t.zero_points or [0] * len(t.scales)),
                    "Int64",
                )
                tflite.QuantizationParametersStart(b)
                tflite.QuantizationParametersAddScale(b, scales)
                tflite.QuantizationParametersAddZeroPoint(b, zeros)
                tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
                quant = tflite.QuantizationParametersEnd(b)
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, shape)
            tflite.TensorAddType(b, TYPES[t.dtype])
            tflite.TensorAddBuffer(b, t.buffer)
            tflite.TensorAddName(b, name)
            if quant is not None:
                tflite.TensorAddQuantization(b, quant)
            tensors.append(tflite.TensorEnd(b))
        builtin = {k: v for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        option_types = {
            k: v for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")
        }
        ops = []
        for op in self.ops:
            table = None
            if op.options:
                module = importlib.import_module(f"tflite.{op.options}")
                getattr(module, f"{op.options}Start")(b)
                for key, value in op.fields.items():
                    getattr(module, f"{op.options}Add{key}")(b, value)
                table = getattr(module, f"{op.options}End")(b)
            custom = b.CreateByteVector(op.custom) if op.custom else None
            ins = vector(tflite.OperatorStartInputsVector, op.inputs)
            outs = vector(tflite.OperatorStartOutputsVector, op.outputs)
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, op.code)
            tflite.OperatorAddInputs(b, ins)
            tflite.OperatorAddOutputs(b, outs)
            if table is not None:
                tflite.OperatorAddBuiltinOptionsType(b, option_types[op.options])
                tflite.OperatorAddBuiltinOptions(b, table)
            if custom is not None:
                tflite.OperatorAddCustomOptions(b, custom)
            ops.append(tflite.OperatorEnd(b))
        codes = []
        for name, custom_code in self.codes:
            text = b.CreateString(custom_code) if custom_code else None
            number = builtin[name]
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(number, 127))
            tflite.OperatorCodeAddBuiltinCode(b, number)
            tflite.OperatorCodeAddVersion(b, 1)
            if text is not None:
                tflite.OperatorCodeAddCustomCode(b, text)
            codes.append(tflite.OperatorCodeEnd(b))

        def tables(start: Any, items: list[int]) -> int:
            start(b, len(items))
            for item in reversed(items):
                b.PrependUOffsetTRelative(item)
            return int(b.EndVector())

        tensor_vec = tables(tflite.SubGraphStartTensorsVector, tensors)
        op_vec = tables(tflite.SubGraphStartOperatorsVector, ops)
        in_vec = vector(tflite.SubGraphStartInputsVector, inputs)
        out_vec = vector(tflite.SubGraphStartOutputsVector, outputs)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensor_vec)
        tflite.SubGraphAddOperators(b, op_vec)
        tflite.SubGraphAddInputs(b, in_vec)
        tflite.SubGraphAddOutputs(b, out_vec)
        graph = tflite.SubGraphEnd(b)
        graphs = tables(tflite.ModelStartSubgraphsVector, [graph])
        code_vec = tables(tflite.ModelStartOperatorCodesVector, codes)
        buffer_vec = tables(tflite.ModelStartBuffersVector, buffers)
        description = b.CreateString("sepconv test")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, version)
        tflite.ModelAddOperatorCodes(b, code_vec)
        tflite.ModelAddSubgraphs(b, graphs)
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, buffer_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())
