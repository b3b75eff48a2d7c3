"""Consecutive identical blocks of rows folded into one block with a repeat count, as a
YAML ``repeat`` is reported: ResNet's 2nd to 6th bottleneck of a stage become one block ×5.

Rows are identical when their type, input shape, forms and activations are; the folded row
keeps the first instance's name with the part that varies written as a range
(``layer3.[1..5].conv1``), and its counts cover every instance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from sepconv_cli.counting.network import Row

MAX_BLOCK = 32
"""The longest block (in rows) looked for: a bottleneck is 4 rows, a transformer block ~10."""


def _key(row: Row) -> tuple[object, ...]:
    return (row.type, row.input_shape, row.forms, row.activation, row.inner_activation)


def instance_numbers(first: str, last: str) -> tuple[str, str] | None:
    """The one number in which two rows' names differ (``layer3.1.conv1`` and
    ``layer3.5.conv1`` → ("1", "5")), or None when they differ otherwise."""
    a, b = re.split(r"(\d+)", first), re.split(r"(\d+)", last)
    if len(a) != len(b):
        return None
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(differ) == 1 and a[differ[0]].isdigit() and b[differ[0]].isdigit():
        return a[differ[0]], b[differ[0]]
    return None


def range_name(first: str, last: str) -> str:
    """The name of rows ``first`` … ``last``: their one differing number as ``[a..b]``,
    or as ``a..b`` when the names already bracket it (``block5[0]/expand`` … ``block5[1]/
    expand`` → ``block5[0..1]/expand``, as sepconv names a spec's repeats).

    >>> range_name("layer3.1.conv1", "layer3.5.conv1"), range_name("b[0]/x", "b[2]/x")
    ('layer3.[1..5].conv1', 'b[0..2]/x')
    """
    a, b = re.split(r"(\d+)", first), re.split(r"(\d+)", last)
    numbers = instance_numbers(first, last)
    if numbers is None:
        return first if first == last else f"{first}..{last}"
    i = next(k for k, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    before, after = "".join(a[:i]), "".join(a[i + 1 :])
    if before.endswith("[") and after.startswith("]"):
        return f"{before}{numbers[0]}..{numbers[1]}{after}"
    return f"{before}[{numbers[0]}..{numbers[1]}]{after}"


def _same_instances(rows: Sequence[Row], start: int, size: int, n: int) -> bool:
    """Rows ``start`` … in ``n`` blocks of ``size`` are instances of one block when every
    row's name differs from its copy's in the same instance number (so a block is not read
    out of step, ``add, conv1, conv2`` against ``conv1, conv2, add``, or across branches)."""
    for k in range(1, n):
        pairs = {
            instance_numbers(rows[start + j].name, rows[start + k * size + j].name)
            for j in range(size)
        }
        if len(pairs) != 1 or None in pairs:
            return False
    return True


def _most_live(instances: Sequence[Row]) -> tuple[int, int, int] | None:
    """The folded row's live elements: each form's most over its instances."""
    lives = [row.live for row in instances if row.live is not None]
    if not lives:
        return None
    return (max(x[0] for x in lives), max(x[1] for x in lives), max(x[2] for x in lives))


def fold_repeats(rows: Sequence[Row]) -> list[Row]:
    """``rows`` with each run of identical consecutive blocks folded (the shortest block
    that repeats is taken first), re-indexed."""
    keys = [hash(_key(row)) for row in rows]
    out: list[Row] = []
    i = 0
    while i < len(rows):
        folded = False
        for size in range(1, min(MAX_BLOCK, (len(rows) - i) // 2) + 1):
            n = 1
            while (
                i + (n + 1) * size <= len(rows)
                and keys[i + n * size : i + (n + 1) * size] == keys[i : i + size]
                and all(_key(rows[i + n * size + j]) == _key(rows[i + j]) for j in range(size))
            ):
                n += 1
            if n > 1 and _same_instances(rows, i, size, n):
                for j in range(size):
                    first, last = rows[i + j], rows[i + (n - 1) * size + j]
                    out.append(
                        replace(
                            first,
                            repeat=first.repeat * n,
                            name=range_name(first.name, last.name),
                            live=_most_live(rows[i + j : i + n * size : size]),
                        )
                    )
                i += n * size
                folded = True
                break
        if not folded:
            out.append(rows[i])
            i += 1
    return [replace(row, index=k) for k, row in enumerate(out)]
