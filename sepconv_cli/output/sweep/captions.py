"""The words around a sweep's numbers: the title's layer description and the footers that
state the conventions.

Rule: each convention sentence is one named constant, verbatim as the table, markdown and
JSON have always printed it, so that it can later be generated from one conventions
source; the renderers only place them.
"""

from __future__ import annotations

from sepconv_cli.analysis.sweep import SweepReport

# the table's footer, line 1: what Ratio and Theory mean
RATIO_NOTE = (
    "Ratio = separable / standard MACs. Theory = 1/Cout + 1/prod(k), exact when the depth "
    "multiplier and groups are 1."
)
# the table's footer, line 2: what is counted and what "separable" is
COUNTING_NOTE = (
    "MACs = multiply-accumulates (bias not counted). Separable = depthwise k×k then pointwise 1×1."
)
# markdown's note under the table (the same definitions, in one sentence)
MARKDOWN_RATIO_NOTE = (
    "Ratio = separable / standard MACs; theory = 1/Cout + 1/prod(k) (exact when the depth "
    "multiplier and groups are 1)."
)
# JSON: conventions.ratio
RATIO_CONVENTION = "separable MACs / standard MACs"


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
