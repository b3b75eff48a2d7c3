"""The one way a command gets a model: a YAML spec, a preset name or an ONNX file (or a
PyTorch module or Keras file, converted to one) → the counting
:class:`~sepconv_cli.counting.network.Model` every report reads.

``profile`` and ``compare`` both call :func:`load_model`; onnx is imported only when the
reference is an ``.onnx`` file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from sepconv_cli.counting.network import Model, build
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_inputs import InputValue
from sepconv_cli.interchange.onnx_load import Shape

if TYPE_CHECKING:
    from sepconv_cli.interchange.converted import Converted


@dataclass(frozen=True)
class ModelOptions:
    """What the command line says about the model (None / empty: as the file has it)."""

    width_multiplier: Fraction | None = None
    resolution: tuple[int, ...] | None = None
    batch: int | None = None
    input_shapes: dict[str, Shape] = field(default_factory=dict)
    input_values: dict[str, InputValue] = field(default_factory=dict)  # --input-value
    all_nodes: bool = False  # ONNX: rows for the free data-movement and shape nodes too


def is_onnx(ref: str) -> bool:
    """Whether the ONNX reader reads ``ref``: an ``.onnx`` or ``.tflite`` file, or a PyTorch module
    (``torchvision:NAME``, ``model.py:build``) or Keras file converted to one first. A test
    of the text (and of a SavedModel's folder): nothing is imported."""
    from sepconv_cli.interchange.keras_files import is_keras_file
    from sepconv_cli.interchange.torch_modules import is_torch_module

    if ref.lower().endswith((".onnx", ".tflite")):  # a TFLite file is read as its ONNX graph
        return True
    return is_torch_module(ref) or is_keras_file(ref)


@contextmanager
def converted_file(
    ref: str, options: ModelOptions | None = None, flag: str = "MODEL"
) -> Iterator[Converted | None]:
    """A PyTorch module or Keras file ``ref`` as a temporary ONNX file while the block runs
    (:mod:`~sepconv_cli.interchange.converted`); None for any other reference."""
    from sepconv_cli.interchange.keras_files import is_keras_file
    from sepconv_cli.interchange.torch_modules import is_torch_module

    options = options or ModelOptions()
    if ref.lower().endswith(".tflite"):
        from sepconv_cli.interchange.tflite_model import translated

        with translated(ref) as made:
            yield made
    elif is_torch_module(ref):
        from sepconv_cli.interchange.torch_modules import exported

        with exported(ref, options.input_shapes, options.batch) as made:
            yield made
    elif is_keras_file(ref):
        from sepconv_cli.interchange.keras_files import converted

        with converted(ref, options.input_shapes, flag) as made:
            yield made
    else:
        yield None


def load_model(
    ref: str, options: ModelOptions | None = None, flag: str = "MODEL"
) -> tuple[Model, list[str]]:
    """The model ``ref`` names, and notes for stderr. Flags an ONNX graph cannot honour
    (``-a``, ``-r``: its channels and sizes are fixed in its weights and shape arithmetic)
    are one-line errors; ``--input-shape`` and ``--input-value`` are for ONNX files only."""
    options = options or ModelOptions()
    from sepconv_cli.interchange.formats import refusal

    refused = refusal(ref)
    if refused is not None:
        raise UsageError(refused)
    if ref.lower().endswith(".tflite"):
        return _tflite(ref, options)
    if is_onnx(ref):
        if options.width_multiplier is not None and options.width_multiplier != 1:
            raise UsageError(
                "--width-multiplier: a model file's widths are fixed by its weights; "
                "write the model as a YAML spec (sepconv export-spec) to scale it"
            )
        if options.resolution is not None:
            raise UsageError(
                "--resolution: a model file's input size is fixed by its graph; give "
                "a symbolic input's size with --input-shape NAME=1x3xHxW"
            )
        with converted_file(ref, options, flag) as made:
            if made is not None:  # a PyTorch module or Keras file, as ONNX
                from sepconv_cli.interchange.converted import read_converted

                return read_converted(made, options.batch, options.all_nodes, options.input_values)
        from sepconv_cli.interchange.onnx_model import read_onnx

        return read_onnx(
            Path(ref),
            options.input_shapes,
            options.batch,
            options.all_nodes,
            input_values=options.input_values,
        )
    if options.input_shapes:
        raise UsageError("--input-shape: only for ONNX models (a YAML spec states its input)")
    if options.input_values:
        raise UsageError("--input-value: only for ONNX models (a YAML spec states its input)")
    if options.all_nodes:
        raise UsageError("--all-nodes: only for ONNX models (a YAML spec's rows are its layers)")
    from sepconv_cli.spec.presets import resolve_model

    spec = resolve_model(ref, flag=flag)
    model = build(
        spec,
        width_multiplier=options.width_multiplier or Fraction(1),
        resolution=options.resolution,
        batch=options.batch,
    )
    return model, [partial_warning(ref, model.partial)] if model.partial else []


def _tflite(ref: str, options: ModelOptions) -> tuple[Model, list[str]]:
    """A TensorFlow Lite file: its dims are fixed as an ONNX file's are, and it has no
    symbolic inputs or values to pin."""
    for given, flag in (
        (options.width_multiplier not in (None, 1), "--width-multiplier"),
        (options.resolution is not None, "--resolution"),
        (bool(options.input_shapes), "--input-shape"),
        (bool(options.input_values), "--input-value"),
    ):
        if given:
            raise UsageError(
                f"{flag}: a TensorFlow Lite model's shapes are fixed in the file; write it as "
                "a YAML spec (sepconv export-spec) to change them"
            )
    from sepconv_cli.interchange.tflite_model import read_tflite_model

    return read_tflite_model(Path(ref), options.batch, options.all_nodes)


def partial_warning(ref: str, partial: str) -> str:
    """The stderr line for a spec written with ``export-spec --partial``."""
    return (
        f"sepconv: warning: {ref}: a partial spec (export-spec --partial): it stops at "
        f"{partial}; totals are a lower bound"
    )
