"""YAML documents into specs: a model file (``model_from_document``) or a ``sepconv cost
--spec`` file (``cost_layers``). One walker of the document tree with every layer type's key
checks: it stays one module (over 400 lines) because each check needs the walker's position
to name ``file:line:col``, and nested blocks (residual, branches) recurse through it.

Rules
-----
* Every error is located: ``file:line:col: field: message`` (the key's own position for an
  unknown key), never a traceback.
* A model file reports every independent problem at once (each layer, each top-level
  field), as :class:`~sepconv_cli.spec.layers.SpecErrors`, so ``sepconv validate`` can list
  them all.
* ``defaults`` are validated once, where they are read. Flat keys (``defaults: {padding:
  same}``) fill in every layer whose type has the key, except a numeric ``padding`` on a
  pool (``FLAT_DEFAULT_POOL_SKIPS``: numeric pads are sized for a convolution's
  kernel); per-type keys (``defaults: {conv: {padding: 1}, pool: {mode: avg}}``) fill in
  that type only and win over flat ones; a layer's own value wins over both. A pool's own
  ``kernel`` or ``output_size`` replaces a default of the other. ``activation`` is per-type
  only (a flat one would follow every pool and add too).
* A ``cost --spec`` layer must be a convolution and carry its own ``input``.
* Keys and validators come from the tables of :mod:`sepconv_cli.spec.layers` (``TYPES``,
  ``FIELDS``), the same ones the flags reader (:mod:`sepconv_cli.spec.flags`) uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sepconv_cli.spec import fields as F
from sepconv_cli.spec.layers import (
    ACTIVATION_SPELLINGS,
    COMMON_KEYS,
    CONV_TYPES,
    EXCLUSIVE,
    FIELD_NAMES,
    FIELDS,
    FLAT_DEFAULT_POOL_SKIPS,
    MODEL_KEYS,
    NOT_MODELLED,
    ONE_OF,
    RATIO_ONLY,
    SINGLE_LAYER_KEYS,
    STRUCTURAL,
    TYPES,
    LayerSpec,
    LayerType,
    ModelSpec,
    SpecError,
    SpecErrors,
    Validator,
    did_you_mean,
    is_layer_type,
)
from sepconv_cli.spec.more_fields import layer_problem as pad_problem
from sepconv_cli.spec.sources import layer_problem, named_inputs
from sepconv_cli.spec.table_fields import layer_problem as table_problem
from sepconv_cli.spec.yaml_loader import (
    Document,
    PathKey,
    YamlError,
    extend_path_text,
    path_text,
)


class _Reader:
    """Reads fields from a YAML document, raising errors located at ``file:line:col``."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[str] = []
        # validate_layer's result per distinct layer mapping of plain values (_signature)
        self.validated: dict[tuple[Any, ...], tuple[LayerType, dict[str, Any]]] = {}

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
        self, path: PathKey, raw: Any, defaults: Defaults, *, single: bool = False
    ) -> LayerSpec:
        data = self.mapping(path, raw, "a layer")
        signature = _signature(data, defaults, single)
        known = self.validated.get(signature) if signature is not None else None
        if known is None:
            known = self.validate_layer(path, data, defaults, single)
            if signature is not None:
                self.validated[signature] = known
        kind, values = known
        text = path_text(path)
        where = self.where(path, text)
        located = tuple(
            (key, self.where((*path, key), extend_path_text(text, key)))
            for key in data
            if key != "type"
        )
        return LayerSpec(type=kind, where=where, field_where=located, **values)

    def validate_layer(
        self, path: PathKey, data: Mapping[str, Any], defaults: Defaults, single: bool
    ) -> tuple[LayerType, dict[str, Any]]:
        """A layer mapping's type and field values, every check made (errors located at
        ``path``); what a LayerSpec needs beyond them is where it was written."""
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
                known = set(FIELDS) | COMMON_KEYS | set(STRUCTURAL)
                if key.lower() in NOT_MODELLED:
                    raise self.error(
                        (*path, key), f"{NOT_MODELLED[key.lower()]}; remove the key", key=True
                    )
                if key.lower() in ACTIVATION_SPELLINGS:
                    raise self.error(
                        (*path, key),
                        f"write the activation as 'activation: <function>' (one of "
                        f"{', '.join(F.ACTIVATIONS)})",
                        key=True,
                    )
                why = (
                    f"not a field of a {kind} layer"
                    if key in known
                    else f"unknown key{did_you_mean(key[:60], allowed)}"
                )
                raise self.error(
                    (*path, key), f"{why}; allowed: {', '.join(sorted(allowed))}", key=True
                )
        values = defaults.for_type(kind, data)
        for key, raw_value in data.items():
            if key == "type":
                continue
            if key in ("layers", "shortcut"):
                values[key] = self.layer_list((*path, key), raw_value, defaults)
            elif key == "branches":
                values[key] = self.branch_lists((*path, key), raw_value, defaults)
            else:
                values[FIELD_NAMES.get(key, key)] = self.value((*path, key), raw_value, FIELDS[key])
        missing = sorted(required - values.keys())
        if missing:
            raise self.error(path, f"a {kind} layer needs {' and '.join(missing)}")
        self.alternatives(path, kind, data, values)
        problem = layer_problem(kind, values)  # `from` and the type (spec/sources.py)
        if problem is not None:
            raise self.error((*path, problem[0]), problem[1])
        if kind == "residual" and not values["layers"]:
            raise self.error((*path, "layers"), "a residual block needs at least one layer")
        if kind == "pool":
            self.check_pool(path, values)
        if kind == "branches":
            self.check_branches(path, values)
        problem = pad_problem(kind, values)  # a pad's padding or channels (more_fields.py)
        problem = problem or table_problem(kind, values)  # learned, concat (table_fields.py)
        if problem is not None:
            raise self.error((*path, problem[0]), problem[1])
        return kind, values

    def alternatives(
        self, path: PathKey, kind: LayerType, data: Mapping[str, Any], values: dict[str, Any]
    ) -> None:
        """Keys that say one thing two ways (issue 13): ``expansion`` or ``expanded``,
        ``se_channels`` or ``se_ratio``. A layer sets at most one of each pair (its own key
        hides the other one's default) and some types need one; ``se_ratio_of`` and
        ``se_divisor`` written on a layer need an ``se_ratio``."""
        if kind not in ONE_OF and data.keys().isdisjoint(_ALTERNATIVE_KEYS):
            return  # nothing to check (most layers): skip the loops below
        for first, second in EXCLUSIVE:
            if first in data and second in data:
                raise self.error(
                    (*path, second),
                    f"give {first} or {second}, not both (they say the same width two ways)",
                    key=True,
                )
            for own, other in ((first, second), (second, first)):
                if own in data:
                    values.pop(other, None)
        pair = ONE_OF.get(kind)
        if pair is not None and not values.keys() & set(pair):
            article = "an" if kind[0] in "aeiou" else "a"
            raise self.error(path, f"{article} {kind} layer needs {pair[0]} or {pair[1]}")
        for key in RATIO_ONLY:
            if key in data and "se_ratio" not in values:
                raise self.error(
                    (*path, key),
                    f"{key} shapes a squeeze width given as se_ratio, and this layer has none"
                    + (" (it gives se_channels)" if "se_channels" in values else ""),
                    key=True,
                )

    def check_pool(self, path: PathKey, values: Mapping[str, Any]) -> None:
        """A pool has a window (``kernel``) or a fixed ``output_size``, not both; an adaptive
        pool has no stride, padding or ceil_mode, and ``ceil_mode`` has no ``same``."""
        if "kernel" in values and "output_size" in values:
            raise self.error(
                (*path, "output_size"),
                "a pool has a kernel (a window) or an output_size (adaptive), not both",
            )
        if "output_size" in values:
            for key in ("stride", "padding", "ceil_mode"):
                if key in values:
                    raise self.error(
                        (*path, key),
                        f"an adaptive pool (output_size) computes its own windows: remove {key}",
                    )
        elif "kernel" not in values:
            raise self.error(path, "a pool layer needs kernel (or output_size, adaptive)")
        if values.get("ceil_mode") and values.get("padding") == "same":
            raise self.error(
                (*path, "ceil_mode"),
                "ceil_mode applies to valid or explicit padding; same already rounds up",
            )

    def branch_lists(
        self, path: PathKey, raw: Any, defaults: Defaults
    ) -> tuple[tuple[LayerSpec, ...], ...]:
        """``branches``: a non-empty list of branches, each a list of layers (``[]`` is the
        identity)."""
        if not isinstance(raw, list) or not raw:
            raise self.error(
                path,
                f"expected a non-empty list of branches, each a list of layers ([] for the "
                f"identity), got {F.describe(raw)}",
            )
        return tuple(self.layer_list((*path, i), item, defaults) for i, item in enumerate(raw))

    def check_branches(self, path: PathKey, values: Mapping[str, Any]) -> None:
        """An explicit ``split`` gives one channel count per branch (that they sum to the
        input's channels is checked with the shapes)."""
        split = values.get("split")
        count = len(values["branches"])
        if isinstance(split, tuple) and len(split) != count:
            raise self.error(
                (*path, "split"),
                f"gives {len(split)} channel counts for {count} branches (one per branch)",
            )

    def where(self, path: PathKey, text: str | None = None) -> str:
        """``file:line:col: layers[3]`` (or just ``file:line:col`` for a top-level layer);
        ``text`` is ``path_text(path)`` when the caller has it. Made for every field of
        every layer, so a written value's own position is read directly."""
        found = self.doc.positions.get(path)
        if found is not None:
            spot = f"{self.doc.file}:{found[0] + 1}:{found[1] + 1}"
        else:
            mark = self.doc.mark(path)
            spot = str(mark) if mark else self.doc.file
        if text is None:
            text = path_text(path)
        return f"{spot}: {text}" if spot and text else spot or text

    def layer_list(self, path: PathKey, raw: Any, defaults: Defaults) -> tuple[LayerSpec, ...]:
        if not isinstance(raw, list):
            raise self.error(path, f"expected a list of layers, got {F.describe(raw)}")
        layers: list[LayerSpec] = []
        for i, item in enumerate(raw):
            try:
                layers.append(self.layer((*path, i), item, defaults))
            except SpecError as exc:
                self.problems.append(str(exc))
        return tuple(layers)

    def defaults(self, raw: Any) -> Defaults:
        """``defaults``: flat layer fields, and per-type mappings keyed by a layer type."""
        data = self.mapping(("defaults",), raw, "default layer fields")
        flat: dict[str, Any] = {}
        typed: dict[str, dict[str, Any]] = {}
        for key, value in data.items():
            if is_layer_type(key) and isinstance(value, dict):
                typed[key] = self.typed_defaults(key, value)
                continue
            if key == "activation":
                raise self.error(
                    ("defaults", key),
                    "give activations per type, e.g. defaults: {conv: {activation: relu}} "
                    "(a flat one would follow every pool and add too)",
                    key=True,
                )
            if key not in _DEFAULT_KEYS:
                options = _DEFAULT_KEYS | set(TYPES)
                raise self.error(
                    ("defaults", key),
                    f"unknown layer field or type{did_you_mean(key[:60], options)}",
                    key=True,
                )
            flat[key] = self.value(("defaults", key), value, FIELDS[key])
        for first, second in EXCLUSIVE:
            if first in flat and second in flat:
                raise self.error(
                    ("defaults", second), f"give {first} or {second}, not both", key=True
                )
        return Defaults(flat, typed)

    def typed_defaults(self, kind: LayerType, data: Mapping[str, Any]) -> dict[str, Any]:
        required, optional = TYPES[kind]
        allowed = (required | optional | {"activation"}) - set(STRUCTURAL)
        out = {}
        for key, value in data.items():
            if key not in allowed:
                why = (
                    f"not a field of a {kind} layer"
                    if key in _DEFAULT_KEYS | {"activation"}
                    else f"unknown key{did_you_mean(str(key)[:60], allowed)}"
                )
                listed = ", ".join(sorted(allowed)) or "none"
                raise self.error(("defaults", kind, key), f"{why}; allowed: {listed}", key=True)
            out[key] = self.value(("defaults", kind, key), value, FIELDS[key])
        for first, second in EXCLUSIVE:
            if first in out and second in out:
                raise self.error(
                    ("defaults", kind, second), f"give {first} or {second}, not both", key=True
                )
        return out


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _signature(data: Mapping[str, Any], defaults: Defaults, single: bool) -> tuple[Any, ...] | None:
    """What a layer mapping's validation depends on, when every value is a plain scalar
    (None otherwise: lists and nested layers are validated each time).

    A generated or imported model writes the same few layer mappings thousands of times, and
    validating one (its keys, defaults and every field's validator) is pure: the same
    mapping, defaults and kind of file give the same type and values, or the same error,
    whose position alone differs. So :meth:`_Reader.layer` validates each distinct mapping
    once and only locates the others; a mapping that fails is never stored, so each one
    still reports its own error. Each value's type is part of the key: ``True == 1`` and
    ``3.0 == 3`` in Python, but not to the validators. ``defaults`` is keyed by identity: a
    reader's defaults object lives as long as the reader.
    """
    items: list[Any] = [single, id(defaults)]
    for key, value in data.items():
        if type(value) not in _SCALARS:
            return None
        items.append((key, type(value), value))
    return tuple(items)


# the keys alternatives() reads: a layer with none of them (and no ONE_OF) has nothing to check
_ALTERNATIVE_KEYS = frozenset(key for pair in EXCLUSIVE for key in pair) | set(RATIO_ONLY)

# fields a flat default may set: every layer field but the structural ones
_DEFAULT_KEYS = set().union(*(req | opt for req, opt in TYPES.values())) - set(STRUCTURAL)


@dataclass(frozen=True)
class Defaults:
    """A model's ``defaults``: flat fields and per-type fields, validated."""

    flat: Mapping[str, Any] = field(default_factory=dict)
    typed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_type(self, kind: LayerType, written: Mapping[str, Any]) -> dict[str, Any]:
        """The default values a ``kind`` layer that writes ``written`` starts from."""
        required, optional = TYPES[kind]
        keys = required | optional
        out: dict[str, Any] = {}
        for key, value in self.flat.items():
            if kind == "shuffle":  # a flat `groups` is sized for grouped convs
                break
            window = kind == "pool" and key in FLAT_DEFAULT_POOL_SKIPS
            if key in keys and not (window and not isinstance(value, str)):
                out[key] = value
        out.update(self.typed.get(kind, {}))
        # a pool's own window or output size replaces a default of the other; an adaptive
        # pool takes no window defaults
        for own, other in (("kernel", "output_size"), ("output_size", "kernel")):
            if own in written:
                out.pop(other, None)
        if "output_size" in {**out, **written}:
            for key in ("stride", "padding", "ceil_mode"):
                out.pop(key, None)
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
        if key not in data and not (key == "input" and "inputs" in data):
            reader.problems.append(str(reader.error((), f"missing '{key}'")))
    if "layers" not in data:
        raise SpecErrors(reader.problems)
    defaults = reader.collect(lambda: reader.defaults(data.get("defaults", {}))) or Defaults()
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
        partial=optional("partial", "", F.text),
        inputs=optional("inputs", (), named_inputs),
        layers=layers,
        file=doc.file,
    )
    if model.inputs:  # several named inputs: `input` is the first one's (spec/sources.py)
        if "input" in data:
            reader.problems.append(str(reader.error(("inputs",), "give input or inputs, not both")))
        model = replace(model, input=model.inputs[0][1])
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
    defaults = Defaults()  # one object for every layer: _signature keys on its identity
    for path, item in zip(paths, items, strict=True):
        layer = reader.layer(path, item, defaults, single=True)
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


def load_yaml_or_error(loader: Callable[[], Document]) -> Document:
    try:
        return loader()
    except YamlError as exc:
        raise SpecError(str(exc)) from None
