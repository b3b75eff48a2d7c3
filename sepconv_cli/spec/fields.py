"""Validators for single spec values, shared by command-line flags and YAML files.

Each validator takes the raw value (already YAML-typed; flags are converted by
``flag_value`` first) and returns the typed value, or raises ``FieldError`` with a message
that says what was expected and what was received. The caller adds the location.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, get_args

MAX_SIZE = 10**15  # largest accepted size, channel count or repeat: counts stay exact anyway
MAX_DIMS = 3
# Bytes per value of every dtype a spec may name: the one list of dtypes (the counting and
# execution layers derive theirs from it). Its order is the order messages list them in.
DTYPE_BYTES: dict[str, int] = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int8": 1}
DTYPES = tuple(DTYPE_BYTES)
POOL_MODES = ("max", "avg")
# activation functions a layer may name (``none``: linear); FLOPs per element are stated in
# counting/conventions.py (ACTIVATIONS)
ACTIVATIONS = (
    "none",
    "relu",
    "relu6",
    "hardsigmoid",
    "hardswish",
    "sigmoid",
    "silu",
    "gelu",
    "tanh",
    "leaky_relu",
    "softmax",
)

BatchNormMode = Literal["none", "each", "output"]
"""Where a layer's batch-norm goes: nowhere, after each convolution, or after the last only."""
BN_MODES: tuple[BatchNormMode, ...] = get_args(BatchNormMode)

_INT_RE = re.compile(r"^[+-]?\d+$")
_DIMS_RE = re.compile(r"^\s*\d+(\s*[x×,]\s*\d+)+\s*$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
# per-side padding on the command line: before:after, one pair per spatial dim (0:1x1:2)
_PAIRS_RE = re.compile(r"^\s*\d+\s*:\s*\d+(\s*[x×,]\s*\d+\s*:\s*\d+)*\s*$")


class FieldError(ValueError):
    """A value of the wrong type or range. The message has no location; callers add it."""


def flag_value(text: str) -> Any:
    """Turn a command-line string into the value a YAML file would hold.

    ``"5"`` → 5, ``"3x5"`` → [3, 5], ``"0.75"`` → 0.75, ``"0:1x1:2"`` → [[0, 1], [1, 2]]
    (per-side padding: before:after per dim), anything else stays a string.

    >>> flag_value("0:1x1:2"), flag_value("0:1")
    ([[0, 1], [1, 2]], [[0, 1]])
    """
    stripped = text.strip()
    if _PAIRS_RE.match(stripped) and len(stripped) < 400:
        pairs = re.split(r"\s*[x×,]\s*", stripped)
        return [[int(n) for n in pair.split(":")] for pair in pairs]
    if _INT_RE.match(stripped) and len(stripped) < 40:
        return int(stripped)
    if _DIMS_RE.match(stripped) and len(stripped) < 400:
        return [int(part) for part in re.split(r"\s*[x×,]\s*", stripped)]
    if _FLOAT_RE.match(stripped) and len(stripped) < 40:
        return float(stripped)
    return text


def describe(value: Any) -> str:
    """How a received value is quoted in messages: its text and, where it misleads, its type."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, float):
        return f"{value!r} (a float)"
    if isinstance(value, str):
        return f"{value[:60]!r}" + (" (a string)" if _DIMS_RE.match(value) else "")
    if isinstance(value, list):
        more = ", ...]" if len(value) > 8 else "]"
        return "[" + ", ".join(describe(v) for v in value[:8]) + more
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    return repr(value)[:60]


def positive_int(value: Any, *, minimum: int = 1, maximum: int = MAX_SIZE) -> int:
    """An int (not a boolean, not a float) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"expected an integer >= {minimum}, got {describe(value)}")
    if value < minimum:
        raise FieldError(f"expected an integer >= {minimum}, got {value}")
    if value > maximum:
        raise FieldError(f"{value} is larger than the limit of {maximum:,}")
    return value


def per_dim(value: Any, *, minimum: int = 1) -> tuple[int, ...]:
    """An int for every dim, or a list of 1-3 ints (one per spatial dim)."""
    if isinstance(value, list):
        if not 1 <= len(value) <= MAX_DIMS:
            raise FieldError(
                f"expected 1 to {MAX_DIMS} values (one per spatial dim), "
                f"got {len(value)}: {describe(value)}"
            )
        return tuple(positive_int(v, minimum=minimum) for v in value)
    if isinstance(value, str) and _DIMS_RE.match(value):
        raise FieldError(
            f"got {describe(value)}; write a list such as "
            f"[{', '.join(re.split(r'[x×,]', value.replace(' ', '')))}]"
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(
            f"expected an integer >= {minimum} or a list of them, got {describe(value)}"
        )
    return (positive_int(value, minimum=minimum),)


def shape(value: Any) -> tuple[int, ...]:
    """A channels-last input shape: 1 to 3 spatial sizes then the channels."""
    if not isinstance(value, list):
        raise FieldError(
            f"expected a shape such as [12, 12, 3] (spatial dims then channels), "
            f"got {describe(value)}"
        )
    if not 2 <= len(value) <= MAX_DIMS + 1:
        raise FieldError(
            f"expected 1 to {MAX_DIMS} spatial dims and channels (2 to "
            f"{MAX_DIMS + 1} numbers), got {len(value)}: {describe(value)}"
        )
    return tuple(positive_int(v) for v in value)


def channels_first_hint(text: str) -> str | None:
    """A note for an ``--input`` that reads as channels-first (``3x224x224``): its first
    number small like an image's channels (at most 4), its last at least 8 times larger, and
    the spatial sizes unlike each other. ``7x7x1024`` and ``4x4x512`` are channels-last
    already; ``None`` for them and for anything that is not a shape. A note, never an
    error: ``3x224x224`` is a valid input of 224 channels.

    >>> channels_first_hint("3x224x224")
    'shapes are channels-last, so this is 224 channels; did you mean 224x224x3?'
    >>> channels_first_hint("7x7x1024") is None
    True
    """
    value = flag_value(text)
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_DIMS + 1:
        return None
    first, last = value[0], value[-1]
    if not 1 <= first <= 4 or last < 8 * first or (len(value) > 2 and value[1] == first):
        return None
    rotated = "x".join(str(n) for n in (*value[1:], first))
    return f"shapes are channels-last, so this is {last} channels; did you mean {rotated}?"


def padding(value: Any) -> str | tuple[int, ...] | tuple[tuple[int, int], ...]:
    """``valid``, ``same``, symmetric explicit padding (an int or one per spatial dim), or
    per-side padding: one ``[before, after]`` pair per spatial dim (``[[top, bottom],
    [left, right]]``; a single pair is every dim's).

    >>> padding([[0, 1], [1, 2]])
    ((0, 1), (1, 2))
    >>> padding(2)
    (2,)
    """
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("valid", "same"):
            return word
        raise FieldError(
            f"expected valid, same, an integer, one per dim or [before, after] pairs, "
            f"got {describe(value)}"
        )
    if isinstance(value, list) and any(isinstance(v, list) for v in value):
        return per_side(value)
    return per_dim(value, minimum=0)


def padding_json(value: str | tuple[Any, ...] | None) -> Any:
    """A padding as JSON: the word, an int for every dim, a list per dim, or per-side pairs
    as ``[[before, after], ...]``; ``valid`` when none was given."""
    if value is None or value == ():
        return "valid"
    if isinstance(value, str):
        return value
    if isinstance(value[0], tuple):
        return [list(pair) for pair in value]
    return value[0] if len(value) == 1 else list(value)


def per_side(value: list[Any]) -> tuple[tuple[int, int], ...]:
    """One ``[before, after]`` pair of ints >= 0 per spatial dim (1 to 3 pairs)."""
    if not all(isinstance(v, list) for v in value):
        raise FieldError(
            f"write every dim as a [before, after] pair, or none: got {describe(value)}"
        )
    if not 1 <= len(value) <= MAX_DIMS:
        raise FieldError(
            f"expected 1 to {MAX_DIMS} [before, after] pairs (one per spatial dim), "
            f"got {len(value)}: {describe(value)}"
        )
    pairs = []
    for pair in value:
        if len(pair) != 2:
            raise FieldError(
                f"expected [before, after] pairs of 2 integers, got {describe(pair)} "
                f"({len(pair)} value{'s' if len(pair) != 1 else ''})"
            )
        before, after = (positive_int(v, minimum=0) for v in pair)
        pairs.append((before, after))
    return tuple(pairs)


def number(value: Any, *, minimum_exclusive: float = 0.0, maximum: float = 1e6) -> float:
    """A positive int or float (expansion ratios, multipliers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(f"expected a positive number, got {describe(value)}")
    if not value > minimum_exclusive or value != value:
        raise FieldError(f"expected a number > {minimum_exclusive:g}, got {value}")
    if value > maximum:
        raise FieldError(f"{value} is larger than the limit of {maximum:g}")
    return float(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldError(f"expected true or false, got {describe(value)}")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"expected a non-empty string, got {describe(value)}")
    return value


def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in options:
            return value.strip().lower()
        raise FieldError(f"expected one of {', '.join(options)}, got {describe(value)}")

    return check


def batch_norm(value: Any) -> BatchNormMode:
    """``true`` (after every conv), ``false``, or ``output`` (once, after the layer's last conv)."""
    if value is True:
        return "each"
    if value is False:
        return "none"
    if isinstance(value, str):
        word = value.strip().lower()
        for mode in BN_MODES:
            if word == mode:
                return mode
    raise FieldError(f"expected true, false or output, got {describe(value)}")
