"""Peak activation memory by liveness: the most activation elements alive at once, in each
form (as specified, standard, separable). The rule is stated once, in
:mod:`sepconv_cli.counting.conventions` (``PEAK_MEMORY``); this module carries it out.

A :class:`Walker` takes steps in execution order, each reading some tensors and writing
others. A tensor is alive from the step that writes it (a model input: from the start) to
the last step that reads it (a model output: to the end); a step's inputs and outputs are
alive together. What is alive at each step is summed once (a difference array: linear in
steps and tensors), so a 10,000-layer model walks as fast as it counts.

Two front ends make the steps:

* a spec (:func:`spec_lives`): the rows the network builder made and the :class:`Flow` it
  recorded beside them (which tensors each row reads and writes: a residual's input until
  its add, every branch until its concat), each row's form expanded into its operations by
  :func:`row_steps`;
* a model file: ``interchange/onnx_liveness`` walks the graph's nodes, in the file's order,
  and uses :func:`row_steps`' rules where a form replaces a file's convolutions.

:func:`single_row_live` is one row on its own (``cost``): its input given, its output kept.
Sizes here are elements with the batch included; a report multiplies by the dtype's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Concat,
    Conv,
    Elementwise,
    Op,
    Scale,
    SqueezeExcite,
)

if TYPE_CHECKING:  # network.py imports this module: the types only
    from sepconv_cli.counting.lowering import Forms
    from sepconv_cli.counting.network import Row

FORM_NAMES = ("as_specified", "standard", "separable")
"""The forms, in the order of every :data:`Live` triple."""

Live = tuple[int, int, int]
"""Elements alive at once (batch included) at a row's fullest step, per form: as
specified, standard, separable."""

MERGES = frozenset({"add", "concat", "mul", "sub", "div"})
"""Row types that join tensors: a residual block's add, a ``branches`` block's merge."""


def form_ops(forms: Forms, form: int) -> tuple[Op, ...]:
    """The operations of form number ``form`` (0 as specified, 1 standard, 2 separable)."""
    return (forms.as_specified, forms.standard, forms.separable)[form]


def per_value(op: Op) -> bool:
    """An operation that maps each value to one value, with constants at most: a
    batch-norm, a learned scale or add, an elementwise function of one tensor (an
    activation layer, arithmetic with a constant). Done in place where nothing else reads
    its input (the rule)."""
    if isinstance(op, BatchNorm):
        return True
    if isinstance(op, (Scale, Add)):
        return op.params > 0
    if isinstance(op, Elementwise):
        return op.in_shape == op.result_shape and op.function not in MERGES
    return False


class Walker:
    """Tensors and steps in execution order, and what is alive at each step."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.first: list[int] = []  # the step that writes it (0 for a given input)
        self.last: list[int] = []  # the last step that reads (or writes) it
        self.kept: list[bool] = []  # alive to the end (a model output)
        self.written: list[bool] = []  # written by a step (a model input is not)
        self.rows: list[int] = []  # each step's row

    def tensor(self, elements: int, *, given: bool = False) -> int:
        """A new tensor of ``elements`` values; ``given``: alive from the start."""
        self.sizes.append(max(elements, 0))
        self.first.append(0 if given else -1)
        self.last.append(0 if given else -1)
        self.kept.append(False)
        self.written.append(False)
        return len(self.sizes) - 1

    def step(self, row: int, reads: Iterable[int], writes: Iterable[int] = ()) -> None:
        """One step of ``row``: ``reads`` and ``writes`` alive at once. A step that writes
        nothing marks the moment (an operation done in place, a view)."""
        at = len(self.rows)
        self.rows.append(row)
        for t in reads:
            self.last[t] = at
        for t in writes:
            if self.first[t] < 0:
                self.first[t] = at
                self.written[t] = True
            self.last[t] = at

    def keep(self, tensor: int) -> None:
        """``tensor`` is a model output: alive to the end."""
        self.kept[tensor] = True

    def alive(self) -> list[int]:
        """Elements alive at each step."""
        n = len(self.rows)
        change = [0] * (n + 1)
        for t, size in enumerate(self.sizes):
            lo = self.first[t]
            if lo < 0 or not size:  # never written: nothing to hold
                continue
            hi = n - 1 if self.kept[t] else max(self.last[t], lo)
            change[lo] += size
            change[min(hi, n - 1) + 1] -= size
        out, running = [], 0
        for delta in change[:n]:
            running += delta
            out.append(running)
        return out

    def row_peaks(self, rows: int) -> list[int]:
        """The most elements alive at any step of each of ``rows`` rows (0: no step)."""
        peaks = [0] * rows
        for row, live in zip(self.rows, self.alive(), strict=True):
            if 0 <= row < rows and live > peaks[row]:
                peaks[row] = live
        return peaks


def row_steps(
    w: Walker,
    row: int,
    ops: Sequence[Op],
    reads: Sequence[int],
    out: int,
    items: int,
    *,
    merge: bool = False,
) -> None:
    """The steps of one form of a row: ``ops`` reading ``reads``, the last writing ``out``;
    intermediate tensors ``items`` × their shape.

    * A ``merge`` row (an add, a concat, a product of branches): a concat is one step
      reading every input; adds and products combine the inputs one after another.
    * Otherwise the ops chain from ``reads[0]``: each is a step reading the one before's
      output; an op that maps each value to one value (a batch-norm) after another is done
      in place in that step; an add after another (an inverted residual's) also reads the
      row's input; a squeeze-and-excite is its pool, its two 1×1 convs (their activations
      in place) and the multiply of its input by the gate, each a step.
    """
    if merge and len(reads) > 1:
        if any(isinstance(op, Concat) for op in ops) or not ops:
            w.step(row, reads, (out,))
            return
        acc = reads[0]
        for i, op in enumerate(ops):
            last = i == len(ops) - 1
            dst = out if last else w.tensor(items * prod(op.out_shape))
            w.step(row, (acc, *reads[i + 1 : i + 2]), (dst,))
            acc = dst
        return
    x = reads[0] if reads else w.tensor(0, given=True)
    working = [i for i, op in enumerate(ops) if i == 0 or not per_value(op)]
    end = working[-1] if working else 0
    cur = x
    for i in working:
        op = ops[i]
        dst = out if i == end else w.tensor(items * prod(op.out_shape))
        if isinstance(op, SqueezeExcite):
            pool, squeeze, excite, _ = op.parts
            pooled = w.tensor(items * prod(pool.out_shape))
            w.step(row, (cur,), (pooled,))
            squeezed = w.tensor(items * prod(squeeze.out_shape))
            w.step(row, (pooled,), (squeezed,))
            gate = w.tensor(items * prod(excite.out_shape))
            w.step(row, (squeezed,), (gate,))
            w.step(row, (cur, gate), (dst,))
        elif isinstance(op, Add) and not op.params and i > 0:
            w.step(row, (cur, x), (dst,))  # the inverted residual's add: its input too
        else:
            w.step(row, (cur,), (dst,))
        cur = dst


def in_place_row(ops: Sequence[Op]) -> bool:
    """A row that is one value-by-value operation (a batch-norm, an activation layer, a
    layer scale): in place when its input was written by a step and nothing else reads it."""
    return len(ops) == 1 and per_value(ops[0])


@dataclass(frozen=True)
class Flow:
    """What a spec model's rows read and write, in execution order (recorded by the network
    builder beside its rows): ``steps`` are ``(row, reads, writes)`` with tensors by number,
    0 the model input; ``sizes`` each tensor's elements per item; ``outputs`` the model's
    outputs. A repeat folded into one row is recorded as two instances (the second sees
    what the first left alive; every later one is the same)."""

    steps: tuple[tuple[int, tuple[int, ...], int], ...]
    sizes: tuple[int, ...]
    outputs: tuple[int, ...]
    inputs: tuple[int, ...] = (0,)  # the model's inputs, given before the first step


def spec_lives(rows: Sequence[Row], flow: Flow, batch: int) -> list[Live]:
    """Each row's :data:`Live`: the most elements alive at any of its steps, per form."""
    readers = [0] * len(flow.sizes)
    for _, reads, _ in flow.steps:
        for t in reads:
            readers[t] += 1
    for t in flow.outputs:
        readers[t] += 1
    per_form: list[list[int]] = []
    for form in range(3):
        w = Walker()
        held = {t: w.tensor(batch * flow.sizes[t], given=True) for t in flow.inputs}
        for index, reads, writes in flow.steps:
            row = rows[index]
            ops = form_ops(row.forms, form)
            ins = tuple(held[t] for t in reads)
            merge = row.type in MERGES and len(reads) > 1
            if (
                not merge
                and len(reads) == 1
                and in_place_row(ops)
                and readers[reads[0]] == 1
                and w.written[ins[0]]
            ):
                held[writes] = ins[0]  # in place: its output is its input's tensor
                w.step(index, ins)
                continue
            held[writes] = w.tensor(batch * flow.sizes[writes])
            row_steps(w, index, ops, ins, held[writes], batch, merge=merge)
        for t in flow.outputs:
            w.keep(held[t])
        per_form.append(w.row_peaks(len(rows)))
    return [(a, s, p) for a, s, p in zip(*per_form, strict=True)]


def single_row_live(row: Row, batch: int) -> Live:
    """``row`` on its own: its input (or inputs) given, its output kept to the end."""
    lives = []
    for form in range(3):
        ops = form_ops(row.forms, form)
        w = Walker()
        merge = row.type in MERGES
        if merge and ops and isinstance(ops[0], Concat):
            shapes: Sequence[tuple[int, ...]] = ops[0].in_shapes
        elif merge:
            shapes = [row.input_shape] * (len(ops) + 1)
        else:
            shapes = [row.input_shape]
        ins = [w.tensor(batch * prod(s), given=True) for s in shapes]
        out = w.tensor(batch * prod(ops[-1].out_shape) if ops else 0)
        row_steps(w, 0, ops, ins, out, batch, merge=merge)
        w.keep(out)
        lives.append(max(w.alive(), default=0))
    return (lives[0], lives[1], lives[2])


def intermediate_change(forms: Forms, form: int) -> tuple[str, int] | None:
    """How form number ``form`` changes a model file's convolutions, as written, in its
    tensors: ``("split", elements per item)`` when it makes one convolution two (a k×k
    conv's separable form: the depthwise output is a new tensor of that size), ``("join",
    elements per item)`` when it makes two one (a depthwise and its 1×1 as one dense k×k:
    the depthwise's output is gone, the one conv writes the row's output of that size),
    None when the tensors are the file's."""
    written = [op for op in forms.as_specified if isinstance(op, Conv)]
    other = [op for op in form_ops(forms, form) if isinstance(op, Conv)]
    if len(written) == 1 and len(other) == 2:
        return ("split", prod(other[0].out_shape))
    if len(written) == 2 and len(other) == 1:
        return ("join", prod(form_ops(forms, form)[-1].out_shape))
    return None


@dataclass(frozen=True)
class Peak:
    """The peak of one form: its bytes and the row where it first occurs."""

    bytes: int
    row: str
    index: int


def peaks(names: Sequence[str], lives: Sequence[tuple[int, int, int]]) -> tuple[Peak, ...]:
    """Each form's :class:`Peak` over rows named ``names`` with ``lives`` (bytes or
    elements, one triple per row): the largest, at the first row that reaches it."""
    out = []
    for form in range(3):
        best, at = -1, -1
        for i, live in enumerate(lives):
            if live[form] > best:
                best, at = live[form], i
        out.append(Peak(max(best, 0), names[at] if at >= 0 else "", at))
    return tuple(out)
