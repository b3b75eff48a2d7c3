"""NumPy execution of the primitive operations of :mod:`sepconv_cli.counting.ops`.

``prepare(op, batch, dtype, rng)`` allocates everything an operation needs (input, padded
copy, im2col buffer, weights, output, scratch) and returns a :class:`Prepared` whose call does
the arithmetic only, so a timer around the call measures compute, not allocation.

Rules
-----
* Layout: tensors are channels-last ``(N, *spatial, C)``, as :mod:`cost` counts them; the
  executed output has exactly the shape ``(batch, *op.out_shape)``. That is checked: the
  kernels size their output from their own window arithmetic (never from ``op.out_shape``)
  and :meth:`Prepared.checked` compares the array each call produced with the counted shape.
* Weight layouts (for callers that pass their own through ``weights=``):
  convolution ``w`` is ``(*kernel, Cin/groups, Cout)`` (TensorFlow's HWIO) and output channel
  ``o`` belongs to group ``o // (Cout/groups)``; depthwise (``groups == Cin``) ``w`` is
  ``(*kernel, Cin, M)`` with output channel ``c*M + m``; dense ``w`` is ``(features, units)``;
  ``b`` is the bias; batch-norm has ``scale`` and ``shift`` of shape ``(C,)``.
* Padding is exactly ``op.pads`` as (before, after) per dim, so TensorFlow's asymmetric
  ``same`` padding is reproduced. Pads are zeros; max pooling pads with -inf; average
  pooling divides by the number of real (unpadded) elements of each window (TensorFlow's
  ``same`` rule, Keras' ``AveragePooling``).
* Precision: float32 (default), float64, float16. NumPy has no half-precision BLAS (its
  float16 matmul runs at about 0.5 GFLOP/s) and its float16 einsum is ~70x slower than
  float32, so float16 tensors are stored in half precision while GEMMs and depthwise
  convolutions read them into float32 buffers, compute in float32 and write half precision
  back (what CPU frameworks do); pooling, batch-norm and adds run in NumPy's float16 loops.
  bfloat16 and int8 are refused with :class:`UnsupportedDtypeError` (NumPy has no bfloat16
  type and no int8 GEMM).
* Kernels: a standard or grouped convolution copies its input windows into an im2col buffer
  in row blocks and multiplies each block by the weights with one BLAS GEMM; a pointwise
  (1×1, unpadded) convolution is a GEMM on the input itself; a depthwise convolution runs
  ``np.einsum`` over a strided window view, one fused multiply-add pass per kernel tap,
  with its output rows split over sepconv's own threads when ``threads > 1`` and the layer
  is large enough to gain (:mod:`sepconv_cli.execution.depthwise` says why, and how strides are
  handled).
* Memory: :func:`estimate_bytes` counts the buffers of the same plan that :func:`prepare`
  allocates (NumPy's own small iterator buffers aside), so the guard
  (:mod:`sepconv_cli.execution.memory`) can refuse a layer before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from sepconv_cli.counting.ops import Add, BatchNorm, Conv, Dense, Op, Pool
from sepconv_cli.errors import UsageError
from sepconv_cli.execution import depthwise
from sepconv_cli.execution.buffers import (
    Array,
    Buffer,
    ExecutionShapeError,
    Prepared,
    allocate,
    compute_dtype,
    copier,
    padded_shape,
    random_array,
    sequence,
    window_out,
)

# the memory guard lives in execution.memory; re-exported for the callers that import it here
from sepconv_cli.execution.memory import (
    MemoryGuardError,
    available_memory,
    check_memory,
    default_memory_limit,
)
from sepconv_cli.spec.fields import DTYPES

__all__ = [
    "Array",
    "Buffer",
    "Chain",
    "ExecutionShapeError",
    "MemoryGuardError",
    "Prepared",
    "UnsupportedDtypeError",
    "available_memory",
    "check_memory",
    "default_memory_limit",
    "estimate_bytes",
    "numpy_dtype",
    "plan",
    "prepare",
    "prepare_chain",
    "run_form",
]

# NumPy has no bfloat16 type and no int8 GEMM: those dtypes are counted, never executed
_NOT_EXECUTABLE = ("bfloat16", "int8")
SUPPORTED_DTYPES = tuple(name for name in DTYPES if name not in _NOT_EXECUTABLE)

# im2col elements per GEMM block (8 MiB in float32): few GEMM calls, because each call
# wakes the BLAS worker threads, which costs most on an idle virtual machine (measured
# 56x56x128 -> 128, 3x3: 8.6 ms with 2**19-element blocks, 5.9 ms with 2**21), while
# bounding the buffer whatever the layer's size.
IM2COL_BLOCK_ELEMENTS = 1 << 21


class UnsupportedDtypeError(UsageError):
    """Timing was asked for in a precision NumPy cannot compute in."""


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The NumPy dtype timings run in; refuses what NumPy cannot compute in."""
    if name not in SUPPORTED_DTYPES:
        raise UnsupportedDtypeError(
            f"--dtype {name}: NumPy cannot execute {name} (no {name} arithmetic or GEMM); "
            f"timing needs one of {', '.join(SUPPORTED_DTYPES)} (counting works with {name})"
        )
    return np.dtype(name)


# --------------------------------------------------------------------------- plans


def _conv_kind(op: Conv) -> str:
    """Which kernel runs a convolution: depthwise, pointwise or im2col."""
    if op.groups > 1 and op.groups == op.in_channels:
        return "depthwise"
    if prod(op.kernel) == 1 and all(p == (0, 0) for p in op.pads):
        return "pointwise"
    return "im2col"


def plan(op: Op, batch: int, dt: np.dtype[Any], threads: int = 1) -> list[Buffer]:
    """Every buffer ``prepare(op, ..., threads=threads)`` allocates besides its input (and
    residual)."""
    return _kernel_for(op).plan(op, batch, dt, threads)


def estimate_bytes(
    ops: Sequence[Op], batch: int, dtype: str | np.dtype[Any], threads: int = 1
) -> int:
    """Bytes :func:`prepare_chain` allocates for ``ops`` run in sequence.

    The chain's input, every operation's own buffers (padded copies, im2col blocks,
    weights and their derived forms, outputs, scratch) and a residual operand where an
    ``Add`` cannot reuse the chain's input. Each operation reads the previous one's output
    in place, so intermediate tensors are counted once, as outputs.
    """
    if not ops:
        return 0
    dt = numpy_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
    total = batch * prod(ops[0].in_shape) * dt.itemsize
    for op in ops:
        total += sum(b.nbytes for b in plan(op, batch, dt, threads))
        if isinstance(op, Add) and op.in_shape != ops[0].in_shape:
            total += batch * prod(op.in_shape) * dt.itemsize
    return total


def prepare(
    op: Op,
    batch: int,
    dtype: str | np.dtype[Any],
    rng: np.random.Generator,
    *,
    x: Array | None = None,
    residual: Array | None = None,
    weights: dict[str, Array] | None = None,
    threads: int = 1,
    split: bool | None = None,
) -> Prepared:
    """Allocate and initialise everything ``op`` needs; the returned call computes only.

    ``x`` (shape ``(batch, *op.in_shape)``, C-contiguous) is read in place when given,
    otherwise a seeded random input is allocated. ``residual`` is an ``Add``'s second
    operand. ``weights`` overrides the random weights (layouts in the module docstring).
    ``threads``: how many parts sepconv's own depthwise kernel may run at once, where the
    layer is large enough to gain; ``split`` forces (``True``) or forbids (``False``) that
    split whatever the size (BLAS threads are set apart, by
    :func:`sepconv_cli.execution.timing.thread_limit`).
    """
    dt = numpy_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
    in_shape = (batch, *op.in_shape)
    nbytes = 0
    if x is None:
        x = random_array(in_shape, dt, rng)
        nbytes += x.nbytes
    elif x.shape != in_shape or x.dtype != dt or not x.flags.c_contiguous:
        raise ValueError(
            f"input must be a C-contiguous {dt} array of shape {in_shape}, got {x.dtype} {x.shape}"
        )
    if isinstance(op, Add) and residual is None:
        residual = random_array(in_shape, dt, rng)
        nbytes += residual.nbytes
    request = _Request(batch, dt, rng, x, residual, weights, threads, split)
    prep = _kernel_for(op).build(op, request)
    prep.nbytes += nbytes
    if prep.out.shape != prep.expected_shape:
        raise ExecutionShapeError(
            f"{op.role}: the kernel produces {prep.out.shape} but the counted shape is "
            f"{prep.expected_shape}"
        )
    return prep


@dataclass
class Chain:
    """Operations prepared to run in sequence, each reading the previous one's output."""

    steps: list[Prepared] = field(default_factory=list)
    input_nbytes: int = 0  # the chain's input, when the chain allocated it

    @property
    def x(self) -> Array:
        return self.steps[0].x

    @property
    def out(self) -> Array:
        return self.steps[-1].out

    @property
    def nbytes(self) -> int:
        return self.input_nbytes + sum(s.nbytes for s in self.steps)

    def __call__(self) -> Array:
        for step in self.steps:
            step.run()
        return self.steps[-1].out

    def checked(self) -> Array:
        for step in self.steps:
            step.checked()
        return self.steps[-1].out


def prepare_chain(
    ops: Sequence[Op],
    batch: int,
    dtype: str | np.dtype[Any],
    rng: np.random.Generator,
    *,
    x: Array | None = None,
    threads: int = 1,
) -> Chain:
    """Prepare a form: op ``i`` reads op ``i-1``'s output buffer; an ``Add`` adds the chain's
    input (the residual of an inverted-residual block) when the shapes agree. ``threads``
    as in :func:`prepare`."""
    if not ops:
        raise ValueError("an empty form has nothing to execute")
    dt = numpy_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
    chain = Chain()
    if x is None:
        x = random_array((batch, *ops[0].in_shape), dt, rng)
        chain.input_nbytes = x.nbytes
    current = x
    for op in ops:
        if current.shape[1:] != op.in_shape:
            raise ExecutionShapeError(
                f"{op.role}: expects input {op.in_shape} but the previous operation "
                f"produced {current.shape[1:]}"
            )
        residual = x if isinstance(op, Add) and x.shape[1:] == op.in_shape else None
        step = prepare(op, batch, dt, rng, x=current, residual=residual, threads=threads)
        chain.steps.append(step)
        current = step.out
    return chain


def run_form(
    ops: Sequence[Op],
    batch: int = 1,
    dtype: str = "float32",
    seed: int = 0,
    limit: int | None = None,
) -> Array:
    """Execute a whole form once on seeded random data and return its (checked) output.

    Checks the memory guard first and every operation's executed shape on the way.
    """
    check_memory(estimate_bytes(ops, batch, dtype), limit)
    return prepare_chain(ops, batch, dtype, np.random.default_rng(seed)).checked()


# --------------------------------------------------------------------------- GEMM convolution


@dataclass(frozen=True)
class _GemmConvPlan:
    """im2col (or direct, for pointwise) GEMM plan for a standard or grouped convolution."""

    buffers: list[Buffer]
    out_spatial: tuple[int, ...]
    rows_per_block: int  # output rows (of the flattened N*out_spatial) per im2col block
    direct: bool  # pointwise with stride 1 and no cast: GEMM straight on the input


def _plan_gemm_conv(op: Conv, batch: int, dt: np.dtype[Any]) -> _GemmConvPlan:
    rank = len(op.kernel)
    g = op.groups
    cin, cout = op.in_channels, op.out_channels
    padded = padded_shape(op.in_shape[:-1], op.pads)
    out_sp = window_out(padded, op.kernel, op.stride, op.dilation)
    m = batch * prod(out_sp)
    k = prod(op.kernel) * cin // g
    gdt = compute_dtype(dt)
    pointwise = prod(op.kernel) == 1 and all(p == (0, 0) for p in op.pads)
    direct = pointwise and all(s == 1 for s in op.stride) and g == 1 and gdt == dt
    bufs = [Buffer("w", (*op.kernel, cin // g, cout), dt, "weight", k)]
    if op.bias:
        bufs.append(Buffer("b", (cout,), dt, "weight"))
    # the weights as the GEMM reads them: (groups, K, Cout/groups), in the GEMM precision
    if g > 1 or gdt != dt:
        bufs.append(Buffer("w_gemm", (g, k, cout // g), gdt))
    if any(p != (0, 0) for p in op.pads) and not pointwise:
        bufs.append(Buffer("x_padded", (batch, *padded, cin), dt, "zeros"))
    # blocks of whole output rows (one (n, h) row; a whole item in 1D): the im2col block
    # stays in cache between its copy and its GEMM, and the buffer stays small however
    # large the layer is
    row = prod(out_sp[1:]) if rank > 1 else out_sp[0]
    rows_total = out_sp[0] if rank > 1 else batch
    rows_per_block = max(1, min(rows_total, IM2COL_BLOCK_ELEMENTS // max(row * k * g, 1)))
    if not direct:
        block_m = min(rows_per_block * row, m)
        bufs.append(Buffer("col", (g * block_m * k,), gdt))
        if g > 1 or gdt != dt:
            bufs.append(Buffer("gemm_out", (g * block_m * (cout // g),), gdt))
    bufs.append(Buffer("out", (batch, *out_sp, cout), dt))
    return _GemmConvPlan(bufs, out_sp, rows_per_block, direct)


def _build_gemm_conv(
    op: Conv,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
) -> Prepared:
    p = _plan_gemm_conv(op, batch, dt)
    arrays = allocate(p.buffers, rng, weights)
    nbytes = sum(b.nbytes for b in p.buffers)
    g, cin, cout = op.groups, op.in_channels, op.out_channels
    cg, og = cin // g, cout // g
    rank = len(op.kernel)
    w, out = arrays["w"], arrays["out"]
    out2 = out.reshape(-1, cout)
    k = prod(op.kernel) * cg
    w_gemm = arrays.get("w_gemm")
    if w_gemm is not None:
        # (*k, cg, Cout) -> (g, K, og): output channel o = gi*og + j reads input group gi
        np.copyto(w_gemm, w.reshape(k, g, og).transpose(1, 0, 2), casting="unsafe")
    bias = arrays.get("b")
    src = arrays.get("x_padded", x)
    interior = (
        slice(None),
        *(slice(b, b + n) for (b, _), n in zip(op.pads, op.in_shape[:-1], strict=True)),
        slice(None),
    )
    copy_in: Callable[[], object] | None = None
    if "x_padded" in arrays:
        padded_interior = arrays["x_padded"][interior]

        def copy_in() -> None:
            np.copyto(padded_interior, x)

    steps: list[Callable[[], object]] = []
    if p.direct:
        w2 = w.reshape(cin, cout)
        x2 = x.reshape(-1, cin)
        steps.append(lambda: np.matmul(x2, w2, out=out2))
    else:
        # window view of the (padded) input: (N, *out, *k, g, cg), read-only
        st = src.strides
        item = src.itemsize
        view = as_strided(
            src,
            shape=(batch, *p.out_spatial, *op.kernel, g, cg),
            strides=(
                st[0],
                *(s * st[1 + i] for i, s in enumerate(op.stride)),
                *(d * st[1 + i] for i, d in enumerate(op.dilation)),
                cg * item,
                item,
            ),
            writeable=False,
        )
        # blocks of rows_per_block rows: (n, h0:h1) in 2D/3D, (n0:n1) in 1D
        if rank > 1:
            blocks = [
                (n, r, min(r + p.rows_per_block, p.out_spatial[0]))
                for n in range(batch)
                for r in range(0, p.out_spatial[0], p.rows_per_block)
            ]
            out_rows = out.reshape(batch, p.out_spatial[0], -1)
        else:
            blocks = [
                (-1, r, min(r + p.rows_per_block, batch)) for r in range(0, batch, p.rows_per_block)
            ]
            out_rows = out.reshape(1, batch, -1)
        col_all, gout_all = arrays["col"], arrays.get("gemm_out")
        wg = w_gemm if w_gemm is not None else w.reshape(1, k, cout)
        for n, r0, r1 in blocks:
            win = view[n, r0:r1] if rank > 1 else view[r0:r1]  # (rows, *out[1:], *k, g, cg)
            dst = out_rows[max(n, 0), r0:r1].reshape(-1, cout)
            mb = dst.shape[0]
            # the block's buffers are contiguous prefixes, so the reshapes below are views
            col = col_all[: g * mb * k].reshape(g, mb, k)
            # (g, rows..., *k, cg) order so that each group's K columns are contiguous
            win_g = np.moveaxis(win, -2, 0)
            col_view = col.reshape(win_g.shape)
            if gout_all is None:
                steps.append(_im2col_gemm(col_view, win_g, col[0], wg[0], dst))
            else:
                gout = gout_all[: g * mb * og].reshape(g, mb, og)
                dst_g = dst.reshape(mb, g, og).transpose(1, 0, 2)
                steps.append(_im2col_gemm_grouped(col_view, win_g, col, wg, gout, dst_g))
    if bias is not None:
        steps.append(lambda: np.add(out2, bias, out=out2))
    if copy_in is not None:
        steps.insert(0, copy_in)
    return Prepared(
        op,
        x,
        out,
        {k_: arrays[k_] for k_ in ("w", "b") if k_ in arrays},
        sequence(steps),
        nbytes,
        (batch, *op.out_shape),
        "pointwise-gemm" if p.direct else "im2col-gemm",
    )


def _im2col_gemm(
    col_view: Array, win: Array, col: Array, w: Array, dst: Array
) -> Callable[[], object]:
    def step() -> None:
        np.copyto(col_view, win, casting="unsafe")
        np.matmul(col, w, out=dst)

    return step


def _im2col_gemm_grouped(
    col_view: Array, win: Array, col: Array, w: Array, gout: Array, dst: Array
) -> Callable[[], object]:
    def step() -> None:
        np.copyto(col_view, win, casting="unsafe")
        np.matmul(col, w, out=gout)  # one GEMM per group, looped in C
        np.copyto(dst, gout, casting="unsafe")

    return step


# --------------------------------------------------------------------------- dense, BN, add, pool


def _plan_dense(op: Dense, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    features = prod(op.in_shape)
    gdt = compute_dtype(dt)
    bufs = [Buffer("w", (features, op.units), dt, "weight", features)]
    if op.bias:
        bufs.append(Buffer("b", (op.units,), dt, "weight"))
    if gdt != dt:
        bufs += [
            Buffer("w_gemm", (features, op.units), gdt),
            Buffer("x_gemm", (batch, features), gdt),
            Buffer("gemm_out", (batch, op.units), gdt),
        ]
    bufs.append(Buffer("out", (batch, op.units), dt))
    return bufs


def _build_dense(
    op: Dense,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
) -> Prepared:
    bufs = _plan_dense(op, batch, dt)
    arrays = allocate(bufs, rng, weights)
    out = arrays["out"]
    x2 = x.reshape(batch, -1)
    steps: list[Callable[[], object]] = []
    if "w_gemm" in arrays:
        w32, x32, o32 = arrays["w_gemm"], arrays["x_gemm"], arrays["gemm_out"]
        np.copyto(w32, arrays["w"])
        steps += [copier(x32, x2), lambda: np.matmul(x32, w32, out=o32), copier(out, o32)]
    else:
        w = arrays["w"]
        steps.append(lambda: np.matmul(x2, w, out=out))
    bias = arrays.get("b")
    if bias is not None:
        steps.append(lambda: np.add(out, bias, out=out))
    return Prepared(
        op,
        x,
        out,
        {k: arrays[k] for k in ("w", "b") if k in arrays},
        sequence(steps),
        sum(b.nbytes for b in bufs),
        (batch, *op.out_shape),
        "dense-gemm",
    )


def _flat2d(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, row length) with the last spatial dim and the channels coalesced, so that a
    per-channel vector tiled along that dim broadcasts over whole contiguous rows."""
    if len(shape) >= 3:
        return prod(shape[:-2]), shape[-2] * shape[-1]
    return prod(shape[:-1]), shape[-1]


def _plan_bn(op: BatchNorm, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    c = op.in_shape[-1]
    row = _flat2d((batch, *op.in_shape))[1]
    return [
        Buffer("scale", (c,), dt, "random"),
        Buffer("shift", (c,), dt, "random"),
        Buffer("scale_tiled", (row,), dt),
        Buffer("shift_tiled", (row,), dt),
        Buffer("out", (batch, *op.in_shape), dt),
    ]


def _build_bn(
    op: BatchNorm,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
) -> Prepared:
    bufs = _plan_bn(op, batch, dt)
    arrays = allocate(bufs, rng, weights)
    rows, row = _flat2d((batch, *op.in_shape))
    reps = row // op.in_shape[-1]
    np.copyto(arrays["scale_tiled"], np.tile(arrays["scale"], reps))
    np.copyto(arrays["shift_tiled"], np.tile(arrays["shift"], reps))
    out = arrays["out"]
    x2, o2 = x.reshape(rows, row), out.reshape(rows, row)
    scale, shift = arrays["scale_tiled"], arrays["shift_tiled"]

    def run() -> None:
        np.multiply(x2, scale, out=o2)
        np.add(o2, shift, out=o2)

    return Prepared(
        op,
        x,
        out,
        {"scale": arrays["scale"], "shift": arrays["shift"]},
        run,
        sum(b.nbytes for b in bufs),
        (batch, *op.out_shape),
        "batch-norm",
    )


def _build_add(
    op: Add, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array, residual: Array
) -> Prepared:
    bufs = [Buffer("out", (batch, *op.in_shape), dt)]
    out = allocate(bufs, rng)["out"]
    if residual.shape != out.shape:
        raise ValueError(f"residual must have shape {out.shape}, got {residual.shape}")
    return Prepared(
        op,
        x,
        out,
        {},
        lambda: np.add(x, residual, out=out),
        out.nbytes,
        (batch, *op.out_shape),
        "add",
    )


def _plan_pool(op: Pool, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    c = op.in_shape[-1]
    if op.global_:
        return [Buffer("out", (batch, c), dt)]
    padded = padded_shape(op.in_shape[:-1], op.pads)
    ones = (1,) * len(op.kernel)
    out_sp = window_out(padded, op.kernel, op.stride, ones)
    bufs = []
    if any(p != (0, 0) for p in op.pads):
        bufs.append(
            Buffer("x_padded", (batch, *padded, c), dt, "neginf" if op.kind == "max" else "zeros")
        )
        if op.kind == "avg":
            bufs.append(Buffer("inv_count", (*out_sp, 1), dt))
    bufs.append(Buffer("out", (batch, *out_sp, c), dt))
    return bufs


def _build_pool(
    op: Pool, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array
) -> Prepared:
    bufs = _plan_pool(op, batch, dt)
    arrays = allocate(bufs, rng)
    out = arrays["out"]
    nbytes = sum(b.nbytes for b in bufs)
    c = op.in_shape[-1]
    if op.global_:
        x3 = x.reshape(batch, -1, c)
        inv = 1.0 / x3.shape[1]
        if op.kind == "max":

            def run() -> None:
                np.maximum.reduce(x3, axis=1, out=out)
        else:

            def run() -> None:
                np.add.reduce(x3, axis=1, out=out)
                np.multiply(out, inv, out=out)

        return Prepared(op, x, out, {}, run, nbytes, (batch, *op.out_shape), "global-pool")

    rank = len(op.kernel)
    out_sp = out.shape[1:-1]
    steps: list[Callable[[], object]] = []
    src = x
    if "x_padded" in arrays:
        src = arrays["x_padded"]
        interior = (
            slice(None),
            *(slice(b, b + n) for (b, _), n in zip(op.pads, op.in_shape[:-1], strict=True)),
            slice(None),
        )
        steps.append(copier(src[interior], x))
    st = src.strides
    views = []
    for tap in np.ndindex(*op.kernel):
        index = (slice(None), *tap)
        base = src[index]
        views.append(
            as_strided(
                base,
                shape=out.shape,
                strides=(st[0], *(s * st[1 + i] for i, s in enumerate(op.stride)), st[-1]),
                writeable=False,
            )
        )
    reduce = np.maximum if op.kind == "max" else np.add
    first, rest = views[0], views[1:]

    def window() -> None:
        np.copyto(out, first)
        for v in rest:
            reduce(out, v, out=out)

    steps.append(window)
    if op.kind == "avg":
        if "inv_count" in arrays:
            # real (unpadded) elements per window, per output position, per dim
            inv_count = arrays["inv_count"]
            counts = np.ones(out_sp, dtype=np.float64)
            for i in range(rank):
                starts = np.arange(out_sp[i]) * op.stride[i] - op.pads[i][0]
                lo = np.clip(starts, 0, op.in_shape[i])
                hi = np.clip(starts + op.kernel[i], 0, op.in_shape[i])
                shape = [1] * rank
                shape[i] = out_sp[i]
                counts = counts * (hi - lo).reshape(shape)
            inv_count[...] = (1.0 / np.maximum(counts, 1))[..., None]
            steps.append(lambda: np.multiply(out, inv_count, out=out))
        else:
            scale = 1.0 / prod(op.kernel)
            steps.append(lambda: np.multiply(out, scale, out=out))
    return Prepared(
        op, x, out, {}, sequence(steps), nbytes, (batch, *op.out_shape), f"{op.kind}-pool"
    )


# --------------------------------------------------------------------------- one kernel per op

OpT = TypeVar("OpT", Conv, Dense, Pool, BatchNorm, Add)


@dataclass(frozen=True)
class _Request:
    """What :func:`prepare` was asked for, as every operation's builder receives it."""

    batch: int
    dt: np.dtype[Any]
    rng: np.random.Generator
    x: Array
    residual: Array | None  # an Add's second operand (prepare allocates one when not given)
    weights: dict[str, Array] | None
    threads: int
    split: bool | None


@dataclass(frozen=True)
class _Kernel(Generic[OpT]):
    """How one kind of operation is executed: ``plan`` lists the buffers that ``build``
    allocates, so :func:`estimate_bytes` and :func:`prepare` cannot disagree on which
    plan an operation has."""

    plan: Callable[[OpT, int, np.dtype[Any], int], list[Buffer]]
    build: Callable[[OpT, _Request], Prepared]


def _plan_conv(op: Conv, batch: int, dt: np.dtype[Any], threads: int) -> list[Buffer]:
    if _conv_kind(op) == "depthwise":
        return depthwise.plan(op, batch, dt, threads).buffers
    return _plan_gemm_conv(op, batch, dt).buffers


def _build_conv(op: Conv, r: _Request) -> Prepared:
    if _conv_kind(op) == "depthwise":
        return depthwise.build(op, r.batch, r.dt, r.rng, r.x, r.weights, r.threads, r.split)
    return _build_gemm_conv(op, r.batch, r.dt, r.rng, r.x, r.weights)


def _plan_add(op: Add, batch: int, dt: np.dtype[Any], threads: int) -> list[Buffer]:
    return [Buffer("out", (batch, *op.in_shape), dt)]


def _build_add_request(op: Add, r: _Request) -> Prepared:
    assert r.residual is not None  # prepare() allocates one when the caller gives none
    return _build_add(op, r.batch, r.dt, r.rng, r.x, r.residual)


_KERNELS: dict[type[Op], _Kernel[Any]] = {
    Conv: _Kernel[Conv](_plan_conv, _build_conv),
    Dense: _Kernel[Dense](
        lambda op, batch, dt, threads: _plan_dense(op, batch, dt),
        lambda op, r: _build_dense(op, r.batch, r.dt, r.rng, r.x, r.weights),
    ),
    Pool: _Kernel[Pool](
        lambda op, batch, dt, threads: _plan_pool(op, batch, dt),
        lambda op, r: _build_pool(op, r.batch, r.dt, r.rng, r.x),
    ),
    BatchNorm: _Kernel[BatchNorm](
        lambda op, batch, dt, threads: _plan_bn(op, batch, dt),
        lambda op, r: _build_bn(op, r.batch, r.dt, r.rng, r.x, r.weights),
    ),
    Add: _Kernel[Add](_plan_add, _build_add_request),
}


def _kernel_for(op: Op) -> _Kernel[Any]:
    kernel = _KERNELS.get(type(op))
    if kernel is None:
        raise TypeError(f"no kernel for {type(op).__name__}")
    return kernel
