"""The ``--vary NAME=VALUES`` grammar: which layer parameter a sweep varies, and its values.

``NAME`` is a parameter (``filters``, ``kernel``, ``input``, ``size``,
``depth_multiplier``/``multiplier``, ``stride``, or an alias); ``VALUES`` is a
comma-separated list whose items are values (``5``, ``3x5``, ``8x8x32``) or inclusive
integer ranges ``a..b`` with an optional step ``a..b:2`` or factor ``a..b:x2`` (8, 16, 32,
…). ``size`` varies the input's spatial size and keeps the channels of ``--input``.

Why in ``spec/``: a ``--vary`` value is a layer field written by the user, so it is parsed
and validated exactly like one (``spec.fields``' validators, ``flag_value``), before any
counting; the sweep engine (``analysis.sweep``) receives typed values. Pure Python, like
the rest of ``spec/``. Every error is a ``UsageError`` that starts with ``--vary:``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.spec import fields as F
from sepconv_cli.spec.layers import did_you_mean

DEFAULT_VARY = "filters=8..1024:x2"
MAX_POINTS = 1000  # values of one --vary (and points of a timed sweep or grid)
MAX_GRID_POINTS = 100_000  # points of a grid: the product of its --vary value counts

# accepted spellings → the canonical parameter
ALIASES = {
    "filters": "filters",
    "out_channels": "filters",
    "cout": "filters",
    "kernel": "kernel",
    "k": "kernel",
    "input": "input",
    "shape": "input",
    "size": "size",
    "resolution": "size",
    "depth_multiplier": "depth_multiplier",
    "multiplier": "depth_multiplier",
    "m": "depth_multiplier",
    "stride": "stride",
}
# the flag that sets each parameter: a sweep refuses it next to --vary of the same one
FLAGS = {
    "filters": "--filters",
    "kernel": "--kernel",
    "input": "--input",
    "size": "--input",
    "depth_multiplier": "--depth-multiplier",
    "stride": "--stride",
}
_RANGE_RE = re.compile(r"^(\d+)\s*\.\.\s*(\d+)(?:\s*:\s*([x×*]?)\s*(\d+))?$")

Value = int | tuple[int, ...]


@dataclass(frozen=True)
class Vary:
    parameter: str  # canonical name (keys of FLAGS)
    values: tuple[Value, ...]
    text: str  # as given
    # input only: the batch its shapes carried (--layout nchw, batch first); None: none did
    batch: int | None = None


def vary_error(message: str) -> UsageError:
    return UsageError(f"--vary: {message}")


def parse_vary(text: str, layout: F.Layout | None = None) -> Vary:
    """``filters=16,32,64`` / ``kernel=1..9:2`` / ``input=8x8x32,16x16x32`` → typed values.

    ``input`` shapes are read as ``--input`` is (:func:`~sepconv_cli.spec.fields.read_input`,
    in ``layout``'s order): a shape most likely meant another way is refused, and the batch
    of batch-first shapes (``--layout nchw``) must be the same in all of them.

    >>> parse_vary("filters=8..64:x2").values
    (8, 16, 32, 64)
    >>> parse_vary("kernel=1..7:3,3x5").values
    ((1,), (4,), (7,), (3, 5))
    """
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise vary_error(
            f"expected NAME=VALUES such as filters=16,32,64 or kernel=1..9, got {text[:60]!r}"
        )
    key = name.strip().lower().replace("-", "_")
    if key not in ALIASES:
        names = sorted(set(ALIASES.values()))
        raise vary_error(
            f"cannot vary {name.strip()!r}{did_you_mean(key, ALIASES)}; expected one "
            f"of {', '.join(names)}"
        )
    parameter = ALIASES[key]
    values: list[Value] = []
    batches: dict[int, str] = {}  # batch → the first shape that carried it
    for item in spec.split(","):
        item = item.strip()
        if not item:
            raise vary_error(f"{parameter}: empty value in {spec[:60]!r}")
        if parameter == "input" and _RANGE_RE.match(item) is None and ".." not in item:
            shape, batch = _input_value(item, layout)
            values.append(shape)
            if batch is not None:
                batches.setdefault(batch, item)
        else:
            values.extend(_item_values(parameter, item))
        if len(values) > MAX_POINTS:
            raise vary_error(
                f"{parameter}: more than {MAX_POINTS} values; use a step "
                "(a..b:4) or a factor (a..b:x2)"
            )
    if len(batches) > 1:
        (first, one), (second, other) = list(batches.items())[:2]
        raise vary_error(
            f"input: {one} has a batch of {first} and {other} of {second}; a sweep has one "
            "batch (--batch)"
        )
    return Vary(parameter, tuple(values), text, next(iter(batches), None))


def _input_value(item: str, layout: F.Layout | None) -> tuple[Value, int | None]:
    """One ``input`` shape, read as ``--input`` is, and the batch it carried."""
    try:
        reading = F.read_input(F.flag_value(item), layout)
    except F.MisreadError as exc:
        raise vary_error(f"input={exc}") from None
    except F.FieldError as exc:
        raise vary_error(f"input={item}: {exc}") from None
    return reading.shape, reading.batch


def parse_grid(texts: list[str], layout: F.Layout | None = None) -> tuple[Vary, ...]:
    """Several ``--vary`` flags: one axis each, in the order given; their cartesian product
    is the grid (``analysis.grid``).

    Refused, naming ``--vary``: a parameter varied twice (aliases included; ``input`` and
    ``size`` both set the input), and a grid of more than :data:`MAX_GRID_POINTS` points.

    >>> [v.parameter for v in parse_grid(["kernel=3,5", "cout=8..32:x2"])]
    ['kernel', 'filters']
    """
    axes = tuple(parse_vary(text, layout) for text in texts)
    seen: dict[str, Vary] = {}
    for axis in axes:
        key = "input" if axis.parameter in ("input", "size") else axis.parameter
        if key in seen:
            first = seen[key]
            what = (
                f"{first.parameter} and {axis.parameter} both set the input; vary one of them"
                if first.parameter != axis.parameter
                else f"{axis.parameter} is varied twice; give each parameter once"
            )
            raise vary_error(f"{what} ({first.text}, {axis.text})")
        seen[key] = axis
    points = math.prod(len(axis.values) for axis in axes)
    if points > MAX_GRID_POINTS:
        sizes = " × ".join(f"{len(a.values)} {a.parameter}" for a in axes)
        raise vary_error(
            f"the grid has {points:,} points ({sizes}), more than {MAX_GRID_POINTS:,}; "
            "use fewer values (a step a..b:4 or a factor a..b:x2)"
        )
    return axes


def _item_values(parameter: str, item: str) -> list[Value]:
    match = _RANGE_RE.match(item)
    if match is not None:
        if parameter == "input":
            raise vary_error(
                f"input: ranges are not supported ({item!r}); use size={item} to vary "
                "the spatial size and keep --input's channels"
            )
        return [_validate(parameter, v, item) for v in _range(parameter, item, match)]
    if ".." in item:
        raise vary_error(f"{parameter}: {item!r} is not a range such as 1..9, 1..9:2 or 8..512:x2")
    return [_validate(parameter, F.flag_value(item), item)]


def _range(parameter: str, item: str, match: re.Match[str]) -> list[int]:
    start, stop = int(match.group(1)), int(match.group(2))
    geometric = bool(match.group(3))
    step = int(match.group(4)) if match.group(4) else 1
    if start > stop:
        raise vary_error(f"{parameter}: empty range {item!r} (start {start} > end {stop})")
    if geometric:
        if step < 2 or start < 1:
            raise vary_error(
                f"{parameter}: {item!r}: a factor step needs a factor >= 2 and a start >= 1"
            )
        out: list[int] = []
        value = start
        while value <= stop and len(out) <= MAX_POINTS:
            out.append(value)
            value *= step
        return out
    if step < 1:
        raise vary_error(f"{parameter}: {item!r}: the step must be >= 1")
    if (stop - start) // step + 1 > MAX_POINTS:
        raise vary_error(
            f"{parameter}: {item!r} gives more than {MAX_POINTS} values; use a "
            "larger step or a factor (a..b:x2)"
        )
    return list(range(start, stop + 1, step))


def _validate(parameter: str, raw: Any, item: str) -> Value:
    validators: dict[str, Callable[[Any], Any]] = {
        "filters": F.positive_int,
        "depth_multiplier": F.positive_int,
        "kernel": F.per_dim,
        "stride": F.per_dim,
        "size": F.per_dim,
        "input": F.shape,
    }
    validator = validators[parameter]
    try:
        value: Value = validator(raw)
    except F.FieldError as exc:
        raise vary_error(f"{parameter}={item}: {exc}") from None
    return value


def value_text(value: Value) -> str:
    return str(value) if isinstance(value, int) else "x".join(str(n) for n in value)


def value_json(value: Value) -> int | list[int]:
    if isinstance(value, int):
        return value
    return value[0] if len(value) == 1 else list(value)
