"""Choosing a runtime: what each must offer timing, and loading the one ``--runtime`` names.

A runtime other than NumPy offers ``info`` (its :class:`RuntimeInfo`) and ``prepare``:
given a form's operations, NumPy's input for them (channels-last), the weights NumPy's
kernels were prepared with (one dict per operation, NumPy's layouts) and the other tensors
each operation reads (one dict per operation: an add's ``residual``, a scale's ``gate``, a
concat's ``branch1`` …; a residual that *is* the form's input means the input), it returns a
:class:`Runner` whose call runs the form once, with input and output already where the
runtime keeps them (nothing is copied on the timed path), and whose ``output()`` runs it
and returns the result channels-last for the agreement check.

Runtimes are loaded once per process and setting (:func:`load_runtime` caches them):
importing onnxruntime, torch or LiteRT costs a second or more.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from sepconv_cli.counting.ops import Op
from sepconv_cli.execution.buffers import Array
from sepconv_cli.execution.runtimes.base import RuntimeInfo


class Runner(Protocol):
    """One form prepared on a runtime. An int8 form also says how close its dequantized
    output must be to NumPy's float32 one (``tolerance``: :func:`base.int8_tolerance`;
    ``None`` for a float form, which agrees within :data:`base.AGREEMENT_ATOL`) and which
    of its operations the runtime runs in float32 for want of an int8 kernel
    (``float_ops``: each ``"name (OpType)"``; never silently)."""

    tolerance: float | None
    float_ops: tuple[str, ...]

    def __call__(self) -> object: ...

    def output(self) -> Array: ...


class Runtime(Protocol):
    info: RuntimeInfo

    def prepare(
        self,
        ops: Sequence[Op],
        x: Array,
        weights: Sequence[dict[str, Array]],
        operands: Sequence[dict[str, Array]],
    ) -> Runner: ...


@lru_cache(maxsize=8)
def load_runtime(
    name: str,
    device: str = "cpu",
    threads: int | None = None,
    optimization: str | None = None,
    dtype: str = "float32",
) -> Runtime:
    """The runtime ``--runtime name`` chose, imported now (exit 2 with the install line
    when missing, or when ``--device cuda`` finds no GPU), preparing forms in ``dtype``
    (float32, or int8: each form quantized as that runtime's own tools quantize a model)."""
    if name == "onnxruntime":
        from sepconv_cli.execution.runtimes.onnxruntime_runtime import OrtRuntime

        return OrtRuntime(device, threads, optimization, dtype)
    if name == "torch":
        from sepconv_cli.execution.runtimes.torch_runtime import TorchRuntime

        return TorchRuntime(device, threads, dtype)
    if name == "litert":
        from sepconv_cli.execution.runtimes.litert_runtime import LiteRtRuntime

        return LiteRtRuntime(device, threads, dtype)
    raise ValueError(f"no runtime {name!r} to load (numpy times with sepconv's own kernels)")
