"""The graph inputs' static shapes: as written, or pinned with ``--input-shape NAME=1x3x224x224``,
and the values ``--input-value NAME=V`` gives a scalar or 1-D input (``sr=16000``).

A symbolic (or unknown) batch dimension alone defaults to 1, with a note; any other
symbolic dimension must be pinned, and the message says how. A literal dim below 1 (the
``-1`` Paddle2ONNX writes, a ``0``) is symbolic too. A value pins its input's shape; what it
decides (an ``If`` on it) is :mod:`~sepconv_cli.interchange.onnx_control`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_load import Shape, value_dims

Dims = tuple[int | str | None, ...]

# ONNX element types that hold integers (INT8..UINT64, bool apart) and floats
_INTEGER_TYPES = frozenset({2, 3, 4, 5, 6, 7, 12, 13})
_FLOAT_TYPES = frozenset({1, 10, 11, 16})
_BOOL = 9


@dataclass(frozen=True)
class InputValue:
    """One ``--input-value``: its numbers as written, and whether they were a list
    (``1,2,3``: a 1-D input) or one number (a scalar, or any input of one element)."""

    text: str
    numbers: tuple[int | float, ...]
    listed: bool

    def describe(self, name: str) -> str:
        return f"{name} = {self.text}"


def parse_input_shapes(values: Sequence[str]) -> dict[str, Shape]:
    """``NAME=1x3x224x224`` (repeatable) → {name: shape}; ONNX order, batch first. A shape
    without a name (``1x3x224x224``) is the model's only data input, keyed ``""``
    (:func:`check_input_names` resolves it)."""
    out: dict[str, Shape] = {}
    for text in values:
        name, sep, dims = text.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if (sep and not name) or not shape or min(shape) < 1:
            raise UsageError(
                f"--input-shape: expected DIMS or NAME=DIMS with positive sizes, batch first "
                f"(1x3x224x224, input=1x3x224x224), got {text!r}"
            )
        if name in out:
            which = f"input {name!r}" if name else "the unnamed input"
            raise UsageError(f"--input-shape: {which} is given twice")
        out[name] = shape
    return out


def parse_input_values(values: Sequence[str]) -> dict[str, InputValue]:
    """``NAME=V`` (repeatable): V an int or a float, or a comma-separated list of them for a
    1-D input → {name: value}."""
    out: dict[str, InputValue] = {}
    for text in values:
        name, sep, written = text.partition("=")
        parts = [p.strip() for p in written.split(",")]
        numbers = [_number(p) for p in parts]
        if not sep or not name or not written.strip() or any(n is None for n in numbers):
            raise UsageError(
                "--input-value: expected NAME=V with V a number, or numbers separated by "
                f"commas for a 1-D input (sr=16000, scales=1,1,2,2), got {text!r}"
            )
        if name in out:
            raise UsageError(f"--input-value: input {name!r} is given twice")
        out[name] = InputValue(
            ",".join(parts), tuple(n for n in numbers if n is not None), "," in written
        )
    return out


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def graph_inputs(model: Any) -> list[Any]:
    """The graph's real inputs (older exporters list the initializers among them too)."""
    weights = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in weights]


def input_dims(value: Any) -> Dims | None:
    """An input's dims as :func:`value_dims` reads them, a literal size below 1 (Paddle's
    ``-1``, a ``0``) read as unknown: a symbolic dim like any other."""
    dims = value_dims(value)
    if dims is None:
        return None
    return tuple(None if isinstance(d, int) and d < 1 else d for d in dims)


def check_input_names(
    model: Any, path: Path, pinned: Mapping[str, Shape], values: Mapping[str, InputValue]
) -> list[Any]:
    """The graph's inputs, once every name ``--input-shape`` and ``--input-value`` give is
    one of them (else one line listing them)."""
    inputs = graph_inputs(model)
    names = [v.name for v in inputs]
    if "" in pinned:  # a shape given without a name: the one input not given a value
        data = [name for name in names if name not in values]
        if len(data) != 1:
            raise UsageError(
                f"--input-shape: {path} has {len(data)} data inputs ({', '.join(data) or 'none'}):"
                " name the one the shape is for (NAME=DIMS)"
            )
        if data[0] in pinned:
            raise UsageError(f"--input-shape: input {data[0]!r} is given twice")
        if isinstance(pinned, dict):
            pinned[data[0]] = pinned.pop("")
    for flag, given in (("--input-shape", pinned), ("--input-value", values)):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise UsageError(
                f"{flag}: {path} has no input {unknown[0]!r}; its inputs: {', '.join(names)}"
            )
    return inputs


def pin_inputs(
    model: Any,
    path: Path,
    pinned: dict[str, Shape],
    notes: list[str],
    batch: int | None = None,
    *,
    batch_flag: bool = True,
    values: Mapping[str, InputValue] | None = None,
) -> dict[str, Shape]:
    """Every graph input's static shape; a symbolic batch is ``batch`` (``--batch``) or 1,
    and notes (for stderr) say what was defaulted (naming ``--batch`` where the command
    has it: ``batch_flag``). An input given a value (``values``) has that value's shape."""
    inputs = check_input_names(model, path, pinned, values or {})
    if values and inputs and all(v.name in values for v in inputs):
        raise UsageError(
            f"--input-value: every input of {path} is given a value, so nothing is left to "
            "count; give the data input its shape with --input-shape instead"
        )
    pinned = dict(pinned)
    for value in inputs:
        if values and value.name in values:
            shape = value_shape(value, values[value.name], path)
            if value.name in pinned and pinned[value.name] != shape:
                raise UsageError(
                    f"--input-value: input {value.name!r} of {path}: the value's shape "
                    f"{_text_shape(shape)} contradicts --input-shape "
                    f"{value.name}={_text_shape(pinned[value.name])}"
                )
            pinned[value.name] = shape
    _refuse_unpinned(inputs, pinned, path)
    shapes: dict[str, Shape] = {}
    for value in inputs:
        dims = input_dims(value)
        if value.name in pinned:
            shapes[value.name] = _pinned(value.name, dims, pinned[value.name], path)
            continue
        assert dims is not None  # _refuse_unpinned: every input has a shape or a pin
        free = [i for i, d in enumerate(dims) if not isinstance(d, int)]
        if free and batch is None:
            flags = "--input-shape or --batch" if batch_flag else "--input-shape"
            notes.append(
                f"sepconv: note: {path}: input {value.name!r} has a symbolic batch "
                f"({dims[0] or '?'}): taken as 1 ({flags} to change)"
            )
        shapes[value.name] = tuple(d if isinstance(d, int) else batch or 1 for d in dims)
    return shapes


ELEMENT_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    14: "complex64",
    15: "complex128",
    16: "bfloat16",
}
"""ONNX element types by number, as messages name an input's type."""


def _refuse_unpinned(inputs: Sequence[Any], pinned: Mapping[str, Shape], path: Path) -> None:
    """One line naming every input whose shape is unknown past its batch, with its type
    and the flags that would pin them all (a model of several inputs needs one each)."""
    unpinned: list[str] = []
    flags: list[str] = []
    for value in inputs:
        if value.name in pinned:
            continue
        if not value.type.HasField("tensor_type"):
            kind = (value.type.WhichOneof("value") or "no type").removesuffix("_type")
            raise UsageError(
                f"{path}: input {value.name!r} is {'an' if kind[0] in 'aeiou' else 'a'} "
                f"{kind}, not a tensor: sepconv counts graphs whose inputs are tensors"
            )
        dims = input_dims(value)
        written = tuple("?" if d == -1 else d for d in value_dims(value) or ())
        elem = value.type.tensor_type.elem_type
        kind = ELEMENT_TYPES.get(elem, f"type {elem}")
        if dims is None:
            unpinned.append(f"{value.name!r} ({kind}, no shape)")
            flags.append(f"--input-shape {value.name}=1x3x224x224")
        elif any(not isinstance(d, int) for d in dims[1:]):
            zero = " (a 0 is read as unknown, as exporters write it)" if 0 in written else ""
            unpinned.append(f"{value.name!r} ({kind}, {'x'.join(_text_dims(written))}{zero})")
            sizes = ["1", *(str(d) if isinstance(d, int) else "?" for d in dims[1:])]
            flags.append(f"--input-shape {value.name}={'x'.join(sizes)}")
    if not unpinned:
        return
    which = "input" if len(unpinned) == 1 else "inputs"
    unknown = "an unknown shape" if len(unpinned) == 1 else "unknown shapes"
    raise UsageError(
        f"{path}: {which} {', '.join(unpinned)} {'has' if len(unpinned) == 1 else 'have'} "
        f"{unknown} past the batch; pin {'it' if len(unpinned) == 1 else 'each'}: "
        f"{' '.join(flags)} (each ? a size)"
    )


def _pinned(name: str, dims: Dims | None, shape: Shape, path: Path) -> Shape:
    """``--input-shape``'s shape for input ``name``, checked against the dims it declares."""
    if dims is not None and len(dims) != len(shape):
        raise UsageError(
            f"--input-shape: input {name!r} of {path} has {len(dims)} dims, got {len(shape)}"
        )
    for written, size in zip(dims or (), shape, strict=False):
        if isinstance(written, int) and written != size:
            raise UsageError(
                f"--input-shape: input {name!r} of {path} is {'x'.join(_text_dims(dims))}; "
                f"{size} contradicts its fixed size {written}"
            )
    return shape


def value_shape(value: Any, given: InputValue, path: Path) -> Shape:
    """The shape ``--input-value`` gives input ``value`` (a ValueInfoProto): a number is a
    scalar, or fills an input of one element (``[1]``, ``[1, 1]``); a list is 1-D. A value
    that does not fit the input's declared type or shape is one line."""
    where = f"--input-value: input {value.name!r} of {path}"
    elem = value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else 0
    if elem in _INTEGER_TYPES and any(isinstance(n, float) for n in given.numbers):
        raise UsageError(f"{where} holds integers; got {given.text}")
    if elem == _BOOL and any(n not in (0, 1) for n in given.numbers):
        raise UsageError(f"{where} is a bool; give 0 or 1, got {given.text}")
    if elem not in _INTEGER_TYPES | _FLOAT_TYPES | {_BOOL}:
        raise UsageError(f"{where} holds neither numbers nor bools: no value can be given")
    dims = input_dims(value)
    count = len(given.numbers)
    if dims is None:
        return (count,) if given.listed else ()
    declared = "x".join(_text_dims(dims)) or "a scalar"
    if len(dims) == 0:
        if given.listed:
            raise UsageError(f"{where} is a scalar; got {count} values")
        return ()
    if len(dims) == 1:
        if isinstance(dims[0], int) and dims[0] != count:
            raise UsageError(f"{where} holds {dims[0]} values; got {count} ({given.text})")
        return (count,)
    if count == 1 and not given.listed and all(not isinstance(d, int) or d == 1 for d in dims):
        return (1,) * len(dims)
    raise UsageError(
        f"{where} is {declared}: only a scalar, a 1-D input or one of a single element "
        "takes a value (give its shape with --input-shape)"
    )


def _text_dims(dims: Sequence[int | str | None] | None) -> list[str]:
    return [str(d) if d is not None else "?" for d in dims or ()]


def _text_shape(shape: Shape) -> str:
    return "x".join(map(str, shape)) or "scalar"
