"""Several inputs and layers that read a named tensor: the keys of issue 21 (item 5).

Rules
-----
* A model spec has one input (``input: [H, W, C]``) or several, named:
  ``inputs: {image: [H, W, C], state: [2, 128]}``, a mapping of names to channels-last
  shapes (exactly one of ``input`` and ``inputs``). The first named input is the one the
  first layer reads; a layer reads another by its name (``from``).
* ``from`` on any layer names what it reads instead of the previous layer's output: one
  name, or a list of names. A name is an earlier layer's ``name`` (a layer inside a block
  by its name there, from the same block, or by its row name from outside:
  ``block.branch0.conv``) or one of the model's ``inputs``. A layer reads only what was
  made before it, so ``from`` can never make a cycle: a later (or its own) name is an
  unknown name, with the names it could have meant.
* A ``concat`` or an ``add`` layer joins the tensors its ``from`` names (two or more): a
  concat along the channels (equal spatial sizes), an add of equal shapes. A recurrent
  layer (``lstm``, ``gru``, ``rnn``) reads its sequence and, after it, its initial hidden
  (and an LSTM's cell) state; every other layer reads one tensor.

These are the validators of the keys; the names are resolved, and the shapes checked, when
the model is built (:mod:`sepconv_cli.counting.sources`).
"""

from __future__ import annotations

import re
from typing import Any

from sepconv_cli.spec import fields as F

JOIN_TYPES = ("concat", "add")
"""Layers that join the two or more tensors their ``from`` names."""
RECURRENT_TYPES = ("lstm", "gru", "rnn")
STATE_SOURCES = {"lstm": 3, "gru": 2, "rnn": 2}
"""The most tensors a recurrent layer reads: its sequence, then its initial hidden state
(and an LSTM's initial cell state)."""
DIRECTIONS = ("forward", "reverse", "bidirectional")
INTERPOLATIONS = ("nearest", "linear", "cubic")
_NAME = re.compile(r"\S(.*\S)?\Z", re.DOTALL)


def source_names(value: Any) -> tuple[str, ...]:
    """``from``: one name, or a non-empty list of distinct names (strings)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise F.FieldError("expected a name or a list of names, got an empty list")
    names = []
    for item in items:
        if not isinstance(item, str) or not _NAME.match(item):
            raise F.FieldError(
                f"expected the name of an earlier layer or of an input, got {F.describe(item)}"
            )
        names.append(item)
    if len(set(names)) != len(names):
        raise F.FieldError(f"names a tensor twice: {', '.join(names)}")
    return tuple(names)


def named_inputs(value: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``inputs``: a non-empty mapping of input names to channels-last shapes."""
    if not isinstance(value, dict) or not value:
        raise F.FieldError(
            "expected a mapping of input names to shapes, such as "
            f"{{image: [96, 96, 3], state: [2, 128]}}, got {F.describe(value)}"
        )
    out = []
    for name, shape in value.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise F.FieldError(f"an input's name must be a non-empty string, got {name!r}")
        try:
            out.append((name, F.shape(shape)))
        except F.FieldError as exc:
            raise F.FieldError(f"input {name!r}: {exc}") from None
    return tuple(out)


def layer_problem(kind: str, values: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) when a layer's ``from`` does not fit its type: a join needs two or
    more names, a recurrent layer reads at most its sequence and its states, any other
    layer one tensor; None when it fits."""
    sources = values.get("sources", ())
    if kind in JOIN_TYPES:
        if len(sources) < 2:
            return "from", f"a {kind} layer joins two or more tensors: name them in from"
        return None
    most = STATE_SOURCES.get(kind, 1)
    if len(sources) > most:
        what = "its sequence and its initial states" if most > 1 else "one tensor"
        return "from", f"a {kind} layer reads {what} (at most {most}), got {len(sources)}"
    return None
