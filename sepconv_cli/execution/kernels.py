"""NumPy execution of the primitive operations of :mod:`sepconv_cli.counting.ops`: the dispatch.

``prepare(op, batch, dtype, rng)`` allocates everything an operation needs (input, padded
copy, im2col buffer, weights, output, scratch) and returns a :class:`Prepared` whose call does
the arithmetic only, so a timer around the call measures compute, not allocation. Each kind
of operation has one kernel, in its own module; this one picks it and enforces what they share.

Rules
-----
* Dispatch: a depthwise convolution (``groups == Cin``) runs in
  :mod:`sepconv_cli.execution.depthwise` (``np.einsum`` over strided windows, its output rows
  split over sepconv's own threads when ``threads > 1`` and the layer is large enough to
  gain); every other convolution and the dense layer are BLAS GEMMs
  (:mod:`sepconv_cli.execution.gemm`: im2col, or the input itself for a pointwise
  convolution); batch-norm and the residual add are elementwise passes
  (:mod:`sepconv_cli.execution.elementwise`); pooling is :mod:`sepconv_cli.execution.pooling`;
  a layer norm (an ONNX file's) :mod:`sepconv_cli.execution.layer_norm`.
  A squeeze-and-excite runs its parts with those kernels
  (:mod:`sepconv_cli.execution.squeeze_excite`); a branches block's concat and the channel
  shuffle are copies (:mod:`sepconv_cli.execution.branches`).
  Each kernel has a ``plan`` (the buffers) and a ``build`` (allocate, then a call that
  computes), registered together in ``_KERNELS``.
* Layout: tensors are channels-last ``(N, *spatial, C)``, as :mod:`cost` counts them; the
  executed output has exactly the shape ``(batch, *op.out_shape)``. That is checked: the
  kernels size their output from their own window arithmetic (never from ``op.out_shape``)
  and :meth:`Prepared.checked` compares the array each call produced with the counted shape.
* Weight layouts (for callers that pass their own through ``weights=``):
  convolution ``w`` is ``(*kernel, Cin/groups, Cout)`` (TensorFlow's HWIO) and output channel
  ``o`` belongs to group ``o // (Cout/groups)``; depthwise (``groups == Cin``) ``w`` is
  ``(*kernel, Cin, M)`` with output channel ``c*M + m``; dense ``w`` is ``(features, units)``;
  ``b`` is the bias; batch-norm has ``scale`` and ``shift`` of shape ``(C,)``;
  squeeze-and-excite has ``squeeze_w`` ``(*ones, C, S)``, ``squeeze_b`` ``(S,)``,
  ``excite_w`` ``(*ones, S, C)`` and ``excite_b`` ``(C,)``; a layer norm ``scale`` and
  ``bias`` of shape ``(normalized,)``.
* Padding is exactly ``op.pads`` as (before, after) per dim, so TensorFlow's asymmetric
  ``same`` padding is reproduced. Pads are zeros, except in pooling
  (:mod:`sepconv_cli.execution.pooling` says how max and average pooling treat them).
* Precision: float32 (default), float64, float16. NumPy has no half-precision BLAS and its
  float16 einsum is ~70x slower than float32, so float16 tensors are stored in half
  precision while GEMMs and depthwise convolutions compute in float32 buffers and write
  half precision back; pooling, batch-norm and adds run in NumPy's float16 loops.
  bfloat16 and int8 are refused with :class:`UnsupportedDtypeError` (NumPy has no bfloat16
  type and no int8 GEMM).
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

from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Concat,
    Conv,
    Dense,
    LayerNorm,
    Op,
    Pool,
    Scale,
    Shuffle,
    SqueezeExcite,
)
from sepconv_cli.errors import UsageError
from sepconv_cli.execution import (
    branches,
    depthwise,
    elementwise,
    gemm,
    layer_norm,
    pooling,
    squeeze_excite,
)
from sepconv_cli.execution.buffers import (
    Array,
    Buffer,
    ExecutionShapeError,
    Prepared,
    random_array,
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
    "NotExecutableError",
    "Prepared",
    "UnsupportedDtypeError",
    "available_memory",
    "check_executable",
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


class UnsupportedDtypeError(UsageError):
    """Timing was asked for in a precision NumPy cannot compute in."""


class NotExecutableError(UsageError):
    """A layer with an operation sepconv counts but no kernel here runs (an ONNX file's
    transposed convolution), or with no operation at all: a profile row's note, exit 2 for
    one layer. The other runtimes run exactly what NumPy runs, so this holds for them too."""


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The NumPy dtype timings run in; refuses what NumPy cannot compute in."""
    if name not in SUPPORTED_DTYPES:
        raise UnsupportedDtypeError(
            f"--dtype {name}: NumPy cannot execute {name} (no {name} arithmetic or GEMM); "
            f"timing needs one of {', '.join(SUPPORTED_DTYPES)} (counting works with {name})"
            + (
                "; --runtime onnxruntime or litert times int8 beside float32"
                if name == "int8"
                else ""
            )
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


# --------------------------------------------------------------------------- one kernel per op

OpT = TypeVar(
    "OpT", Conv, Dense, Pool, BatchNorm, LayerNorm, Add, Scale, SqueezeExcite, Concat, Shuffle
)


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
    return gemm.plan_conv(op, batch, dt).buffers


def _build_conv(op: Conv, r: _Request) -> Prepared:
    if _conv_kind(op) == "depthwise":
        return depthwise.build(op, r.batch, r.dt, r.rng, r.x, r.weights, r.threads, r.split)
    return gemm.build_conv(op, r.batch, r.dt, r.rng, r.x, r.weights)


def _plan_add(op: Add, batch: int, dt: np.dtype[Any], threads: int) -> list[Buffer]:
    return [Buffer("out", (batch, *op.in_shape), dt)]


def _build_add_request(op: Add, r: _Request) -> Prepared:
    assert r.residual is not None  # prepare() allocates one when the caller gives none
    return elementwise.build_add(op, r.batch, r.dt, r.rng, r.x, r.residual)


def _build_scale(op: Scale, r: _Request) -> Prepared:
    return elementwise.build_scale(op, r.batch, r.dt, r.rng, r.x)


_KERNELS: dict[type[Op], _Kernel[Any]] = {
    Conv: _Kernel[Conv](_plan_conv, _build_conv),
    Dense: _Kernel[Dense](
        lambda op, batch, dt, threads: gemm.plan_dense(op, batch, dt),
        lambda op, r: gemm.build_dense(op, r.batch, r.dt, r.rng, r.x, r.weights),
    ),
    Pool: _Kernel[Pool](
        lambda op, batch, dt, threads: pooling.plan(op, batch, dt),
        lambda op, r: pooling.build(op, r.batch, r.dt, r.rng, r.x),
    ),
    BatchNorm: _Kernel[BatchNorm](
        lambda op, batch, dt, threads: elementwise.plan_batch_norm(op, batch, dt),
        lambda op, r: elementwise.build_batch_norm(op, r.batch, r.dt, r.rng, r.x, r.weights),
    ),
    LayerNorm: _Kernel[LayerNorm](
        lambda op, batch, dt, threads: layer_norm.plan(op, batch, dt),
        lambda op, r: layer_norm.build(op, r.batch, r.dt, r.rng, r.x, r.weights),
    ),
    Add: _Kernel[Add](_plan_add, _build_add_request),
    Scale: _Kernel[Scale](
        lambda op, batch, dt, threads: elementwise.plan_scale(op, batch, dt), _build_scale
    ),
    SqueezeExcite: _Kernel[SqueezeExcite](
        lambda op, batch, dt, threads: squeeze_excite.plan(op, batch, dt),
        lambda op, r: squeeze_excite.build(op, r.batch, r.dt, r.rng, r.x, r.weights),
    ),
    Concat: _Kernel[Concat](
        lambda op, batch, dt, threads: branches.plan_concat(op, batch, dt),
        lambda op, r: branches.build_concat(op, r.batch, r.dt, r.rng, r.x),
    ),
    Shuffle: _Kernel[Shuffle](
        lambda op, batch, dt, threads: branches.plan_shuffle(op, batch, dt),
        lambda op, r: branches.build_shuffle(op, r.batch, r.dt, r.rng, r.x),
    ),
}


def check_executable(ops: Sequence[Op]) -> None:
    """Refuse (one line) a form that has nothing to run or an operation with no kernel."""
    if not ops:
        raise NotExecutableError("nothing to execute: the layer has no counted operation")
    for op in ops:
        if type(op) not in _KERNELS:
            raise NotExecutableError(
                f"a {op.role} operation is counted, not executed (no kernel here runs it)"
            )


def _kernel_for(op: Op) -> _Kernel[Any]:
    kernel = _KERNELS.get(type(op))
    if kernel is None:
        raise TypeError(f"no kernel for {type(op).__name__}")
    return kernel
