"""A one-form ONNX graph quantized to int8 the way ONNX Runtime's own tools quantize a model,
and what ONNX Runtime then runs in int8 and what in float32.

Rules
-----
* Quantization is ``onnxruntime.quantization``'s (:func:`sepconv_cli.interchange.onnx_int8.
  quantize_qdq`: QDQ, weights int8 per channel), with activations uint8 asymmetric per
  tensor (U8S8: the pairing ORT's x86 kernels run; ORT turns an S8S8 graph into it itself
  when a quantize-dequantize pair lets it, and an int8 graph input does not, so S8S8 would
  leave every convolution in float), calibrated on the form's one seeded input: the very
  input NumPy's reference runs on, so each scale is the range that input gives. Weights
  of 7 bits on an x86 CPU without VNNI, whose U8S8 kernels saturate with 8 (:func:`~sepconv_cli.
  interchange.onnx_int8.saturating_u8s8`); the record says so.
* The form takes and gives int8: the ``QuantizeLinear`` of each graph input and the
  ``DequantizeLinear`` of the output are taken out, so a timed call is the layer as it runs
  inside an int8 network (its input already int8, its output left int8), not a float
  layer with a conversion at each end. The input is quantized and the output dequantized
  here, with the scales and zero points the quantizer chose, outside the timed call.
* Channels-last I/O: ONNX is NCHW, and ORT runs int8 convolutions NHWC, putting a
  Transpose before and after every chain of them; inside an int8 network those cancel
  between layers, so a form with them at its ends pays what the network does not (about
  40 % of a 28×28×128 separable form's time). The form's graph therefore reads and writes
  channels-last (NumPy's own layout): a Transpose to NCHW after each input and back after
  the output, which ORT's layout optimizer cancels against its own. A form kept in its
  file's layout (a layer norm's, :func:`layouts.keeps_layout`) is left as it is.
* ``quantized_ops``: the graph's operations whose output the quantizer quantizes (each one
  more rounding on the way to the output): what :func:`base.int8_tolerance` counts.
* What runs in float32: ONNX Runtime fuses ``DequantizeLinear → op → QuantizeLinear`` into
  an int8 kernel (``QLinearConv``, ``QLinearMatMul``, ``QGemm``, ``QLinearAdd`` …) where it
  has one, and otherwise runs the operation in float32 between a dequantize and a
  quantize. The graph ORT actually runs (its optimized model, written to a temporary
  folder and read back) is walked from the inputs, each tensor's element type followed
  (``QuantizeLinear`` and the int8 kernels give int8, ``DequantizeLinear`` gives float, a
  data-movement operation keeps its input's type); every other node that reads a float
  tensor is an operation run in float32, named (``float_ops``), never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sepconv_cli.execution.buffers import Array
from sepconv_cli.interchange.onnx_int8 import quantize_qdq, saturating_u8s8
from sepconv_cli.interchange.optional import require

CONTEXT = "--runtime onnxruntime --dtype int8"

QUANTIZE, DEQUANTIZE = "QuantizeLinear", "DequantizeLinear"
# operations that move or select values without arithmetic: they run on whatever type
# they are given, and an int8 tensor through them stays int8
DATA_MOVEMENT = frozenset(
    {
        "Transpose",
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Identity",
        "Concat",
        "Split",
        "Slice",
        "Gather",
        "MaxPool",
        "Pad",
        "DepthToSpace",
        "SpaceToDepth",
        "Resize",
    }
)


# how the forms are quantized, recorded with every int8 time (RuntimeInfo.quantization)
SCHEME = "QDQ U8S8, per-channel weights, MinMax on the seeded input"
SEVEN_BITS = "7-bit weights (reduce_range: this x86 CPU has no VNNI)"


def scheme() -> str:
    """:data:`SCHEME`, and the 7-bit weights where this CPU needs them
    (:func:`~sepconv_cli.interchange.onnx_int8.saturating_u8s8`)."""
    return f"{SCHEME}, {SEVEN_BITS}" if saturating_u8s8() else SCHEME


@dataclass(frozen=True)
class Quantization:
    """One tensor's affine int8 quantization: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int
    dtype: Any  # np.int8 or np.uint8

    def quantize(self, values: Array) -> Array:
        info = np.iinfo(self.dtype)
        q = np.round(values.astype(np.float64) / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, values: Array) -> Array:
        return ((values.astype(np.float64) - self.zero_point) * self.scale).astype(np.float32)


@dataclass(frozen=True)
class QuantizedForm:
    """A form's int8 graph (serialized), how each of its inputs is quantized and its output
    dequantized, and how many quantized operations lie on the way."""

    model: bytes
    inputs: dict[str, Quantization]
    output: Quantization
    output_name: str
    quantized_ops: int
    weight_bits: int = 8  # 7 where this CPU needs them (saturating_u8s8)


def quantize_form(model: Any, feeds: Mapping[str, Array]) -> QuantizedForm:
    """``model`` (an ONNX ``ModelProto`` of one form, float32 inputs ``feeds`` in its own
    layout, one output) quantized as the rules say, its float I/O turned int8."""
    # uint8 activations: the pairing ORT's x86 int8 kernels run (S8S8 with an int8 graph
    # input would leave every convolution in float32: the rule above)
    reduced = saturating_u8s8()
    quantized = quantize_qdq(_without_output_identity(model), feeds, CONTEXT, "uint8", reduced)
    return replace(_int8_io(quantized), weight_bits=7 if reduced else 8)


def _without_output_identity(model: Any) -> Any:
    """The form's graph names its output with a final ``Identity``; the quantizer leaves an
    Identity unquantized (a dequantize would then feed the output), so the node before it
    writes the output itself."""
    graph = model.graph
    (output,) = graph.output
    last = graph.node[len(graph.node) - 1]
    if last.op_type != "Identity" or list(last.output) != [output.name]:
        return model
    source = last.input[0]
    if source in {value.name for value in graph.input}:
        return model  # the form is its input: nothing computes, the Identity stays
    del graph.node[len(graph.node) - 1]
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == source:
                node.output[i] = output.name
        for i, name in enumerate(node.input):
            if name == source:
                node.input[i] = output.name
    return model


def _int8_io(model: Any) -> QuantizedForm:
    """Take out the QuantizeLinear of every graph input and the DequantizeLinear of the
    output, so the graph reads and writes int8 (the rule above)."""
    onnx = require("onnx", CONTEXT)
    TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper

    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def params(node: Any) -> Quantization:
        scale = float(constants[node.input[1]])
        zero = constants[node.input[2]] if len(node.input) > 2 else np.zeros((), np.uint8)
        return Quantization(scale, int(zero), zero.dtype.type)

    nodes = list(graph.node)
    inputs: dict[str, Quantization] = {}
    new_inputs = []
    drop: set[int] = set()  # indices into nodes
    renamed: dict[str, str] = {}  # a dropped node's output → the graph I/O name it becomes
    for value in graph.input:
        quantizers = [
            i for i, n in enumerate(nodes) if n.op_type == QUANTIZE and n.input[0] == value.name
        ]
        if len(quantizers) != 1:
            raise RuntimeError(f"int8 form: input {value.name!r} is not quantized once")
        node = nodes[quantizers[0]]
        inputs[value.name] = quant = params(node)
        drop.add(quantizers[0])
        renamed[node.output[0]] = value.name
        elem = TensorProto.INT8 if quant.dtype is np.int8 else TensorProto.UINT8
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        new_inputs.append(helper.make_tensor_value_info(value.name, elem, dims))
    (output,) = graph.output
    (at,) = [i for i, n in enumerate(nodes) if output.name in n.output]
    last = nodes[at]
    if last.op_type != DEQUANTIZE:
        raise RuntimeError(f"int8 form: its output comes from {last.op_type}, not a dequantize")
    quant_out = params(last)
    drop.add(at)
    elem = TensorProto.INT8 if quant_out.dtype is np.int8 else TensorProto.UINT8
    dims = [d.dim_value for d in output.type.tensor_type.shape.dim]
    new_output = helper.make_tensor_value_info(output.name, elem, dims)
    renamed[last.input[0]] = output.name
    kept = [n for i, n in enumerate(nodes) if i not in drop]
    for n in kept:  # the graph's I/O keep their names: the binding and the feeds use them
        for i, name in enumerate(n.input):
            n.input[i] = renamed.get(name, name)
        for i, name in enumerate(n.output):
            n.output[i] = renamed.get(name, name)
    quantized_ops = sum(
        1
        for n in kept
        if n.op_type not in (QUANTIZE, DEQUANTIZE)
        and any(c.op_type == QUANTIZE and set(c.input) & set(n.output) for c in kept)
    )
    del graph.node[:]
    graph.node.extend(kept)
    del graph.input[:]
    graph.input.extend(new_inputs)
    del graph.output[:]
    graph.output.append(new_output)
    return QuantizedForm(
        model.SerializeToString(), inputs, quant_out, new_output.name, quantized_ops
    )


def channels_last(form: QuantizedForm) -> QuantizedForm:
    """``form`` reading and writing channels-last ``(N, *spatial, C)`` (the rule above):
    each input and the output of rank 3 or more gets a Transpose at the graph's edge."""
    onnx = require("onnx", CONTEXT)
    helper = onnx.helper

    model = onnx.load_from_string(form.model)
    graph = model.graph
    edges: dict[str, str] = {}
    heads = []
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        if len(dims) < 3:
            continue
        inner = f"{value.name}__nchw"
        edges[value.name] = inner
        to_first = [0, len(dims) - 1, *range(1, len(dims) - 1)]
        heads.append(helper.make_node("Transpose", [value.name], [inner], perm=to_first))
        sizes = [d.dim_value for d in dims]
        for dim, size in zip(dims, [sizes[i] for i in [0, *range(2, len(sizes)), 1]], strict=True):
            dim.dim_value = size
    (output,) = graph.output
    dims = output.type.tensor_type.shape.dim
    tail = []
    if len(dims) >= 3:
        inner = f"{output.name}__nchw"
        tail.append(
            helper.make_node("Transpose", [inner], [output.name], perm=[0, *range(2, len(dims)), 1])
        )
        sizes = [d.dim_value for d in dims]
        for dim, size in zip(dims, [sizes[0], *sizes[2:], sizes[1]], strict=True):
            dim.dim_value = size
        for node in graph.node:
            for i, name in enumerate(node.output):
                if name == output.name:
                    node.output[i] = inner
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = edges.get(name, name)
    nodes = [*heads, *graph.node, *tail]
    del graph.node[:]
    graph.node.extend(nodes)
    return replace(form, model=model.SerializeToString())


def float_operations(optimized: Any) -> tuple[str, ...]:
    """The nodes of the graph ORT runs (its optimized ``ModelProto``) that compute on
    float32 tensors: ``"name (OpType)"`` each, in graph order (the rule above)."""
    is_int8: dict[str, bool] = {}
    for value in optimized.graph.input:
        is_int8[value.name] = value.type.tensor_type.elem_type in (2, 3)  # UINT8, INT8
    for init in optimized.graph.initializer:
        is_int8[init.name] = init.data_type in (2, 3)
    out: list[str] = []
    for node in optimized.graph.node:
        reads = [is_int8.get(name, False) for name in node.input[:1] if name]
        first_int8 = bool(reads and reads[0])
        if node.op_type == QUANTIZE:
            made = True
        elif node.op_type == DEQUANTIZE:
            made = False
        elif node.op_type in DATA_MOVEMENT:
            made = first_int8
        elif node.op_type.startswith("QLinear") or node.op_type in ("QGemm", "QAttention"):
            made = True
        elif node.op_type.endswith("Integer"):  # ConvInteger, MatMulInteger: int32 out
            made = False
        else:
            made = False
            if not first_int8:
                out.append(f"{node.name or node.output[0]} ({node.op_type})")
        for name in node.output:
            is_int8[name] = made
    return tuple(out)
