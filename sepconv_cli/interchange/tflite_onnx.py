"""A TensorFlow Lite subgraph → an ONNX graph of the same operations, for the ONNX reader.

TFLite keeps activations channels-last; ONNX's Conv and pools read channels-first. So every
rank-4 tensor an operator computes is held NCHW in the translation (a Transpose after the
model's input, one before each operator that needs TFLite's own layout, such as a Reshape),
and each operator becomes the ONNX nodes of the same arithmetic on the same shapes:

* CONV_2D, DEPTHWISE_CONV_2D (its depth multiplier as the output channels per group),
  TRANSPOSE_CONV and FULLY_CONNECTED keep their weights' dims, bias and padding (SAME as the
  explicit pads TFLite computes: the extra one after); a fused activation is the activation
  node after them, counted as the op's activation;
* a weight stored quantized or float16 and widened by a DEQUANTIZE (or made dense by a
  DENSIFY) is a float weight of the same dims: the arithmetic is the float model's;
* QUANTIZE, DEQUANTIZE and CAST of an activation change the number format only: free;
* an operator sepconv has no rule for becomes a node of domain ``tflite`` with the file's
  own output shapes declared, so the reader names it as not counted and goes on.

Names: each node is named after the layer of its output tensor (TF's converter names a
fused tensor ``…/Relu6;…/BatchNorm;…/Conv2D``: the op's own layer is the last one), the
scope every name shares left out.
"""

from __future__ import annotations

import re
from typing import Any

from sepconv_cli.interchange.optional import require_onnx
from sepconv_cli.interchange.tflite_emit import Emitter
from sepconv_cli.interchange.tflite_file import TfGraph
from sepconv_cli.interchange.tflite_ops import RULES

# the elementwise, reduction and shape rules register themselves in RULES when imported
from sepconv_cli.interchange import tflite_ops_shape, tflite_ops_tensor  # noqa: F401  # isort: skip

OPSET = 20  # Gelu (20), HardSwish (14), ReduceMean's axes as an input (18)


def translate(graph: TfGraph, name: str, where: str = "") -> tuple[Any, list[str]]:
    """The ONNX ``ModelProto`` of ``graph``'s operators, and notes for the report (weights
    made dense from a sparse format, operators left as named nodes)."""
    onnx = require_onnx(name)
    emit = Emitter(onnx, graph, _layer_names(graph), where or name)
    for index in graph.inputs:
        emit.graph_input(index)
    for op in graph.operators:
        rule = RULES.get(op.op)
        try:
            if rule is None or not rule(emit, op):
                emit.opaque(op)
        except (ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
            # operands the file's own checks let through but no operator can have (a
            # missing input, a string where a shape is, a filter of another rank): a
            # damaged file, one line naming the operator, never an internal error
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise emit.fault(
                f"operator {op.index} ({op.op}, {emit.layer(op)}) cannot be read: {reason}"
            ) from None
    for index in graph.outputs:
        emit.graph_output(index)
    if emit.sparse:
        emit.notes.append(
            f"{len(emit.sparse)} sparse weight(s) (made dense by DENSIFY at run time) counted "
            "at their dense dims, as the operators reading them compute"
        )
    helper = onnx.helper
    proto_graph = helper.make_graph(
        emit.nodes, name, emit.inputs, emit.outputs, emit.initializers, value_info=emit.infos
    )
    opsets = [helper.make_opsetid("", OPSET)]
    opsets += [helper.make_opsetid(domain, 1) for domain in sorted(emit.domains)]
    model = helper.make_model(proto_graph, opset_imports=opsets, producer_name="sepconv tflite")
    model.ir_version = 9  # what onnx 1.16, the oldest sepconv[onnx] allows, reads
    return model, emit.notes


KERNELS = re.compile(
    r"(convolution|conv2d|depthwise|matmul|biasadd|tensordot|conv2dbackpropinput|conv2d_transpose)"
    r"\d*",
    re.IGNORECASE,
)
"""The last segment of the TF op that does a layer's arithmetic, in a fused tensor's name."""


def _layer_names(graph: TfGraph) -> dict[int, str]:
    """Each operator's row name, from its first output tensor's name: of a fused name
    (``…/conv_dw_1_relu/Relu6;…/conv_dw_1_bn/…;…/conv_dw_1/depthwise``) the part of the op
    doing the arithmetic (else the first), without that op (``…/conv_dw_1``), and without
    the scope every layer name shares (the Keras model's name)."""
    layers: dict[int, str] = {}
    for op in graph.operators:
        if not op.outputs or op.outputs[0] < 0:
            continue
        name = graph.tensors[op.outputs[0]].name
        parts = [p for p in name.split(";") if "/" in p] or [name]
        part = next((p for p in parts if KERNELS.fullmatch(p.rsplit("/", 1)[-1])), parts[0])
        segments = part.split("/")
        layers[op.index] = "/".join(segments[:-1]) if len(segments) > 1 else part
    scoped = [n for n in layers.values() if "/" in n]
    prefix = _shared_scope(scoped) if len(scoped) > 1 else ""
    return {
        index: (text[len(prefix) :] if prefix and text.startswith(prefix) else text)
        or f"{graph.operators[index].op}_{index}"
        for index, text in layers.items()
    }


def _shared_scope(names: list[str]) -> str:
    """The leading ``/``-separated segments every name shares, with its last ``/``."""
    split = [name.split("/")[:-1] for name in names]
    shared: list[str] = []
    for segments in zip(*split, strict=False):
        if len(set(segments)) != 1:
            break
        shared.append(segments[0])
    return "/".join(shared) + "/" if shared else ""


__all__ = ["OPSET", "translate"]
