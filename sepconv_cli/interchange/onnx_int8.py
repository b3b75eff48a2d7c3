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
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


def quantize_qdq(
    model: Any, feeds: Mapping[str, Array], context: str, activations: str = "int8"
) -> Any:
    """``model`` (a float32 ``ModelProto``) quantized as the rules say, calibrated on
    ``feeds`` (input name → array, the graph's layout); ``activations`` ``int8`` or
    ``uint8``. Returns the quantized ``ModelProto`` (float32 in and out)."""
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
