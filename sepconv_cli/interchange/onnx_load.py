"""Reading an ONNX file: the graph without its weights, constant values on demand, and
onnx's own shape inference for the cross-check.

The weights are never loaded: counting needs their shapes, which the graph records beside
each initializer even when its data lives in external files. So a model over 2 GB (always
stored with external data, protobuf's own limit) loads in the memory of its graph alone, and
onnx's shape inference runs on that small proto. A constant's value (a Reshape's target
shape, a Pad's pads) is read when a shape needs it, from the external file if it is there.

onnx's inference runs in bounded memory (:func:`infer_bounded`): its data propagation writes
each value of a 1-D tensor it reads as a dim of its own, so a file declaring (or computing) a
1-D tensor of 2**40 values would take the machine's memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
        model = _slim_load(onnx, path) or onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(
            f"{path}: not a readable ONNX model ({reason}): a damaged or truncated file, or "
            "not ONNX"
        ) from None
    if not model.graph.node:
        raise UsageError(f"{path}: not a readable ONNX model (the graph has no nodes)")
    return model


def _slim_load(onnx: Any, path: Path) -> Any | None:
    """The model of a protobuf file without its large weights' bytes (:mod:`onnx_wire`: each
    such tensor reads as external data in the file itself); None where the file is of
    another format (by its suffix, as onnx.load decides) or cannot be read so."""
    from sepconv_cli.interchange.onnx_wire import slim_model_bytes

    suffix_format = onnx.serialization.registry.get_format_from_file_extension(path.suffix)
    if suffix_format not in (None, "protobuf"):
        return None
    data = slim_model_bytes(path)
    if data is None:
        return None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # DecodeError: onnx.load reads the file and says what is wrong
        return None
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
"""Largest constant (in elements) whose value is read or computed for the shape arithmetic:
shape tensors and small constants, never weights. Initializers up to it travel into the copy
shape inference reads (its data propagation may need a Reshape's target); larger ones, and
larger ``Constant`` values, only as typed inputs, and the walk reads only their dims. A node
folded on constants is evaluated only when its every output holds at most this many values
(:mod:`onnx_fold_size`): the bound is on what folding makes, not only on what it reads."""


def weightless_copy(
    model: Any, keep_up_to: int | None = FOLD_LIMIT, constants_up_to: int = FOLD_LIMIT
) -> Any:
    """A copy of ``model`` that leaves the weights out, for shape inference and onnx's
    checker: each initializer of more than ``keep_up_to`` elements (every one, with None),
    and each ``Constant`` node whose value has more than ``constants_up_to`` elements
    (paddle2onnx keeps weights there; the checker's copy turns every one into an input),
    becomes a graph input of its type and dims, which is all either reads of it. Built field
    by field, so neither the copy nor the bytes onnx serializes hold the weights (a 7 MB
    model's inference took 33 MB more with them; its check 2.7 MB more with the small
    constants kept)."""
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
    target.sparse_initializer.extend(graph.sparse_initializer)
    declared = {value.name for value in graph.input}
    for tensor in graph.initializer:
        if keep_up_to is not None and prod(tensor.dims) <= keep_up_to:
            target.initializer.append(tensor)
        elif tensor.name not in declared:
            target.input.append(make_input(tensor.name, tensor.data_type, tensor.dims))
    for node in graph.node:
        value = constant_tensor(node)
        if value is not None and prod(value.dims) > constants_up_to:
            target.input.append(make_input(node.output[0], value.data_type, value.dims))
        else:
            target.node.append(node)
    return copy


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
    when neither runs. Inference is bounded as :func:`infer_bounded` says."""
    pinned = pinned_copy(weightless_copy(model), inputs, in_place=True)
    inferred, failure = infer_bounded(pinned)
    if inferred is None:
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


DATA_PROP_LIMIT = 1 << 20
"""Longest 1-D tensor (in values) a graph may declare for onnx's data propagation to run on
it: the propagation writes every value of a 1-D tensor it reads as a dim of its own (about
140 bytes each), even one whose values it does not know."""

INFERENCE_MEMORY = 512 << 20
"""Memory onnx's shape inference may take beyond what the process holds (plus 16 bytes per
byte of the graph), where the platform lets sepconv bound it (Linux)."""


def infer_bounded(model: Any, strict: bool = True) -> tuple[Any | None, str]:
    """``onnx.shape_inference.infer_shapes`` of ``model`` (its strict pass with data
    propagation, then its lenient pass) in bounded memory, and "" or why strict or data
    propagation did not run; ``(None, why)`` when no pass ran.

    onnx's data propagation takes memory in proportion to the length of each 1-D tensor it
    reads (a ``Range`` of a billion values is a billion dims to it): it does not run on a
    graph that declares a 1-D tensor longer than :data:`DATA_PROP_LIMIT`, and every pass
    runs under an address-space limit of :data:`INFERENCE_MEMORY` more than the process
    holds (a length only propagation finds runs it out: it is run again without)."""
    onnx = require_onnx()
    longest = _longest_vector(model.graph)
    data_prop, failure = longest is None, ""
    if longest is not None:
        failure = (
            f"{longest[0]!r} is a 1-D tensor of {longest[1]:,} values: onnx's data "
            "propagation, which takes memory in proportion, did not run"
        )
    budget = INFERENCE_MEMORY + 16 * model.ByteSize()
    for strict_mode in (True, False) if strict else (False,):
        for propagate in (True, False) if data_prop else (False,):
            try:
                with _memory_bound(budget):
                    inferred = onnx.shape_inference.infer_shapes(
                        model, check_type=False, strict_mode=strict_mode, data_prop=propagate
                    )
                return inferred, failure
            except MemoryError:
                if not propagate:
                    return None, failure or f"it took more than {budget >> 20:,} MiB"
                # the dims of a length only the propagation finds: once more without it
                data_prop = False
                failure = failure or (
                    f"its data propagation took more than {budget >> 20:,} MiB and did not run"
                )
            except Exception as exc:  # InferenceError, ValidationError: the lenient pass
                failure = failure or _first_line(exc)
                break
    return None, failure


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _longest_vector(graph: Any) -> tuple[str, int] | None:
    """The first 1-D tensor ``graph`` declares (input, output or value_info) longer than
    :data:`DATA_PROP_LIMIT`, with its length."""
    for value in (*graph.input, *graph.value_info, *graph.output):
        if not value.type.HasField("tensor_type"):
            continue
        dims = value.type.tensor_type.shape.dim
        long = len(dims) == 1 and dims[0].HasField("dim_value")
        if long and dims[0].dim_value > DATA_PROP_LIMIT:
            return value.name, int(dims[0].dim_value)
    return None


@contextmanager
def _memory_bound(extra: int) -> Iterator[None]:
    """Within the block, an address-space limit of ``extra`` bytes more than the process
    maps now (where the platform has one: Linux), so a C++ allocation past it fails with
    ``MemoryError`` instead of taking the machine's memory; the old limit after."""
    limit = _address_space_limit(extra)
    if limit is None:
        yield
        return
    import resource

    old = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def _address_space_limit(extra: int) -> int | None:
    """The soft address-space limit to set (None: none, or the present one is lower)."""
    try:
        import resource

        with open("/proc/self/statm") as statm:  # Linux: the pages mapped now
            mapped = int(statm.read().split()[0]) * resource.getpagesize()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError, IndexError):
        return None  # no /proc (macOS, where the limit is not enforced anyway), no resource
    limit = mapped + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        return None
    return limit


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
