"""What every NumPy kernel shares: buffer plans, their allocation, the prepared call.

A kernel is built in two steps. Its *plan* lists every array it will allocate
(:class:`Buffer`: name, shape, dtype, how it is initialised), so the memory guard can add up
the bytes before anything exists. Its *build* allocates the plan (:func:`allocate`) and
returns a :class:`Prepared` whose call does the arithmetic only, as a sequence of small
steps (closures over preallocated arrays, so a timed call allocates nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any, Literal

import numpy as np

from sepconv_cli.counting.ops import Op
from sepconv_cli.errors import RuntimeFailure

Array = np.ndarray[Any, np.dtype[Any]]
Step = Callable[[], object]

BufferInit = Literal["empty", "zeros", "neginf", "random", "weight"]
"""How :func:`allocate` fills a buffer: left uninitialised, zeros, -inf (max pooling's
padding), seeded random values, or weights (seeded random unless the caller gives them)."""


class ExecutionShapeError(RuntimeFailure):
    """An executed output disagrees with the counted shape (a bug, reported, never hidden)."""


@dataclass(frozen=True)
class Buffer:
    """One array an execution allocates, filled as ``init`` says (:data:`BufferInit`)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    init: BufferInit = "empty"
    fan_in: int = 1  # random weights are scaled by 1/sqrt(fan_in)

    @property
    def nbytes(self) -> int:
        return prod(self.shape) * self.dtype.itemsize


def window_out(
    padded: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> tuple[int, ...]:
    """Window count per dim, computed here from the padded input (never from cost.py)."""
    return tuple(
        (n - d * (k - 1) - 1) // s + 1
        for n, k, s, d in zip(padded, kernel, stride, dilation, strict=True)
    )


def padded_shape(spatial: Sequence[int], pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(n + b + a for n, (b, a) in zip(spatial, pads, strict=True))


def compute_dtype(dt: np.dtype[Any]) -> np.dtype[Any]:
    """GEMMs run in float32 for half precision (NumPy has no half BLAS)."""
    return np.dtype(np.float32) if dt == np.float16 else dt


@dataclass
class Prepared:
    """An operation ready to run: ``prepared()`` computes ``out`` from ``x`` and returns it.

    ``x`` is read at every call, so writing into it (or chaining it to another operation's
    ``out``) changes what the next call computes. ``nbytes`` counts what was allocated here.
    ``operands`` are the other tensors the call reads (an add's residual, a scale's gate, the
    other branches a concat joins), by name, so another runtime can be given the same data.
    """

    op: Op
    x: Array
    out: Array
    weights: dict[str, Array]
    run: Callable[[], object]
    nbytes: int
    expected_shape: tuple[int, ...]
    kernel: str = ""
    operands: dict[str, Array] = field(default_factory=dict)

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


def allocate(
    buffers: Iterable[Buffer], rng: np.random.Generator, given: dict[str, Array] | None = None
) -> dict[str, Array]:
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
                    raise ValueError(
                        f"weight {buf.name!r} must have shape {buf.shape}, got {src.shape}"
                    )
                np.copyto(arr, src, casting="unsafe")
            else:
                _fill_normal(arr, rng, np.sqrt(max(buf.fan_in, 1)))
            arrays[buf.name] = arr
        else:
            arrays[buf.name] = np.empty(buf.shape, buf.dtype)
    return arrays


def random_array(shape: tuple[int, ...], dt: np.dtype[Any], rng: np.random.Generator) -> Array:
    arr = np.empty(shape, dt)
    _fill_normal(arr, rng)
    return arr


# elements drawn at a time (32 KiB): the float32 draw is a temporary, so drawing a whole
# large array at once would briefly need its size again, memory the guard does not count
_DRAW_CHUNK = 1 << 13


def _fill_normal(arr: Array, rng: np.random.Generator, divisor: Any = None) -> None:
    """Fill ``arr`` with float32 standard normals (divided by ``divisor``), drawn in chunks.

    The values are exactly those of one ``rng.standard_normal(arr.shape, dtype=np.float32)
    / divisor`` assigned to ``arr`` (a generator's stream does not depend on how it is split
    into calls); only a chunk, never the whole array, is held twice.
    """
    flat = arr.reshape(-1)  # a view: np.empty arrays are contiguous
    for start in range(0, flat.size, _DRAW_CHUNK):
        draw = rng.standard_normal(min(_DRAW_CHUNK, flat.size - start), dtype=np.float32)
        dst = flat[start : start + draw.size]
        if divisor is None:
            np.copyto(dst, draw, casting="unsafe")
        else:  # the quotient in draw / divisor's precision, rounded into dst
            np.divide(draw, divisor, out=dst, casting="unsafe")


def sequence(steps: Sequence[Callable[[], object]]) -> Callable[[], object]:
    """One call that runs ``steps`` in order (the step itself when there is only one)."""
    if len(steps) == 1:
        return steps[0]
    frozen = tuple(steps)

    def run() -> None:
        for s in frozen:
            s()

    return run


def copier(dst: Array, src: Array) -> Callable[[], object]:
    """Copy (and convert, float16 <-> float32) ``src`` into ``dst``."""

    def step() -> None:
        np.copyto(dst, src, casting="unsafe")

    return step
