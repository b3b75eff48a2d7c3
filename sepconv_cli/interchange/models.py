"""The one way a command gets a model: a YAML spec, a preset name or an ONNX file → the
counting :class:`~sepconv_cli.counting.network.Model` every report reads.

``profile`` and ``compare`` both call :func:`load_model`; onnx is imported only when the
reference is an ``.onnx`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from sepconv_cli.counting.network import Model, build
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_inputs import InputValue
from sepconv_cli.interchange.onnx_load import Shape


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
    return ref.lower().endswith(".onnx")


def load_model(
    ref: str, options: ModelOptions | None = None, flag: str = "MODEL"
) -> tuple[Model, list[str]]:
    """The model ``ref`` names, and notes for stderr. Flags an ONNX graph cannot honour
    (``-a``, ``-r``: its channels and sizes are fixed in its weights and shape arithmetic)
    are one-line errors; ``--input-shape`` and ``--input-value`` are for ONNX files only."""
    options = options or ModelOptions()
    if is_onnx(ref):
        if options.width_multiplier is not None and options.width_multiplier != 1:
            raise UsageError(
                "--width-multiplier: an ONNX model's widths are fixed by its weights; "
                "write the model as a YAML spec (sepconv export-spec) to scale it"
            )
        if options.resolution is not None:
            raise UsageError(
                "--resolution: an ONNX model's input size is fixed by its graph; give "
                "a symbolic input's size with --input-shape NAME=1x3xHxW"
            )
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


def partial_warning(ref: str, partial: str) -> str:
    """The stderr line for a spec written with ``export-spec --partial``."""
    return (
        f"sepconv: warning: {ref}: a partial spec (export-spec --partial): it stops at "
        f"{partial}; totals are a lower bound"
    )
