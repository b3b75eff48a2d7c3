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

from sepconv_cli.counting.ops import Add, BatchNorm, Conv, Dense, Op, Pool
from sepconv_cli.execution.buffers import Array
from sepconv_cli.execution.runtimes.base import RuntimeInfo, RuntimeUnsupportedError

# the operations the runtimes other than NumPy run (what ONNX Runtime and torch run the
# same way NumPy does; a squeeze-and-excite's gate, a shuffle or a concat are not timed)
SUPPORTED_OPS: tuple[type[Op], ...] = (Conv, BatchNorm, Dense, Pool, Add)


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
    for op in ops:
        if not isinstance(op, SUPPORTED_OPS):
            raise RuntimeUnsupportedError(
                f"--runtime {runtime}: a {op.role} operation is timed with NumPy only "
                "(conv, batch-norm, dense, pooling and residual add run on every runtime)"
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
