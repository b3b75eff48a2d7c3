"""A whole model as three ONNX graphs, one per form (``as_specified``, ``standard``,
``separable``): what ``--whole-model`` runs end to end.

Rules
-----
* A YAML spec or preset: each form is :func:`~sepconv_cli.interchange.onnx_export.
  export_model` of the model (seeded weights, as ``sepconv export --form F`` writes it).
* An ONNX file: its ``as_specified`` graph is the file itself, run as it is. Its standard
  and separable graphs need the model written as a spec first (``sepconv export-spec``'s
  walk) and that spec exported in the other form; when the walk cannot express every part
  of the graph, or the spec it writes does not build, those two forms are not made and
  one line says why: a what-if graph that leaves parts out would be timed as if it were the
  model.
* int8 (``--dtype int8``): each graph quantized by ONNX Runtime's quantizer
  (:func:`~sepconv_cli.interchange.onnx_int8.quantize_qdq`: QDQ, U8S8 as the per-layer
  int8 timing, 7-bit weights where its CPU needs them, calibrated on one seeded input),
  float32 in and out as a deployed int8 model; an ONNX file already quantized (it holds
  QuantizeLinear, QLinear… or …Integer nodes) runs as it is. A spec's ``.tflite`` files
  are written full-integer int8 (:func:`~sepconv_cli.interchange.tflite_export.
  export_tflite`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sepconv_cli.counting.network import Model, build
from sepconv_cli.errors import SepconvError
from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.spec.layers import ModelSpec

FORMS = ("as_specified", "standard", "separable")


@dataclass(frozen=True)
class FormGraphs:
    """Per form, the serialized ONNX graph or the file that holds it (None when not made)
    and why not."""

    graphs: dict[str, bytes | Path | None]
    notes: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # form → why it was not made


INT8 = "int8"


def _quantized(model: Any, seed: int) -> Any:
    """``model`` (a float32 ``ModelProto``) as the int8 timing quantizes it (the rule
    above)."""
    from sepconv_cli.interchange.onnx_int8 import quantize_qdq, saturating_u8s8, seeded_feeds

    feeds = seeded_feeds(model, seed)
    context = "--whole-model --dtype int8"
    return quantize_qdq(model, feeds, context, "uint8", reduce_range=saturating_u8s8())


def is_quantized(model: Any) -> bool:
    """The graph holds quantized arithmetic already: a quantize node, a QLinear… or an
    …Integer operator."""
    return any(
        node.op_type in ("QuantizeLinear", "DynamicQuantizeLinear")
        or node.op_type.startswith("QLinear")
        or node.op_type.endswith("Integer")
        for node in model.graph.node
    )


def spec_graphs(spec: ModelSpec, model: Model, seed: int = 0, dtype: str = "float32") -> FormGraphs:
    """Each form of ``model`` (built from ``spec``) exported, seeded weights; quantized
    when ``dtype`` is int8."""
    from sepconv_cli.interchange.onnx_build import ExportError
    from sepconv_cli.interchange.onnx_export import export_model, serialize

    graphs: dict[str, bytes | Path | None] = {}
    skipped: dict[str, str] = {}
    for form in FORMS:
        try:
            exported = export_model(spec, model, form, seed=seed)  # type: ignore[arg-type]
            graph = exported.model if dtype != INT8 else _quantized(exported.model, seed)
            graphs[form] = serialize(graph, f"form {form}")
        except ExportError as exc:  # e.g. a standard form past ONNX's 2 GiB: that form only
            graphs[form] = None
            skipped[form] = f"{form} whole graph not timed: {exc}"
    return FormGraphs(graphs, tuple(skipped.values()), skipped)


def onnx_file_graphs(
    path: Path,
    input_shapes: dict[str, Shape],
    batch: int | None,
    seed: int = 0,
    dtype: str = "float32",
) -> FormGraphs:
    """The file as specified; its standard and separable forms through its spec, or why not;
    each quantized when ``dtype`` is int8 (the file itself only when it is not already)."""
    from sepconv_cli.interchange.spec_writer import export_spec
    from sepconv_cli.spec.reader import model_from_document
    from sepconv_cli.spec.yaml_loader import loads

    # the file itself, by path: ORT finds external weights beside it
    graphs: dict[str, bytes | Path | None] = {"as_specified": path}
    if dtype == INT8:
        from sepconv_cli.interchange.optional import require

        onnx = require("onnx", "--whole-model --dtype int8")
        given = onnx.load(str(path))
        if not is_quantized(given):
            graphs["as_specified"] = _quantized(given, seed).SerializeToString()
    why = ""
    try:
        text, _, unexpressed = export_spec(path, input_shapes)
        if unexpressed:
            why = (
                f"export-spec cannot write all of {path.name} as a spec ({len(unexpressed)} "
                f"kind(s) of part left out: {unexpressed[0]})"
            )
        else:
            spec = model_from_document(loads(text, str(path)))
            model = build(spec, batch=batch)
    except SepconvError as exc:
        why = f"{path.name} does not convert to a spec: {exc}"
    if why:
        reason = f"standard and separable whole graphs not timed: {why}"
        skipped = {"standard": reason, "separable": reason}
        return FormGraphs({**graphs, "standard": None, "separable": None}, (reason,), skipped)
    made = spec_graphs(spec, model, seed, dtype)
    forms = {**made.graphs, "as_specified": graphs["as_specified"]}
    skipped = {k: v for k, v in made.skipped.items() if k != "as_specified"}
    return FormGraphs(forms, tuple(skipped.values()), skipped)


def spec_tflite_files(
    spec: ModelSpec, model: Model, seed: int = 0, dtype: str = "float32"
) -> FormGraphs:
    """Each form of ``model`` (built from ``spec``) as the ``.tflite`` file ``sepconv export
    --form F [--dtype int8] -o model.tflite`` writes (seeded weights): what ``--runtime
    litert`` runs whole."""
    from sepconv_cli.interchange.onnx_build import ExportError
    from sepconv_cli.interchange.tflite_export import export_tflite
    from sepconv_cli.interchange.tflite_write import TfliteWriteError

    graphs: dict[str, bytes | Path | None] = {}
    skipped: dict[str, str] = {}
    notes: list[str] = []
    for form in FORMS:
        try:
            made = export_tflite(spec, model, form, seed=seed, where=f"form {form}", dtype=dtype)  # type: ignore[arg-type]
            graphs[form] = made.data
            if made.dtype_note and made.dtype_note not in notes:
                notes.append(f"whole files: {made.dtype_note}")
        except (ExportError, TfliteWriteError) as exc:  # that form only
            graphs[form] = None
            skipped[form] = f"{form} whole file not timed: {exc}"
    return FormGraphs(graphs, (*notes, *skipped.values()), skipped)


def tflite_file_forms(path: Path) -> FormGraphs:
    """A ``.tflite`` file as given (its ``as_specified`` form); its standard and separable
    forms are not written as TFLite files, and one line says so."""
    reason = (
        f"standard and separable whole files not timed: {path.name} runs whole as given; "
        "its other forms are not written as TFLite (their layers are timed one by one)"
    )
    skipped = {"standard": reason, "separable": reason}
    return FormGraphs(
        {"as_specified": path, "standard": None, "separable": None}, (reason,), skipped
    )
