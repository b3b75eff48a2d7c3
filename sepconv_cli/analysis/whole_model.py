"""``--whole-model``: a model's three forms run end to end on ONNX Runtime or LiteRT, each
beside the sum of its layers timed one by one
(docs/runtimes.md#whole-graph-against-the-sum-of-layers).

The graphs come from :mod:`sepconv_cli.interchange.whole_forms` (a spec's export, or an ONNX
or TensorFlow Lite file itself), the timing from :mod:`sepconv_cli.execution.runtimes.
whole_graph` (ONNX Runtime) or :mod:`~sepconv_cli.execution.runtimes.litert_whole`
(LiteRT); this module pairs each whole graph with the per-layer sums the command already
measured.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sepconv_cli.counting.network import Model
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.runtimes.base import INT8
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
    """The model ``ref`` names (``built`` from it) run whole in each form on ORT, or on
    LiteRT where ``settings.runtime`` is ``litert``."""
    from sepconv_cli.execution.runtimes.whole_graph import time_whole_graphs
    from sepconv_cli.interchange.models import ModelOptions, converted_file, is_onnx
    from sepconv_cli.interchange.onnx_build import nchw
    from sepconv_cli.interchange.whole_forms import onnx_file_graphs, spec_graphs

    tflite = ref.lower().endswith(".tflite")
    if settings.runtime == "litert":
        return _on_litert(ref, built, settings, tflite, progress, input_values)
    if tflite:
        raise UsageError(
            "--whole-model: a TensorFlow Lite file runs whole on LiteRT, not ONNX Runtime; "
            "use --runtime litert"
        )
    if is_onnx(ref):
        # a PyTorch module or Keras file: its ONNX export, run while it exists
        options = ModelOptions(input_shapes=input_shapes or {}, batch=built.batch)
        with converted_file(ref, options) as made:
            path, shapes = (
                (made.path, made.input_shapes) if made else (Path(ref), options.input_shapes)
            )
            graphs = onnx_file_graphs(path, shapes, built.batch, settings.seed, built.dtype)
            expected = None  # the file's own output, as its graph declares it
            return time_whole_graphs(
                graphs, expected, built.batch, settings, shapes, progress, input_values, built.dtype
            )
    from sepconv_cli.spec.presets import resolve_model

    graphs = spec_graphs(resolve_model(ref), built, settings.seed, built.dtype)
    expected = nchw(built.output_shape, built.batch)
    return time_whole_graphs(
        graphs, expected, built.batch, settings, input_shapes, progress, input_values, built.dtype
    )


def _on_litert(
    ref: str,
    built: Model,
    settings: TimingSettings,
    tflite: bool,
    progress: Callable[[str], None] | None,
    input_values: dict[str, Any] | None,
) -> WholeGraph:
    """A ``.tflite`` file as given, or a spec's three forms written as ``.tflite`` files,
    run whole on LiteRT."""
    from sepconv_cli.execution.runtimes.litert_whole import time_whole_files
    from sepconv_cli.interchange.models import is_onnx
    from sepconv_cli.interchange.whole_forms import spec_tflite_files, tflite_file_forms

    if tflite:
        from sepconv_cli.interchange.models import ModelOptions, load_model

        own = load_model(ref, ModelOptions())[0].dtype  # the file's, without --dtype
        if own != built.dtype and INT8 in (own, built.dtype):
            raise UsageError(
                f"--whole-model: {Path(ref).name} is {own}, and LiteRT runs a .tflite file "
                f"whole as given: its layers would be timed in {built.dtype} and the file in "
                f"{own}; drop --dtype, or write the file in {built.dtype} (sepconv export "
                f"--dtype {built.dtype} -o model.tflite)"
            )
        graphs = tflite_file_forms(Path(ref))
        return time_whole_files(
            graphs, None, built.batch, settings, progress, input_values, built.dtype
        )
    if is_onnx(ref):
        raise UsageError(
            "--whole-model --runtime litert: runs a .tflite file, or a spec or preset written "
            "as one; an ONNX model runs whole with --runtime onnxruntime"
        )
    from sepconv_cli.spec.presets import resolve_model

    graphs = spec_tflite_files(resolve_model(ref), built, settings.seed, built.dtype)
    expected = (built.batch, *built.output_shape)  # channels-last, as TFLite's
    return time_whole_files(
        graphs, expected, built.batch, settings, progress, input_values, built.dtype
    )
