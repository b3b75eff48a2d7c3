"""ONNX Runtime's own quantizer, run on a float32 ONNX graph: what ``sepconv export
--dtype int8 -o model.onnx`` writes, and what ``--runtime onnxruntime --dtype int8`` times
(:mod:`sepconv_cli.execution.runtimes.ort_int8` takes the graph on from here).

Rules
-----
* As ``onnxruntime.quantization``'s documentation recommends for a CNN on a CPU:
  ``quant_pre_process`` first (shape inference, a batch-norm folded into the convolution
  before it), then ``quantize_static`` in QDQ format, weights int8 symmetric per channel,
  activations per tensor (int8 for a file, ORT's portable default; uint8 where a graph is
  timed on x86, the pairing ORT's x86 kernels run), calibrated (MinMax) on the given
  feeds: the calibration data.
* Weights of 7 bits where a graph is timed on an x86 CPU without VNNI
  (:func:`saturating_u8s8`): there ORT's U8S8 kernels add two uint8 × int8 products in 16
  bits, which 8-bit weights overflow (ORT's documented remedy, ``reduce_range``). A file
  written for use elsewhere keeps 8-bit weights.
* A form of data movement only (a shuffle's reshapes) is quantized too: by default the
  quantizer leaves a Transpose or Reshape whose input is not quantized already in float.
* The quantizer's files (the pre-processed model, its calibration model) live in a
  temporary folder removed before this returns; its log lines (advice to a user of the
  quantizer) are silenced.
* onnx and onnxruntime are imported when a graph is quantized, never before (the ``ort``
  extra; a missing one is exit 2 with its install line).
"""

from __future__ import annotations

import logging
import platform
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from sepconv_cli.interchange.optional import require

Array = np.ndarray[Any, Any]


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Silences the quantizer's log: its advice, and the traceback ``quant_pre_process``
    logs when its optional graph optimization fails on a graph without weights (a pool's
    form), after which it goes on without it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(level)


class _Feeds:
    """A calibration reader giving the feeds once (the quantizer's
    ``CalibrationDataReader`` protocol)."""

    def __init__(self, feeds: Mapping[str, Array]):
        self.feeds: dict[str, Array] | None = dict(feeds)

    def get_next(self) -> dict[str, Array] | None:
        feeds, self.feeds = self.feeds, None
        return feeds

    def rewind(self) -> None:  # pragma: no cover - the quantizer's optional protocol
        pass


X86 = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@cache
def saturating_u8s8() -> bool:
    """Whether ONNX Runtime's U8S8 kernels on this CPU saturate with 8-bit weights: on x86
    without VNNI (AVX2, AVX-512F) they multiply with VPMADDUBSW, which adds two uint8 × int8
    products in a 16-bit sum: up to 2 · 255 · 127 = 64,770, clipped at 32,767 (measured
    here: int8 outputs up to 15 times the agreement tolerance off). With 7-bit weights the sum fits
    (weights in [-64, 64]: 2 · 255 · 64 = 32,640): ``reduce_range``, ORT's remedy. True on x86
    unless ``/proc/cpuinfo`` names a VNNI flag (no ``/proc``: True, the safe side); False
    elsewhere (ARM's kernels accumulate in 32 bits)."""
    flags: set[str] | None = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return u8s8_saturates(platform.machine(), flags)


def u8s8_saturates(machine: str, flags: set[str] | None) -> bool:
    """:func:`saturating_u8s8`'s rule for a CPU of ``machine`` (``platform.machine()``)
    with the feature ``flags`` of ``/proc/cpuinfo`` (None: unknown)."""
    if machine.lower() not in X86:
        return False
    return flags is None or not VNNI_FLAGS & flags


def quantize_qdq(
    model: Any,
    feeds: Mapping[str, Array],
    context: str,
    activations: str = "int8",
    reduce_range: bool = False,
) -> Any:
    """``model`` (a float32 ``ModelProto``) quantized as the rules say, calibrated on
    ``feeds`` (input name → array, the graph's layout); ``activations`` ``int8`` or
    ``uint8``; ``reduce_range``: 7-bit weights (:func:`saturating_u8s8`). Returns the
    quantized ``ModelProto`` (float32 in and out)."""
    onnx = require("onnx", context)
    require("onnxruntime", context)
    q = import_module("onnxruntime.quantization")
    kind = q.QuantType.QUInt8 if activations == "uint8" else q.QuantType.QInt8
    with tempfile.TemporaryDirectory(prefix="sepconv-int8-") as folder, _quiet_quantizer():
        given, pre, out = (Path(folder, name) for name in ("float.onnx", "pre.onnx", "int8.onnx"))
        # by path, not as a ModelProto: given a ModelProto, quant_pre_process takes a route
        # that fails on a graph whose weights are all small (ORT 1.32)
        onnx.save(model, str(given))
        # ONNX's own shape inference is enough for these static graphs: the symbolic one
        # needs sympy, which no sepconv extra installs
        q.quant_pre_process(str(given), str(pre), skip_symbolic_shape=True)
        q.quantize_static(
            str(pre),
            str(out),
            _Feeds(feeds),
            quant_format=q.QuantFormat.QDQ,
            per_channel=True,
            activation_type=kind,
            weight_type=q.QuantType.QInt8,
            reduce_range=reduce_range,
            extra_options={"ForceQuantizeNoInputCheck": True},
        )
        return onnx.load(str(out))


def seeded_feeds(model: Any, seed: int) -> dict[str, Array]:
    """One standard-normal input per graph input, from ``default_rng(seed + 1)`` (the
    weights are drawn from ``seed``): the calibration data of an exported file."""
    rng = np.random.default_rng(seed + 1)
    feeds = {}
    for value in model.graph.input:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        feeds[value.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds
