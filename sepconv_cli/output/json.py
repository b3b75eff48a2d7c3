"""JSON renderings of the cost, profile, presets and machine reports: the stable contract.

Keys are a contract: add keys freely, never rename. Counts are exact ints (JSON numbers of
any size). Every function returns a string; none prints. (Compare's JSON is in
``compare_formats``, validate's in ``validation``.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sepconv_cli.counting.liveness import FORM_NAMES
from sepconv_cli.counting.report import (
    CONVENTIONS,
    COST_SCHEMA,
    PROFILE_SCHEMA,
    LayerReport,
    ProfileReport,
)
from sepconv_cli.units import rounded_float

if TYPE_CHECKING:
    from sepconv_cli.execution.machine import Machine
    from sepconv_cli.spec.presets import Preset


def layer_dict(layer: LayerReport) -> dict[str, Any]:
    """One layer's JSON object: the row (:func:`_row_head`), its counts (:func:`_counts`),
    then what follows the counts (:func:`_row_tail`), in that key order."""
    return {**_row_head(layer), **_counts(layer), **_row_tail(layer)}


def _row_head(layer: LayerReport) -> dict[str, Any]:
    row = layer.row
    return {
        "index": row.index,
        "name": row.name,
        "type": row.type,
        "form": row.form,
        "repeat": row.repeat,
        "input_shape": list(row.input_shape),
        "output_shape": list(row.output_shape),
        "batch": layer.batch,
    }


def _counts(layer: LayerReport) -> dict[str, Any]:
    """Every form's costs and their ratios: a function of :func:`_counts_key` alone."""
    separable: dict[str, Any] = layer.separable.total.as_dict()
    separable["depthwise"] = layer.separable.depthwise.as_dict()
    separable["pointwise"] = layer.separable.pointwise.as_dict()
    separable["other"] = layer.separable.other.as_dict()
    return {
        "as_specified": layer.as_specified.as_dict(),
        "standard": layer.standard.as_dict(),
        "separable": separable,
        "ratio": {
            "macs": rounded_float(layer.ratio_macs),
            "params": rounded_float(layer.ratio_params),
            "theory": rounded_float(layer.theory),
            "theory_exact": (
                f"{layer.theory.numerator}/{layer.theory.denominator}"
                if layer.theory is not None
                else None
            ),
        },
    }


def _counts_key(layer: LayerReport) -> tuple[int, ...]:
    """What :func:`_counts` reads, by identity: rows that share lowered forms share these
    objects (counting caches them), and hashing the costs by value cost more than the
    encoding it saved. Only while the report keeps them alive are identities unique."""
    return (id(layer.as_specified), id(layer.standard), id(layer.separable), id(layer.theory))


def _row_tail(layer: LayerReport) -> dict[str, Any]:
    row = layer.row
    out: dict[str, Any] = {
        # the activation function after the layer and its FLOPs (not in any form's flops)
        "activation": None if row.activation == "none" else row.activation,
        "activation_function_flops": layer.activation_function_flops,
        # activation bytes alive at once at the row's fullest step, per form (liveness)
        "live_bytes": dict(zip(FORM_NAMES, layer.live_bytes, strict=True)),
    }
    if row.inner_activation != "none":  # a depthwise-separable pair's depthwise's
        out["inner_activation"] = row.inner_activation
    if layer.timing is not None:
        out["timing"] = layer.timing.as_dict()
    if layer.note:
        out["note"] = layer.note
    return out


def conventions(dtype: str, itemsize: int) -> dict[str, Any]:
    return {**CONVENTIONS, "dtype": dtype, "itemsize": itemsize}


def cost_json(
    layers: Sequence[LayerReport], dtype: str | None = None, input_layout: str | None = "nhwc"
) -> str:
    """``sepconv/cost/v1``; ``dtype`` defaults to the first layer's. ``input_layout``: the
    order the input shape was read in (``--layout``: ``nhwc`` or ``nchw``; ``None`` for an
    ONNX file's layers); every shape in the report is channels-last whichever it was."""
    itemsize = layers[0].itemsize if layers else 4
    if dtype is None:
        dtype = layers[0].dtype if layers else "float32"
    doc = {
        "schema": COST_SCHEMA,
        "input_layout": input_layout,
        "conventions": conventions(dtype, itemsize),
        "layers": [layer_dict(layer) for layer in layers],
    }
    return json.dumps(doc, indent=2) + "\n"


def profile_dict(report: ProfileReport, *, with_layers: bool = True) -> dict[str, Any]:
    """``sepconv/profile/v1``; ``with_layers=False`` leaves ``layers`` empty (in its place,
    for a caller that encodes the layers one by one)."""
    model = report.model
    itemsize = report.layers[0].itemsize if report.layers else 4
    doc: dict[str, Any] = {
        "schema": PROFILE_SCHEMA,
        "model": model.name,
        "source": model.source,
        "file": model.file,
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "batch": model.batch,
        "dtype": model.dtype,
        "width_multiplier": float(model.width_multiplier),
        "conventions": conventions(model.dtype, itemsize),
        "layers": [layer_dict(layer) for layer in report.layers] if with_layers else [],
        "totals": {
            **{
                form: {
                    **cost.as_dict(),
                    "peak_activation_bytes": peak.bytes,
                    "peak_at": peak.row if peak.index >= 0 else None,
                }
                for form, cost, peak in zip(
                    FORM_NAMES,
                    (report.totals.as_specified, report.totals.standard, report.totals.separable),
                    report.totals.peaks,
                    strict=True,
                )
            },
            "activation_function_flops": report.totals.activation_function_flops,
        },
        "machine": report.machine,
    }
    if model.graph_format:  # read from a model file (ONNX): what it holds that is not counted
        doc["uncounted_nodes"] = [
            {"name": u.node, "op_type": u.op_type, "reason": u.reason} for u in model.uncounted
        ]
        doc["graph_notes"] = list(model.graph_notes)
    if model.partial:  # a spec written with export-spec --partial: a lower bound
        doc["partial"] = model.partial
    if report.timing is not None:
        doc["timing"] = report.timing.as_dict()
    return doc


PRETTY_JSON_LAYERS = 1000

# json's C encoder, compact; made once (json.dumps builds a new encoder per call)
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def profile_json(report: ProfileReport) -> str:
    """Indented for people; past PRETTY_JSON_LAYERS layers compact (json's C encoder only
    runs without indentation, and nobody reads 10,000 layers by eye)."""
    if len(report.layers) > PRETTY_JSON_LAYERS:
        return compact_profile_json(report)
    return json.dumps(profile_dict(report), indent=2) + "\n"


def compact_profile_json(report: ProfileReport) -> str:
    """The bytes of ``json.dumps(profile_dict(report), separators=(",", ":")) + "\\n"``,
    made in time and memory that grow with the model only as the output does.

    Layers are encoded one at a time, so the whole document's dicts (six cost objects per
    layer) are never alive at once; and a layer's counts (four fifths of its text) are
    encoded once per distinct set of costs, since a big model repeats a few layers. The
    pieces are compact JSON objects joined at their braces, which is what encoding the
    merged dict gives (keys disjoint, order kept).
    """
    doc = profile_dict(report, with_layers=False)
    keys = list(doc)
    at = keys.index("layers")
    head = _COMPACT.encode({key: doc[key] for key in keys[:at]})
    tail = _COMPACT.encode({key: doc[key] for key in keys[at + 1 :]})
    assert 0 < at < len(keys) - 1, "layers is neither first nor last"
    counts: dict[tuple[int, ...], str] = {}
    pieces = [f'{head[:-1]},"layers":[']
    for layer in report.layers:
        pieces.append(_compact_layer(layer, counts))
        pieces.append(",")
    closing = f"],{tail[1:]}\n"
    if report.layers:
        pieces[-1] = closing  # in place of the last layer's comma
    else:
        pieces.append(closing)
    return "".join(pieces)  # one join: the text is copied once, not once per concatenation


def _compact_layer(layer: LayerReport, counts: dict[tuple[int, ...], str]) -> str:
    """``_COMPACT.encode(layer_dict(layer))``; ``counts`` keeps each distinct counts text
    (its braces stripped)."""
    key = _counts_key(layer)
    body = counts.get(key)
    if body is None:
        body = counts[key] = _COMPACT.encode(_counts(layer))[1:-1]
    head = _COMPACT.encode(_row_head(layer))
    tail = _COMPACT.encode(_row_tail(layer))
    return f"{head[:-1]},{body},{tail[1:]}"


def presets_json(items: Sequence[Preset]) -> str:
    return (
        json.dumps(
            [{"name": p.name, "description": p.description, "path": str(p.path)} for p in items],
            indent=2,
        )
        + "\n"
    )


def machine_json(info: Machine) -> str:
    return json.dumps(info.as_dict(), indent=2) + "\n"
