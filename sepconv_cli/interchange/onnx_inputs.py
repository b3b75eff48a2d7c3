"""The graph inputs' static shapes: as written, or pinned with ``--input-shape NAME=1x3x224x224``.

A symbolic (or unknown) batch dimension alone defaults to 1, with a note; any other
symbolic dimension must be pinned, and the message says how.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_load import Shape, value_dims


def parse_input_shapes(values: Sequence[str]) -> dict[str, Shape]:
    """``NAME=1x3x224x224`` (repeatable) → {name: shape}; ONNX order, batch first."""
    out: dict[str, Shape] = {}
    for text in values:
        name, sep, dims = text.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) < 1:
            raise UsageError(
                f"--input-shape: expected NAME=DIMS with positive sizes, batch first "
                f"(input=1x3x224x224), got {text!r}"
            )
        out[name] = shape
    return out


def graph_inputs(model: Any) -> list[Any]:
    """The graph's real inputs (older exporters list the initializers among them too)."""
    weights = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in weights]


def pin_inputs(
    model: Any,
    path: Path,
    pinned: dict[str, Shape],
    notes: list[str],
    batch: int | None = None,
    *,
    batch_flag: bool = True,
) -> dict[str, Shape]:
    """Every graph input's static shape; a symbolic batch is ``batch`` (``--batch``) or 1,
    and notes (for stderr) say what was defaulted (naming ``--batch`` where the command
    has it: ``batch_flag``)."""
    inputs = graph_inputs(model)
    names = [v.name for v in inputs]
    unknown = sorted(set(pinned) - set(names))
    if unknown:
        raise UsageError(
            f"--input-shape: {path} has no input {unknown[0]!r}; its inputs: {', '.join(names)}"
        )
    shapes: dict[str, Shape] = {}
    for value in inputs:
        dims = value_dims(value)
        if value.name in pinned:
            shape = pinned[value.name]
            if dims is not None and len(dims) != len(shape):
                raise UsageError(
                    f"--input-shape: input {value.name!r} of {path} has {len(dims)} dims, "
                    f"got {len(shape)}"
                )
            for written, size in zip(dims or (), shape, strict=False):
                if isinstance(written, int) and written != size:
                    raise UsageError(
                        f"--input-shape: input {value.name!r} of {path} is "
                        f"{'x'.join(map(str, _text_dims(dims)))}; {size} contradicts its "
                        f"fixed size {written}"
                    )
            shapes[value.name] = shape
            continue
        if dims is None:
            raise UsageError(
                f"{path}: input {value.name!r} has no shape; give it with "
                f"--input-shape {value.name}=1x3x224x224"
            )
        free = [i for i, d in enumerate(dims) if not isinstance(d, int)]
        if free and free != [0]:
            raise UsageError(
                f"{path}: input {value.name!r} has symbolic dims "
                f"{'x'.join(map(str, _text_dims(dims)))}; pin them with "
                f"--input-shape {value.name}=1x..."
            )
        if free and batch is None:
            flags = "--input-shape or --batch" if batch_flag else "--input-shape"
            notes.append(
                f"sepconv: note: {path}: input {value.name!r} has a symbolic batch "
                f"({dims[0] or '?'}): taken as 1 ({flags} to change)"
            )
        shapes[value.name] = tuple(d if isinstance(d, int) else batch or 1 for d in dims)
    return shapes


def _text_dims(dims: Sequence[int | str | None] | None) -> list[str]:
    return [str(d) if d is not None else "?" for d in dims or ()]
