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

import math
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

# the runtimes other than NumPy time these number formats: float32 as the weights are drawn,
# int8 as each runtime's own quantization makes a deployed model (static, per-channel
# weights, calibrated on the seeded input), timed beside float32 in the same run
RUNTIME_DTYPES = ("float32", "int8")
INT8 = "int8"

# An int8 form agrees with NumPy's float32 output when every element is within
# INT8_STEPS_PER_OP · sqrt(k) quantization steps of the form's output (its output scale),
# k the quantized operations on the way: each quantized tensor is rounded by at most half a
# step of its own scale, weights per channel by half a step of theirs, and k independent
# roundings add in quadrature (measured: at most 2.3 steps for one or two operations, 3.4
# for an inverted residual's ten); a wrong layout, weight or zero point is off by the size
# of the values, tens to hundreds of steps (docs/runtimes.md#int8).
INT8_STEPS_PER_OP = 4.0


def int8_tolerance(output_scale: float, quantized_ops: int, weight_bits: int = 8) -> float:
    """The largest ``|int8 - float32|`` an int8 form's dequantized output may show:
    ``INT8_STEPS_PER_OP · sqrt(quantized_ops)`` steps of ``output_scale`` (at least one
    operation), twice that with 7-bit weights (``weight_bits``: ONNX Runtime's on a CPU
    without VNNI), whose step, and so whose rounding, is twice an 8-bit weight's."""
    widened = 2.0 ** max(8 - weight_bits, 0)
    return INT8_STEPS_PER_OP * math.sqrt(max(quantized_ops, 1)) * output_scale * widened


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
    # int8: how the runtime's tools quantized each form (weights, activations, calibration)
    quantization: str | None = None

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
        if self.quantization is not None:
            out["quantization"] = self.quantization
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
