"""Choosing a runtime: what each must offer timing, and loading the one ``--runtime`` names.

A runtime other than NumPy offers ``info`` (its :class:`RuntimeInfo`) and ``prepare``:
given a form's operations, NumPy's input for them (channels-last) and the weights NumPy's
kernels were prepared with (one dict per operation, NumPy's layouts), it returns a
:class:`Runner` whose call runs the form once, with input and output already where the
runtime keeps them (nothing is copied on the timed path), and whose ``output()`` runs it
and returns the result channels-last for the agreement check.

Runtimes are loaded once per process and setting (:func:`load_runtime` caches them):
importing onnxruntime or torch costs a second or more.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from sepconv_cli.counting.ops import Add, BatchNorm, Conv, Dense, Op, Pool, Shuffle, SqueezeExcite
from sepconv_cli.execution.buffers import Array
from sepconv_cli.execution.runtimes.base import RuntimeInfo, RuntimeUnsupportedError

# the operations each runtime other than NumPy runs the same way NumPy does (a linear chain
# of one input: a concat, which joins branches, is timed with NumPy only)
_EVERY_RUNTIME: tuple[type[Op], ...] = (Conv, BatchNorm, Dense, Pool, Add)
SUPPORTED_OPS: dict[str, tuple[type[Op], ...]] = {
    # a squeeze-and-excite without its activations, as NumPy runs it; a channel shuffle
    "onnxruntime": (*_EVERY_RUNTIME, SqueezeExcite, Shuffle),
    "torch": _EVERY_RUNTIME,
}
_WHAT_RUNS = {
    "onnxruntime": "conv, batch-norm, dense, pooling, residual add, squeeze-and-excite and "
    "shuffle run on onnxruntime",
    "torch": "conv, batch-norm, dense, pooling and residual add run on torch",
}


class Runner(Protocol):
    def __call__(self) -> object: ...

    def output(self) -> Array: ...


class Runtime(Protocol):
    info: RuntimeInfo

    def prepare(
        self, ops: Sequence[Op], x: Array, weights: Sequence[dict[str, Array]]
    ) -> Runner: ...


def check_supported(ops: Sequence[Op], runtime: str) -> None:
    """Refuse (one line) a form with an operation this runtime is not used for here."""
    supported = SUPPORTED_OPS.get(runtime, _EVERY_RUNTIME)
    for op in ops:
        if not isinstance(op, supported):
            what = _WHAT_RUNS.get(runtime, "")
            raise RuntimeUnsupportedError(
                f"--runtime {runtime}: a {op.role} operation is timed with NumPy only ({what})"
            )


@lru_cache(maxsize=8)
def load_runtime(
    name: str, device: str = "cpu", threads: int | None = None, optimization: str | None = None
) -> Runtime:
    """The runtime ``--runtime name`` chose, imported now (exit 2 with the install line
    when missing, or when ``--device cuda`` finds no GPU)."""
    if name == "onnxruntime":
        from sepconv_cli.execution.runtimes.onnxruntime_runtime import OrtRuntime

        return OrtRuntime(device, threads, optimization)
    if name == "torch":
        from sepconv_cli.execution.runtimes.torch_runtime import TorchRuntime

        return TorchRuntime(device, threads)
    raise ValueError(f"no runtime {name!r} to load (numpy times with sepconv's own kernels)")
