"""Validation of an ONNX file before anything is counted: a model file is untrusted input
(often downloaded), so every fault that would make a count wrong, negative or a crash is
refused first, in one line naming the node, the attribute or input, and what was expected.

The checks, in order (the first fault found is the message):

1. **Versions**: an IR version or default-domain opset newer than the installed onnx knows
   (its rules for them are unknown, so no shape can be trusted).
2. **Structure** (sepconv's own, for messages that name the fault): each tensor written
   once (SSA), graph inputs named once, every node input made by an earlier node, an
   initializer or a graph input (a cycle, an unsorted graph and a dangling input each
   said as such), every node with an output.
3. **Tensors**: inline data as long as the dims say (a truncated or patched file);
   external data inside the model's folder, present and long enough. (A negative dim is
   refused where a node reads it, naming the node.)
4. **Attributes sepconv reads**: strides, dilations, kernel sizes and groups at least 1,
   pads non-negative and one begin and one end per spatial dim, a known ``auto_pad``, a
   Transpose ``perm`` that is a permutation, a Slice step that is not 0.
5. **onnx.checker** on the graph without its weights (the weights' bytes are checked in
   3): each node's inputs, outputs and attribute types against its operator's schema, for
   every node and subgraph, what sepconv does not read too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from math import prod
from pathlib import Path
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_load import (
    constant_tensor,
    load_graph,
    value_dims,
    weightless_copy,
)
from sepconv_cli.interchange.onnx_shapes import attributes
from sepconv_cli.interchange.optional import require_onnx

WINDOWED = frozenset(
    {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "ConvInteger", "QLinearConv"}
)
"""Operators with a sliding window: kernel, strides, dilations, pads per spatial dim."""

AUTO_PAD = frozenset({"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"})

ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8}
"""Bytes per value of ONNX's fixed-size element types (float, uint8, int8, uint16, int16,
int32, int64, bool, float16, double, uint32, uint64; bfloat16 is 16 and float8s 17-20)."""
ELEMENT_BYTES.update({16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 14: 8, 15: 16})


def validate_model(proto: Any, path: Path) -> None:
    """Refuse (exit 2, one line) the first fault of ``proto`` (read from ``path``)."""
    _versions(proto, path)
    _structure(proto, path)
    _tensors(proto, path)
    nodes = proto.graph.node
    dims = {t.name: tuple(int(d) for d in t.dims) for t in proto.graph.initializer}
    values = {t.name: t for t in proto.graph.initializer}
    for index, node in enumerate(nodes):
        _attributes(node, _where(path, node, index), dims, values)
    _checker(proto, path)


def _where(path: Path, node: Any, index: int) -> str:
    return f"{path}: node {node.name or index} ({node.op_type})"


def _versions(proto: Any, path: Path) -> None:
    onnx = require_onnx()
    known_ir = onnx.IR_VERSION
    known_opset = onnx.defs.onnx_opset_version()
    if proto.ir_version > known_ir:
        raise UsageError(
            f"{path}: IR version {proto.ir_version} is newer than the installed onnx "
            f"{onnx.__version__} reads (up to {known_ir}): upgrade onnx, or the file is damaged"
        )
    for opset in proto.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > known_opset:
            raise UsageError(
                f"{path}: opset {opset.version} is newer than the installed onnx "
                f"{onnx.__version__} knows (up to {known_opset}): upgrade onnx, or the file "
                "is damaged"
            )


def _structure(proto: Any, path: Path) -> None:
    """SSA and execution order, with the fault named (onnx's checker says only that the
    graph is not sorted)."""
    graph = proto.graph
    _text_fields(graph, path)
    seen_inputs: set[str] = set()
    for value in graph.input:
        if value.name in seen_inputs:
            raise UsageError(f"{path}: graph input {value.name!r} is declared twice")
        seen_inputs.add(value.name)
        dims = value_dims(value) or ()
        if any(isinstance(d, int) and d < -1 for d in dims):
            # -1 is an exporter's "unknown" (Paddle2ONNX); any other negative is damage
            raise UsageError(
                f"{path}: graph input {value.name!r} declares a negative dim "
                f"({'x'.join(str(d) for d in dims)})"
            )
    writer: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        if not any(node.output):
            raise UsageError(f"{_where(path, node, index)}: it has no output")
        for output in node.output:
            if not output:
                continue
            if output in writer:
                first = graph.node[writer[output]]
                raise UsageError(
                    f"{_where(path, node, index)}: its output {output!r} is also written by "
                    f"node {first.name or writer[output]} ({first.op_type}); a tensor has one "
                    "writer"
                )
            if output in seen_inputs:
                raise UsageError(
                    f"{_where(path, node, index)}: its output {output!r} is also a graph input"
                )
            writer[output] = index
    available = seen_inputs | {t.name for t in graph.initializer}
    available |= {t.values.name for t in graph.sparse_initializer}
    for index, node in enumerate(graph.node):
        for name in node.input:
            if not name or name in available:
                continue
            if name in writer:
                made = graph.node[writer[name]]
                fault = (
                    "the graph has a cycle"
                    if _in_cycle(graph.node, writer, writer[name])
                    else "the nodes are not in execution order, as ONNX requires"
                )
                raise UsageError(
                    f"{_where(path, node, index)}: reads {name!r} before node "
                    f"{made.name or writer[name]} ({made.op_type}) writes it: {fault}"
                )
            raise UsageError(
                f"{_where(path, node, index)}: its input {name!r} is made by no node, "
                "initializer or graph input"
            )
        available.update(o for o in node.output if o)
    for output in graph.output:
        if output.name not in available:
            raise UsageError(
                f"{path}: graph output {output.name!r} is made by no node, initializer or input"
            )


def _text_fields(graph: Any, path: Path) -> None:
    """Every name is text: protobuf hands an invalid UTF-8 string over as bytes, which no
    rule reads (a damaged or forged file)."""
    for index, node in enumerate(graph.node):
        for field in (node.name, node.op_type, node.domain, *node.input, *node.output):
            if isinstance(field, bytes):
                raise UsageError(
                    f"{path}: node #{index}: {field!r} is not valid UTF-8 text (a damaged file)"
                )
    for value in (*graph.input, *graph.output, *graph.initializer, *graph.value_info):
        if isinstance(value.name, bytes):
            raise UsageError(f"{path}: tensor name {value.name!r} is not valid UTF-8 text")


def _in_cycle(nodes: Sequence[Any], writer: dict[str, int], start: int) -> bool:
    """Whether node ``start`` depends, through the tensors it reads, on its own output."""
    stack, seen = [start], set()
    while stack:
        index = stack.pop()
        for name in nodes[index].input:
            made = writer.get(name)
            if made == start:
                return True
            if made is not None and made not in seen:
                seen.add(made)
                stack.append(made)
    return False


def _tensors(proto: Any, path: Path) -> None:
    """Each initializer's and ``Constant`` node's dims, inline bytes and external data (a
    truncated download, a patched file, data outside the model's folder)."""
    folder = path.resolve().parent
    held = [(f"initializer {t.name!r}", t) for t in proto.graph.initializer]
    for node in proto.graph.node:
        value = constant_tensor(node)
        if value is not None:
            held.append((f"Constant node {node.name or node.output[0]!r}", value))
    for what, tensor in held:
        dims = tuple(int(d) for d in tensor.dims)
        label = f"{path}: {what}"
        if any(d < 0 for d in dims):
            continue  # refused by the walk, naming the node that reads it
        size = ELEMENT_BYTES.get(tensor.data_type)
        need = None if size is None else prod(dims) * size
        if tensor.data_location == 1:  # EXTERNAL
            held_bytes = _external(tensor, label, folder, need)
        elif tensor.HasField("raw_data"):
            # len() reads a copy of the bytes: one tensor's at a time, freed at once
            held_bytes = len(tensor.raw_data)
        else:
            continue
        if need is not None and held_bytes is not None and held_bytes != need:
            raise UsageError(
                f"{label} holds {held_bytes:,} bytes where its dims "
                f"({'x'.join(map(str, dims)) or 'scalar'}) need {need:,}: the file is "
                "damaged (a truncated download?)"
            )


def _external(tensor: Any, label: str, folder: Path, need: int | None) -> int | None:
    """External data: a relative path inside the model's folder to a file long enough; the
    bytes it says it holds (None: as many as the dims need). A large weight the model file
    holds itself reads so too (:mod:`onnx_wire`)."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    if not location:
        raise UsageError(f"{label}: its external data names no file")
    target = (folder / location).resolve()
    if os.path.isabs(location) or not target.is_relative_to(folder):
        raise UsageError(
            f"{label}: its external data {location!r} is outside the model's folder "
            "(refused: a model file may only read files beside it)"
        )
    if not target.is_file():
        raise UsageError(
            f"{label}: its external data file {location!r} is missing (it belongs beside the model)"
        )
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else need
    except ValueError:
        raise UsageError(f"{label}: its external data offset or length is not a number") from None
    if offset < 0 or (length is not None and length < 0):
        raise UsageError(f"{label}: its external data offset or length is negative")
    if length is not None and offset + length > target.stat().st_size:
        raise UsageError(
            f"{label}: its external data ends at byte {offset + length:,} of {location!r}, "
            f"which holds {target.stat().st_size:,}: the file is damaged or truncated"
        )
    return length if "length" in info else None


def _ints(a: dict[str, Any], key: str) -> list[int] | None:
    value = a.get(key)
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        return [int(v) for v in value]
    return None  # a wrong type: onnx's checker names it


def _attributes(
    node: Any, where: str, dims: dict[str, tuple[int, ...]], values: dict[str, Any]
) -> None:
    """The attributes sepconv reads, each in its range (module docstring, 4)."""
    if node.domain not in ("", "ai.onnx"):
        return  # another domain's operator: counted by no rule here, named in the report
    a = attributes(node)
    if node.op_type in WINDOWED:
        _window(node, where, a, dims)
    elif node.op_type == "Transpose":
        perm = _ints(a, "perm")
        if perm is not None and sorted(perm) != list(range(len(perm))):
            raise UsageError(f"{where}: perm {perm} is not a permutation of 0..{len(perm) - 1}")
    elif node.op_type == "Slice" and len(node.input) > 4 and node.input[4] in values:
        steps = _constant(values[node.input[4]])
        if steps is not None and 0 in steps:
            raise UsageError(f"{where}: a Slice step is 0 (steps {steps})")


def _constant(tensor: Any) -> list[int] | None:
    if prod(tensor.dims) > 64 or tensor.data_location == 1:
        return None
    array = require_onnx().numpy_helper.to_array(tensor)
    return [int(v) for v in array.reshape(-1)]


def _window(node: Any, where: str, a: dict[str, Any], dims: dict[str, tuple[int, ...]]) -> None:
    """A sliding window's attributes: sizes ≥ 1, pads ≥ 0, one value per spatial dim."""
    kernel = _ints(a, "kernel_shape")
    rank: int | None = len(kernel) if kernel is not None else None
    weight = dims.get(node.input[1]) if len(node.input) > 1 else None
    if rank is None and node.op_type in ("Conv", "ConvTranspose") and weight:
        rank = len(weight) - 2
    for key, least in (
        ("kernel_shape", 1),
        ("strides", 1),
        ("dilations", 1),
        ("pads", 0),
        ("output_padding", 0),
        ("output_shape", 1),
    ):
        found = _ints(a, key)
        if found is None:
            continue
        if any(v < least for v in found):
            raise UsageError(
                f"{where}: {key} {found} must be {'at least 1' if least else 'non-negative'}"
            )
        if rank is None or key == "output_shape":
            continue
        expected = 2 * rank if key == "pads" else rank
        if len(found) != expected:
            raise UsageError(
                f"{where}: {key} has {len(found)} value(s) for {rank} spatial dim(s); "
                f"expected {expected}"
            )
    group = a.get("group")
    if isinstance(group, int) and group < 1:
        raise UsageError(f"{where}: group {group} must be at least 1")
    pad_mode = a.get("auto_pad")
    if isinstance(pad_mode, bytes):
        pad_mode = pad_mode.decode("utf-8", "replace")
    if isinstance(pad_mode, str) and pad_mode not in AUTO_PAD:
        raise UsageError(f"{where}: auto_pad {pad_mode!r} is none of {', '.join(sorted(AUTO_PAD))}")


def _checker(proto: Any, path: Path) -> None:
    """onnx's checker on a copy of the graph without the weights' bytes (each initializer
    a typed graph input: the checker reads its type, sepconv checked its bytes), and with
    an empty shape on an input or output that declares none (a rank-free tensor, which
    onnx's own exporters write but its checker wants spelled out)."""
    onnx = require_onnx()
    # sepconv checked the weights' bytes (_tensors): the checker reads types and dims only
    copy = weightless_copy(proto, keep_up_to=None, constants_up_to=0)
    for value in (*copy.graph.input, *copy.graph.output, *copy.graph.value_info):
        if value.type.HasField("tensor_type") and not value.type.tensor_type.HasField("shape"):
            value.type.tensor_type.shape.SetInParent()
    try:
        onnx.checker.check_model(copy, full_check=False)
    except Exception as exc:  # ValidationError: one line from its several
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        text = text or type(exc).__name__
        node = re.search(r"Name: (.*?) OpType: (\S+)", text)
        first = re.sub(r"^Node\(.*?\) with schema\(.*?\) ", "", text.split("==>")[0].strip())
        at = f" node {node[1].strip() or '(unnamed)'} ({node[2]}):" if node else ""
        raise UsageError(f"{path}:{at} not valid ONNX: {first}") from None


def load_checked(path: Path) -> Any:
    """The ``ModelProto`` of ``path`` (:func:`~sepconv_cli.interchange.onnx_load.load_graph`),
    validated: every reader of a model file starts here."""
    proto = load_graph(path)
    validate_model(proto, path)
    return proto


def files_read(path: Path) -> list[Path]:
    """The files reading model ``path`` may open: the file itself and, for an ONNX file, the
    external data files its tensors name (``-o m.onnx.data`` would replace the weights).
    Only the locations are read; a file that is not readable ONNX is itself alone (reading
    it reports why)."""
    found = [path]
    if path.suffix.lower() != ".onnx" or not path.is_file():
        return found
    try:
        proto = load_graph(path)
    except UsageError:
        return found
    tensors = [*proto.graph.initializer]
    tensors += [held for node in proto.graph.node if (held := constant_tensor(node)) is not None]
    for tensor in tensors:
        for entry in tensor.external_data:
            if entry.key == "location" and isinstance(entry.value, str):
                found.append(path.parent / entry.value)
    return list(dict.fromkeys(found))
