"""The lines a report of a model read from a graph file (ONNX) adds: the nodes it did not
count (the totals are then a lower bound) and what the reader found (batch-norm folded or
not); for a YAML spec, only the node a partial spec (``export-spec --partial``) stops at."""

from __future__ import annotations

from collections.abc import Sequence

from sepconv_cli.counting.network import Model
from sepconv_cli.names import shown

MAX_NAMED = 6


def uncounted_line(model: Model) -> str:
    """``N nodes of types X, Y not counted: totals are a lower bound`` (empty if none)."""
    return uncounted_text([u.op_type for u in model.uncounted])


def uncounted_text(op_types: Sequence[str]) -> str:
    """The same line for the op types of the nodes not counted, one per node."""
    if not op_types:
        return ""
    kinds = sorted(set(op_types))
    named = ", ".join(kinds[:MAX_NAMED]) + (", …" if len(kinds) > MAX_NAMED else "")
    count = len(op_types)
    return (
        f"{count} node{'s' if count != 1 else ''} of type{'s' if len(kinds) != 1 else ''} "
        f"{named} not counted: totals are a lower bound (--format json lists them)."
    )


def graph_footer(model: Model) -> str:
    """The footer lines for ``model`` (newline-terminated), or "". Each line is shown
    (:func:`sepconv_cli.names.shown`): the op types and findings of a file, and the node a
    partial spec names, are the file's own text."""
    lines = [uncounted_line(model), *model.graph_notes] if model.graph_format else []
    if model.partial:
        lines.append(f"Partial spec: it stops at {model.partial}; totals are a lower bound.")
    return "".join(shown(line) + "\n" for line in lines if line)
