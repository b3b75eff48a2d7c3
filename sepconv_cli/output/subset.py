"""Which rows a terminal shows of a table too long for it: the rule, free of Rich.

Rule (``sepconv profile`` in a terminal, without ``--all``):

* The rows that fit are the terminal's height less the lines everything else takes (title,
  header, rules, totals, notes, footer and the prompt after it), but at least
  :data:`MIN_ROWS` (a short terminal scrolls rather than show almost nothing) and at most
  :data:`MAX_ROWS` (a very tall one still gets a summary, not a listing).
* A model with no more rows than that shows every row. Otherwise identical rows (the same
  layer type, activation and operations in every form: a generated or imported model
  repeats a few kinds of layer many times) are grouped into one (not in a timed profile,
  whose rows are each measured), and the groups and single rows with the most MACs as
  specified are shown, in model order (a tie goes to the earlier row); the note under the
  table says how many rows were left out and their share of the MACs.

Written to a file or a pipe, or with ``--all``, a table shows every row; its totals always
cover the whole model.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar, runtime_checkable

MIN_ROWS = 10
MAX_ROWS = 200

T = TypeVar("T")


def rows_that_fit(height: int, other_lines: int) -> int:
    """How many table rows a terminal of ``height`` lines shows beside ``other_lines``."""
    return max(MIN_ROWS, min(MAX_ROWS, height - other_lines))


@dataclass(frozen=True)
class Unit(Generic[T]):
    """One shown row: a row, or identical rows grouped (in model order)."""

    members: tuple[T, ...]
    weight: int  # the members' MACs together


@dataclass(frozen=True)
class Subset(Generic[T]):
    units: tuple[Unit[T], ...]  # in model order
    total_rows: int
    left_out_rows: int
    left_out_weight: int

    @property
    def grouped(self) -> bool:
        return any(len(unit.members) > 1 for unit in self.units)


def largest(
    rows: Sequence[T],
    count: int,
    weight: Callable[[T], int],
    key: Callable[[T], Hashable] | None = None,
) -> Subset[T]:
    """The ``count`` units of ``rows`` with the most ``weight``, in model order. Rows with
    equal ``key`` (when given) form one unit, placed at its first row."""
    groups: dict[Hashable, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(key(row) if key is not None else i, []).append(i)
    units = [
        (sum(weight(rows[i]) for i in members), members[0], members) for members in groups.values()
    ]
    chosen = sorted(units, key=lambda u: (-u[0], u[1]))[:count]
    chosen.sort(key=lambda u: u[1])
    shown = sum(len(members) for _, _, members in chosen)
    return Subset(
        units=tuple(Unit(tuple(rows[i] for i in members), w) for w, _, members in chosen),
        total_rows=len(rows),
        left_out_rows=len(rows) - shown,
        left_out_weight=sum(w for w, *_ in units) - sum(w for w, *_ in chosen),
    )


@runtime_checkable
class RowLimited(Protocol):
    """A rendered report that shows a subset of its rows in a terminal."""

    show_all: bool


R = TypeVar("R")


def every_row(rendered: R) -> R:
    """``rendered`` showing every row wherever it is printed (``--all``)."""
    if isinstance(rendered, RowLimited):
        return replace(rendered, show_all=True)  # type: ignore[type-var]
    return rendered
