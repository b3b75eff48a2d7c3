"""NumPy execution of the primitive operations of :mod:`sepconv_cli.cost`, and the memory guard.

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
  ``np.einsum`` over a strided window view, one fused multiply-add pass per kernel tap, in
  the calling thread (see :class:`_DepthwisePlan` for why, and for its stride handling).
* Memory: :func:`estimate_bytes` counts the buffers of the same plan that :func:`prepare`
  allocates (NumPy's own small iterator buffers aside), so the guard can refuse a layer
  before anything is allocated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .cost import Add, BatchNorm, Conv, Dense, Op, Pool
from .errors import RuntimeFailure, UsageError

Array = np.ndarray[Any, np.dtype[Any]]

SUPPORTED_DTYPES = ("float32", "float64", "float16")

# Output elements per depthwise einsum call: large enough that einsum's per-call overhead
# (it parses its subscripts and builds an iterator, ~5-10 µs) vanishes. Measured on the
# MobileNetV1 layers, its time is flat from 2**17 up: its inner loop, not the cache, is
# the limit.
BLOCK_ELEMENTS = 1 << 19
# im2col elements per GEMM block (8 MiB in float32): few GEMM calls, because each call
# wakes the BLAS worker threads, which costs most on an idle virtual machine (measured
# 56x56x128 -> 128, 3x3: 8.6 ms with 2**19-element blocks, 5.9 ms with 2**21), while
# bounding the buffer whatever the layer's size.
IM2COL_BLOCK_ELEMENTS = 1 << 21
# Share of the available memory the default guard lets one layer use: the other half is
# left to the OS, the interpreter, the BLAS library's own buffers and whatever else runs.
MEMORY_SHARE = 0.5


class UnsupportedDtypeError(UsageError):
    """Timing was asked for in a precision NumPy cannot compute in."""


class MemoryGuardError(RuntimeFailure):
    """An execution would need more memory than the limit; nothing was allocated."""

    def __init__(self, needed: int, limit: int, what: str = "") -> None:
        prefix = f"{what} " if what else ""
        super().__init__(
            f"{prefix}needs {format_bytes(needed)} of memory, more than the "
            f"{format_bytes(limit)} limit (--max-memory)"
        )
        self.needed = needed
        self.limit = limit


class ExecutionShapeError(RuntimeFailure):
    """An executed output disagrees with the counted shape (a bug, reported, never hidden)."""


def format_bytes(n: int) -> str:
    """``1.5 GiB`` style, one decimal, binary units.

    >>> format_bytes(37_400_000_000)
    '34.8 GiB'
    >>> format_bytes(512)
    '512 B'
    """
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The NumPy dtype timings run in; refuses what NumPy cannot compute in."""
    if name not in SUPPORTED_DTYPES:
        raise UnsupportedDtypeError(
            f"--dtype {name}: NumPy cannot execute {name} (no {name} arithmetic or GEMM); "
            f"timing needs one of {', '.join(SUPPORTED_DTYPES)} (counting works with {name})"
        )
    return np.dtype(name)


# --------------------------------------------------------------------------- memory


def available_memory() -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), else free RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return 4 << 30  # nothing to read: assume a small machine


def default_memory_limit() -> int:
    """The guard's default: a safe share (:data:`MEMORY_SHARE`) of the available memory."""
    return int(available_memory() * MEMORY_SHARE)


def check_memory(needed: int, limit: int | None = None, what: str = "") -> None:
    """Raise :class:`MemoryGuardError` when ``needed`` bytes exceed ``limit`` (default share)."""
    limit = default_memory_limit() if limit is None else limit
    if needed > limit:
        raise MemoryGuardError(needed, limit, what)


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Buffer:
    """One array an execution allocates: ``init`` is empty, zeros, neginf, random or weight."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    init: str = "empty"
    fan_in: int = 1  # random weights are scaled by 1/sqrt(fan_in)

    @property
    def nbytes(self) -> int:
        return prod(self.shape) * self.dtype.itemsize


def _window_out(padded: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                dilation: Sequence[int]) -> tuple[int, ...]:
    """Window count per dim, computed here from the padded input (never from cost.py)."""
    return tuple((n - d * (k - 1) - 1) // s + 1
                 for n, k, s, d in zip(padded, kernel, stride, dilation, strict=True))


def _padded(spatial: Sequence[int], pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(n + b + a for n, (b, a) in zip(spatial, pads, strict=True))


def _gemm_dtype(dt: np.dtype[Any]) -> np.dtype[Any]:
    """GEMMs run in float32 for half precision (NumPy has no half BLAS)."""
    return np.dtype(np.float32) if dt == np.float16 else dt


def _conv_kind(op: Conv) -> str:
    """Which kernel runs a convolution: depthwise, pointwise or im2col."""
    if op.groups > 1 and op.groups == op.in_channels:
        return "depthwise"
    if prod(op.kernel) == 1 and all(p == (0, 0) for p in op.pads):
        return "pointwise"
    return "im2col"


def plan(op: Op, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    """Every buffer ``prepare(op, ...)`` allocates besides its input (and residual)."""
    if isinstance(op, Conv):
        kind = _conv_kind(op)
        if kind == "depthwise":
            return _plan_depthwise(op, batch, dt).buffers
        return _plan_gemm_conv(op, batch, dt).buffers
    if isinstance(op, Dense):
        return _plan_dense(op, batch, dt)
    if isinstance(op, Pool):
        return _plan_pool(op, batch, dt)
    if isinstance(op, BatchNorm):
        return _plan_bn(op, batch, dt)
    if isinstance(op, Add):
        return [Buffer("out", (batch, *op.in_shape), dt)]
    raise TypeError(f"no kernel for {type(op).__name__}")


def estimate_bytes(ops: Sequence[Op], batch: int, dtype: str | np.dtype[Any]) -> int:
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
        total += sum(b.nbytes for b in plan(op, batch, dt))
        if isinstance(op, Add) and op.in_shape != ops[0].in_shape:
            total += batch * prod(op.in_shape) * dt.itemsize
    return total


# --------------------------------------------------------------------------- prepared ops


@dataclass
class Prepared:
    """An operation ready to run: ``prepared()`` computes ``out`` from ``x`` and returns it.

    ``x`` is read at every call, so writing into it (or chaining it to another operation's
    ``out``) changes what the next call computes. ``nbytes`` counts what was allocated here.
    """

    op: Op
    x: Array
    out: Array
    weights: dict[str, Array]
    run: Callable[[], object]
    nbytes: int
    expected_shape: tuple[int, ...]
    kernel: str = ""

    def __call__(self) -> Array:
        self.run()
        return self.out

    def checked(self) -> Array:
        """Run once and verify the executed shape equals the counted one."""
        result = self()
        if result.shape != self.expected_shape:
            raise ExecutionShapeError(
                f"{self.op.role}: executed output {result.shape} differs from the counted "
                f"shape {self.expected_shape}"
            )
        return result


def _allocate(buffers: Iterable[Buffer], rng: np.random.Generator,
              given: dict[str, Array] | None = None) -> dict[str, Array]:
    """Allocate a plan. Weights are seeded random, scaled by 1/sqrt(fan-in) so chained
    layers keep unit-size activations (float16 stays finite), unless ``given``."""
    arrays: dict[str, Array] = {}
    for buf in buffers:
        if buf.init == "zeros":
            arrays[buf.name] = np.zeros(buf.shape, buf.dtype)
        elif buf.init == "neginf":
            arrays[buf.name] = np.full(buf.shape, -np.inf, buf.dtype)
        elif buf.init in ("random", "weight"):
            arr = np.empty(buf.shape, buf.dtype)
            if given is not None and buf.name in given:
                src = np.asarray(given[buf.name])
                if src.shape != buf.shape:
                    raise ValueError(f"weight {buf.name!r} must have shape {buf.shape}, "
                                     f"got {src.shape}")
                np.copyto(arr, src, casting="unsafe")
            else:
                arr[...] = rng.standard_normal(buf.shape, dtype=np.float32) / np.sqrt(
                    max(buf.fan_in, 1))
            arrays[buf.name] = arr
        else:
            arrays[buf.name] = np.empty(buf.shape, buf.dtype)
    return arrays


def _random(shape: tuple[int, ...], dt: np.dtype[Any], rng: np.random.Generator) -> Array:
    arr = np.empty(shape, dt)
    arr[...] = rng.standard_normal(shape, dtype=np.float32)
    return arr


def prepare(
    op: Op,
    batch: int,
    dtype: str | np.dtype[Any],
    rng: np.random.Generator,
    *,
    x: Array | None = None,
    residual: Array | None = None,
    weights: dict[str, Array] | None = None,
) -> Prepared:
    """Allocate and initialise everything ``op`` needs; the returned call computes only.

    ``x`` (shape ``(batch, *op.in_shape)``, C-contiguous) is read in place when given,
    otherwise a seeded random input is allocated. ``residual`` is an ``Add``'s second
    operand. ``weights`` overrides the random weights (layouts in the module docstring).
    """
    dt = numpy_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
    in_shape = (batch, *op.in_shape)
    nbytes = 0
    if x is None:
        x = _random(in_shape, dt, rng)
        nbytes += x.nbytes
    elif x.shape != in_shape or x.dtype != dt or not x.flags.c_contiguous:
        raise ValueError(f"input must be a C-contiguous {dt} array of shape {in_shape}, "
                         f"got {x.dtype} {x.shape}")
    if isinstance(op, Conv):
        kind = _conv_kind(op)
        if kind == "depthwise":
            prep = _build_depthwise(op, batch, dt, rng, x, weights)
        else:
            prep = _build_gemm_conv(op, batch, dt, rng, x, weights)
    elif isinstance(op, Dense):
        prep = _build_dense(op, batch, dt, rng, x, weights)
    elif isinstance(op, Pool):
        prep = _build_pool(op, batch, dt, rng, x)
    elif isinstance(op, BatchNorm):
        prep = _build_bn(op, batch, dt, rng, x, weights)
    elif isinstance(op, Add):
        if residual is None:
            residual = _random(in_shape, dt, rng)
            nbytes += residual.nbytes
        prep = _build_add(op, batch, dt, rng, x, residual)
    else:
        raise TypeError(f"no kernel for {type(op).__name__}")
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


def prepare_chain(ops: Sequence[Op], batch: int, dtype: str | np.dtype[Any],
                  rng: np.random.Generator, *, x: Array | None = None) -> Chain:
    """Prepare a form: op ``i`` reads op ``i-1``'s output buffer; an ``Add`` adds the chain's
    input (the residual of an inverted-residual block) when the shapes agree."""
    if not ops:
        raise ValueError("an empty form has nothing to execute")
    dt = numpy_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
    chain = Chain()
    if x is None:
        x = _random((batch, *ops[0].in_shape), dt, rng)
        chain.input_nbytes = x.nbytes
    current = x
    for op in ops:
        if current.shape[1:] != op.in_shape:
            raise ExecutionShapeError(
                f"{op.role}: expects input {op.in_shape} but the previous operation "
                f"produced {current.shape[1:]}"
            )
        residual = x if isinstance(op, Add) and x.shape[1:] == op.in_shape else None
        step = prepare(op, batch, dt, rng, x=current, residual=residual)
        chain.steps.append(step)
        current = step.out
    return chain


def run_form(ops: Sequence[Op], batch: int = 1, dtype: str = "float32", seed: int = 0,
             limit: int | None = None) -> Array:
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
    padded: tuple[int, ...]
    out_spatial: tuple[int, ...]
    rows_per_block: int  # output rows (of the flattened N*out_spatial) per im2col block
    direct: bool  # pointwise with stride 1 and no cast: GEMM straight on the input


def _plan_gemm_conv(op: Conv, batch: int, dt: np.dtype[Any]) -> _GemmConvPlan:
    rank = len(op.kernel)
    g = op.groups
    cin, cout = op.in_channels, op.out_channels
    padded = _padded(op.in_shape[:-1], op.pads)
    out_sp = _window_out(padded, op.kernel, op.stride, op.dilation)
    m = batch * prod(out_sp)
    k = prod(op.kernel) * cin // g
    gdt = _gemm_dtype(dt)
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
    return _GemmConvPlan(bufs, padded, out_sp, rows_per_block, direct)


def _build_gemm_conv(op: Conv, batch: int, dt: np.dtype[Any], rng: np.random.Generator,
                     x: Array, weights: dict[str, Array] | None) -> Prepared:
    p = _plan_gemm_conv(op, batch, dt)
    arrays = _allocate(p.buffers, rng, weights)
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
    interior = (slice(None), *(slice(b, b + n) for (b, _), n in zip(op.pads, op.in_shape[:-1],
                                                                    strict=True)), slice(None))
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
            strides=(st[0], *(s * st[1 + i] for i, s in enumerate(op.stride)),
                     *(d * st[1 + i] for i, d in enumerate(op.dilation)), cg * item, item),
            writeable=False,
        )
        # blocks of rows_per_block rows: (n, h0:h1) in 2D/3D, (n0:n1) in 1D
        if rank > 1:
            blocks = [(n, r, min(r + p.rows_per_block, p.out_spatial[0]))
                      for n in range(batch) for r in range(0, p.out_spatial[0], p.rows_per_block)]
            out_rows = out.reshape(batch, p.out_spatial[0], -1)
        else:
            blocks = [(-1, r, min(r + p.rows_per_block, batch))
                      for r in range(0, batch, p.rows_per_block)]
            out_rows = out.reshape(1, batch, -1)
        col_all, gout_all = arrays["col"], arrays.get("gemm_out")
        wg = w_gemm if w_gemm is not None else w.reshape(1, k, cout)
        for n, r0, r1 in blocks:
            win = view[n, r0:r1] if rank > 1 else view[r0:r1]  # (rows, *out[1:], *k, g, cg)
            dst = out_rows[max(n, 0), r0:r1].reshape(-1, cout)
            mb = dst.shape[0]
            # the block's buffers are contiguous prefixes, so the reshapes below are views
            col = col_all[:g * mb * k].reshape(g, mb, k)
            # (g, rows..., *k, cg) order so that each group's K columns are contiguous
            win_g = np.moveaxis(win, -2, 0)
            col_view = col.reshape(win_g.shape)
            if gout_all is None:
                steps.append(_im2col_gemm(col_view, win_g, col[0], wg[0], dst))
            else:
                gout = gout_all[:g * mb * og].reshape(g, mb, og)
                dst_g = dst.reshape(mb, g, og).transpose(1, 0, 2)
                steps.append(_im2col_gemm_grouped(col_view, win_g, col, wg, gout, dst_g))
    if bias is not None:
        steps.append(lambda: np.add(out2, bias, out=out2))
    if copy_in is not None:
        steps.insert(0, copy_in)
    return Prepared(op, x, out, {k_: arrays[k_] for k_ in ("w", "b") if k_ in arrays},
                    _sequence(steps), nbytes, (batch, *op.out_shape),
                    "pointwise-gemm" if p.direct else "im2col-gemm")


def _im2col_gemm(col_view: Array, win: Array, col: Array, w: Array,
                 dst: Array) -> Callable[[], object]:
    def step() -> None:
        np.copyto(col_view, win, casting="unsafe")
        np.matmul(col, w, out=dst)
    return step


def _im2col_gemm_grouped(col_view: Array, win: Array, col: Array, w: Array, gout: Array,
                         dst: Array) -> Callable[[], object]:
    def step() -> None:
        np.copyto(col_view, win, casting="unsafe")
        np.matmul(col, w, out=gout)  # one GEMM per group, looped in C
        np.copyto(dst, gout, casting="unsafe")
    return step


def _sequence(steps: Sequence[Callable[[], object]]) -> Callable[[], object]:
    """One call that runs ``steps`` in order (the step itself when there is only one)."""
    if len(steps) == 1:
        return steps[0]
    frozen = tuple(steps)

    def run() -> None:
        for s in frozen:
            s()
    return run


# --------------------------------------------------------------------------- depthwise


@dataclass(frozen=True)
class _PhaseGroup:
    """Taps of the last kernel dim that read one phase of the phased input."""

    phase: int
    first: int  # offset (in phase positions) of the group's first tap
    step: int  # offset between consecutive taps of the group
    taps: tuple[int, ...]  # kernel indices j, in the order they are stored in w_tiled


@dataclass(frozen=True)
class _DepthwisePlan:
    """Depthwise convolution by ``np.einsum`` over a strided window view.

    Why einsum: it accumulates ``out += x_tap * w_tap`` in one fused pass per tap, where two
    ufuncs (multiply into a temporary, then add) make two passes and a temporary; on the
    MobileNetV1 shapes it is 1.8x faster than multiply+add (112×112×32: 514 µs against
    929 µs), at about 0.14 ns per output element and tap whatever the block size, which
    is its inner loop's speed, not the cache's.

    Why one thread: einsum holds the GIL (two threads running it: 1.09x). Threads of ufunc
    multiply+add do release it, but the GIL hand-offs between calls ate the gain: two
    threads on the halves of 112×112×32 took 569 µs against one einsum's 514 µs, and einsum
    in one thread with ufuncs in another was no better. So this kernel runs in the calling
    thread; the BLAS threads serve the GEMMs.

    einsum vectorises its innermost axis only when it is contiguous in every operand, so:

    * with stride 1 in the last spatial dim, that dim and the channels are coalesced into one
      axis of ``Wo*C`` elements and the weights are tiled along ``Wo`` to match;
    * with a stride ``s > 1`` there and fewer than :data:`PHASE_BELOW_CHANNELS` channels,
      the padded input is stored as ``s`` phases, ``(..., phase, Wp/s, C)``: tap ``j`` reads
      phase ``(j*d) % s`` at offset ``(j*d) // s``, contiguously. Taps are grouped by phase;
      the first group's einsum writes the output, each further group's einsum a block-sized
      temporary that one ``add`` folds in (3×3 stride 2: 6 + 3 taps and one add, where a
      zero-padded tap grid would make 12 passes);
    * with many channels the strided view is used as it is: its inner loop is ``C``
      elements long, long enough that the phase copy would cost more than it saves;
    * with a multiplier M > 1 the output channel ``c*M + m`` is strided, so each m is one
      einsum over split ``(Wo, C)`` axes writing a strided view.

    Output rows are processed in blocks of about :data:`BLOCK_ELEMENTS` elements.
    """

    buffers: list[Buffer]
    padded: tuple[int, ...]
    out_spatial: tuple[int, ...]
    phased: bool
    groups: tuple[_PhaseGroup, ...]
    rows_per_block: int


# a strided depthwise view with fewer channels than this is split into phases (see above);
# measured on the stride-2 MobileNetV1 layers: phases win up to 256 channels (64: 440 µs
# against 820 µs strided; 256: 108 against 115), the strided view at 512 (52 against 55)
PHASE_BELOW_CHANNELS = 512


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


def _plan_depthwise(op: Conv, batch: int, dt: np.dtype[Any]) -> _DepthwisePlan:
    rank = len(op.kernel)
    cin = op.in_channels
    mult = op.out_channels // cin
    padded = _padded(op.in_shape[:-1], op.pads)
    out_sp = _window_out(padded, op.kernel, op.stride, op.dilation)
    s_last, d_last, k_last = op.stride[-1], op.dilation[-1], op.kernel[-1]
    wo = out_sp[-1]
    phased = s_last > 1 and cin < PHASE_BELOW_CHANNELS
    groups = _phase_groups(k_last, s_last, d_last) if phased else (
        _PhaseGroup(0, 0, d_last, tuple(range(k_last))),)
    # NumPy's float16 einsum is ~70x slower than float32: compute in float32, store half
    cdt = _gemm_dtype(dt)
    bufs = [Buffer("w", (*op.kernel, cin, mult), dt, "weight", prod(op.kernel))]
    if op.bias:
        bufs.append(Buffer("b", (op.out_channels,), dt, "weight"))
    if phased:
        last_offset = max((j * d_last) // s_last for j in range(k_last))
        q_len = max(-(-padded[-1] // s_last), last_offset + wo)
        bufs.append(Buffer("x_phased", (batch, *padded[:-1], s_last, q_len, cin), cdt, "zeros"))
    elif any(p != (0, 0) for p in op.pads):
        bufs.append(Buffer("x_padded", (batch, *padded, cin), cdt, "zeros"))
    elif cdt != dt:
        bufs.append(Buffer("x_compute", (batch, *op.in_shape), cdt))
    # the weights tiled along Wo, last-dim taps in phase-group order
    bufs.append(Buffer("w_tiled", (mult, *op.kernel, wo * cin), cdt))
    row_elems = prod(out_sp[1:]) * op.out_channels if rank > 1 else wo * op.out_channels
    rows_total = out_sp[0] if rank > 1 else batch
    rows_per_block = max(1, min(rows_total, BLOCK_ELEMENTS // max(row_elems, 1)))
    if len(groups) > 1:
        bufs.append(Buffer("partial", (rows_per_block * row_elems // mult,), cdt))
    if cdt != dt:
        bufs.append(Buffer("out_compute", (batch, *out_sp, op.out_channels), cdt))
    bufs.append(Buffer("out", (batch, *out_sp, op.out_channels), dt))
    return _DepthwisePlan(bufs, padded, out_sp, phased, groups, rows_per_block)


_TAP_LETTERS = "ABCDEFGH"


def _build_depthwise(op: Conv, batch: int, dt: np.dtype[Any], rng: np.random.Generator,
                     x: Array, weights: dict[str, Array] | None) -> Prepared:
    p = _plan_depthwise(op, batch, dt)
    arrays = _allocate(p.buffers, rng, weights)
    nbytes = sum(b.nbytes for b in p.buffers)
    rank = len(op.kernel)
    cin = op.in_channels
    mult = op.out_channels // cin
    wo = p.out_spatial[-1]
    s_last = op.stride[-1]
    w, wt, out = arrays["w"], arrays["w_tiled"], arrays["out"]
    result = out  # what the caller reads
    out = arrays.get("out_compute", out)  # what the einsums write

    # wt[m, *k[:-1], t, wo*cin] = w[*k[:-1], j_t, c, m] repeated along Wo
    order = [j for g in p.groups for j in g.taps]
    for t, j in enumerate(order):
        tap = np.moveaxis(w[..., j, :, :], -1, 0)  # (mult, *k[:-1], cin)
        wt[..., t, :] = np.broadcast_to(tap[..., None, :], (*tap.shape[:-1], wo, cin)).reshape(
            *tap.shape[:-1], wo * cin)

    steps: list[Callable[[], object]] = []
    interior = tuple(slice(b, b + n) for (b, _), n in zip(op.pads, op.in_shape[:-1],
                                                           strict=True))
    if p.phased:
        src = arrays["x_phased"]
        pb, width = op.pads[-1][0], op.in_shape[-2]
        for g in p.groups:
            q0 = max(0, -(-(pb - g.phase) // s_last))  # first q whose column q*s+phase-pb >= 0
            c0 = q0 * s_last + g.phase - pb
            count = len(range(c0, width, s_last))
            if count <= 0:
                continue
            index: tuple[Any, ...] = (slice(None), *interior[:-1], g.phase,
                                      slice(q0, q0 + count), slice(None))
            steps.append(_copier(src[index], x[..., c0::s_last, :][..., :count, :]))
    elif "x_padded" in arrays:
        src = arrays["x_padded"]
        inside: tuple[Any, ...] = (slice(None), *interior, slice(None))
        steps.append(_copier(src[inside], x))
    elif "x_compute" in arrays:
        src = arrays["x_compute"]
        steps.append(_copier(src, x))
    else:
        src = x

    item, st = src.itemsize, src.strides
    other_taps = list(op.kernel[:-1])
    other_tap_strides = [op.dilation[i] * st[1 + i] for i in range(rank - 1)]
    last_position = st[-2]  # one position along the last dim (one phase position if phased)
    if rank > 1:
        row_stride = op.stride[0] * st[1]
        mid_shape = list(p.out_spatial[1:-1])
        mid_strides = [op.stride[i] * st[1 + i] for i in range(1, rank - 1)]
        rows_total = p.out_spatial[0]
    else:
        row_stride, mid_shape, mid_strides, rows_total = st[0], [], [], batch
    coalesce = mult == 1 and (p.phased or s_last == 1)
    if coalesce:
        inner_shape, inner_strides, inner = [wo * cin], [item], "z"
    else:
        step_w = last_position if p.phased else s_last * last_position
        inner_shape, inner_strides, inner = [wo, cin], [step_w, item], "wc"
    taps = _TAP_LETTERS[:rank]
    mid = "pq"[:len(mid_shape)]
    subs = f"{taps}r{mid}{inner},{taps}{inner}->r{mid}{inner}"
    out_v = out.reshape(batch, *p.out_spatial[:-1], wo, cin, mult)
    partial = arrays.get("partial")
    for n0 in range(batch if rank > 1 else 1):
        for r0 in range(0, rows_total, p.rows_per_block):
            r1 = min(rows_total, r0 + p.rows_per_block)
            for m in range(mult):
                dst = out_v[n0, r0:r1, ..., m] if rank > 1 else out_v[r0:r1, ..., m]
                block_shape = (r1 - r0, *mid_shape, *inner_shape)
                if coalesce:
                    dst = dst.reshape(block_shape)
                t0 = 0
                for gi, g in enumerate(p.groups):
                    # first tap's element: (n, first row, 0 mid..., [phase, offset] or 0)
                    lead = [n0, r0 * op.stride[0], *([0] * (rank - 2))] if rank > 1 else [r0]
                    base_index = lead + ([g.phase, g.first] if p.phased else [0])
                    base = src[tuple(base_index)]
                    view = as_strided(
                        base, shape=(*other_taps, len(g.taps), *block_shape),
                        strides=(*other_tap_strides, g.step * last_position, row_stride,
                                 *mid_strides, *inner_strides),
                        writeable=False)
                    wm = wt[m, ..., t0:t0 + len(g.taps), :]
                    t0 += len(g.taps)
                    if not coalesce:
                        wm = wm.reshape(*wm.shape[:-1], wo, cin)
                    if gi == 0:
                        steps.append(_einsum_step(subs, view, wm, dst))
                    else:
                        assert partial is not None
                        tmp = partial[:prod(block_shape)].reshape(block_shape)
                        steps.append(_einsum_step(subs, view, wm, tmp))
                        steps.append(_adder(dst, tmp))
    bias = arrays.get("b")
    if bias is not None:
        out2 = out.reshape(-1, op.out_channels)
        steps.append(lambda: np.add(out2, bias, out=out2))
    if result is not out:
        steps.append(_copier(result, out))
    return Prepared(op, x, result, {k: arrays[k] for k in ("w", "b") if k in arrays},
                    _sequence(steps), nbytes, (batch, *op.out_shape),
                    "depthwise-einsum" + ("-phased" if p.phased else ""))


def _adder(dst: Array, src: Array) -> Callable[[], object]:
    def step() -> None:
        np.add(dst, src, out=dst)
    return step


def _copier(dst: Array, src: Array) -> Callable[[], object]:
    """Copy (and convert, float16 <-> float32) ``src`` into ``dst``."""
    def step() -> None:
        np.copyto(dst, src, casting="unsafe")
    return step


def _einsum_step(subs: str, view: Array, w: Array, dst: Array) -> Callable[[], object]:
    def step() -> None:
        np.einsum(subs, view, w, out=dst)
    return step


# --------------------------------------------------------------------------- dense, BN, add, pool


def _plan_dense(op: Dense, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    features = prod(op.in_shape)
    gdt = _gemm_dtype(dt)
    bufs = [Buffer("w", (features, op.units), dt, "weight", features)]
    if op.bias:
        bufs.append(Buffer("b", (op.units,), dt, "weight"))
    if gdt != dt:
        bufs += [Buffer("w_gemm", (features, op.units), gdt),
                 Buffer("x_gemm", (batch, features), gdt),
                 Buffer("gemm_out", (batch, op.units), gdt)]
    bufs.append(Buffer("out", (batch, op.units), dt))
    return bufs


def _build_dense(op: Dense, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array,
                 weights: dict[str, Array] | None) -> Prepared:
    bufs = _plan_dense(op, batch, dt)
    arrays = _allocate(bufs, rng, weights)
    out = arrays["out"]
    x2 = x.reshape(batch, -1)
    steps: list[Callable[[], object]] = []
    if "w_gemm" in arrays:
        w32, x32, o32 = arrays["w_gemm"], arrays["x_gemm"], arrays["gemm_out"]
        np.copyto(w32, arrays["w"])
        steps += [_copier(x32, x2), lambda: np.matmul(x32, w32, out=o32), _copier(out, o32)]
    else:
        w = arrays["w"]
        steps.append(lambda: np.matmul(x2, w, out=out))
    bias = arrays.get("b")
    if bias is not None:
        steps.append(lambda: np.add(out, bias, out=out))
    return Prepared(op, x, out, {k: arrays[k] for k in ("w", "b") if k in arrays},
                    _sequence(steps), sum(b.nbytes for b in bufs), (batch, *op.out_shape),
                    "dense-gemm")


def _flat2d(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, row length) with the last spatial dim and the channels coalesced, so that a
    per-channel vector tiled along that dim broadcasts over whole contiguous rows."""
    if len(shape) >= 3:
        return prod(shape[:-2]), shape[-2] * shape[-1]
    return prod(shape[:-1]), shape[-1]


def _plan_bn(op: BatchNorm, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    c = op.in_shape[-1]
    row = _flat2d((batch, *op.in_shape))[1]
    return [Buffer("scale", (c,), dt, "random"), Buffer("shift", (c,), dt, "random"),
            Buffer("scale_tiled", (row,), dt), Buffer("shift_tiled", (row,), dt),
            Buffer("out", (batch, *op.in_shape), dt)]


def _build_bn(op: BatchNorm, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array,
              weights: dict[str, Array] | None) -> Prepared:
    bufs = _plan_bn(op, batch, dt)
    arrays = _allocate(bufs, rng, weights)
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
    return Prepared(op, x, out, {"scale": arrays["scale"], "shift": arrays["shift"]}, run,
                    sum(b.nbytes for b in bufs), (batch, *op.out_shape), "batch-norm")


def _build_add(op: Add, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array,
               residual: Array) -> Prepared:
    bufs = [Buffer("out", (batch, *op.in_shape), dt)]
    out = _allocate(bufs, rng)["out"]
    if residual.shape != out.shape:
        raise ValueError(f"residual must have shape {out.shape}, got {residual.shape}")
    return Prepared(op, x, out, {}, lambda: np.add(x, residual, out=out), out.nbytes,
                    (batch, *op.out_shape), "add")


def _plan_pool(op: Pool, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    c = op.in_shape[-1]
    if op.global_:
        return [Buffer("out", (batch, c), dt)]
    padded = _padded(op.in_shape[:-1], op.pads)
    ones = (1,) * len(op.kernel)
    out_sp = _window_out(padded, op.kernel, op.stride, ones)
    bufs = []
    if any(p != (0, 0) for p in op.pads):
        bufs.append(Buffer("x_padded", (batch, *padded, c), dt,
                           "neginf" if op.kind == "max" else "zeros"))
        if op.kind == "avg":
            bufs.append(Buffer("inv_count", (*out_sp, 1), dt))
    bufs.append(Buffer("out", (batch, *out_sp, c), dt))
    return bufs


def _build_pool(op: Pool, batch: int, dt: np.dtype[Any], rng: np.random.Generator,
                x: Array) -> Prepared:
    bufs = _plan_pool(op, batch, dt)
    arrays = _allocate(bufs, rng)
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
        interior = (slice(None), *(slice(b, b + n) for (b, _), n in
                                   zip(op.pads, op.in_shape[:-1], strict=True)), slice(None))
        steps.append(_copier(src[interior], x))
    st = src.strides
    views = []
    for tap in np.ndindex(*op.kernel):
        index = (slice(None), *tap)
        base = src[index]
        views.append(as_strided(base, shape=out.shape,
                                strides=(st[0], *(s * st[1 + i] for i, s in enumerate(op.stride)),
                                         st[-1]), writeable=False))
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
    return Prepared(op, x, out, {}, _sequence(steps), nbytes, (batch, *op.out_shape),
                    f"{op.kind}-pool")
