"""The parts of a :class:`~sepconv_cli.output.fit.FitTable`: its cells (text, or
:class:`Both` renderings of one), the steps that make it narrower (:func:`narrow`,
:func:`drop`, :func:`shorten`), its columns and rows, and the layout the steps lead to.
The rule they serve is :mod:`sepconv_cli.output.fit`'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rich.console import JustifyMethod
from rich.text import Text

Cell = str | Text


@dataclass(frozen=True)
class Both:
    """A cell with two renderings: ``narrow`` leaves out only a convenience of ``wide``
    (the exact numbers stay)."""

    wide: Cell
    narrow: Cell


@dataclass(frozen=True)
class Step:
    action: Literal["narrow", "drop", "shorten"]
    keys: tuple[str, ...]
    label: str  # how the note names what the step leaves out
    min_width: int = 0  # shorten: the narrowest a name gets


def narrow(*keys: str, label: str) -> Step:
    """Switch ``keys`` to their narrow rendering (:class:`Both` cells, ``narrow_header``)."""
    return Step("narrow", keys, label)


def drop(*keys: str, label: str = "") -> Step:
    """Leave the columns ``keys`` out (together); the note names them by their headers."""
    return Step("drop", keys, label)


def shorten(key: str, min_width: int) -> Step:
    """Cut the names of column ``key`` in the middle, down to ``min_width`` characters."""
    return Step("shorten", (key,), "", min_width)


@dataclass(frozen=True)
class _Column:
    key: str
    header: str
    justify: JustifyMethod
    style: str
    narrow_header: str | None
    name: bool
    min_width: int | None


@dataclass(frozen=True)
class _Row:
    cells: tuple[Cell | Both, ...]
    style: str | None
    end_section: bool


@dataclass(frozen=True)
class _Layout:
    """Which columns are narrowed or dropped, and how wide names may be."""

    narrowed: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()
    name_width: dict[str, int] = field(default_factory=dict)
    fold: bool = False  # past the last step: numbers fold instead of being cut


def middle_ellipsis(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by replacing its middle with …: both ends of a
    name (``block_13_depthwise`` → ``block_1…depthwise``) tell it apart from its
    neighbours."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")
