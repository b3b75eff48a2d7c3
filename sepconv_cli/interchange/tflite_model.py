"""A TensorFlow Lite file → the counting :class:`~sepconv_cli.counting.network.Model`.

The file's main subgraph (:mod:`tflite_file`) is translated into the ONNX graph of the same
operations (:mod:`tflite_onnx`) and read by the ONNX reader, so rows, the forms rule, the
final check that no MAC was lost, every report, gate and ``compare`` are the ONNX path's.
What is the file's own stays the file's: its name, its channels-last input, its number
format (an int8 model counts 1 byte a value; float16 weights 2 bytes), the operators left
as named nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from sepconv_cli.counting.network import Model
from sepconv_cli.counting.ops import DTYPE_BYTES
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.converted import Converted, temporary_onnx
from sepconv_cli.interchange.tflite_file import TfGraph, read_tflite

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


def _translated(path: Path) -> tuple[TfGraph, Any, list[str]]:
    """The checked file, the ONNX model of its operations and the translation's notes."""
    from sepconv_cli.interchange.tflite_onnx import translate

    graph = read_tflite(path)
    if not graph.operators:
        raise UsageError(f"{path}: a TensorFlow Lite model with no operators")
    proto, notes = translate(graph, path.stem, str(path))
    return graph, proto, notes


def read_tflite_model(
    path: Path, batch: int | None = None, all_nodes: bool = False
) -> tuple[Model, list[str]]:
    """The model in the TFLite file ``path`` and the notes for stderr."""
    from sepconv_cli.interchange.onnx_model import read_onnx

    graph, proto, notes = _translated(path)
    model, stderr = read_onnx(path, batch=batch, all_nodes=all_nodes, proto=proto)
    weights, activations = number_formats(graph)
    extra = list(notes)
    if graph.subgraphs > 1:
        extra.append(
            f"the file holds {graph.subgraphs} subgraphs: the first (the model) is counted; "
            "the others are bodies of its control-flow operators, named where they are called"
        )
    source = f"TensorFlow Lite file, schema v{graph.version}"
    if weights != activations:
        source += f", {weights} weights on {activations} activations"
    elif weights != "float32":
        source += f", {weights}"
    if graph.description:
        source += f" ({graph.description})"
    model = replace(
        model,
        source=source,
        graph_format="tflite",
        dtype=activations if activations in ("float32", "float16", "int8") else "float32",
        weight_dtype=weights if weights != activations and weights in DTYPE_BYTES else "",
        graph_notes=(*model.graph_notes, *extra),
    )
    return model, stderr


@contextmanager
def translated(ref: str) -> Iterator[Converted]:
    """The TFLite file ``ref`` as the ONNX file of the same operations, in a temporary folder
    while the block runs (``export-spec`` writes its spec from it): weights dequantized to
    float32, a sparse one as zeros of its dims."""
    from sepconv_cli.interchange.optional import require_onnx

    path = Path(ref)
    graph, proto, notes = _translated(path)
    with temporary_onnx(path.stem) as target:
        require_onnx(ref).save(proto, str(target))
        yield Converted(
            path=target,
            ref=ref,
            name=path.stem,
            source=f"TensorFlow Lite file {path.name} (schema v{graph.version})",
            notes=tuple(f"sepconv: note: {ref}: {note}" for note in notes),
        )


def number_formats(graph: TfGraph) -> tuple[str, str]:
    """The weights' and the activations' number formats: the most common storage type of
    the filters and of the tensors the convolutions and products read (an int8 model's
    are both int8; a float16-weight one's float16 weights, widened by a DEQUANTIZE, on
    float32 activations)."""
    widened = {
        op.outputs[0]: op.inputs[0]
        for op in graph.operators
        if op.op in ("DEQUANTIZE", "DENSIFY") and op.inputs and op.outputs
    }
    weights: Counter[str] = Counter()
    activations: Counter[str] = Counter()
    for op in graph.operators:
        if op.op not in CONV_OPS or len(op.inputs) < 2:
            continue
        data, weight = (op.inputs[2], op.inputs[1]) if op.op == "TRANSPOSE_CONV" else op.inputs[:2]
        while weight in widened:
            weight = widened[weight]
        weights[_format(graph.tensors[weight].dtype)] += 1
        activations[_format(graph.tensors[data].dtype)] += 1
    if not weights:
        return "float32", "float32"
    return weights.most_common(1)[0][0], activations.most_common(1)[0][0]


def _format(dtype: str) -> str:
    return "int8" if dtype in ("int8", "uint8") else dtype
