"""A naive, independent count of a TensorFlow Lite file's MACs and parameters, from the
dims the file itself records for every tensor. Imports nothing from sepconv (it is the
reference sepconv's TFLite reader is held to); reads the file with the ``tflite`` package.

MACs, summed over the main subgraph's operators:

=================================  ==========================================================
operator                           MACs
=================================  ==========================================================
CONV_2D                            ``prod(output) · kh · kw · filter_in`` (filter
                                   ``(out, kh, kw, in / groups)``)
DEPTHWISE_CONV_2D                  ``prod(output) · kh · kw``
FULLY_CONNECTED                    ``prod(output) · in`` (filter ``(units, in)``)
TRANSPOSE_CONV,                    ``prod(input) · kh · kw · out`` (each input value meets
Convolution2DTransposeBias         every filter tap of every output channel)
BATCH_MATMUL                       ``prod(output) · K``, K the contracted dim
=================================  ==========================================================

Parameters: the elements of the filters and biases of those operators, of PRELU's slopes
and of the stored operands of ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM and SQUARED_DIFFERENCE
(a batch-norm left unfolded, a scale; not a scalar, a constant of a formula); a tensor
widened by DEQUANTIZE or made dense by DENSIFY counts as the stored one; a tensor several
operators read counts for each (as sepconv's ONNX convention counts a shared initializer).
Nothing else has MACs or parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from pathlib import Path


@dataclass(frozen=True)
class NaiveTfliteCount:
    macs: int
    params: int
    operators: dict[str, int]


def count(path: Path) -> NaiveTfliteCount:
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    def shape(index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in graph.Tensors(index).ShapeAsNumpy())

    macs = params = 0
    kinds: dict[str, int] = {}
    widened: dict[int, int] = {}  # DEQUANTIZE / DENSIFY output → the stored tensor
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        if name == "CUSTOM":
            name = code.CustomCode().decode()
        kinds[name] = kinds.get(name, 0) + 1
        ins = [int(v) for v in op.InputsAsNumpy()]
        if name in ("DEQUANTIZE", "DENSIFY") and _constant(model, graph, ins[0], widened):
            widened[int(op.OutputsAsNumpy()[0])] = ins[0]
        out = shape(int(op.OutputsAsNumpy()[0]))
        weights: list[int] = []
        if name == "CONV_2D":
            f = shape(ins[1])
            macs += prod(out) * f[1] * f[2] * f[3]
            weights = ins[1:3]
        elif name == "DEPTHWISE_CONV_2D":
            f = shape(ins[1])
            macs += prod(out) * f[1] * f[2]
            weights = ins[1:3]
        elif name == "FULLY_CONNECTED":
            macs += prod(out) * shape(ins[1])[1]
            weights = ins[1:3]
        elif name == "TRANSPOSE_CONV":
            f = shape(ins[1])
            macs += prod(shape(ins[2])) * f[0] * f[1] * f[2]
            weights = [ins[1], *ins[3:4]]
        elif name == "Convolution2DTransposeBias":
            f = shape(ins[1])
            macs += prod(shape(ins[0])) * f[0] * f[1] * f[2]
            weights = ins[1:3]
        elif name == "BATCH_MATMUL":
            a = shape(ins[0])
            adj_x = _option(op, "BatchMatMulOptions", "AdjX")
            macs += prod(out) * (a[-2] if adj_x else a[-1])
        elif name == "PRELU":
            weights = ins[1:2]
        elif name in ELEMENTWISE:
            # a scalar is a constant of the formula (hard-sigmoid's + 3 and ÷ 6), not a
            # parameter
            weights = [w for w in ins if _constant(model, graph, w, widened) and prod(shape(w)) > 1]
        # per operator that reads it: TF's converter stores equal constants once (the zero
        # biases of an untrained model), a trained model's are each their own
        params += sum(prod(shape(w)) for w in weights if w >= 0)
    return NaiveTfliteCount(macs, params, kinds)


ELEMENTWISE = {"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"}


def _constant(model: object, graph: object, index: int, widened: dict[int, int]) -> bool:
    """Whether tensor ``index`` is stored in the file (a buffer of its own, or sparse), or
    a stored tensor widened."""
    if index < 0:
        return False
    if index in widened:
        return True
    tensor = graph.Tensors(index)  # type: ignore[attr-defined]
    if tensor.Sparsity() is not None:
        return True
    number = tensor.Buffer()
    return bool(number) and model.Buffers(number).DataLength() > 0  # type: ignore[attr-defined]


def _option(op: object, table: str, field: str) -> object:
    import importlib

    options = op.BuiltinOptions()  # type: ignore[attr-defined]
    cls = getattr(importlib.import_module(f"tflite.{table}"), table)
    instance = cls()
    instance.Init(options.Bytes, options.Pos)
    return getattr(instance, field)()
