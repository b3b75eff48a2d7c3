"""JSON renderings of the cost, profile, presets and machine reports: the stable contract.

Keys are a contract: add keys freely, never rename. Counts are exact ints (JSON numbers of
any size). Every function returns a string; none prints. (Compare's JSON is in
``compare_formats``, validate's in ``validation``.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
    row = layer.row
    separable: dict[str, Any] = layer.separable.total.as_dict()
    separable["depthwise"] = layer.separable.depthwise.as_dict()
    separable["pointwise"] = layer.separable.pointwise.as_dict()
    separable["other"] = layer.separable.other.as_dict()
    out: dict[str, Any] = {
        "index": row.index,
        "name": row.name,
        "type": row.type,
        "form": row.form,
        "repeat": row.repeat,
        "input_shape": list(row.input_shape),
        "output_shape": list(row.output_shape),
        "batch": layer.batch,
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
        # the activation function after the layer and its FLOPs (not in any form's flops)
        "activation": None if row.activation == "none" else row.activation,
        "activation_function_flops": layer.activation_function_flops,
    }
    if layer.timing is not None:
        out["timing"] = layer.timing.as_dict()
    if layer.note:
        out["note"] = layer.note
    return out


def conventions(dtype: str, itemsize: int) -> dict[str, Any]:
    return {**CONVENTIONS, "dtype": dtype, "itemsize": itemsize}


def cost_json(layers: Sequence[LayerReport], dtype: str | None = None) -> str:
    """``sepconv/cost/v1``; ``dtype`` defaults to the first layer's."""
    itemsize = layers[0].itemsize if layers else 4
    if dtype is None:
        dtype = layers[0].dtype if layers else "float32"
    doc = {
        "schema": COST_SCHEMA,
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
            "as_specified": report.totals.as_specified.as_dict(),
            "standard": report.totals.standard.as_dict(),
            "separable": report.totals.separable.as_dict(),
            "activation_function_flops": report.totals.activation_function_flops,
        },
        "machine": report.machine,
    }
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
        return _compact_profile(report)
    return json.dumps(profile_dict(report), indent=2) + "\n"


def _compact_profile(report: ProfileReport) -> str:
    """The bytes ``json.dumps(profile_dict(report), separators=(",", ":"))`` gives, built
    one layer at a time: the whole document's dicts (six cost objects per layer) are never
    alive at once, so peak memory stays near the output's own size."""
    doc = profile_dict(report, with_layers=False)
    keys = list(doc)
    at = keys.index("layers")
    head = _COMPACT.encode({key: doc[key] for key in keys[:at]})
    tail = _COMPACT.encode({key: doc[key] for key in keys[at + 1 :]})
    assert head.endswith("}") and tail.startswith("{") and at and at + 1 < len(keys)
    layers = ",".join([_COMPACT.encode(layer_dict(layer)) for layer in report.layers])
    return f'{head[:-1]},"layers":[{layers}],{tail[1:]}\n'


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
