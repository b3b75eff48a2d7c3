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
