"""Layer and model specs: typed, validated, each value traceable to its flag or file position.

A spec comes from command-line flags (``layer_from_flags``), a single-layer YAML file for
``sepconv cost --spec`` (``cost_layers``) or a model YAML file (``model_from_document``).
All three go through the same field validators, so a value means the same everywhere.

Per-dim values (kernel, stride, dilation, explicit padding) are kept as written: one int
means "every spatial dim"; a list has one value per dim and is checked against the input's
rank when shapes are known.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeGuard

from sepconv_cli.errors import UsageError
from sepconv_cli.spec import fields as F
from sepconv_cli.spec.yaml_loader import Document, PathKey, YamlError, path_text

PerDim = tuple[int, ...]
Padding = str | PerDim

LayerType = Literal[
    "conv",
    "separable",
    "depthwise",
    "pointwise",
    "inverted_residual",
    "dense",
    "pool",
    "global_pool",
    "residual",
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


@dataclass(frozen=True)
class LayerSpec:
    """One layer as written. Fields a type does not use keep their defaults."""

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
    expansion: float = 1.0
    mode: str | None = None
    residual: bool = True
    width_floor: float = 0.0
    layers: tuple[LayerSpec, ...] = ()
    shortcut: tuple[LayerSpec, ...] = ()
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


Validator = Callable[[Any], Any]

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
}

_CONV_COMMON = {"stride", "padding", "dilation", "bias", "batch_norm"}
TYPES: dict[LayerType, tuple[set[str], set[str]]] = {  # type -> (required, optional) keys
    "conv": ({"kernel", "filters"}, _CONV_COMMON | {"groups", "depth_multiplier", "width_floor"}),
    "separable": ({"kernel", "filters"}, _CONV_COMMON | {"depth_multiplier", "width_floor"}),
    "depthwise": ({"kernel"}, _CONV_COMMON | {"depth_multiplier"}),
    "pointwise": ({"filters"}, {"stride", "bias", "batch_norm", "width_floor"}),
    "inverted_residual": (
        {"filters", "expansion"},
        {"kernel", "stride", "padding", "dilation", "batch_norm", "residual", "width_floor"},
    ),
    "dense": ({"units"}, {"bias"}),
    "pool": ({"kernel"}, {"stride", "padding", "mode"}),
    "global_pool": (set(), {"mode"}),
    "residual": ({"layers"}, {"shortcut"}),
}
COMMON_KEYS = {"type", "name", "repeat"}
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
    "activation": "activations are not modelled (they have no MACs or parameters)",
    "activations": "activations are not modelled (they have no MACs or parameters)",
    "relu": "activations are not modelled (they have no MACs or parameters)",
    "dropout": "dropout is not modelled (no MACs or parameters at inference)",
}


class _Reader:
    """Reads fields from a YAML document, raising errors located at ``file:line:col``."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[str] = []

    def collect(self, read: Callable[[], Any]) -> Any:
        """Run ``read``; on a SpecError remember the message and return None, so one run
        reports every independent problem (each layer, each top-level field)."""
        try:
            return read()
        except SpecError as exc:
            self.problems.append(str(exc))
            return None

    def error(self, path: PathKey, message: str, *, key: bool = False) -> SpecError:
        mark = self.doc.key_mark(path) if key else self.doc.mark(path)
        where = str(mark) if mark else self.doc.file
        field = path_text(path)
        return SpecError(f"{where}: {field}: {message}" if field else f"{where}: {message}")

    def value(self, path: PathKey, raw: Any, validator: Validator) -> Any:
        try:
            return validator(raw)
        except F.FieldError as exc:
            raise self.error(path, str(exc)) from None

    def mapping(self, path: PathKey, raw: Any, what: str) -> Mapping[str, Any]:
        if not isinstance(raw, dict):
            raise self.error(path, f"expected {what} (a mapping), got {F.describe(raw)}")
        return raw

    def layer(
        self, path: PathKey, raw: Any, defaults: Mapping[str, Any], *, single: bool = False
    ) -> LayerSpec:
        data = self.mapping(path, raw, "a layer")
        kind = data.get("type", "conv" if single else None)
        if kind is None:
            raise self.error(path, f"missing 'type' (one of {', '.join(TYPES)})")
        if not is_layer_type(kind):
            hint = did_you_mean(kind, TYPES) if isinstance(kind, str) else ""
            raise self.error(
                (*path, "type"),
                f"unknown layer type {F.describe(kind)}{hint}; expected one of {', '.join(TYPES)}",
            )
        required, optional = TYPES[kind]
        allowed = required | optional | COMMON_KEYS | (SINGLE_LAYER_KEYS if single else set())
        if single and "layers" in data and "type" not in data:
            raise self.error(
                (*path, "layers"),
                "this is a model file (it has 'layers:'); sepconv cost reads one layer or a "
                f"list of them: use sepconv profile {self.doc.file}",
                key=True,
            )
        for key in data:
            if key not in allowed:
                known = set(FIELDS) | COMMON_KEYS | {"layers", "shortcut"}
                if key.lower() in NOT_MODELLED:
                    raise self.error(
                        (*path, key), f"{NOT_MODELLED[key.lower()]}; remove the key", key=True
                    )
                why = (
                    f"not a field of a {kind} layer"
                    if key in known
                    else f"unknown key{did_you_mean(key[:60], allowed)}"
                )
                raise self.error(
                    (*path, key), f"{why}; allowed: {', '.join(sorted(allowed))}", key=True
                )
        values: dict[str, Any] = {}
        for key, raw_value in defaults.items():
            if key in required | optional:
                values[key] = raw_value  # validated once, where the defaults are read
        for key, raw_value in data.items():
            if key == "type":
                continue
            if key in ("layers", "shortcut"):
                values[key] = self.layer_list((*path, key), raw_value, defaults)
            else:
                values[key] = self.value((*path, key), raw_value, FIELDS[key])
        missing = sorted(required - values.keys())
        if missing:
            raise self.error(path, f"a {kind} layer needs {' and '.join(missing)}")
        if kind == "residual" and not values["layers"]:
            raise self.error((*path, "layers"), "a residual block needs at least one layer")
        where = self.where(path)
        located = tuple((key, self.where((*path, key))) for key in data if key != "type")
        return LayerSpec(type=kind, where=where, field_where=located, **values)

    def where(self, path: PathKey) -> str:
        """``file:line:col: layers[3]`` (or just ``file:line:col`` for a top-level layer)."""
        mark = self.doc.mark(path)
        parts = [str(mark) if mark else self.doc.file, path_text(path)]
        return ": ".join(part for part in parts if part)

    def layer_list(
        self, path: PathKey, raw: Any, defaults: Mapping[str, Any]
    ) -> tuple[LayerSpec, ...]:
        if not isinstance(raw, list):
            raise self.error(path, f"expected a list of layers, got {F.describe(raw)}")
        layers: list[LayerSpec] = []
        for i, item in enumerate(raw):
            try:
                layers.append(self.layer((*path, i), item, defaults))
            except SpecError as exc:
                self.problems.append(str(exc))
        return tuple(layers)

    def defaults(self, raw: Any) -> dict[str, Any]:
        data = self.mapping(("defaults",), raw, "default layer fields")
        layer_keys = set().union(*(req | opt for req, opt in TYPES.values())) - {
            "layers",
            "shortcut",
        }
        out = {}
        for key, value in data.items():
            if key not in layer_keys:
                raise self.error(
                    ("defaults", key),
                    f"unknown layer field{did_you_mean(key, layer_keys)}",
                    key=True,
                )
            out[key] = self.value(("defaults", key), value, FIELDS[key])
        return out


def model_from_document(doc: Document) -> ModelSpec:
    """Validate a model spec document (see docs/spec-format.md and ``sepconv schema``)."""
    reader = _Reader(doc)
    data = reader.mapping((), doc.data, "a model spec")
    for key in data:
        if key not in MODEL_KEYS:
            reader.problems.append(
                str(
                    reader.error(
                        (key,),
                        f"unknown key{did_you_mean(key, MODEL_KEYS)}; allowed: "
                        f"{', '.join(sorted(MODEL_KEYS))}",
                        key=True,
                    )
                )
            )
    for key in ("input", "layers"):
        if key not in data:
            reader.problems.append(str(reader.error((), f"missing '{key}'")))
    if "layers" not in data:
        raise SpecErrors(reader.problems)
    defaults = reader.collect(lambda: reader.defaults(data.get("defaults", {}))) or {}
    layers = reader.layer_list(("layers",), data["layers"], defaults)
    if not layers and not reader.problems:
        raise reader.error(("layers",), "a model needs at least one layer")

    def optional(key: str, default: Any, validator: Validator) -> Any:
        if key not in data:
            return default
        value = reader.collect(lambda: reader.value((key,), data[key], validator))
        return default if value is None else value

    model = ModelSpec(
        name=optional("name", Path(doc.file).stem, F.text),
        source=optional("source", "", F.text),
        description=optional("description", "", F.text),
        input=optional("input", (1, 1), F.shape),
        batch=optional("batch", 1, F.positive_int),
        dtype=optional("dtype", "float32", F.choice(F.DTYPES)),
        channel_divisor=optional("channel_divisor", 1, F.positive_int),
        layers=layers,
        file=doc.file,
    )
    if reader.problems:
        raise SpecErrors(reader.problems)
    return model


def cost_layers(doc: Document) -> list[LayerSpec]:
    """Layers of a ``sepconv cost --spec`` file: one mapping or a list, each with its input."""
    reader = _Reader(doc)
    items = doc.data if isinstance(doc.data, list) else [doc.data]
    paths: list[PathKey] = [(i,) for i in range(len(items))] if isinstance(doc.data, list) else [()]
    if not items:
        raise reader.error((), "expected a layer mapping or a list of them, got an empty list")
    out = []
    for path, item in zip(paths, items, strict=True):
        layer = reader.layer(path, item, {}, single=True)
        if layer.type not in CONV_TYPES:
            raise reader.error(
                (*path, "type"),
                f"sepconv cost compares convolutions; got "
                f"{layer.type!r} (use one of {', '.join(CONV_TYPES)}, or "
                "sepconv profile for whole models)",
            )
        if layer.input is None:
            raise reader.error(path, "missing 'input' (the layer's input shape, e.g. [12, 12, 3])")
        out.append(layer)
    return out


FLAG_NAMES = {
    "input": "--input",
    "kernel": "--kernel",
    "filters": "--filters",
    "stride": "--stride",
    "padding": "--padding",
    "dilation": "--dilation",
    "groups": "--groups",
    "depth_multiplier": "--depth-multiplier",
    "batch": "--batch",
    "dtype": "--dtype",
    "name": "--name",
    "type": "--type",
}


def layer_from_flags(raw: Mapping[str, Any]) -> LayerSpec:
    """Validate flag values (strings or typed) into a single-layer spec; errors name the flag."""
    values: dict[str, Any] = {}
    kind = raw.get("type", "conv")
    for key, value in raw.items():
        if key == "type":
            continue
        converted = F.flag_value(value) if isinstance(value, str) and key != "name" else value
        try:
            values[key] = FIELDS[key](converted)
        except F.FieldError as exc:
            raise SpecError(f"{FLAG_NAMES.get(key, key)}: {exc}") from None
    return LayerSpec(type=kind, where="flags", **values)


def load_yaml_or_error(loader: Callable[[], Document]) -> Document:
    try:
        return loader()
    except YamlError as exc:
        raise SpecError(str(exc)) from None


def replace_defaults(layer: LayerSpec, overrides: LayerSpec) -> LayerSpec:
    """Apply ``--batch``/``--dtype`` given on the command line over a spec layer's own."""
    return replace(
        layer,
        batch=overrides.batch if overrides.batch is not None else layer.batch,
        dtype=overrides.dtype if overrides.dtype is not None else layer.dtype,
    )


# The classic example (12×12×3 input, 5×5 kernel, 256 filters → 1,228,800 vs 53,952 MACs):
# what cost, sweep and interactive start from when a flag is not given.
SEED_LAYER: dict[str, str] = {"input": "12x12x3", "kernel": "5", "filters": "256"}


def layers_from_flags_or_file(
    spec: Path | None, given: dict[str, Any], common: dict[str, Any]
) -> list[LayerSpec]:
    """The layers ``sepconv cost`` reports: from ``--spec FILE``, or from the flags over
    :data:`SEED_LAYER`."""
    from sepconv_cli.spec.yaml_loader import load

    if spec is not None:
        if given:
            flag = "--" + next(iter(given)).replace("_", "-")
            raise UsageError(f"{flag}: cannot be combined with --spec (put it in the file)")
        if not spec.exists():
            raise UsageError(f"--spec: no such file: {spec}")
        layers = cost_layers(load_yaml_or_error(lambda: load(spec)))
        overrides = layer_from_flags(common)
        return [replace_defaults(layer, overrides) for layer in layers]
    layer = layer_from_flags({**SEED_LAYER, **given, **common})
    # remember which flags the user typed, so a shape error blames one of them
    typed = tuple((key, "--" + key.replace("_", "-")) for key in (*given, *common))
    return [replace(layer, field_where=typed)]
