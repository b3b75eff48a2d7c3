"""How ``sepconv compare`` pairs the rows of BASE with the rows of NEW: by name, then by
structure, never by position alone.

The rule, in order (each row a layer as counted, repeats already unrolled by
:mod:`sepconv_cli.analysis.compare_rows`, so a row folded as ``repeat: 3`` on one side meets the
three copies written out on the other):

1. **Names.** A name found once on each side pairs those two rows when they are of one
   type (an exporter may give a squeeze-excite the name of its last node), unless it holds a
   position: a part ``TYPE_N`` (``conv_3``, ``residual_5/add``, ``depthwise_1+pointwise_2``)
   with ``TYPE`` a spec layer type is what sepconv calls an unnamed layer after its place in
   the list, and pairing places would turn one insertion into a cascade. Of these pairs, the
   largest set in the same order on both sides (a longest increasing subsequence) become
   *anchors*; a name paired out of order is left to the next step.
2. **Structure.** Between two anchors the rows are diffed over their *signatures* (type,
   input shape, output shape, MACs and params): a longest common subsequence, the most rows
   equal on both sides in the same order (:func:`diff_opcodes`; past ``_DP_CELLS`` cells,
   :class:`difflib.SequenceMatcher`, ``autojunk`` off, as a network repeats its rows). Equal
   runs pair one to one; rows on one side only are added or removed, except adds that
   count nothing, which join the entry before them (a chain of two-input adds on one side
   is one sum of several inputs on the other: the same operation).
3. **Groups.** Where the diff replaces rows by other rows, a run of rows on one side whose
   summed counts equal one row on the other pairs with it as one entry: a spec's
   ``squeeze_excite`` against an ONNX file's pool, conv, conv and mul; a preset's
   ``inverted_residual`` against its expand, depthwise+project and add. The walk adds a row
   to the side whose running (MACs, params) is smaller until both are equal; rows that
   count nothing (an add, a pool) then join the group before them unless the other side
   has one too. A group must start at the same input shape and end at the same output shape
   on both sides, and hold at most one row that counts something on one of them (several
   against several could hide a real change that nets to zero). Groups are taken from both
   ends of a replaced run.
4. **Kind.** What remains of a replaced run pairs rows of the same type, as many as
   possible, preferring equal input and output shapes (a weighted longest common
   subsequence): a changed kernel is one changed row.
5. **Moved.** A row left removed and a row left added with the same signature (type, input
   and output shape, MACs, params), anywhere in the model, are one row written in another
   place (a DAG's branches in another topological order, a head written before another):
   they pair, in model order, at the removed row's place; a row that step 4 paired with a
   row of other counts is re-paired so, when that gives both rows a partner of their own
   signature.
6. **Cost.** Then a removed and an added row of the same MACs and params, not both 0, pair
   the same way whatever their types and shapes: one operation a file and a spec say
   differently (a file's MatMul on windows stacked in the batch, a spec's pointwise on
   tokens). What has no partner is added or removed.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Protocol, get_args

from sepconv_cli.spec.layers import LayerType

# a part of a name that is sepconv's default for an unnamed spec layer, TYPE_POSITION
# (counting/network.py, counting/pairing.py); parts are split at / . and +
_TYPES = "|".join(get_args(LayerType))
_POSITIONAL = re.compile(rf"(?:^|[/.+])(?:{_TYPES})_\d+(?=$|[/.+\[])")
# past this many cells the longest common subsequences of steps 2 and 4 (quadratic, in
# Python: about half a second) give way to SequenceMatcher's longest matching blocks
_DP_CELLS = 400_000


class Costed(Protocol):
    """What the alignment reads of a row."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def macs(self) -> int: ...
    @property
    def params(self) -> int: ...
    @property
    def input_shape(self) -> tuple[int, ...]: ...
    @property
    def output_shape(self) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class Pairing:
    """Rows of BASE and of NEW (indices) that are one entry of the comparison: one each
    (matched), a group against one row, or one side empty (added, removed)."""

    base: tuple[int, ...]
    new: tuple[int, ...]


def align(base: Sequence[Costed], new: Sequence[Costed]) -> list[Pairing]:
    """Every row of both sides in exactly one pairing, in model order (see the module)."""
    out: list[Pairing] = []
    i = j = 0
    for a, b in [*_name_anchors(base, new), (len(base), len(new))]:
        out += _diff(base, new, list(range(i, a)), list(range(j, b)))
        if a < len(base):
            out.append(Pairing((a,), (b,)))
        i, j = a + 1, b + 1
    return _moved(base, new, out)


def _moved(base: Sequence[Costed], new: Sequence[Costed], out: list[Pairing]) -> list[Pairing]:
    """Steps 5 and 6 (see the module)."""
    out = _swapped(base, new, _pair_alone(base, new, out, _signature))
    return _pair_alone(base, new, out, _costly)


def _costly(row: Costed) -> Hashable:
    """Step 6's key: the row's (MACs, params), or the row itself when both are 0 (such rows
    pair with nothing by cost)."""
    return _cost(row) if _cost(row) != (0, 0) else id(row)


def _pair_alone(
    base: Sequence[Costed],
    new: Sequence[Costed],
    out: list[Pairing],
    key: Callable[[Costed], Hashable],
) -> list[Pairing]:
    """A removed and an added row of one ``key`` pair, the k-th removed of a key with the
    k-th added, at the removed row's place."""
    removed: dict[Hashable, list[int]] = {}  # key → positions in out, in order
    for k, pairing in enumerate(out):
        if len(pairing.base) == 1 and not pairing.new:
            removed.setdefault(key(base[pairing.base[0]]), []).append(k)
    paired: dict[int, Pairing] = {}  # position of the removed row → its pairing
    dropped: set[int] = set()  # positions of added rows now paired
    for k, pairing in enumerate(out):
        if len(pairing.new) == 1 and not pairing.base:
            waiting = removed.get(key(new[pairing.new[0]]))
            if waiting:
                at = waiting.pop(0)
                paired[at] = Pairing(out[at].base, pairing.new)
                dropped.add(k)
    return [paired.get(k, p) for k, p in enumerate(out) if k not in dropped]


def _swapped(base: Sequence[Costed], new: Sequence[Costed], out: list[Pairing]) -> list[Pairing]:
    """Step 5's second half: a pair of two rows of other signatures, B→N, with a removed
    row B' of N's signature and an added row N' of B's, becomes B→N' and B'→N."""
    # per side, signature → the positions in out of its rows without a partner
    alone: dict[str, dict[Hashable, list[int]]] = {"base": {}, "new": {}}
    for k, pairing in enumerate(out):
        if len(pairing.base) == 1 and not pairing.new:
            alone["base"].setdefault(_signature(base[pairing.base[0]]), []).append(k)
        elif len(pairing.new) == 1 and not pairing.base:
            alone["new"].setdefault(_signature(new[pairing.new[0]]), []).append(k)
    changed: dict[int, Pairing] = {}
    dropped: set[int] = set()
    for k, pairing in enumerate(out):
        if len(pairing.base) != 1 or len(pairing.new) != 1:
            continue
        b, n = _signature(base[pairing.base[0]]), _signature(new[pairing.new[0]])
        if b == n:
            continue
        partner_new, partner_base = alone["new"].get(b), alone["base"].get(n)
        if partner_new and partner_base:
            at_new, at_base = partner_new.pop(0), partner_base.pop(0)
            changed[k] = Pairing(pairing.base, out[at_new].new)
            changed[at_base] = Pairing(out[at_base].base, pairing.new)
            dropped.add(at_new)
    return [changed.get(k, p) for k, p in enumerate(out) if k not in dropped]


def is_positional(name: str) -> bool:
    """Whether ``name`` holds a layer's place rather than a name (``conv_3``,
    ``residual_5/add``): such names never pair.

    >>> [is_positional(n) for n in ("conv_3", "b/residual_5.add", "conv2d_5", "sep9")]
    [True, True, False, False]
    """
    return _POSITIONAL.search(name) is not None


def _name_anchors(base: Sequence[Costed], new: Sequence[Costed]) -> list[tuple[int, int]]:
    """The pairs of rows named alike, once on each side, that keep the same order on both
    (the longest such run), as (base index, new index) in model order."""

    def names(rows: Sequence[Costed]) -> dict[str, int]:
        counts = Counter(row.name for row in rows)
        return {
            row.name: k
            for k, row in enumerate(rows)
            if counts[row.name] == 1 and not is_positional(row.name)
        }

    in_base = names(base)
    pairs = sorted(
        (j, in_base[name])
        for name, j in names(new).items()
        if name in in_base and base[in_base[name]].type == new[j].type
    )
    # longest increasing subsequence of the base indices, in the new side's order
    tails: list[int] = []  # tails[k]: the index in pairs ending the best run of length k+1
    before: list[int] = []  # the previous pair in the run each pair ends
    for k, (_, i) in enumerate(pairs):
        at = bisect_left([pairs[t][1] for t in tails], i)
        before.append(tails[at - 1] if at else -1)
        if at == len(tails):
            tails.append(k)
        else:
            tails[at] = k
    run: list[tuple[int, int]] = []
    k = tails[-1] if tails else -1
    while k >= 0:
        run.append((pairs[k][1], pairs[k][0]))
        k = before[k]
    return run[::-1]


def _signature(row: Costed) -> Hashable:
    return (row.type, row.input_shape, row.output_shape, row.macs, row.params)


def _diff(
    base: Sequence[Costed], new: Sequence[Costed], bs: list[int], ns: list[int]
) -> list[Pairing]:
    """Step 2: the rows ``bs`` and ``ns`` (between two anchors) diffed by signature."""
    opcodes = diff_opcodes(
        [_signature(base[i]) for i in bs],
        [_signature(new[j]) for j in ns],
        lambda i, j: _similarity(base[bs[i]], new[ns[j]]),
    )
    out: list[Pairing] = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            out += [Pairing((i,), (j,)) for i, j in zip(bs[i1:i2], ns[j1:j2], strict=True)]
        elif tag == "replace":
            out += _replaced(base, new, bs[i1:i2], ns[j1:j2])
        elif out and out[-1].base and out[-1].new and _sums(base, bs[i1:i2], new, ns[j1:j2]):
            # adds that count nothing: one side's chain of adds, the other's n-ary sum
            last = out.pop()
            out.append(Pairing(last.base + tuple(bs[i1:i2]), last.new + tuple(ns[j1:j2])))
        else:  # delete or insert: one side is empty
            out += _unpaired(bs[i1:i2], ns[j1:j2])
    return out


def _sums(base: Sequence[Costed], bs: list[int], new: Sequence[Costed], ns: list[int]) -> bool:
    """Whether the rows are all adds that count nothing."""
    rows = [base[i] for i in bs] + [new[j] for j in ns]
    return all(row.type == "add" and _cost(row) == (0, 0) for row in rows)


Opcode = tuple[str, int, int, int, int]


def diff_opcodes(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    similar: Callable[[int, int], int] | None = None,
) -> list[Opcode]:
    """``a`` turned into ``b`` as :meth:`difflib.SequenceMatcher.get_opcodes` says it
    (equal, replace, delete, insert), through a longest common subsequence: the most
    items equal in order. Among equally long ones, the alignment that also pairs the most
    ``similar`` items (``similar(i, j)``: 0 for a pair not allowed, else a small weight)
    between them, so what is left to replace lines up. Longer than ``_DP_CELLS`` cells,
    SequenceMatcher's own longest matching blocks.

    >>> [op[0] for op in diff_opcodes("abxcd", "abcyd")]
    ['equal', 'delete', 'equal', 'insert', 'equal']
    """
    m, n = len(a), len(b)
    if m * n > _DP_CELLS:
        matcher = SequenceMatcher(None, a, b, autojunk=False)
        return [(str(tag), i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    # an equal pair outweighs every similar pair there can be (each weighs at most 4)
    equal = 4 * min(m, n) + 1

    def weight(i: int, j: int) -> int:
        if a[i] == b[j]:
            return equal
        return similar(i, j) if similar is not None else 0

    # suffix scores: after[i][j] = the best alignment of a[i:] and b[j:]
    after = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(m - 1, -1, -1):
        row, below = after[i], after[i + 1]
        for j in range(n - 1, -1, -1):
            w = weight(i, j)
            row[j] = max(below[j], row[j + 1], below[j + 1] + w if w else 0)
    matches: list[tuple[int, int]] = []  # the equal pairs only: the rest is replaced
    i = j = 0
    while i < m and j < n:
        w = weight(i, j)
        if w and after[i][j] == after[i + 1][j + 1] + w:
            if w == equal:
                matches.append((i, j))
            i, j = i + 1, j + 1
        elif after[i + 1][j] >= after[i][j + 1]:
            i += 1
        else:
            j += 1
    opcodes: list[Opcode] = []
    i = j = 0
    for mi, mj in [*matches, (m, n)]:
        if i < mi or j < mj:
            tag = "replace" if i < mi and j < mj else "delete" if i < mi else "insert"
            opcodes.append((tag, i, mi, j, mj))
        if mi < m:
            last = opcodes[-1] if opcodes else None
            if last and last[0] == "equal" and last[2] == mi and last[4] == mj:
                opcodes[-1] = ("equal", last[1], mi + 1, last[3], mj + 1)
            else:
                opcodes.append(("equal", mi, mi + 1, mj, mj + 1))
        i, j = mi + 1, mj + 1
    return opcodes


def _unpaired(bs: Sequence[int], ns: Sequence[int]) -> list[Pairing]:
    return [Pairing((i,), ()) for i in bs] + [Pairing((), (j,)) for j in ns]


def _replaced(
    base: Sequence[Costed], new: Sequence[Costed], bs: list[int], ns: list[int]
) -> list[Pairing]:
    """Steps 3 and 4 for a run the diff replaced: groups from the front, groups from the
    back, the middle paired by kind."""
    head, i, j = _groups(base, new, bs, ns)
    bs, ns = bs[i:], ns[j:]
    tail, i, j = _groups(base, new, bs[::-1], ns[::-1])
    middle = _by_kind(base, new, bs[: len(bs) - i], ns[: len(ns) - j])
    back = [Pairing(p.base[::-1], p.new[::-1]) for p in reversed(tail)]
    return head + middle + back


def _cost(row: Costed) -> tuple[int, int]:
    return (row.macs, row.params)


def _groups(
    base: Sequence[Costed], new: Sequence[Costed], bs: list[int], ns: list[int]
) -> tuple[list[Pairing], int, int]:
    """Step 3 from the start of ``bs`` and ``ns`` (either may run backwards): the groups
    found, and how many rows of each side they took, up to the first that does not close."""
    out: list[Pairing] = []
    i = j = 0
    while i < len(bs) and j < len(ns):
        found = _group(base, new, bs, ns, i, j)
        if found is None:
            break
        i2, j2 = found
        out.append(Pairing(tuple(bs[i:i2]), tuple(ns[j:j2])))
        i, j = i2, j2
    return out, i, j


def _group(
    base: Sequence[Costed], new: Sequence[Costed], bs: list[int], ns: list[int], i: int, j: int
) -> tuple[int, int] | None:
    """The ends (exclusive) of the group starting at ``bs[i]`` and ``ns[j]``, or None."""

    def zero(row: Costed) -> bool:
        return _cost(row) == (0, 0)

    a, b = _cost(base[bs[i]]), _cost(new[ns[j]])
    i2, j2 = i + 1, j + 1
    while a != b:
        if a < b:
            if i2 == len(bs):
                return None
            a = (a[0] + base[bs[i2]].macs, a[1] + base[bs[i2]].params)
            i2 += 1
        else:
            if j2 == len(ns):
                return None
            b = (b[0] + new[ns[j2]].macs, b[1] + new[ns[j2]].params)
            j2 += 1
    # a row that counts nothing joins this group, unless the other side has one to pair
    while i2 < len(bs) and zero(base[bs[i2]]) and not (j2 < len(ns) and zero(new[ns[j2]])):
        i2 += 1
    while j2 < len(ns) and zero(new[ns[j2]]) and not (i2 < len(bs) and zero(base[bs[i2]])):
        j2 += 1
    rows_b = [base[k] for k in sorted(bs[i:i2])]
    rows_n = [new[k] for k in sorted(ns[j:j2])]
    counting = [sum(not zero(r) for r in rows) for rows in (rows_b, rows_n)]
    if min(counting) > 1:
        return None
    starts = _same_shape(rows_b[0].input_shape, rows_n[0].input_shape)
    ends = _same_shape(rows_b[-1].output_shape, rows_n[-1].output_shape)
    return (i2, j2) if starts and ends else None


def _same_shape(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """The same sizes, in any order (an ONNX file's rows outside a conv may keep the
    graph's channels-first order where a spec's are channels-last); an unknown shape
    (``()``: a report without shapes) agrees with any."""
    return sorted(a) == sorted(b) or not a or not b


def _by_kind(
    base: Sequence[Costed], new: Sequence[Costed], bs: list[int], ns: list[int]
) -> list[Pairing]:
    """Step 4: the most pairs of the same type, in order, equal shapes preferred."""
    if not bs or not ns:
        return _unpaired(bs, ns)
    if len(bs) * len(ns) > _DP_CELLS:
        return _by_type_diff(base, new, bs, ns)

    def weight(i: int, j: int) -> int:
        return _similarity(base[bs[i]], new[ns[j]])

    m, n = len(bs), len(ns)
    score = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(m):
        for j in range(n):
            w = weight(i, j)
            score[i + 1][j + 1] = max(
                score[i][j + 1], score[i + 1][j], (score[i][j] + w) if w else 0
            )
    out: list[Pairing] = []
    i, j = m, n
    while i and j:
        w = weight(i - 1, j - 1)
        if w and score[i][j] == score[i - 1][j - 1] + w:
            out.append(Pairing((bs[i - 1],), (ns[j - 1],)))
            i, j = i - 1, j - 1
        elif score[i][j] == score[i][j - 1]:
            out.append(Pairing((), (ns[j - 1],)))
            j -= 1
        else:
            out.append(Pairing((bs[i - 1],), ()))
            i -= 1
    out += [Pairing((), (ns[k],)) for k in reversed(range(j))]
    out += [Pairing((bs[k],), ()) for k in reversed(range(i))]
    return out[::-1]


def _similarity(b: Costed, n: Costed) -> int:
    """How alike two rows that are not equal are: 0 (not the same type: never paired),
    else 2, plus 1 for each of the input and output shapes that agree."""
    if b.type != n.type:
        return 0
    return 2 + (b.input_shape == n.input_shape) + (b.output_shape == n.output_shape)


def _by_type_diff(
    base: Sequence[Costed], new: Sequence[Costed], bs: list[int], ns: list[int]
) -> list[Pairing]:
    """Step 4 for a long run: a diff of the types; replaced runs of one length pair in
    order, the others are added and removed."""
    matcher = SequenceMatcher(
        None, [base[i].type for i in bs], [new[j].type for j in ns], autojunk=False
    )
    out: list[Pairing] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            out += [Pairing((i,), (j,)) for i, j in zip(bs[i1:i2], ns[j1:j2], strict=True)]
        else:
            out += _unpaired(bs[i1:i2], ns[j1:j2])
    return out
