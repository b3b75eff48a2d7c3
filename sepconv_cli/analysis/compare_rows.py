"""The rows ``sepconv compare`` compares: each side's values, repeats unrolled into their
copies, paired (:mod:`sepconv_cli.analysis.compare_align`) and folded back into entries.

Copies that paired one to one with the copies of one row on the other side (or were all
added, or all removed) fold back into that row, so a folded ``repeat`` that is unchanged, or
changed alike in every copy, stays one entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal

from sepconv_cli.analysis.compare_align import Pairing, align

# a layer found in both models, only in NEW, or only in BASE
Status = Literal["matched", "added", "removed"]


@dataclass(frozen=True)
class LayerValues:
    """One row: its counts and time cover all ``repeat`` copies; shapes are one copy's
    (``()`` when a report does not say)."""

    name: str
    type: str
    macs: int
    params: int
    time_s: float | None
    repeat: int = 1
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()

    def get(self, metric: str) -> int | float | None:
        if metric == "time":
            return self.time_s
        return self.macs if metric == "macs" else self.params


@dataclass(frozen=True)
class Delta:
    base: int | float | None
    new: int | float | None

    @property
    def absolute(self) -> int | float | None:
        return None if self.base is None or self.new is None else self.new - self.base

    @property
    def percent(self) -> float | None:
        """Growth in percent; None when undefined (from zero) or beyond a float's range."""
        if self.base is None or self.new is None or self.base == 0:
            return None
        try:
            return float((Fraction(self.new) / Fraction(self.base) - 1) * 100)
        except OverflowError:
            return None


@dataclass(frozen=True)
class LayerChange:
    """One entry: a row of each side (matched), one side's row (added, removed), or a
    group of rows against one row, with ``base``/``new`` their sums. ``base_rows`` and
    ``new_rows`` name the rows of each side it covers."""

    name: str
    status: Status
    base: LayerValues | None
    new: LayerValues | None
    base_rows: tuple[str, ...] = ()
    new_rows: tuple[str, ...] = ()

    def delta(self, metric: str) -> Delta:
        """An added layer grows from 0; a removed one shrinks to 0."""
        base = self.base.get(metric) if self.base else None
        new = self.new.get(metric) if self.new else None
        if self.status == "added" and new is not None:
            base = 0
        if self.status == "removed" and base is not None:
            new = 0
        return Delta(base, new)


# a folded repeat in a row's name: block5[0..1]/expand stands for block5[0] and block5[1]
_RANGE = re.compile(r"\[(\d+)\.\.(\d+)\]")


@dataclass(frozen=True)
class _Side:
    """One side unrolled: its copies, and each block's copies (positions) by block."""

    copies: list[_Copy]
    spans: dict[int, list[int]]

    @classmethod
    def of(cls, layers: tuple[LayerValues, ...]) -> _Side:
        runs = unroll([(row, k) for k, row in enumerate(layers)])
        copies = [_Copy(values, origin, run) for values, origin, run in runs]
        spans: dict[int, list[int]] = {}
        for position, copy in enumerate(copies):
            spans.setdefault(copy.block, []).append(position)
        return cls(copies, spans)


@dataclass(frozen=True)
class _Copy:
    """One copy of a row, unrolled: its values, the row it came from, and the run of rows
    that were unrolled together (the first row's index): a repeated block's rows."""

    values: LayerValues
    origin: int
    block: int


def _share(total: int, k: int, n: int) -> int:
    """Copy ``k``'s share of ``total`` over ``n`` copies: even, the first copies taking the
    remainder, so the copies sum to the row."""
    return total // n + (1 if k < total % n else 0)


def _copy(row: LayerValues, name: str, k: int, n: int) -> LayerValues:
    time_s = None if row.time_s is None else row.time_s / n
    return replace(
        row,
        name=name,
        macs=_share(row.macs, k, n),
        params=_share(row.params, k, n),
        time_s=time_s,
        repeat=row.repeat // n,
    )


def unroll(rows: list[tuple[LayerValues, int]]) -> list[tuple[LayerValues, int, int]]:
    """Rows (each with where it came from) as their copies, in the order they run, each
    with the index in ``rows`` of the run of rows it unrolled with.

    A repeated block is folded as consecutive rows whose names hold the same ``[a..b]``
    (``block5[0..1]/expand``, ``block5[0..1]/depthwise+project``): they unroll together,
    copy by copy (``block5[0]/expand``, ``block5[0]/depthwise+project``, ``block5[1]/…``),
    nested ranges in turn, each copy with an even share of the counts and time. A repeated
    row whose name holds no such range unrolls on its own, as ``name[k]``.

    >>> row = LayerValues("b[0..1]/x", "conv", 10, 4, None, repeat=2)
    >>> rows = [(row, 0), (replace(row, name="b[0..1]/y"), 1)]
    >>> [(v.name, v.macs, run) for v, _, run in unroll(rows)]
    [('b[0]/x', 5, 0), ('b[0]/y', 5, 0), ('b[1]/x', 5, 0), ('b[1]/y', 5, 0)]
    """
    out: list[tuple[LayerValues, int, int]] = []
    k = 0
    while k < len(rows):
        row, origin = rows[k]
        found = _RANGE.search(row.name) if row.repeat > 1 else None
        count = int(found[2]) - int(found[1]) + 1 if found else 0
        if found is None or count < 2 or row.repeat % count:
            n = row.repeat
            if n == 1:
                out.append((row, origin, k))
            out += [(_copy(row, f"{row.name}[{i}]", i, n), origin, k) for i in range(n) if n > 1]
            k += 1
            continue
        prefix, end = row.name[: found.end()], k + 1
        while end < len(rows) and rows[end][0].name.startswith(prefix):
            if rows[end][0].repeat % count:
                break
            end += 1
        for i in range(count):
            index = f"[{int(found[1]) + i}]"
            copies = [
                (_copy(r, r.name[: found.start()] + index + r.name[found.end() :], i, count), o)
                for r, o in rows[k:end]
            ]
            out += [(values, o, k) for values, o, _ in unroll(copies)]
        k = end
    return out


def pair_rows(
    base: tuple[LayerValues, ...], new: tuple[LayerValues, ...]
) -> tuple[LayerChange, ...]:
    """Pair the rows of BASE and NEW: repeats unrolled on both sides (:func:`unroll`), then
    paired by name and by structure (:func:`sepconv_cli.analysis.compare_align.align`). A
    repeated block whose copies all paired one to one, in order, with the copies of one
    block on the other side (or were all added, or all removed) folds back into its rows.
    The result is in model order, a removed row where it stood."""
    sides = (_Side.of(base), _Side.of(new))
    copies_b, copies_n = sides[0].copies, sides[1].copies
    pairings = align([c.values for c in copies_b], [c.values for c in copies_n])
    changes: list[LayerChange] = []
    k = 0
    while k < len(pairings):
        folded = _folded(pairings, k, sides)
        if folded:
            origins, size = folded
            for ob, on in origins:
                changes.append(
                    _change(() if ob is None else (base[ob],), () if on is None else (new[on],))
                )
            k += size
            continue
        rows_b = tuple(copies_b[i].values for i in pairings[k].base)
        rows_n = tuple(copies_n[j].values for j in pairings[k].new)
        changes.append(_change(rows_b, rows_n))
        k += 1
    return tuple(changes)


Origins = list[tuple[int | None, int | None]]


def _folded(
    pairings: list[Pairing], k: int, sides: tuple[_Side, _Side]
) -> tuple[Origins, int] | None:
    """Whether ``pairings[k:]`` start with every copy of a repeated block on each side
    present, in order, one to one, each row's copies with the copies of one row on the
    other side: (those rows paired, in order; how many pairings), else None."""
    first = pairings[k]
    spans: list[list[int] | None] = []
    for side, at in zip(sides, (first.base, first.new), strict=True):
        span = side.spans[side.copies[at[0]].block] if len(at) == 1 else None
        if at and (span is None or len(span) == 1 or span[0] != at[0]):
            return None
        spans.append(span)
    sizes = {len(span) for span in spans if span is not None}
    if len(sizes) != 1 or k + (size := sizes.pop()) > len(pairings):
        return None
    pairs: dict[tuple[int | None, int | None], None] = {}  # in order, once each
    for t in range(size):
        p = pairings[k + t]
        want = [() if span is None else (span[t],) for span in spans]
        if (p.base, p.new) != tuple(want):
            return None
        ob, on = (
            side.copies[w[0]].origin if w else None for side, w in zip(sides, want, strict=True)
        )
        pairs[(ob, on)] = None
    # each row's copies all went to one row of the other side
    for rows in ([ob for ob, _ in pairs], [on for _, on in pairs]):
        if None not in rows and len(set(rows)) != len(rows):
            return None
    return list(pairs), size


def _change(rows_b: tuple[LayerValues, ...], rows_n: tuple[LayerValues, ...]) -> LayerChange:
    """One entry of the comparison: named by NEW's row, else by the one row of a group."""
    status: Status = "matched" if rows_b and rows_n else "added" if rows_n else "removed"
    single = next((rows for rows in (rows_n, rows_b) if len(rows) == 1), None)
    some = single or rows_n or rows_b
    name = some[0].name if len(some) == 1 else f"{some[0].name} … {some[-1].name}"
    return LayerChange(
        name,
        status,
        _merged(rows_b),
        _merged(rows_n),
        tuple(row.name for row in rows_b),
        tuple(row.name for row in rows_n),
    )


def _merged(rows: tuple[LayerValues, ...]) -> LayerValues | None:
    """A group's rows as one: summed counts and time (None unless every row was timed)."""
    if len(rows) <= 1:
        return rows[0] if rows else None
    times = [row.time_s for row in rows]
    return LayerValues(
        name=f"{rows[0].name} … {rows[-1].name}",
        type="group",
        macs=sum(row.macs for row in rows),
        params=sum(row.params for row in rows),
        time_s=None if None in times else sum(t or 0.0 for t in times),
        input_shape=rows[0].input_shape,
        output_shape=rows[-1].output_shape,
    )
