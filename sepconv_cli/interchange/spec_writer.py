"""``sepconv export-spec``: an ONNX model written out as a sepconv YAML model spec.

Rules:

- The graph's NCHW input ``[N, C, *spatial]`` is the spec's channels-last
  ``input: [*spatial, C]``; ``batch`` is written when N > 1, ``dtype`` when it is not
  float32. A header comment says so, and warns that conv biases may be folded batch-norms
  when the graph has conv biases and no BatchNormalization. The layers are
  :mod:`~sepconv_cli.interchange.spec_walk`'s.
- Simple layers are one flow mapping a line, like the presets; residual and branches
  blocks are block mappings with their nested lists.
- A graph the spec cannot express whole is refused: one line naming the first node not
  expressed (its name, op type and why), exit 2. With ``partial`` (``--partial``) it is
  written up to there instead: every part not expressed is a ``#`` comment at its place in
  the file, naming the nodes and their op types, and one stderr line per kind (op type, or
  an inexpressible join); a comment at the top and the ``partial:`` key name the first node
  not expressed, which ``profile`` prints as a warning (the counts are a lower bound). A
  graph whose first node already stops the walk has no spec even then: one line, exit 2.
- Names are data (a node name may hold a newline, ``- type: ...``, ``#``, quotes, escape
  sequences): every string the file holds as a value or a key — a layer's name, the
  ``partial:`` node, the source — is written plain only when it is an identifier YAML reads
  back as the same string (letters, digits and ``_./-``, not a YAML word such as ``yes``),
  else double-quoted with every character outside printable ASCII, and ``"`` and ``\\``,
  escaped (:func:`scalar`). Every comment is one line: the names in it are shown
  (:func:`sepconv_cli.names.shown`), so no name ends a comment and starts a layer. Every
  line written is checked to hold no line break before the text is returned. So the file
  holds exactly the layers the walk wrote, whatever the graph's names.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_inputs import InputValue
from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.interchange.spec_dag import input_line, walk_graph
from sepconv_cli.interchange.spec_graph import load_graph
from sepconv_cli.interchange.spec_walk import Item, Layer, Note
from sepconv_cli.names import shown

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./\-]*\Z")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "none"}
# keys written after the layer's own fields, in this order, for a block
_NESTED = ("layers", "shortcut", "branches")


def export_spec(
    path: Path,
    input_shapes: dict[str, Shape],
    input_values: dict[str, InputValue] | None = None,
    *,
    partial: bool = False,
    given: str | None = None,
    source: str | None = None,
) -> tuple[str, list[str], list[str]]:
    """(the YAML text, notes about the input, one line per kind of part not expressed);
    ``input_values``: ``--input-value``'s. A graph the spec cannot express whole is a
    UsageError naming its first node not expressed, unless ``partial``. ``given`` and
    ``source``: what the user named and what it is, for a graph converted from another
    format (a TFLite file, a PyTorch module) into a temporary ONNX file."""
    graph = load_graph(path, input_shapes, input_values)
    items = walk_graph(graph)  # a tree of blocks, or layers with `from` (spec_dag.py)
    found = notes(items)
    if not any(isinstance(i, Layer) and i.fields for i in items):
        first = found[0].first() if found else "no layers"
        raise UsageError(
            f"{path}: the spec cannot express {first}, and nothing before it: no spec to write"
        )
    if found and not partial:
        raise UsageError(
            f"{path}: the spec cannot express {found[0].first()} (--partial writes the spec "
            "with it and every part not expressed as comments; its counts are a lower bound)"
        )
    shape = graph.shape(graph.input_name)
    nhwc = graph.channels_last_input
    layout = "(NHWC, read through its Transposes) as" if nhwc else "(NCHW) as channels-last"
    head = [
        f"# Written by sepconv export-spec from {shown(given or path.name)}: the input",
        f"# {graph.input_name!r} {'x'.join(map(str, shape))} {layout} [H, W, C].",
    ]
    spatial = [*shape[1:-1], shape[-1]] if nhwc else [*shape[2:], shape[1]]
    stop = found[0].first() if found else ""
    if stop:
        head += [
            f"# PARTIAL: the spec stops at {stop}.",
            "# The parts not expressed are the NOT EXPRESSED comments below: the counts are a",
            "# lower bound.",
        ]
    ops = {n.op_type for n in graph.nodes}
    if "BatchNormalization" not in ops and any(
        n.op_type == "Conv" and len(n.input) > 2 and n.input[2] for n in graph.nodes
    ):
        head += [
            "# No BatchNormalization nodes, and convs with biases: a bias may be a batch-norm",
            "# the exporter folded (torch.onnx.export in eval mode does), counted as a bias,",
            "# one param per channel, not a batch-norm's two.",
        ]
    head += [
        f"name: {scalar(path.stem)}",
        f"source: {scalar(source or 'ONNX model ' + path.name)}",
        input_line(graph, spatial),
    ]
    if stop:
        head.insert(-1, f"partial: {scalar(stop)}")
    if shape[0] > 1:
        head.append(f"batch: {shape[0]}")
    if graph.dtype != "float32":
        head.append(f"dtype: {graph.dtype}")
    lines = head + sequence("layers", items, 0)
    broken = next((line for line in lines if not line.isprintable()), None)
    if broken is not None:  # the rule above, checked: never a layer the graph does not have
        raise RuntimeError(f"export-spec: a line would hold a control character: {broken!r}")
    return "\n".join(lines) + "\n", graph.notes, summary(items, path)


def summary(items: list[Item], path: Path) -> list[str]:
    """One stderr line per kind of note, shown (:func:`sepconv_cli.names.shown`)."""
    kinds: dict[str, list[Note]] = defaultdict(list)
    for note in notes(items):
        kinds[note.kind].append(note)
    lines = []
    for kind, group in kinds.items():
        if len(group) == 1:
            lines.append(shown(f"{path}: {group[0].text}"))
        else:
            names = ", ".join(n.nodes[0].name or n.nodes[0].output[0] for n in group if n.nodes)
            lines.append(
                shown(
                    f"{path}: {len(group)} {kind} nodes the spec has no layer for, not counted "
                    f"(named in the file where each is): {names}"
                )
            )
    return lines


def notes(items: list[Item]) -> list[Note]:
    found: list[Note] = []
    for item in items:
        if isinstance(item, Note):
            found.append(item)
        else:
            for nested in (item.layers, item.shortcut, *(item.branches or [])):
                found.extend(notes(nested or []))
    return found


def sequence(key: str, items: list[Item], indent: int) -> list[str]:
    """``key:`` and its list of layers; ``key: []`` when it has none."""
    pad = " " * indent
    body = [line for item in items for line in entry(item, indent + 2)]
    if not any(isinstance(i, Layer) and i.fields for i in items):
        return [f"{pad}{key}: []", *body]
    return [f"{pad}{key}:", *body]


def entry(item: Item, indent: int) -> list[str]:
    """The lines of one list entry (``- ...``), its comments first."""
    pad = " " * indent
    if isinstance(item, Note):
        return [f"{pad}# NOT EXPRESSED: {shown(item.text)}"]
    if not item.fields:  # a flatten: nothing to write
        return []
    lines = [f"{pad}# {shown(c)}" for c in item.comments]
    if item.layers is None and item.branches is None:
        return [*lines, f"{pad}- {flow(item.fields)}"]
    first, *rest = item.fields.items()
    lines.append(f"{pad}- {scalar(first[0])}: {value(first[1])}")
    lines.extend(f"{pad}  {scalar(k)}: {value(v)}" for k, v in rest)
    if item.layers is not None:
        lines.extend(sequence("layers", item.layers, indent + 2))
    if item.shortcut is not None:
        lines.extend(sequence("shortcut", item.shortcut, indent + 2))
    if item.branches is not None:
        lines.append(f"{pad}  branches:")
        for branch in item.branches:
            inner = [line for i in branch for line in entry(i, indent + 6)]
            if any(isinstance(i, Layer) and i.fields for i in branch):
                lines.extend([f"{pad}    -", *inner])
            else:
                lines.extend([f"{pad}    - []", *inner])
    return lines


def flow(data: Any) -> str:
    """A flow-style YAML mapping or list on one line."""
    if isinstance(data, dict):
        return "{" + ", ".join(f"{scalar(k)}: {value(v)}" for k, v in data.items()) + "}"
    return "[" + ", ".join(value(v) for v in data) + "]"


def value(data: Any) -> str:
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, (dict, list, tuple)):
        return flow(data)
    if isinstance(data, str):
        return scalar(data)
    return str(data)


def scalar(text: str) -> str:
    """``text`` plain when it is an identifier YAML reads back unchanged, else a YAML
    double-quoted scalar of printable ASCII: ``"`` and ``\\`` escaped, ``\\n``, ``\\r`` and
    ``\\t`` as such, every other character outside ``" "``..``"~"`` as ``\\xNN``, ``\\uNNNN``
    or ``\\UNNNNNNNN`` (YAML's own escapes: a character beyond U+FFFF is one escape, not
    JSON's surrogate pair, which YAML would read back as two characters)."""
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return '"' + "".join(_QUOTED.get(c) or _quoted(c) for c in text) + '"'


_QUOTED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quoted(char: str) -> str:
    """One character inside a double-quoted YAML scalar."""
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
