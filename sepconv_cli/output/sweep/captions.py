"""The words around a sweep's numbers: the title's layer description and the footers that
state the conventions.

Rule: the convention sentences are not written here: they come from
:mod:`sepconv_cli.counting.conventions` (``SWEEP_FOOTER``, ``SWEEP_MARKDOWN_NOTE``,
``sweep_conventions``), the one source of the counting conventions; the renderers only place
them.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.analysis.grid import GridReport
from sepconv_cli.analysis.sweep import SweepReport


def describe_base(report: SweepReport) -> str:
    """``conv 5×5, 3→256 channels on 12×12×3, valid padding`` with the varied part left out."""
    return describe_layer(report.base, size_varies=report.parameter == "size")


def describe_grid(report: GridReport) -> str:
    """The same for a grid: every varied part left out."""
    return describe_layer(report.base, size_varies="size" in report.parameters)


def describe_layer(b: dict[str, Any], size_varies: bool) -> str:
    """The layer of a sweep's ``base`` (its varied fields None); with ``size_varies``, the
    input's channels only."""
    parts = []
    if b["kernel"] is not None:
        k = b["kernel"]
        parts.append("kernel " + (f"{k}×{k}" if isinstance(k, int) else "×".join(map(str, k))))
    if b["filters"] is not None:
        parts.append(f"{b['filters']} filters")
    if b["input"] is not None and not size_varies:
        parts.append("input " + "×".join(map(str, b["input"])))
    elif size_varies and b["input"] is not None:
        parts.append(f"{b['input'][-1]} input channels")
    if b["stride"] not in (None, 1):
        parts.append(f"stride {b['stride']}")
    parts.append(f"padding {b['padding']}")
    if b["dilation"] != 1:
        parts.append(f"dilation {b['dilation']}")
    if b["groups"] != 1:
        parts.append(f"groups {b['groups']}")
    if b["depth_multiplier"] not in (None, 1):
        parts.append(f"multiplier {b['depth_multiplier']}")
    if b["bias"]:
        parts.append("bias")
    parts.append(f"batch {b['batch']}, {b['dtype']}")
    return ", ".join(parts)
