"""Layer and model specs: typed, validated, each value traceable to its flag or file position.

This module holds the spec dataclasses and the tables that define them: :data:`FIELDS` (each
key's validator) and :data:`TYPES` (each layer type's required and optional keys). A spec
comes from command-line flags (:mod:`sepconv_cli.spec.flags`), a single-layer YAML file for
``sepconv cost --spec`` or a model YAML file (:mod:`sepconv_cli.spec.reader`). All three go
through these tables, so a value means the same everywhere.

Per-dim values (kernel, stride, dilation, explicit padding) are kept as written: one int
means "every spatial dim"; a list has one value per dim and is checked against the input's
rank when shapes are known.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from sepconv_cli.errors import UsageError
from sepconv_cli.spec import elementwise_more as E
from sepconv_cli.spec import fields as F
from sepconv_cli.spec import more_fields as M
from sepconv_cli.spec import sources as S
from sepconv_cli.spec import table_fields as TB
from sepconv_cli.spec.tensor_fields import FIELDS as TENSOR_FIELDS

PerDim = tuple[int, ...]
PerSide = tuple[tuple[int, int], ...]  # (before, after) per spatial dim, as written
Padding = str | PerDim | PerSide

LayerType = Literal[
    "conv",
    "separable",
    "depthwise",
    "pointwise",
    "inverted_residual",
    "squeeze_excite",
    "dense",
    "pool",
    "global_pool",
    "residual",
    "branches",
    "shuffle",
    "layer_norm",
    "layer_scale",
    "batch_norm",
    "pad",
    "elementwise",
    "prelu",
    # several inputs, joins of named tensors, recurrent layers, resizes (issue 21):
    # spec/sources.py
    "concat",
    "add",
    "lstm",
    "gru",
    "rnn",
    "resize",
    # tokens and attention (issue 21): spec/tensor_fields.py
    "reshape",
    "transpose",
    "slice",
    "softmax",
    # what real mobile networks add (issue 21 item 5): spec/more_fields.py
    "reduce",
    "conv_transpose",
    "depth_to_space",
    "expand",  # spec/elementwise_more.py
    "learned",  # a learned table added or multiplied (spec/table_fields.py)
]
"""A layer's ``type`` key; :data:`TYPES` lists each one's fields, in this order."""


class SpecError(UsageError):
    """A bad value, located as ``file:line:col: field: message`` or ``--flag: message``."""


class SpecErrors(SpecError):
    """Several problems in one file. ``str()`` is the first (one line); ``messages`` all."""

    def __init__(self, messages: list[str]) -> None:
        more = len(messages) - 1
        suffix = (
            f" (and {more} more problem{'s' if more > 1 else ''}: sepconv validate FILE lists them)"
            if more
            else ""
        )
        super().__init__(messages[0] + suffix)
        self.messages = messages


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer as written. Fields a type does not use keep their defaults.

    Slotted: a generated model holds tens of thousands, and a dict per instance for about
    forty fields was most of a 10,000-layer spec's memory.
    """

    type: LayerType
    # how messages locate this layer: "model.yaml:12:5: layers[3]" or "flags". Location and
    # name do not take part in equality, so identical layers share their lowering (a cache).
    where: str = field(compare=False)
    name: str | None = field(default=None, compare=False)
    repeat: int = 1
    kernel: PerDim | None = None
    filters: int | None = None
    stride: PerDim | None = None
    padding: Padding | None = None
    dilation: PerDim = (1,)
    groups: int = 1
    depth_multiplier: int = 1
    bias: bool | None = None
    batch_norm: F.BatchNormMode = "none"
    units: int | None = None
    expansion: float | None = None  # inverted_residual: exactly one of expansion, expanded
    mode: str | None = None
    residual: bool = True
    width_floor: float = 0.0
    operation: str | None = None  # elementwise: add, ..., pow by a constant, sqrt, ...
    # tensor layers (issue 21, spec/tensor_fields.py): a reshape's target shape, a
    # transpose's order, a slice's axes and bounds, a softmax's axis; per sample
    shape: tuple[int, ...] | None = None
    perm: tuple[int, ...] | None = None
    axis: tuple[int, ...] | None = None
    start: tuple[int, ...] | None = None
    end: tuple[int, ...] | None = None
    step: tuple[int, ...] | None = None
    # issue 21 item 5 (spec/more_fields.py): a reduce's function and keepdims, a transposed
    # conv's output_padding, a depth_to_space's block and order, a pad's channels
    reduction: str | None = None
    keepdims: bool = True
    output_padding: PerDim | None = None
    block_size: int | None = None
    order: str = "dcr"
    channels: tuple[int, int] | None = None
    # squeeze-and-excite and explicit widths (issue 13): see SE_KEYS below
    expanded: int | None = None
    se_channels: int | None = None
    se_ratio: float | None = None
    se_ratio_of: str | None = None  # "input" or "expanded"; None: "expanded"
    se_divisor: int | None = None
    layers: tuple[LayerSpec, ...] = ()
    shortcut: tuple[LayerSpec, ...] = ()
    # multi-branch blocks (issue 13): each branch a list of layers (empty: the identity)
    branches: tuple[tuple[LayerSpec, ...], ...] = ()
    merge: str | None = None  # "concat" or "add"
    split: bool | tuple[int, ...] = False  # channel split: equal parts (true) or sizes
    # the YAML key `from` (spec/sources.py): the tensors a layer reads, by name
    sources: tuple[str, ...] = ()
    hidden: int | None = None  # lstm, gru, rnn: hidden units per direction
    direction: str = "forward"  # lstm, gru, rnn: forward, reverse or bidirectional
    scale: PerDim | None = None  # resize: the factor per spatial dim (or output_size)
    interpolation: str = "nearest"  # resize: nearest, linear or cubic
    # pooling to a fixed size, torch's ceil_mode, and the activation after the layer
    output_size: PerDim | None = None
    ceil_mode: bool = False
    activation: str = "none"
    # single-layer specs (``sepconv cost``) carry their own input, batch and dtype
    input: tuple[int, ...] | None = None
    batch: int | None = None
    dtype: str | None = None
    # (field, "file:line:col: layers[3].kernel") for each key written in a YAML file
    field_where: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def locate(self, field: str) -> str:
        """Where to point a message about ``field``: its own line if the file wrote it,
        else the layer's."""
        return dict(self.field_where).get(field, self.where)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    source: str = ""
    description: str = ""
    batch: int = 1
    dtype: str = "float32"
    channel_divisor: int = 1
    file: str = ""
    # written by ``export-spec --partial``: the first node of the file the spec does not
    # express; its counts are then a lower bound (profile warns)
    partial: str = ""
    # ``inputs:``, several named inputs (spec/sources.py): ``input`` is the first's shape
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()


Validator = Callable[[Any], Any]

# ---- squeeze-and-excite and explicit widths (issue 13) ------------------------------------
SE_KEYS = {"se_channels", "se_ratio", "se_ratio_of", "se_divisor"}
"""An inverted residual's optional squeeze-and-excite (MBConv); ``se_channels`` or
``se_ratio`` turns it on."""
SE_RATIO_OF = ("input", "expanded")
ONE_OF: dict[LayerType, tuple[str, str]] = {
    "inverted_residual": ("expansion", "expanded"),
    "squeeze_excite": ("se_channels", "se_ratio"),
    "resize": ("scale", "output_size"),
}
"""Types that need exactly one key of a pair (the schema's ``oneOf``, the reader's check)."""
EXCLUSIVE: tuple[tuple[str, str], ...] = (
    ("expansion", "expanded"),
    ("se_channels", "se_ratio"),
    ("scale", "output_size"),
)
"""Pairs a layer may not set both of. A layer that sets one key of a pair is not given the
other by ``defaults``."""
RATIO_ONLY = ("se_ratio_of", "se_divisor")
"""Keys that only shape a squeeze width given as ``se_ratio``."""


def squeeze_ratio(value: Any) -> float:
    """The squeeze width as a fraction of the channels it is taken from: in (0, 1]."""
    ratio = F.number(value)
    if ratio > 1:
        raise F.FieldError(
            f"expected a ratio in (0, 1], got {ratio:g}: the squeeze cannot be wider than the "
            "channels it is taken from"
        )
    return ratio


MERGES = ("concat", "add", "mul", "sub", "div", "outputs", "matmul")
STRUCTURAL = ("layers", "shortcut", "branches")
"""Keys that hold layers, read by the reader itself (never a default)."""


def channel_split(value: Any) -> bool | tuple[int, ...]:
    """A branches block's ``split``: ``true`` (equal parts, one per branch), ``false`` (every
    branch sees the whole input) or one positive channel count per branch."""
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and value:
        return tuple(F.positive_int(item) for item in value)
    raise F.FieldError(
        f"expected true, false or a list of channel counts (one per branch), got "
        f"{F.describe(value)}"
    )


# ------------------------------------------------------------------------------------------

FIELDS: dict[str, Validator] = {
    "name": F.text,
    "repeat": F.positive_int,
    "kernel": F.per_dim,
    "filters": F.positive_int,
    "stride": F.per_dim,
    "padding": F.padding,
    "dilation": F.per_dim,
    "groups": F.positive_int,
    "depth_multiplier": F.positive_int,
    "bias": F.boolean,
    "batch_norm": F.batch_norm,
    "units": F.positive_int,
    "expansion": F.number,
    "mode": F.choice(F.POOL_MODES),
    "residual": F.boolean,
    "width_floor": F.number,
    "input": F.shape,
    "batch": F.positive_int,
    "dtype": F.choice(F.DTYPES),
    # squeeze-and-excite and explicit widths (issue 13)
    "expanded": F.positive_int,
    "se_channels": F.positive_int,
    "se_ratio": squeeze_ratio,
    "se_ratio_of": F.choice(SE_RATIO_OF),
    "se_divisor": F.positive_int,
}
# pooling to a fixed size, torch's ceil_mode, activations (any layer: see COMMON_KEYS)
FIELDS |= {
    "output_size": F.per_dim,
    "ceil_mode": F.boolean,
    "activation": F.choice(F.ACTIVATIONS),
}
FIELDS |= {"merge": F.choice(MERGES), "split": channel_split}
OPERATIONS = E.OPERATIONS
"""An ``elementwise`` layer's arithmetic with a constant, or a function of one value
(spec/elementwise_more.py)."""
FIELDS |= {"operation": F.choice(OPERATIONS)}
FIELDS |= TENSOR_FIELDS  # reshape, transpose, slice, softmax (issue 21)
# several inputs, recurrent layers and resizes (issue 21): spec/sources.py
FIELDS |= {
    "from": S.source_names,
    "hidden": F.positive_int,
    "direction": F.choice(S.DIRECTIONS),
    "scale": F.per_dim,
    "interpolation": F.choice(S.INTERPOLATIONS),
}
FIELDS |= M.FIELDS  # reduce, conv_transpose, depth_to_space, a pad's channels
FIELD_NAMES = {"from": "sources"}
"""YAML keys whose LayerSpec field is named otherwise (``from`` is a Python keyword)."""

_CONV_COMMON = {"stride", "padding", "dilation", "bias", "batch_norm"}
TYPES: dict[LayerType, tuple[set[str], set[str]]] = {  # type -> (required, optional) keys
    "conv": ({"kernel", "filters"}, _CONV_COMMON | {"groups", "depth_multiplier", "width_floor"}),
    "separable": ({"kernel", "filters"}, _CONV_COMMON | {"depth_multiplier", "width_floor"}),
    "depthwise": ({"kernel"}, _CONV_COMMON | {"depth_multiplier"}),
    "pointwise": ({"filters"}, {"stride", "bias", "batch_norm", "width_floor"}),
    "inverted_residual": (
        {"filters"},
        {"kernel", "stride", "padding", "dilation", "batch_norm", "residual", "width_floor"}
        | {"expansion", "expanded"}  # exactly one: ONE_OF
        | SE_KEYS,
    ),
    "squeeze_excite": (set(), {"se_channels", "se_ratio", "se_divisor"}),  # ONE_OF
    "dense": ({"units"}, {"bias"}),
    # a pool takes a window (kernel, with stride, padding, ceil_mode) or a fixed output_size
    # (adaptive pooling): the reader requires exactly one of kernel and output_size
    "pool": (set(), {"kernel", "stride", "padding", "mode", "ceil_mode", "output_size"}),
    "global_pool": (set(), {"mode"}),
    "residual": ({"layers"}, {"shortcut"}),
    "branches": ({"branches", "merge"}, {"split"}),
    "shuffle": ({"groups"}, set()),
    # ConvNeXt's: a layer norm over the channels, a learned per-channel scale
    "layer_norm": (set(), {"bias"}),
    "layer_scale": (set(), set()),
    # a batch-norm of its own (not after a conv: MobileOne's identity branch, a norm after
    # a concat); an explicit pad that is not a conv's own padding (no cost)
    "batch_norm": (set(), set()),
    "pad": (set(), {"padding", "channels"}),  # at least one: more_fields.layer_problem
    # arithmetic with a constant (x·c, x + c: no parameters), or only an activation
    "elementwise": (set(), {"operation"}),
    # a leaky ReLU with a learned slope per channel (MTCNN's, keras2onnx's PRelu)
    "prelu": (set(), set()),
    # joins of the tensors `from` names; recurrent layers; an upsampling (spec/sources.py)
    "concat": TB.TYPES["concat"],  # axis: along another dim (spec/table_fields.py)
    "add": (set(), set()),
    "lstm": ({"hidden"}, {"bias", "direction"}),
    "gru": ({"hidden"}, {"bias", "direction"}),
    "rnn": ({"hidden"}, {"bias", "direction"}),
    "resize": (set(), {"scale", "output_size", "interpolation"}),
    # tokens and attention: no cost but the softmax's FLOPs (spec/tensor_fields.py)
    "reshape": ({"shape"}, set()),
    "transpose": ({"perm"}, set()),
    "slice": ({"axis", "start", "end"}, {"step"}),
    "softmax": (set(), {"axis"}),
    # reductions, transposed convs, depth to space (spec/more_fields.py)
    "reduce": M.TYPES["reduce"],
    "conv_transpose": M.TYPES["conv_transpose"],
    "depth_to_space": M.TYPES["depth_to_space"],
    "expand": E.TYPES["expand"],  # a broadcast (spec/elementwise_more.py)
    "learned": TB.TYPES["learned"],  # a learned table (spec/table_fields.py)
}
COMMON_KEYS = {"type", "name", "repeat", "activation", "from"}
SINGLE_LAYER_KEYS = {"input", "batch", "dtype"}
MODEL_KEYS = {
    "name",
    "source",
    "description",
    "input",
    "batch",
    "dtype",
    "defaults",
    "layers",
    "channel_divisor",
    "partial",
    "inputs",
}
CONV_TYPES: tuple[LayerType, ...] = ("conv", "separable", "depthwise", "pointwise")


def is_layer_type(word: object) -> TypeGuard[LayerType]:
    """Whether ``word`` names a layer type (a key of :data:`TYPES`)."""
    return isinstance(word, str) and word in TYPES


# how alike a word and an option must be (difflib's ratio) to suggest the option: at 0.7,
# "kernal" (0.83) and "kernel_size" (0.71) find kernel; "activation" (0.67) finds no
# "dilation", which would mislead
SIMILARITY = 0.7


def did_you_mean(word: str, options: Any) -> str:
    """A suggestion: every option about as close as the closest spelling (``sobel`` →
    sobel-x or sobel-y), else the one option the word abbreviates; ``""`` when nothing is
    close enough to help."""
    scored = sorted(
        (difflib.SequenceMatcher(None, word.lower(), option).ratio(), option)
        for option in sorted(options)
    )
    best = scored[-1][0] if scored else 0.0
    close = [o for score, o in reversed(scored) if score >= SIMILARITY and score >= best - 0.05]
    if not close and len(word) >= 2:
        close = [o for o in sorted(options) if o.startswith(word.lower())][:2]
        close = close if len(close) == 1 else []
    if not close:
        return ""
    quoted = [repr(o) for o in sorted(close[:3])]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {listed}?)"


# keys people write from other frameworks that name things sepconv does not count: said
# plainly instead of a did-you-mean
NOT_MODELLED = {
    "dropout": "dropout is not modelled (no MACs or parameters at inference)",
}
# spellings of the `activation` key from other frameworks: named, with the key to use
ACTIVATION_SPELLINGS = ("activations", "relu", "act", "activation_fn", "nonlinearity")

# window keys a flat (untyped) default does not give a pool: numbers sized for the
# convolutions' windows (VGG's `padding: 1` for its 3×3 convs would pad its 2×2 pools, a
# `stride: 1` would stop its stride following its kernel). `padding: valid` and `same` mean
# the same for a pool as for a conv and do reach it (Keras' Xception pads its pools `same`).
FLAT_DEFAULT_POOL_SKIPS = ("kernel", "stride", "padding")
