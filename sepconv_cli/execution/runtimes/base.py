"""What a runtime is to sepconv's timing: the registry, the metadata a timing records, and
the one-line errors a runtime gives.

Rules
-----
* ``RUNTIMES`` names every runtime ``--runtime`` accepts; ``numpy`` (the default) is
  sepconv's own kernels and times exactly as before. The others run each form the way that
  runtime runs a model: ``onnxruntime`` an ``InferenceSession`` over a one-form ONNX graph
  with the weights as initializers, ``torch`` ``nn`` modules under ``torch.inference_mode``,
  ``litert`` LiteRT's ``Interpreter`` over a one-form ``.tflite`` file (XNNPACK applied, as
  LiteRT applies it by default).
* A runtime other than NumPy is imported only when chosen (``--runtime``), through
  :func:`sepconv_cli.interchange.optional.require`: a missing package is one line naming
  what to install (exit 2), and no other command pays for the import.
* Agreement before timing: each form's output on a runtime equals NumPy's on the same
  seeded input and weights within ``AGREEMENT_RTOL`` / ``AGREEMENT_ATOL`` (float32, both
  relative to the largest magnitude of NumPy's output), else :class:`DisagreementError`
  (exit 3) names the layer, form and runtime.
* :class:`RuntimeInfo` is part of every result timed on a runtime other than NumPy: name,
  version, device, execution provider, threads, ORT graph optimization level, dtype. Its
  ``as_dict`` keys are a JSON contract (docs/json.md).

This module imports neither NumPy nor any runtime: records and renderers read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sepconv_cli.errors import RuntimeFailure, UsageError

RuntimeName = Literal["numpy", "onnxruntime", "torch", "litert"]
RUNTIMES: tuple[RuntimeName, ...] = ("numpy", "onnxruntime", "torch", "litert")
DEVICES = ("cpu", "cuda")
# ``--ort-optimization`` → onnxruntime.GraphOptimizationLevel member
ORT_OPTIMIZATION = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
ORT_DEFAULT_OPTIMIZATION = "all"  # onnxruntime's own default (SessionOptions())

# a runtime's output agrees with NumPy's when |runtime - numpy| <= ATOL * max|numpy| +
# RTOL * |numpy| everywhere: float32 kernels that sum in different orders (Winograd,
# NCHWc blocking, cuDNN's algorithms, TF32 on GPUs) differ by far less than this; a wrong
# layout, pad or weight differs by the size of the values themselves
AGREEMENT_RTOL = 1e-3
AGREEMENT_ATOL = 1e-3

# the runtimes other than NumPy time this one precision
RUNTIME_DTYPES = ("float32",)


class RuntimeUnsupportedError(UsageError):
    """A layer or setting a runtime cannot run here (exit 2, or a row's note in a profile)."""


class DisagreementError(RuntimeFailure):
    """A runtime's output differs from NumPy's on the same data (exit 3): its times would
    not be of the same computation."""


@dataclass(frozen=True)
class RuntimeInfo:
    """What a timing ran on: recorded with every time taken on a runtime other than NumPy,
    printed in the table's header, compared by ``sepconv compare``."""

    runtime: RuntimeName
    version: str
    device: str = "cpu"
    provider: str = ""  # ORT's execution provider; torch's backend (cpu, cuda); LiteRT's delegate
    threads: int | None = None
    optimization: str | None = None  # ORT's graph optimization level (--ort-optimization)
    dtype: str = "float32"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.runtime,
            "version": self.version,
            "device": self.device,
            "provider": self.provider,
            "threads": self.threads,
            "dtype": self.dtype,
        }
        if self.optimization is not None:
            out["graph_optimization"] = self.optimization
        return out

    def label(self) -> str:
        """One line for a table header: ``onnxruntime 1.23.2 · CPUExecutionProvider · 1
        thread · optimization all · float32``."""
        parts = [f"{self.runtime} {self.version}", self.provider or self.device]
        if self.threads is not None:
            parts.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        if self.optimization is not None:
            parts.append(f"optimization {self.optimization}")
        parts.append(self.dtype)
        return " · ".join(parts)


def runtime_key(record: dict[str, Any] | None) -> str:
    """What must match for two JSON timings to be compared: runtime, device and provider
    (a record without one is NumPy's, as every file written before runtimes existed)."""
    if not record:
        return "numpy"
    device = record.get("provider") or record.get("device") or "cpu"
    return f"{record.get('name', 'numpy')} ({device})"


def runtime_label(runtime: RuntimeInfo | None) -> str:
    """What ran a timing, for a header: ``NumPy``, or the runtime's one-line label."""
    return "NumPy" if runtime is None else runtime.label()
