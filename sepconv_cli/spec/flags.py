"""Command-line flags into specs: one layer from its flags (``layer_from_flags``), and the
layers ``sepconv cost`` reports, from its flags or from ``--spec FILE``
(``layers_from_flags_or_file``).

Rules
-----
* Flag values (strings or already typed) go through the same validators as a file's
  (:data:`sepconv_cli.spec.layers.FIELDS`); a bad value's message names the flag
  (``--kernel: ...``, :data:`FLAG_NAMES`).
* A flag not given falls back to :data:`SEED_LAYER`, the classic example.
* ``--spec FILE`` excludes the layer flags (the file holds the layer); ``--batch`` and
  ``--dtype`` still apply, over the file's own values.
* A shape typed as text (``--input``, or ``input`` at the interactive prompt) is read by
  :func:`sepconv_cli.spec.fields.read_input`, the one rule for every command: in
  ``--layout``'s order, and without one channels-last, a shape most likely meant another way
  (``3x224x224``) refused with the reading meant. ``cost`` and ``sweep`` read it once with
  :func:`read_input_flag`; a batch a batch-first shape carries (``--layout nchw
  1x3x224x224``) is the layer's batch, and a different ``--batch`` is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.spec import fields as F
from sepconv_cli.spec.layers import FIELDS, LayerSpec, SpecError
from sepconv_cli.spec.reader import cost_layers, load_yaml_or_error

FLAG_NAMES = {
    "input": "--input",
    "kernel": "--kernel",
    "filters": "--filters",
    "stride": "--stride",
    "padding": "--padding",
    "dilation": "--dilation",
    "groups": "--groups",
    "depth_multiplier": "--depth-multiplier",
    "batch_norm": "--batch-norm",
    "activation": "--activation",
    "batch": "--batch",
    "dtype": "--dtype",
    "name": "--name",
    "type": "--type",
}


def layer_from_flags(raw: Mapping[str, Any]) -> LayerSpec:
    """Validate flag values (strings or typed) into a single-layer spec; errors name the flag.

    An ``input`` given as text is read by :func:`~sepconv_cli.spec.fields.read_input` in
    ``raw["layout"]``'s order: ``nhwc``, ``nchw``, or ``None`` as when ``--layout`` is not
    given (channels-last, a shape most likely meant another way refused: what a prompt
    that reads shapes a person types, ``interactive``'s ``input``, passes). Without the
    key, the text is channels-last as written: a caller that builds its own flags means its
    shapes. A typed input (a list) was read already."""
    values: dict[str, Any] = {}
    kind = raw.get("type", "conv")
    layout = _layout(raw["layout"], SpecError) if "layout" in raw else "nhwc"
    carried: int | None = None  # the batch of a batch-first --input
    for key, value in raw.items():
        if key in ("type", "layout"):
            continue
        converted = F.flag_value(value) if isinstance(value, str) and key != "name" else value
        try:
            if key == "input" and isinstance(value, str):
                reading = F.read_input(converted, layout)
                values[key], carried = reading.shape, reading.batch
            else:
                values[key] = FIELDS[key](converted)
        except F.FieldError as exc:
            raise SpecError(f"{FLAG_NAMES.get(key, key)}: {exc}") from None
    if carried is not None:
        if values.get("batch", carried) != carried:
            raise SpecError(
                f"--batch: {values['batch']}, but --input {raw['input']} has a batch of "
                f"{carried}; give one of them"
            )
        values["batch"] = carried
    return LayerSpec(type=kind, where="flags", **values)


def _layout(text: Any, error: type[Exception]) -> F.Layout | None:
    """``--layout``'s value (``None``: not given), or ``error`` naming the flag."""
    if text is None:
        return None
    try:
        word = F.choice(F.LAYOUTS)(text)
    except F.FieldError as exc:
        raise error(f"--layout: {exc}") from None
    return "nchw" if word == "nchw" else "nhwc"


def read_input_flag(given: dict[str, Any], common: dict[str, Any], layout: str | None) -> F.Layout:
    """Read ``--input`` (``given["input"]``, text) in ``--layout``'s order, in place: it
    becomes the channels-last list, and the batch of a batch-first shape goes to
    ``common["batch"]`` (a different ``--batch`` is refused). Returns the layout read, the
    one a report records: ``--layout``, else ``nhwc``. Errors name ``--input`` (or
    ``--layout``, ``--batch``), exit 2."""
    chosen = _layout(layout, UsageError)
    text = given.get("input")
    if text is None:
        return chosen or "nhwc"
    try:
        reading = F.read_input(F.flag_value(text) if isinstance(text, str) else text, chosen)
    except F.FieldError as exc:
        raise UsageError(f"--input: {exc}") from None
    given["input"] = list(reading.shape)
    if reading.batch is not None:
        merge_batch(common, reading.batch, f"--input {text}")
    return reading.layout


def merge_batch(common: dict[str, Any], batch: int, source: str) -> None:
    """``batch``, carried by ``source`` (a batch-first shape), becomes the layers' batch;
    a ``--batch`` that says otherwise is refused (one that is no integer is left to its own
    message)."""
    given = common.get("batch")
    if given is None:
        common["batch"] = batch
        return
    value = F.flag_value(given) if isinstance(given, str) else given
    if isinstance(value, int) and not isinstance(value, bool) and value != batch:
        raise UsageError(f"--batch: {given}, but {source} has a batch of {batch}; give one of them")


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
