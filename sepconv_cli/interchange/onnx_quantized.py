"""A quantized ONNX graph read as the float model it quantizes: the same MACs, the same
parameters, on the number format it stores (issue 24).

ONNX Runtime's quantizer writes three kinds of graph, and each becomes the float graph of
the same operations before the walk:

* **QDQ** (``QuantizeLinear`` → ``DequantizeLinear`` → ``Conv``): a ``DequantizeLinear`` of a
  stored tensor is that weight, dequantized (per channel along its axis); a
  ``QuantizeLinear``/``DequantizeLinear`` pair around an activation is the activation.
* **QOperator** (``QLinearConv``, ``QLinearMatMul``, ``QGemm``, ``QLinearAdd``, ``QLinearMul``,
  ``QLinearConcat``, ``QLinearGlobalAveragePool``, ``QLinearAveragePool``, ``QLinearSigmoid``,
  ``QLinearLeakyRelu``, ``QLinearSoftmax``): the float operator on the same operands, the
  scales and zero points left out.
* **dynamic** (``DynamicQuantizeLinear`` → ``ConvInteger``/``MatMulInteger`` → ``Cast`` →
  ``Mul`` by the scales): the float ``Conv``/``MatMul``; the scales' arithmetic, which the
  float model does not do, left out.

The compute format is stated (``int8 × int8 → int32``) and a static graph's bytes counted at
one byte a value; an operator that stays quantized without a rule here is named by the walk
as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sepconv_cli.interchange.onnx_load import tensor_array
from sepconv_cli.interchange.optional import require_onnx

QOPERATORS: dict[str, tuple[str, tuple[int, ...]]] = {
    # op → (float op, positions of the operands it keeps)
    "QLinearConv": ("Conv", (0, 3, 8)),
    "QLinearMatMul": ("MatMul", (0, 3)),
    "QGemm": ("Gemm", (0, 3, 6)),
    "QLinearAdd": ("Add", (0, 3)),
    "QLinearMul": ("Mul", (0, 3)),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", (0,)),
    "QLinearAveragePool": ("AveragePool", (0,)),
    "QLinearSigmoid": ("Sigmoid", (0,)),
    "QLinearLeakyRelu": ("LeakyRelu", (0,)),
    "QLinearSoftmax": ("Softmax", (0,)),
    "ConvInteger": ("Conv", (0, 1)),
    "MatMulInteger": ("MatMul", (0, 1)),
}
QUANT_ONLY_ATTRIBUTES = {"channels_last", "opset"}  # QOperator's own, not the float op's
# the arithmetic a dynamic graph does on scales (and to round a value to integers): left out
# where it reads only scales, zero points and stored constants
SCALE_ARITHMETIC = ("Mul", "Div", "Cast", "Reshape", "Unsqueeze", "Floor", "Round", "Clip")


@dataclass
class Dequantized:
    """What the rewrite found: the kind of quantization, for the report."""

    kinds: set[str] = field(default_factory=set)
    stored: str = "int8"  # the weights' storage type
    activations: str = ""  # an activation's, from its zero point (a static graph's)

    @property
    def static(self) -> bool:
        return bool(self.kinds & {"QDQ", "QOperator"})

    def describe(self) -> str:
        """``quantized (QOperator): uint8 × int8 → int32``: the format and the product's
        operand types (activation × weight → accumulator)."""
        if self.static:
            kind = "QOperator" if "QOperator" in self.kinds else "QDQ"
            return f"quantized ({kind}): {self.activations or self.stored} × {self.stored} → int32"
        return "quantized (dynamic): uint8 × int8 → int32, activations quantized at run time"


def dequantize(proto: Any, path: Path) -> Dequantized | None:
    """Rewrite ``proto`` in place as its float graph; None (and no change) when nothing in
    it is quantized."""
    graph = proto.graph
    ops = {n.op_type for n in graph.node}
    quantized_ops = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
    if not ops & (quantized_ops | {"DynamicQuantizeLSTM", "QLinearConcat"} | set(QOPERATORS)):
        return None
    onnx = require_onnx()
    found = Dequantized()
    stored = {t.name: t for t in graph.initializer}
    constants = {
        n.output[0]: n.attribute[0].t for n in graph.node if n.op_type == "Constant" and n.attribute
    }
    rename: dict[str, str] = {}
    scales: set[str] = set()  # tensors that only carry scales or zero points
    integers: set[str] = set()  # outputs of ConvInteger and MatMulInteger
    kept: list[Any] = []
    new_weights: list[Any] = []

    def source(name: str) -> str:
        while name in rename:
            name = rename[name]
        return name

    def weight_of(name: str) -> Any | None:
        tensor = stored.get(name) if name in stored else constants.get(name)
        return tensor_array(tensor, path.parent) if tensor is not None else None

    def float_weight(name: str, node: Any, scale_at: int, zero_at: int, axis: int) -> str:
        """A stored integer operand as a float initializer of its dims (dequantized when its
        scale is stored too); a computed one as it is."""
        values = weight_of(name)
        if values is None:
            return source(name)
        found.stored = "uint8" if values.dtype == np.uint8 else "int8"
        scale = _operand(node, scale_at, weight_of)
        zero = _operand(node, zero_at, weight_of)
        real = _dequantized(values, scale, zero, axis)
        made = f"{name}__float"
        new_weights.append(onnx.numpy_helper.from_array(real, made))
        return made

    for node in graph.node:
        op = node.op_type
        inputs = list(node.input)
        if op == "DequantizeLinear":
            found.kinds.add("QDQ")
            axis = _attribute(node, "axis", 1)
            if weight_of(inputs[0]) is not None:
                rename[node.output[0]] = float_weight(inputs[0], node, 1, 2, axis)
            else:
                rename[node.output[0]] = source(inputs[0])
            continue
        if op == "QuantizeLinear":
            zero = _operand(node, 2, weight_of)
            if zero is not None and not found.activations:
                found.activations = "uint8" if zero.dtype == np.uint8 else "int8"
            if weight_of(inputs[0]) is None:
                rename[node.output[0]] = source(inputs[0])
                continue
        if op == "DynamicQuantizeLinear":
            found.kinds.add("dynamic")
            rename[node.output[0]] = source(inputs[0])
            scales.update(node.output[1:])
            continue
        if op in QOPERATORS:
            found.kinds.add("dynamic" if op.endswith("Integer") else "QOperator")
            kept.append(_float_node(onnx, node, inputs, source, float_weight))
            if op.endswith("Integer"):
                integers.update(node.output)  # int32 accumulators, cast to float next
            continue
        if op == "DynamicQuantizeLSTM":  # com.microsoft: W [dirs, I, 4H], R [dirs, H, 4H]
            found.kinds.add("dynamic")
            kept.append(_float_lstm(onnx, node, inputs, source, weight_of, new_weights))
            continue
        if op == "QLinearConcat":
            found.kinds.add("QOperator")
            operands = [source(inputs[i]) for i in range(2, len(inputs), 3)]
            kept.append(_made(onnx, node, "Concat", operands))
            continue
        if op == "Cast" and source(inputs[0]) in integers:
            rename[node.output[0]] = source(inputs[0])
            continue
        if op in SCALE_ARITHMETIC and inputs:
            reads = [source(i) for i in inputs]
            if op == "Div" and len(reads) == 2 and reads[1] in scales:
                # a value quantized at run time (an old quantizer's bias: bias / scale,
                # floored, cast): the value itself
                rename[node.output[0]] = reads[0]
                continue
            if any(r in scales for r in reads) and all(
                r in scales or r in stored or r in constants for r in reads
            ):
                scales.update(node.output)  # the product of the scales: no float work
                continue
            if op in ("Mul", "Div") and len(reads) == 2 and any(r in scales for r in reads):
                data = reads[0] if reads[1] in scales else reads[1]
                rename[node.output[0]] = data  # the dequantizing multiply
                continue
        node.input[:] = [source(i) if i else i for i in inputs]
        kept.append(node)
    if not found.kinds:
        return None
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(new_weights)
    for output in graph.output:
        if source(output.name) != output.name:
            graph.node.append(
                onnx.helper.make_node("Identity", [source(output.name)], [output.name])
            )
        if output.type.tensor_type.elem_type in (2, 3, 6):  # uint8, int8, int32: now float
            output.type.tensor_type.elem_type = 1
    for value in graph.input:
        if value.type.tensor_type.elem_type in (2, 3):
            value.type.tensor_type.elem_type = 1  # a quantized input read as the real it holds
    keep_info = [v for v in graph.value_info if v.type.tensor_type.elem_type not in (2, 3, 6)]
    del graph.value_info[:]
    graph.value_info.extend(keep_info)
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:
        graph.initializer.remove(tensor)
    return found


def _float_node(onnx: Any, node: Any, inputs: list[str], source: Any, float_weight: Any) -> Any:
    """The float operator of a QOperator or integer node: its kept operands, a stored
    integer weight dequantized, its own attributes but the quantizer's."""
    kind, positions = QOPERATORS[node.op_type]
    operands = []
    for position in positions:
        if position >= len(inputs) or not inputs[position]:
            continue
        name = inputs[position]
        if node.op_type in ("QLinearConv", "QLinearMatMul", "QGemm") and position in (3, 8, 6):
            scale_at, zero_at = (4, 5) if position == 3 else (-1, -1)
            axis = 0 if node.op_type == "QLinearConv" else 1
            operands.append(float_weight(name, node, scale_at, zero_at, axis))
        elif node.op_type.endswith("Integer") and position == 1:
            operands.append(
                float_weight(name, node, -1, 3, 0 if node.op_type == "ConvInteger" else 1)
            )
        else:
            operands.append(source(name))
    return _made(onnx, node, kind, operands)


def _float_lstm(
    onnx: Any, node: Any, inputs: list[str], source: Any, weight_of: Any, made: list[Any]
) -> Any:
    """ONNX's ``LSTM`` of a ``DynamicQuantizeLSTM``: its int8 weights (``[dirs, I, 4H]`` and
    ``[dirs, H, 4H]``, scaled per direction) dequantized and laid out as ONNX's
    ``[dirs, 4H, I]``; the other inputs (B, sequence_lens, initial_h, initial_c, P) kept."""
    operands = [source(inputs[0]) if inputs else ""]
    for position, scale_at, zero_at in ((1, 8, 9), (2, 10, 11)):
        name = inputs[position] if position < len(inputs) else ""
        values = weight_of(name) if name else None
        if values is None:
            operands.append(source(name))
            continue
        scale = _operand(node, scale_at, weight_of)
        zero = _operand(node, zero_at, weight_of)
        real = _dequantized(values, scale, zero, 0).transpose(0, 2, 1)
        made.append(onnx.numpy_helper.from_array(np.ascontiguousarray(real), f"{name}__float"))
        operands.append(f"{name}__float")
    operands += [source(i) if i else "" for i in inputs[3:8]]
    while operands and not operands[-1]:
        operands.pop()
    lstm = onnx.helper.make_node("LSTM", operands, list(node.output), name=node.name)
    lstm.attribute.extend(node.attribute)
    return lstm


def _made(onnx: Any, node: Any, kind: str, operands: list[str]) -> Any:
    made = onnx.helper.make_node(kind, operands, list(node.output), name=node.name)
    made.attribute.extend(a for a in node.attribute if a.name not in QUANT_ONLY_ATTRIBUTES)
    return made


def _operand(node: Any, position: int, weight_of: Any) -> Any:
    if position < 0 or position >= len(node.input) or not node.input[position]:
        return None
    return weight_of(node.input[position])


def _dequantized(values: Any, scale: Any, zero: Any, axis: int) -> Any:
    """``(q - zero) × scale``, per channel along ``axis`` when the scale is a vector; the
    integers as floats when no scale is stored (a dynamic graph's weight)."""
    real = values.astype(np.float32)
    for operand, apply in ((zero, np.subtract), (scale, np.multiply)):
        if operand is None:
            continue
        operand = np.asarray(operand, np.float32)
        if operand.size == 1:
            real = apply(real, operand.reshape(()))
        elif real.ndim and real.shape[axis % real.ndim] == operand.size:
            shape = [1] * real.ndim
            shape[axis % real.ndim] = operand.size
            real = apply(real, operand.reshape(shape))
        # else: a scale that does not fit its axis; the values never change a count
    return np.asarray(real, np.float32)


def _attribute(node: Any, name: str, default: int) -> int:
    for attribute in node.attribute:
        if attribute.name == name:
            return int(attribute.i)
    return default
