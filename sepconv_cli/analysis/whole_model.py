"""``--whole-model``: a model's three forms run end to end on ONNX Runtime, each beside the
sum of its layers timed one by one (docs/runtimes.md#whole-graph-against-the-sum-of-layers).

The graphs come from :mod:`sepconv_cli.interchange.whole_forms` (a spec's export, or an ONNX
file itself), the timing from :mod:`sepconv_cli.execution.runtimes.whole_graph`; this module
pairs each whole graph with the per-layer sums the command already measured.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sepconv_cli.counting.network import Model
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.runtimes.whole_graph import WholeGraph
from sepconv_cli.execution.timing import TimingSettings


def whole_model(
    ref: str,
    built: Model,
    settings: TimingSettings,
    input_shapes: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    input_values: dict[str, Any] | None = None,
) -> WholeGraph:
    """The model ``ref`` names (``built`` from it) run whole in each form on ORT."""
    from sepconv_cli.execution.runtimes.whole_graph import time_whole_graphs
    from sepconv_cli.interchange.models import ModelOptions, converted_file, is_onnx
    from sepconv_cli.interchange.onnx_build import nchw
    from sepconv_cli.interchange.whole_forms import onnx_file_graphs, spec_graphs

    if ref.lower().endswith(".tflite"):
        raise UsageError(
            "--whole-model: runs an ONNX graph on ONNX Runtime; a TensorFlow Lite file is "
            "counted from its operators but not run whole (its layers time with --time)"
        )
    if is_onnx(ref):
        # a PyTorch module or Keras file: its ONNX export, run while it exists
        options = ModelOptions(input_shapes=input_shapes or {}, batch=built.batch)
        with converted_file(ref, options) as made:
            path, shapes = (
                (made.path, made.input_shapes) if made else (Path(ref), options.input_shapes)
            )
            graphs = onnx_file_graphs(path, shapes, built.batch, settings.seed)
            expected = None  # the file's own output, as its graph declares it
            return time_whole_graphs(
                graphs, expected, built.batch, settings, shapes, progress, input_values
            )
    from sepconv_cli.spec.presets import resolve_model

    graphs = spec_graphs(resolve_model(ref), built, settings.seed)
    expected = nchw(built.output_shape, built.batch)
    return time_whole_graphs(
        graphs, expected, built.batch, settings, input_shapes, progress, input_values
    )
