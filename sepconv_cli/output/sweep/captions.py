"""The words around a sweep's numbers: the title's layer description and the footers that
state the conventions.

Rule: the convention sentences are not written here: they come from
:mod:`sepconv_cli.counting.conventions` (``SWEEP_FOOTER``, ``SWEEP_MARKDOWN_NOTE``,
``sweep_conventions``), the one source of the counting conventions; the renderers only place
them.
"""

from __future__ import annotations

from sepconv_cli.analysis.sweep import SweepReport


def describe_base(report: SweepReport) -> str:
    """``conv 5×5, 3→256 channels on 12×12×3, valid padding`` with the varied part left out."""
    b = report.base
    parts = []
    if b["kernel"] is not None:
        k = b["kernel"]
        parts.append("kernel " + (f"{k}×{k}" if isinstance(k, int) else "×".join(map(str, k))))
    if b["filters"] is not None:
        parts.append(f"{b['filters']} filters")
    if b["input"] is not None and report.parameter != "size":
        parts.append("input " + "×".join(map(str, b["input"])))
    elif report.parameter == "size" and b["input"] is not None:
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
