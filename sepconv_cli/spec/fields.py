"""Validators for single spec values, shared by command-line flags and YAML files.

Each validator takes the raw value (already YAML-typed; flags are converted by
``flag_value`` first) and returns the typed value, or raises ``FieldError`` with a message
that says what was expected and what was received. The caller adds the location.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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


class MisreadError(FieldError):
    """A shape most likely meant another way (:func:`misread`); the message starts with the
    shape, so a caller may write ``input=`` before it."""


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


Layout = Literal["nhwc", "nchw"]
"""The order ``--input`` is written in: ``nhwc``, sepconv's channels-last (``12x12x3``), or
``nchw``, PyTorch's channels-first with the batch first when there is one."""
LAYOUTS: tuple[Layout, ...] = get_args(Layout)
# the channel counts a person writes first in PyTorch's order: an image's or a signal's
# (grayscale or mono, stereo or a flow field, RGB, RGBA), not a feature map's
FEW_CHANNELS = 4
# a spatial size at least this large reads as an image's or a signal's, not as a channel count
LARGE = 16
# two equal numbers at least this large read as a square image with its channel left out
SQUARE = 32
_AXES = {1: "length", 2: "height×width", 3: "depth×height×width"}


@dataclass(frozen=True)
class InputReading:
    """An ``--input`` as read: the channels-last shape, the batch a batch-first shape carried
    (``--layout nchw`` with 4 or 5 numbers; else None) and the layout it was read in."""

    shape: tuple[int, ...]
    batch: int | None
    layout: Layout


def read_input(value: Any, layout: Layout | None) -> InputReading:
    """An input shape typed by a person, read in ``layout``; ``None``: channels-last, but a
    shape most likely meant another way (:func:`misread`) is refused with that reading.

    * ``nhwc``: :func:`shape`, as written, no guess.
    * ``nchw``: PyTorch's order: ``C×L`` (2 numbers), ``C×H×W`` (3), ``N×C×H×W`` (4: the
      batch first, 2-D) or ``N×C×D×H×W`` (5), read as ``[spatial..., C]`` and the batch.

    >>> read_input([1, 3, 224, 224], "nchw")
    InputReading(shape=(224, 224, 3), batch=1, layout='nchw')
    >>> read_input([7, 7, 1024], None).shape
    (7, 7, 1024)
    """
    if layout == "nchw":
        if not isinstance(value, list) or not 2 <= len(value) <= MAX_DIMS + 2:
            raise FieldError(
                "with --layout nchw, expected C×L, C×H×W, N×C×H×W or N×C×D×H×W (2 to "
                f"{MAX_DIMS + 2} numbers), got {describe(value)}"
            )
        numbers = tuple(positive_int(v) for v in value)
        batch = numbers[0] if len(numbers) >= 4 else None
        body = numbers[1:] if batch is not None else numbers
        return InputReading((*body[1:], body[0]), batch, "nchw")
    if layout is None and isinstance(value, list) and 2 <= len(value) <= MAX_DIMS + 2:
        message = misread(tuple(positive_int(v) for v in value))
        if message is not None:
            raise MisreadError(message)
    return InputReading(shape(value), None, "nhwc")


def misread(numbers: tuple[int, ...]) -> str | None:
    """Why a shape read channels-last is most likely not what its writer meant, with the
    reading they probably meant; ``None`` when channels-last is the likely reading. With
    ``FEW`` = 1 to :data:`FEW_CHANNELS` (an image's channels) and ``LARGE`` = at least
    :data:`LARGE`:

    * ``a×a``, ``a`` >= :data:`SQUARE` (``224x224``): a square image with its channel left
      out, ``224x224x1``; a 1-D input of ``a`` channels is rarely that long.
    * ``FEW×LARGE`` (``1x16000``): PyTorch's ``C×L``, a signal.
    * ``FEW×LARGE×LARGE`` (``3x224x224``, ``1x28x28``): PyTorch's ``C×H×W``.
    * ``N×FEW×LARGE×LARGE`` (``1x3x224x224``): PyTorch's ``N×C×H×W``.
    * ``1×H×W×C`` with ``H`` or ``W`` > 1 (``1x224x224x3``): a batch of 1 first, ``N×H×W×C``;
      a 3-D input of depth 1 is no volume (``1x1x1x1024``, a pooled volume, is kept).
    * ``FEW×D×S×S``, ``S`` LARGE (``3x16x112x112``): PyTorch's ``C×D×H×W``, a clip.
      Square frames only: a short clip's channels-last features (``4x56x56x64``) are kept.
    * 5 numbers, never channels-last: ``N×FEW×D×LARGE×LARGE`` is PyTorch's ``N×C×D×H×W``,
      anything else a batch first, ``N×D×H×W×C``.

    Kept, for instance: ``12x12x3``, ``7x7x1024``, ``4x4x512``, ``1x1x1024``, ``100x16``,
    ``12x12``, ``8x32x32x3`` (3-D, depth 8).

    >>> misread((3, 224, 224)).split(";")[0]
    "3x224x224 reads as 224×224 with 3 channels in PyTorch's order (C×H×W)"
    >>> misread((4, 4, 512)) is None
    True
    """
    count = len(numbers)
    if count == 2:
        a, b = numbers
        if a == b >= SQUARE:
            return (
                f"{_x(numbers)} reads as a {a}×{b} image with its channel left out; sepconv "
                f"reads length×channels (1-D): give {a}x{b}x1{_as_written(numbers)}"
            )
        if a <= FEW_CHANNELS and b >= LARGE:
            return _pytorch(numbers, "C×L", None, (b,), a)
    elif count == 3:
        c, h, w = numbers
        if c <= FEW_CHANNELS and h >= LARGE and w >= LARGE:
            return _pytorch(numbers, "C×H×W", None, (h, w), c)
    elif count == 4:
        first, second, third, last = numbers
        if second <= FEW_CHANNELS and third >= LARGE and last >= LARGE:
            return _pytorch(numbers, "N×C×H×W", first, (third, last), second)
        if first == 1 and max(second, third) > 1:
            return (
                f"{_x(numbers)} reads as a batch of 1 of {_size(numbers[1:3], last)} "
                "(N×H×W×C); sepconv reads height×width×channels, the batch apart: give "
                f"{_x(numbers[1:])}{_as_written(numbers)}"
            )
        if first <= FEW_CHANNELS and third == last >= LARGE:
            return _pytorch(numbers, "C×D×H×W", None, numbers[1:], first)
    elif count == 5:
        first, second, _, height, width = numbers
        if second <= FEW_CHANNELS and height >= LARGE and width >= LARGE:
            return _pytorch(numbers, "N×C×D×H×W", first, numbers[2:], second)
        return (
            f"{_x(numbers)} reads as a batch of {first} of {_size(numbers[1:4], numbers[4])} "
            "(N×D×H×W×C, 5 numbers); sepconv reads depth×height×width×channels, the batch "
            f"apart: give {_x(numbers[1:])}{_batch(first)}"
        )
    return None


def _pytorch(
    numbers: tuple[int, ...],
    order: str,
    batch: int | None,
    spatial: tuple[int, ...],
    channels: int,
) -> str:
    """The message for a shape in PyTorch's ``order``: what it reads as, sepconv's order,
    the shape to give (or ``--layout nchw``) and what ``--layout nhwc`` keeps."""
    given = f"a batch of {batch} of " if batch is not None else ""
    apart = ", the batch apart" if batch is not None else ""
    # --layout nchw reads 4 numbers as N×C×H×W: a C×D×H×W clip needs its batch written
    nchw = f"--layout nchw {_x((1, *numbers))}" if order == "C×D×H×W" else "--layout nchw"
    keeps = _as_written(numbers) if len(numbers) <= MAX_DIMS + 1 else ""
    return (
        f"{_x(numbers)} reads as {given}{_size(spatial, channels)} in PyTorch's order "
        f"({order}); sepconv reads {_AXES[len(spatial)]}×channels{apart}: give "
        f"{_x((*spatial, channels))}{_batch(batch)} or {nchw}{keeps}"
    )


def _x(numbers: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in numbers)


def _size(spatial: tuple[int, ...], channels: int) -> str:
    where = f"length {spatial[0]}" if len(spatial) == 1 else "×".join(map(str, spatial))
    return f"{where} with {channels} channel{'s' if channels != 1 else ''}"


def _batch(batch: int | None) -> str:
    return f" --batch {batch}" if batch is not None and batch > 1 else ""


def _as_written(numbers: tuple[int, ...]) -> str:
    """What ``--layout nhwc`` keeps: the shape read channels-last, as written."""
    return f" (--layout nhwc: {_size(numbers[:-1], numbers[-1])}, as written)"


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
