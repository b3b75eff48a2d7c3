"""A model in another framework's format (a PyTorch module, a Keras file), converted to an
ONNX file in a temporary folder and read there by the ONNX reader, as if the user had
converted it by hand: the same rows and counts, shown under the name the user gave.

The temporary file is named after the model, and deleted once it is read; what a report,
a note or an error says of it names what the user gave instead (``torchvision:resnet18``,
``model.keras``), never the temporary path.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sepconv_cli.counting.network import Model
from sepconv_cli.errors import SepconvError
from sepconv_cli.interchange.onnx_load import Shape


@dataclass(frozen=True)
class Converted:
    """An ONNX file written from ``ref``: where it is, and what reports call it."""

    path: Path  # the temporary ONNX file
    ref: str  # what the user gave: torchvision:NAME, model.py:build, model.keras
    name: str  # the model's name in reports
    source: str  # how it was made: the framework, the converter and its version
    input_shapes: dict[str, Shape] = field(default_factory=dict)  # to pin when reading it
    notes: tuple[str, ...] = ()  # for stderr: what sepconv chose (an input size)

    def as_ref(self, text: str) -> str:
        """``text`` with the temporary file named as the user named the model."""
        return text.replace(str(self.path), self.ref)


def one_line(exc: BaseException) -> str:
    """``Type: the message's first line`` (the type alone when it says nothing): what a
    converter's failure says in sepconv's one-line error."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


@contextmanager
def temporary_onnx(name: str) -> Iterator[Path]:
    """A path ``<new temporary folder>/<name>.onnx``, the folder deleted afterwards (with
    any external-data files a converter wrote beside it)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"
    with tempfile.TemporaryDirectory(prefix="sepconv-") as folder:
        yield Path(folder) / f"{stem}.onnx"


def read_converted(
    converted: Converted,
    batch: int | None = None,
    all_nodes: bool = False,
    input_values: dict[str, Any] | None = None,
) -> tuple[Model, list[str]]:
    """The ONNX reader's model of ``converted``, named, sourced and filed as its ``ref``;
    notes: the conversion's, then the reader's."""
    from sepconv_cli.interchange.onnx_model import read_onnx

    try:
        model, notes = read_onnx(
            converted.path, converted.input_shapes, batch, all_nodes, input_values=input_values
        )
    except SepconvError as exc:
        raise type(exc)(converted.as_ref(str(exc))) from None
    model = dataclasses.replace(
        model,
        name=converted.name,
        source=converted.source,
        file=converted.ref,
        graph_notes=tuple(converted.as_ref(n) for n in model.graph_notes),
    )
    return model, [*converted.notes, *(converted.as_ref(n) for n in notes)]


def converted_spec(
    converted: Converted, input_values: dict[str, Any] | None = None, partial: bool = False
) -> tuple[str, list[str], list[str]]:
    """``export-spec``'s (YAML text, input notes, parts not expressed) for ``converted``,
    its notes and errors naming the model as the user did."""
    from sepconv_cli.interchange.spec_writer import export_spec

    try:
        text, notes, not_expressed = export_spec(
            converted.path,
            converted.input_shapes,
            input_values,
            partial=partial,
            given=converted.ref,
            source=converted.source,
        )
    except SepconvError as exc:
        raise type(exc)(converted.as_ref(str(exc))) from None
    notes = [*converted.notes, *map(converted.as_ref, notes)]
    return text, notes, [converted.as_ref(line) for line in not_expressed]
