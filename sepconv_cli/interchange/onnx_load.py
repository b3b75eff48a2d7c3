"""Reading an ONNX file: the graph without its weights, constant values on demand, and
onnx's own shape inference for the cross-check.

The weights are never loaded: counting needs their shapes, which the graph records beside
each initializer even when its data lives in external files. So a model over 2 GB (always
stored with external data, protobuf's own limit) loads in the memory of its graph alone, and
onnx's shape inference runs on that small proto. A constant's value (a Reshape's target
shape, a Pad's pads) is read when a shape needs it, from the external file if it is there.
"""

from __future__ import annotations

from math import prod
from pathlib import Path
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.optional import require_onnx

Shape = tuple[int, ...]


def load_graph(path: Path) -> Any:
    """The ``ModelProto`` of ``path`` without external data; a bad file is one line."""
    onnx = require_onnx(str(path))
    if not path.is_file():
        raise UsageError(f"MODEL: no such file: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: not a readable ONNX model ({reason})") from None
    if not model.graph.node:
        raise UsageError(f"{path}: not a readable ONNX model (the graph has no nodes)")
    return model


def tensor_array(tensor: Any, base_dir: Path) -> Any:
    """The value of an initializer or Constant tensor as a NumPy array, reading external
    data (relative to the model's folder) when the tensor keeps it outside the file."""
    onnx = require_onnx()
    external = onnx.external_data_helper
    if external.uses_external_data(tensor):
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        external.load_external_data_for_tensor(copy, str(base_dir))
        tensor = copy
    return onnx.numpy_helper.to_array(tensor)


def pinned_copy(model: Any, inputs: dict[str, Shape], in_place: bool = False) -> Any:
    """A copy of ``model`` (or ``model`` itself, ``in_place``) whose graph inputs have the
    static ``inputs`` shapes (symbolic dims replaced), for onnx's shape inference."""
    onnx = require_onnx()
    if in_place:
        copy = model
    else:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
    for value in copy.graph.input:
        shape = inputs.get(value.name)
        if shape is None or not value.type.HasField("tensor_type"):
            continue
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for size in shape:
            dims.add().dim_value = size
    return copy


FOLD_LIMIT = 4096
"""Largest constant (in elements) whose value is read for the shape arithmetic: shape
tensors and small constants, never weights. Initializers up to it travel into the copy
shape inference reads (its data propagation may need a Reshape's target); larger ones, and
larger ``Constant`` values, only as typed inputs, and the walk reads only their dims."""


def _inference_copy(model: Any, inputs: dict[str, Shape]) -> Any:
    """A copy of ``model`` for shape inference, pinned to ``inputs``, that leaves the weights
    out: each large initializer, and each large ``Constant`` node's value (paddle2onnx keeps
    weights there), becomes a graph input of its type and dims, which is all inference reads
    of it. Built field by field, so neither the copy nor the bytes inference serializes hold
    the weights (a 7 MB model's inference took 33 MB more with them)."""
    onnx = require_onnx()
    make_input = onnx.helper.make_tensor_value_info
    copy = onnx.ModelProto()
    copy.ir_version = model.ir_version
    copy.opset_import.extend(model.opset_import)
    copy.functions.extend(model.functions)
    graph, target = model.graph, copy.graph
    target.name = graph.name
    target.input.extend(graph.input)
    target.output.extend(graph.output)
    target.value_info.extend(graph.value_info)
    declared = {value.name for value in graph.input}
    for tensor in graph.initializer:
        if prod(tensor.dims) <= FOLD_LIMIT:
            target.initializer.append(tensor)
        elif tensor.name not in declared:
            target.input.append(make_input(tensor.name, tensor.data_type, tensor.dims))
    for node in graph.node:
        value = constant_tensor(node)
        if value is not None and prod(value.dims) > FOLD_LIMIT:
            target.input.append(make_input(node.output[0], value.data_type, value.dims))
        else:
            target.node.append(node)
    return pinned_copy(copy, inputs, in_place=True)


def constant_tensor(node: Any) -> Any | None:
    """The tensor a ``Constant`` node holds as its ``value`` (as exporters store weights
    there), else None (another node, or a scalar or list form)."""
    if node.op_type != "Constant" or len(node.attribute) != 1:
        return None
    attribute = node.attribute[0]
    return attribute.t if attribute.name == "value" else None


def onnx_inferred_shapes(model: Any, inputs: dict[str, Shape]) -> tuple[dict[str, Shape], str]:
    """Static output shapes that ``onnx.shape_inference`` (strict, with data propagation)
    finds, by tensor name, and "" — or, where strict inference fails, what its lenient pass
    finds (every node it has a rule for) and the reason strict failed; ``{}`` and the reason
    when neither runs."""
    onnx = require_onnx()
    pinned = _inference_copy(model, inputs)
    failure = ""
    try:
        inferred = onnx.shape_inference.infer_shapes(
            pinned, check_type=False, strict_mode=True, data_prop=True
        )
    except Exception as exc:  # InferenceError, ValidationError: try it lenient
        reason = str(exc).strip().splitlines()
        failure = reason[0] if reason else type(exc).__name__
        try:  # without strict mode it infers what it can and skips the node it can't
            inferred = onnx.shape_inference.infer_shapes(
                pinned, check_type=False, strict_mode=False, data_prop=True
            )
        except Exception:
            return {}, failure
    shapes: dict[str, Shape] = {}
    for value in (*inferred.graph.value_info, *inferred.graph.output):
        if not value.type.HasField("tensor_type"):
            continue
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims = tensor_type.shape.dim
        if all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    return shapes, failure


def value_dims(value: Any) -> tuple[int | str | None, ...] | None:
    """A graph input's dims as written: an int, a symbolic name, or None (unknown); None
    when the input has no shape at all."""
    if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
        return None
    out: list[int | str | None] = []
    for d in value.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return tuple(out)
