"""JSON Schema (draft 2020-12) of the model spec format, generated from spec.py's tables so
the schema and the validator cannot drift apart.

Editors that speak the YAML language server pick it up from a first line such as
``# yaml-language-server: $schema=./sepconv.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from sepconv_cli.spec import fields as F
from sepconv_cli.spec import sources as S
from sepconv_cli.spec.layers import (
    COMMON_KEYS,
    EXCLUSIVE,
    MODEL_KEYS,
    ONE_OF,
    OPERATIONS,
    SE_RATIO_OF,
    TYPES,
    LayerType,
)
from sepconv_cli.spec.more_fields import SCHEMAS as MORE_SCHEMAS
from sepconv_cli.spec.table_fields import schemas as table_schemas
from sepconv_cli.spec.tensor_fields import SCHEMAS as TENSOR_SCHEMAS

SCHEMA_ID = "https://sepconv.invalid/schema/model-spec-v1.json"

_POSITIVE = {"type": "integer", "minimum": 1, "maximum": F.MAX_SIZE}
_PER_DIM = {
    "oneOf": [
        _POSITIVE,
        {"type": "array", "items": _POSITIVE, "minItems": 1, "maxItems": F.MAX_DIMS},
    ]
}
_NON_NEGATIVE = {"type": "integer", "minimum": 0, "maximum": F.MAX_SIZE}

FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "minLength": 1, "description": "Label shown in reports."},
    "repeat": {**_POSITIVE, "description": "Apply the layer n times in sequence."},
    "kernel": {**_PER_DIM, "description": "Kernel size: one int for every dim, or a list."},
    "filters": {**_POSITIVE, "description": "Output channels (scaled by --width-multiplier)."},
    "stride": {**_PER_DIM, "description": "Stride: one int or one per dim."},
    "padding": {
        "oneOf": [
            {"enum": ["valid", "same"]},
            _NON_NEGATIVE,
            {"type": "array", "items": _NON_NEGATIVE, "minItems": 1, "maxItems": F.MAX_DIMS},
            {
                "type": "array",
                "items": {
                    "type": "array",
                    "items": _NON_NEGATIVE,
                    "minItems": 2,
                    "maxItems": 2,
                },
                "minItems": 1,
                "maxItems": F.MAX_DIMS,
            },
        ],
        "description": "valid, same (TensorFlow's rule), symmetric explicit pads, or "
        "[before, after] per dim ([[top, bottom], [left, right]]).",
    },
    "dilation": {**_PER_DIM, "description": "Dilation: one int or one per dim."},
    "groups": {
        **_POSITIVE,
        "description": "Groups of the conv as written (1 dense; the input channels make "
        "it depthwise); its standard form is always dense. Shuffle: the channel groups.",
    },
    "depth_multiplier": {**_POSITIVE, "description": "Depthwise multiplier M."},
    "bias": {"type": "boolean", "description": "Count a bias (default: off; dense: on)."},
    "batch_norm": {
        "enum": [True, False, "each", "none", "output"],
        "description": "Batch-norm after every conv (true), none, or only after "
        "the layer's last conv (output).",
    },
    "units": {**_POSITIVE, "description": "Dense output features (never width-scaled)."},
    "expansion": {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "Inverted-residual expansion ratio t.",
    },
    "mode": {"enum": list(F.POOL_MODES), "description": "Pooling: max or avg."},
    "residual": {
        "type": "boolean",
        "description": "Inverted residual: add the input when shapes allow (default true).",
    },
    "width_floor": {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "Scale filters by max(alpha, width_floor).",
    },
    # squeeze-and-excite and explicit widths (issue 13)
    "expanded": {
        **_POSITIVE,
        "description": "Inverted-residual expanded width in channels (instead of expansion).",
    },
    "se_channels": {
        **_POSITIVE,
        "description": "Squeeze-and-excite: the squeeze width in channels.",
    },
    "se_ratio": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1,
        "description": "Squeeze-and-excite: the squeeze width as a ratio of se_ratio_of.",
    },
    "se_ratio_of": {
        "enum": list(SE_RATIO_OF),
        "description": "What se_ratio is a ratio of: the block's input or its expanded width "
        "(default).",
    },
    "se_divisor": {
        **_POSITIVE,
        "description": "Round the se_ratio width with make_divisible(floor(w), se_divisor).",
    },
}
FIELD_SCHEMAS |= {
    "merge": {
        "enum": ["concat", "add", "mul", "sub", "div", "outputs", "matmul"],
        "description": "Branches: concatenate along channels, add (equal shapes), "
        "multiply, subtract or divide (the first by the second; shapes that broadcast, as a "
        "gate of one value per channel), none: each branch is one of the model's "
        "outputs (outputs: the model's last layer), or matmul: the first branch's output "
        "times the second's ((..., M, K) by (..., K, N)).",
    },
    "split": {
        "oneOf": [{"type": "boolean"}, {"type": "array", "minItems": 1, "items": _POSITIVE}],
        "description": "Branches: split the input's channels, in equal parts (true) or "
        "these sizes, one part per branch.",
    },
}
FIELD_SCHEMAS |= TENSOR_SCHEMAS  # reshape, transpose, slice, softmax (spec/tensor_fields.py)
FIELD_SCHEMAS |= MORE_SCHEMAS  # reduce, conv_transpose, depth_to_space, pad channels
FIELD_SCHEMAS |= {
    "operation": {
        "enum": list(OPERATIONS),
        "description": "Elementwise: add, subtract, multiply, divide by or raise to (pow) a "
        "constant, or a function of each value (sqrt, reciprocal, exp, log, abs, neg, erf, "
        "sin, cos, floor, ceil, round, sign); no parameters; absent: the layer is only its "
        "activation.",
    },
}
FIELD_SCHEMAS |= table_schemas(FIELD_SCHEMAS)  # learned, a concat's axis (table_fields.py)
# pooling to a fixed size, torch's ceil_mode, activations
FIELD_SCHEMAS |= {
    "output_size": {
        **_PER_DIM,
        "description": "Adaptive pooling to this output size (torch's windows); instead of kernel.",
    },
    "ceil_mode": {
        "type": "boolean",
        "description": "Pool: round the output size up (torch's ceil_mode).",
    },
    "activation": {
        "enum": list(F.ACTIVATIONS),
        "description": "Activation function after the layer: no MACs, FLOPs counted apart.",
    },
}

# several inputs, recurrent layers and resizes (issue 21): spec/sources.py
_NAME = {"type": "string", "minLength": 1}
FIELD_SCHEMAS |= {
    "from": {
        "oneOf": [_NAME, {"type": "array", "items": _NAME, "minItems": 1, "uniqueItems": True}],
        "description": "What the layer reads instead of the previous output: an earlier "
        "layer's name or an input's (concat, add: two or more; lstm, gru, rnn: the sequence "
        "then the initial states).",
    },
    "hidden": {**_POSITIVE, "description": "Recurrent: hidden units per direction."},
    "direction": {
        "enum": list(S.DIRECTIONS),
        "description": "Recurrent: forward (default), reverse or bidirectional.",
    },
    "scale": {**_PER_DIM, "description": "Resize: the factor of each spatial dim."},
    "interpolation": {
        "enum": list(S.INTERPOLATIONS),
        "description": "Resize: nearest (default: no FLOPs), linear or cubic.",
    },
}

_SHAPE = {
    "type": "array",
    "items": _POSITIVE,
    "minItems": 2,
    "maxItems": F.MAX_DIMS + 1,
    "description": "Channels-last input shape: spatial dims then channels.",
}


def _layer_schema(kind: LayerType) -> dict[str, Any]:
    required, optional = TYPES[kind]
    props: dict[str, Any] = {"type": {"const": kind}}
    for key in sorted(COMMON_KEYS - {"type"} | required | optional):
        if key in ("layers", "shortcut"):
            props[key] = {"type": "array", "items": {"$ref": "#/$defs/layer"}}
        elif key == "branches":
            props[key] = {
                "type": "array",
                "minItems": 1,
                "items": {"type": "array", "items": {"$ref": "#/$defs/layer"}},
                "description": "Each branch a list of layers ([] is the identity), all "
                "from the block's input (or its channel split).",
            }
        else:
            props[key] = FIELD_SCHEMAS[key]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": ["type", *sorted(required)],
        "additionalProperties": False,
        "title": f"{kind} layer",
    }
    schema.update(_alternatives(kind, set(props)))
    if kind == "pool":  # a window or a fixed output size (adaptive), exactly one
        schema["oneOf"] = [{"required": ["kernel"]}, {"required": ["output_size"]}]
    if kind == "pad":  # spatial padding, channels, or both
        schema["anyOf"] = [{"required": ["padding"]}, {"required": ["channels"]}]
    return schema


def _alternatives(kind: LayerType, keys: set[str]) -> dict[str, Any]:
    """Pairs of keys that say one thing two ways: at most one of each, exactly one where
    the type needs it (layers.ONE_OF, layers.EXCLUSIVE)."""
    rules: list[dict[str, Any]] = [
        {"not": {"required": list(pair)}} for pair in EXCLUSIVE if set(pair) <= keys
    ]
    if kind in ONE_OF:
        rules.append({"anyOf": [{"required": [key]} for key in ONE_OF[kind]]})
    return {"allOf": rules} if rules else {}


def _typed_defaults(kind: LayerType) -> dict[str, Any]:
    """``defaults: {<type>: {...}}``: that type's fields and its activation."""
    required, optional = TYPES[kind]
    keys = sorted((required | optional | {"activation"}) - {"layers", "shortcut", "branches"})
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: FIELD_SCHEMAS[k] for k in keys},
        "description": f"Defaults for {kind} layers only; they win over flat defaults.",
    }


_BOTH: tuple[LayerType, ...] = ("residual", "batch_norm")
"""Words that are both a layer key and a layer type (a mapping in ``defaults`` is the
type's)."""


def model_schema() -> dict[str, Any]:
    layer_keys = sorted(
        set().union(*(r | o for r, o in TYPES.values())) - {"layers", "shortcut", "branches"}
    )
    props: dict[str, Any] = {
        "name": {"type": "string"},
        "source": {"type": "string", "description": "Where the architecture comes from."},
        "description": {"type": "string"},
        "input": _SHAPE,
        "batch": _POSITIVE,
        "dtype": {"enum": list(F.DTYPES)},
        "channel_divisor": {
            **_POSITIVE,
            "description": "Round width-scaled channels to multiples of this (MobileNetV2: 8).",
        },
        "defaults": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **{k: FIELD_SCHEMAS[k] for k in layer_keys},
                **{kind: _typed_defaults(kind) for kind in TYPES if kind not in _BOTH},
                # `residual` is both inverted_residual's flag and the residual block's type,
                # `batch_norm` both a conv's key and the type of a norm of its own
                **{k: {"oneOf": [FIELD_SCHEMAS[k], _typed_defaults(k)]} for k in _BOTH},
            },
            "allOf": [{"not": {"required": list(pair)}} for pair in EXCLUSIVE],
            "description": "Fields applied to every layer whose type accepts them (a pool "
            "takes no flat kernel, stride or numeric padding), and per-type fields under a "
            "layer type's name.",
        },
        "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}},
        "partial": {
            "type": "string",
            "description": "Written by export-spec --partial: the first node of the model "
            "file the spec does not express (its counts are a lower bound).",
        },
        "inputs": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": _SHAPE,
            "description": "Several named inputs (instead of input): the first is read by "
            "the first layer, the others by name (from).",
        },
    }
    assert set(props) == MODEL_KEYS
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sepconv model spec",
        "type": "object",
        "properties": props,
        "required": ["layers"],
        "oneOf": [{"required": ["input"]}, {"required": ["inputs"]}],
        "additionalProperties": False,
        "$defs": {
            "layer": {"oneOf": [{"$ref": f"#/$defs/{kind}"} for kind in TYPES]},
            **{kind: _layer_schema(kind) for kind in TYPES},
        },
    }


def schema_json() -> str:
    return json.dumps(model_schema(), indent=2) + "\n"
