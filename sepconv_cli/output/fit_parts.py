"""The parts of a :class:`~sepconv_cli.output.fit.FitTable`: its cells (text, or
:class:`Both` renderings of one), the steps that make it narrower (:func:`narrow`,
:func:`drop`, :func:`shorten`), its columns and rows, and the layout the steps lead to.
The rule they serve is :mod:`sepconv_cli.output.fit`'s."""

from __future__ import annotations

from collections.abc import Iterable
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


def cell_texts(cells: Iterable[Cell | Both]) -> list[str]:
    """The plain text of every rendering of ``cells``."""
    out = []
    for cell in cells:
        for one in (cell.wide, cell.narrow) if isinstance(cell, Both) else (cell,):
            out.append(one.plain if isinstance(one, Text) else one)
    return out


def cut_names(names: Iterable[str], width: int) -> dict[str, str]:
    """Each name longer than ``width`` cut to ``width`` characters, as ``{name: cut}``: its
    start, …, then its end, which tells rows apart (the last part of a path, the index:
    ``block5[0..1]/expand`` → ``blo…0..1]/expand``). One cut for the whole column: the
    start keeps about a third of the width, less (then more) where that would show two
    different names alike (``branches.branch0.separable_0`` and ``…branch1…`` at 17 keep
    ``bra…0.separable_0`` and ``bra…1.separable_0``, not ``branc…separable_0`` twice);
    when no cut tells them all apart, the one that tells most apart."""
    given = set(names)
    long = sorted(n for n in given if len(n) > width)
    if not long:
        return {}
    if width <= 1:
        return {n: "…"[:width] for n in long}
    whole = given.difference(long)
    default = (width - 1) // 3
    best: tuple[int, dict[str, str]] | None = None
    for head in (*range(default, -1, -1), *range(default + 1, width)):
        cuts = {n: _cut(n, width, head) for n in long}
        shown = set(cuts.values())
        alike = len(long) - len(shown) + len(shown & whole)
        if not alike:
            return cuts
        if best is None or alike < best[0]:
            best = (alike, cuts)
    assert best is not None  # width > 1: the loop ran
    return best[1]


def _cut(name: str, width: int, head: int) -> str:
    tail = width - 1 - head
    return name[:head] + "…" + (name[-tail:] if tail else "")
