"""Depthwise convolution in NumPy: ``np.einsum`` over strided window views, its output rows
split across threads when the layer is large enough to gain from it. It is one kernel and
stays one module: the plan (phases, row blocks, parts), the buffers it sizes and the steps
that read them share every layout below, so they change together.

Layouts follow :mod:`sepconv_cli.execution.kernels`: input ``(N, *spatial, C)``, weights
``(*kernel, C, M)``, output channel ``c*M + m``.

Why einsum: it accumulates ``out += x_tap * w_tap`` in one fused pass per tap, where two
ufuncs (multiply into a temporary, then add) make two passes and a temporary; on the
MobileNetV1 shapes it is 1.8x faster than multiply+add (112×112×32: 514 µs against 929 µs),
at about 0.14 ns per output element and tap whatever the block size, which is its inner
loop's speed, not the cache's.

einsum vectorises its innermost axis only when it is contiguous in every operand, so:

* with stride 1 in the last spatial dim, that dim and the channels are coalesced into one
  axis of ``Wo*C`` elements and the weights are tiled along ``Wo`` to match;
* with a stride ``s > 1`` there and fewer than :data:`PHASE_BELOW_CHANNELS` channels, the
  padded input is stored as ``s`` phases, ``(..., phase, Wp/s, C)``: tap ``j`` reads phase
  ``(j*d) % s`` at offset ``(j*d) // s``, contiguously. Taps are grouped by phase; the first
  group's einsum writes the output, each further group's einsum a block-sized temporary
  that one ``add`` folds in (3×3 stride 2: 6 + 3 taps and one add, where a zero-padded tap
  grid would make 12 passes);
* with many channels the strided view is used as it is: its inner loop is ``C`` elements
  long, long enough that the phase copy would cost more than it saves;
* with a multiplier M > 1 the output channel ``c*M + m`` is strided, and einsum writing a
  strided output runs ~10x slower: each m is computed into a contiguous block-sized
  scratch array, then copied into place (16×32×32×32, 3×3×3, M = 2: 4.7 ms, against
  30 ms writing the strided output).

Output rows (the first spatial dim; the batch items in 1D) are processed in blocks of about
:data:`BLOCK_ELEMENTS` elements.

Threads: einsum releases the GIL, so with ``threads = P > 1`` the output rows are split into
up to P *parts* that run at once (:func:`sepconv_cli.execution.workers.run_all`). Each part
owns a slab of the padded (or phased) input holding exactly the rows its windows read, halo rows
included, and copies its own rows into it: parts share no written array, so they need no
barrier, and each output element is the same sum in the same order as in one part, so
splitting never changes a result. Splitting pays on large layers and loses on small ones,
where the thread hand-off (~45 µs round trip on a 2-core virtual machine) exceeds the
saving. Measured on 2 cores, one part against two (µs):

==================  ===========  ===========  ============================
layer               one part     two parts    output elements × taps/part
==================  ===========  ===========  ============================
112×112×32, s1      560          355          1.8 M
112×112×64, s2      440          320-375      0.9 M
56×56×128, s1       540          350-420      1.8 M
28×28×256, s1       270          230-245      0.9 M
56×56×128, s2       210          210-235      0.45 M
14×14×512, s1       139          141-149      0.45 M
28×28×256, s2       107          170          0.23 M
==================  ===========  ===========  ============================

So a layer is split only into parts of at least :data:`MIN_PART_WORK` output elements × taps,
and into no more parts than the process has CPUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from math import prod
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from sepconv_cli.counting.ops import Conv
from sepconv_cli.execution import workers
from sepconv_cli.execution.buffers import (
    Array,
    Buffer,
    BufferInit,
    Prepared,
    Step,
    allocate,
    compute_dtype,
    copier,
    padded_shape,
    sequence,
    window_out,
)

# Output elements per depthwise einsum call: large enough that einsum's per-call overhead
# (it parses its subscripts and builds an iterator, ~5-10 µs) vanishes. Measured on the
# MobileNetV1 layers, its time is flat from 2**17 up: its inner loop, not the cache, is
# the limit.
BLOCK_ELEMENTS = 1 << 19
# a strided depthwise view with fewer channels than this is split into phases (see above);
# measured on the stride-2 MobileNetV1 layers: phases win up to 256 channels (64: 440 µs
# against 820 µs strided; 256: 108 against 115), the strided view at 512 (52 against 55)
PHASE_BELOW_CHANNELS = 512
# the least work (output elements × kernel taps) a part must have to run in its own thread:
# between the largest layer that lost from a split and the smallest that gained (above)
MIN_PART_WORK = 1 << 19

_TAP_LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class _PhaseGroup:
    """Taps of the last kernel dim that read one phase of the phased input."""

    phase: int
    first: int  # offset (in phase positions) of the group's first tap
    step: int  # offset between consecutive taps of the group
    taps: tuple[int, ...]  # kernel indices j, in the order they are stored in w_tiled


@dataclass(frozen=True)
class _Part:
    """Output rows ``rows`` (along the row axis), computed from a slab holding ``src_rows``
    of the padded input."""

    rows: range
    src_rows: range


@dataclass(frozen=True)
class _Plan:
    """Every buffer of a depthwise execution, and the layout decisions they follow.

    Shared by the parts: the weights, their tiled form and the output. Per part ``k``:
    ``src{k}`` (its input slab, when the input needs padding, phases or a cast) and
    ``partial{k}`` (the temporary of the second and later phase groups) and, with a
    multiplier, ``scratch{k}`` (one multiplier's contiguous block before it is copied into
    the interleaved output).
    """

    buffers: list[Buffer]
    out_spatial: tuple[int, ...]
    source: str  # "phased", "padded", "cast" (float16 read into float32) or "direct"
    groups: tuple[_PhaseGroup, ...]
    rows_per_block: int
    parts: tuple[_Part, ...]

    @property
    def phased(self) -> bool:
        return self.source == "phased"


def _phase_groups(k: int, s: int, d: int) -> tuple[_PhaseGroup, ...]:
    groups = []
    for phase in range(s):
        taps = tuple(j for j in range(k) if (j * d) % s == phase)
        if not taps:
            continue
        offsets = [(j * d) // s for j in taps]
        step = offsets[1] - offsets[0] if len(offsets) > 1 else 1
        groups.append(_PhaseGroup(phase, offsets[0], step, taps))
    return tuple(groups)


def _rows_total(op: Conv, batch: int, out_spatial: tuple[int, ...]) -> int:
    """Rows of the row axis: the first spatial dim, or the batch items in 1D."""
    return out_spatial[0] if len(op.kernel) > 1 else batch


def part_count(op: Conv, batch: int, threads: int, split: bool | None = None) -> int:
    """How many parts run at once: at most ``threads`` and the row count, and (unless
    ``split`` forces it) no more than keeps :data:`MIN_PART_WORK` per part nor than this
    process has CPUs (4 parts on 2 cores measured 1.7x slower than 2); ``split=False`` runs
    one part."""
    padded = padded_shape(op.in_shape[:-1], op.pads)
    out_sp = window_out(padded, op.kernel, op.stride, op.dilation)
    most = min(threads, _rows_total(op, batch, out_sp))
    if split is False:
        return 1
    if split is None:
        work = batch * prod(out_sp) * op.out_channels * prod(op.kernel)
        most = min(most, work // MIN_PART_WORK, workers.usable_cpus())
    return max(1, most)


def _split(op: Conv, rows_total: int, count: int) -> tuple[_Part, ...]:
    """``count`` parts of about equal row counts, with the padded rows each one reads."""
    bounds = [rows_total * k // count for k in range(count + 1)]
    parts = []
    for a, b in pairwise(bounds):
        if len(op.kernel) > 1:
            s, d, k = op.stride[0], op.dilation[0], op.kernel[0]
            src = range(a * s, (b - 1) * s + (k - 1) * d + 1)
        else:
            src = range(a, b)  # 1D: the rows are batch items, read without a halo
        parts.append(_Part(range(a, b), src))
    return tuple(parts)


def plan(
    op: Conv, batch: int, dt: np.dtype[Any], threads: int = 1, split: bool | None = None
) -> _Plan:
    """The buffers of a depthwise execution, in as many parts as :func:`part_count` gives
    for ``threads`` and ``split``."""
    rank = len(op.kernel)
    cin = op.in_channels
    mult = op.out_channels // cin
    padded = padded_shape(op.in_shape[:-1], op.pads)
    out_sp = window_out(padded, op.kernel, op.stride, op.dilation)
    s_last, d_last, k_last = op.stride[-1], op.dilation[-1], op.kernel[-1]
    wo = out_sp[-1]
    # NumPy's float16 einsum is ~70x slower than float32: compute in float32, store half
    cdt = compute_dtype(dt)
    if s_last > 1 and cin < PHASE_BELOW_CHANNELS:
        source = "phased"
    elif any(p != (0, 0) for p in op.pads):
        source = "padded"
    elif cdt != dt:
        source = "cast"
    else:
        source = "direct"
    groups = (
        _phase_groups(k_last, s_last, d_last)
        if source == "phased"
        else (_PhaseGroup(0, 0, d_last, tuple(range(k_last))),)
    )
    bufs = [Buffer("w", (*op.kernel, cin, mult), dt, "weight", prod(op.kernel))]
    if op.bias:
        bufs.append(Buffer("b", (op.out_channels,), dt, "weight"))
    # the weights tiled along Wo, last-dim taps in phase-group order
    bufs.append(Buffer("w_tiled", (mult, *op.kernel, wo * cin), cdt))
    row_elems = prod(out_sp[1:]) * op.out_channels if rank > 1 else wo * op.out_channels
    rows_total = _rows_total(op, batch, out_sp)
    rows_per_block = max(1, min(rows_total, BLOCK_ELEMENTS // max(row_elems, 1)))
    # a slab's dims besides its rows: (batch, rows, *rest) in 2D/3D, (rows, *rest) in 1D
    rest = padded[1:] if rank > 1 else padded
    if source == "phased":
        last_offset = max((j * d_last) // s_last for j in range(k_last))
        q_len = max(-(-padded[-1] // s_last), last_offset + wo)
        rest = (*rest[:-1], s_last, q_len)
    parts = _split(op, rows_total, part_count(op, batch, threads, split))
    for k, part in enumerate(parts):
        if source != "direct":
            lead = (batch, len(part.src_rows)) if rank > 1 else (len(part.src_rows),)
            init: BufferInit = "empty" if source == "cast" else "zeros"  # the pads stay zero
            bufs.append(Buffer(f"src{k}", (*lead, *rest, cin), cdt, init))
        block_rows = min(rows_per_block, len(part.rows))
        if len(groups) > 1:
            bufs.append(Buffer(f"partial{k}", (block_rows * row_elems // mult,), cdt))
        if mult > 1:
            bufs.append(Buffer(f"scratch{k}", (block_rows * row_elems // mult,), cdt))
    if cdt != dt:
        bufs.append(Buffer("out_compute", (batch, *out_sp, op.out_channels), cdt))
    bufs.append(Buffer("out", (batch, *out_sp, op.out_channels), dt))
    return _Plan(bufs, out_sp, source, groups, rows_per_block, parts)


def build(
    op: Conv,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
    threads: int = 1,
    split: bool | None = None,
) -> Prepared:
    """Allocate and prepare a depthwise convolution, in parts run at once where
    :func:`part_count` says so."""
    p = plan(op, batch, dt, threads, split)
    arrays = allocate(p.buffers, rng, weights)
    _tile_weights(op, p, arrays["w"], arrays["w_tiled"])
    tasks = [sequence(_part_steps(op, batch, p, arrays, x, k)) for k in range(len(p.parts))]
    name = "depthwise-einsum" + ("-phased" if p.phased else "")
    if len(tasks) > 1:
        name += f"-{len(tasks)}-threads"
        run: Step = partial(workers.run_all, tasks)
    else:
        run = tasks[0]
    return Prepared(
        op,
        x,
        arrays["out"],
        {k: arrays[k] for k in ("w", "b") if k in arrays},
        run,
        sum(b.nbytes for b in p.buffers),
        (batch, *op.out_shape),
        name,
    )


def _tile_weights(op: Conv, p: _Plan, w: Array, wt: Array) -> None:
    """``wt[m, *k[:-1], t, wo*cin] = w[*k[:-1], j_t, c, m]`` repeated along Wo."""
    wo, cin = p.out_spatial[-1], op.in_channels
    order = [j for g in p.groups for j in g.taps]
    for t, j in enumerate(order):
        tap = np.moveaxis(w[..., j, :, :], -1, 0)  # (mult, *k[:-1], cin)
        wt[..., t, :] = np.broadcast_to(tap[..., None, :], (*tap.shape[:-1], wo, cin)).reshape(
            *tap.shape[:-1], wo * cin
        )


def _rows(a: Array, rows: range, rank: int) -> Array:
    """``a`` restricted to rows of the row axis (axis 1 in 2D/3D, the batch axis in 1D)."""
    index = slice(rows.start, rows.stop)
    return a[:, index] if rank > 1 else a[index]


def _fill_steps(op: Conv, batch: int, p: _Plan, x: Array, part: _Part, slab: Array) -> list[Step]:
    """Copy the input rows the part reads into its slab (pads stay zero)."""
    rank = len(op.kernel)
    pad_before, height = (op.pads[0][0], op.in_shape[0]) if rank > 1 else (0, batch)
    first = max(0, part.src_rows.start - pad_before)
    stop = min(height, part.src_rows.stop - pad_before)
    if stop <= first:
        return []  # the slab holds only padding
    at = first + pad_before - part.src_rows.start
    x_rows = _rows(x, range(first, stop), rank)
    dst_rows = _rows(slab, range(at, at + stop - first), rank)
    interior = tuple(slice(b, b + n) for (b, _), n in zip(op.pads, op.in_shape[:-1], strict=True))
    rest = interior[1:] if rank > 1 else interior
    lead: tuple[Any, ...] = (slice(None),) * (2 if rank > 1 else 1)
    if not p.phased:
        inside = (*lead, *rest, slice(None))
        return [copier(dst_rows[inside], x_rows)]
    steps = []
    s_last, pb, width = op.stride[-1], op.pads[-1][0], op.in_shape[-2]
    for g in p.groups:
        q0 = max(0, -(-(pb - g.phase) // s_last))  # first q whose column q*s+phase-pb >= 0
        c0 = q0 * s_last + g.phase - pb
        count = len(range(c0, width, s_last))
        if count <= 0:
            continue
        index = (*lead, *rest[:-1], g.phase, slice(q0, q0 + count), slice(None))
        steps.append(copier(dst_rows[index], x_rows[..., c0::s_last, :][..., :count, :]))
    return steps


def _part_steps(
    op: Conv, batch: int, p: _Plan, arrays: dict[str, Array], x: Array, k: int
) -> list[Step]:
    """The steps computing part ``k``'s output rows: fill its slab, one einsum per row
    block, multiplier and phase group, then the bias and the cast back to half precision."""
    part = p.parts[k]
    slab, partial, scratch = (arrays.get(f"{name}{k}") for name in ("src", "partial", "scratch"))
    rank = len(op.kernel)
    cin = op.in_channels
    mult = op.out_channels // cin
    wo = p.out_spatial[-1]
    wt, result = arrays["w_tiled"], arrays["out"]
    out = arrays.get("out_compute", result)  # what the einsums write
    steps: list[Step] = []
    if slab is None:  # "direct": read the input itself
        src = _rows(x, part.src_rows, rank)
    else:
        src = slab
        steps += _fill_steps(op, batch, p, x, part, slab)
    row0 = part.src_rows.start  # the slab's first row, in padded rows

    item, st = src.itemsize, src.strides
    other_taps = list(op.kernel[:-1])
    other_tap_strides = [op.dilation[i] * st[1 + i] for i in range(rank - 1)]
    last_position = st[-2]  # one position along the last dim (one phase position if phased)
    if rank > 1:
        row_stride = op.stride[0] * st[1]
        mid_shape = list(p.out_spatial[1:-1])
        mid_strides = [op.stride[i] * st[1 + i] for i in range(1, rank - 1)]
    else:
        row_stride, mid_shape, mid_strides = st[0], [], []
    s_last = op.stride[-1]
    coalesce = p.phased or s_last == 1  # the input's Wo and C axes merge into one
    if coalesce:
        inner_shape, inner_strides, inner = [wo * cin], [item], "z"
    else:
        step_w = last_position if p.phased else s_last * last_position
        inner_shape, inner_strides, inner = [wo, cin], [step_w, item], "wc"
    taps = _TAP_LETTERS[:rank]
    mid = "pq"[: len(mid_shape)]
    subs = f"{taps}r{mid}{inner},{taps}{inner}->r{mid}{inner}"
    out_v = out.reshape(batch, *p.out_spatial[:-1], wo, cin, mult)
    for n0 in range(batch if rank > 1 else 1):
        for r0 in range(part.rows.start, part.rows.stop, p.rows_per_block):
            r1 = min(part.rows.stop, r0 + p.rows_per_block)
            block_shape = (r1 - r0, *mid_shape, *inner_shape)
            # first tap's element: (n, first row, 0 mid..., [phase, offset] or 0)
            lead = [n0, r0 * op.stride[0] - row0, *([0] * (rank - 2))] if rank > 1 else [r0 - row0]
            for m in range(mult):
                dst = out_v[n0, r0:r1, ..., m] if rank > 1 else out_v[r0:r1, ..., m]
                if mult > 1:
                    # output channel c*M + m is strided: einsum writes a contiguous block
                    # at full speed, one copy moves it into place
                    assert scratch is not None
                    target = scratch[: prod(block_shape)].reshape(block_shape)
                else:
                    target = dst.reshape(block_shape)
                t0 = 0
                for gi, g in enumerate(p.groups):
                    base = src[tuple(lead + ([g.phase, g.first] if p.phased else [0]))]
                    view = as_strided(
                        base,
                        shape=(*other_taps, len(g.taps), *block_shape),
                        strides=(
                            *other_tap_strides,
                            g.step * last_position,
                            row_stride,
                            *mid_strides,
                            *inner_strides,
                        ),
                        writeable=False,
                    )
                    wm = wt[m, ..., t0 : t0 + len(g.taps), :]
                    t0 += len(g.taps)
                    if not coalesce:
                        wm = wm.reshape(*wm.shape[:-1], wo, cin)
                    if gi == 0:
                        steps.append(_einsum_step(subs, view, wm, target))
                    else:
                        assert partial is not None
                        tmp = partial[: prod(block_shape)].reshape(block_shape)
                        steps.append(_einsum_step(subs, view, wm, tmp))
                        steps.append(_adder(target, tmp))
                if mult > 1:
                    steps.append(copier(dst, target.reshape(dst.shape)))
    bias = arrays.get("b")
    if bias is not None:
        out_rows = _rows(out, part.rows, rank)
        steps.append(lambda: np.add(out_rows, bias, out=out_rows))
    if result is not out:
        steps.append(copier(_rows(result, part.rows, rank), _rows(out, part.rows, rank)))
    return steps


def _adder(dst: Array, src: Array) -> Step:
    def step() -> None:
        np.add(dst, src, out=dst)

    return step


def _einsum_step(subs: str, view: Array, w: Array, dst: Array) -> Step:
    def step() -> None:
        np.einsum(subs, view, w, out=dst)

    return step
