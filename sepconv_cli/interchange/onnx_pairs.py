"""A file's depthwise-separable convolutions: a depthwise k×k ``Conv`` whose output goes only
— through its batch-norm and activation, Transposes and at most one layer norm — into one
1×1 ``Conv`` (or a ``MatMul`` on channels-last tokens, a 1×1 conv by another name) is one
row, counted by :func:`sepconv_cli.counting.pairing.lower_pair`: its standard form one dense
k×k convolution to the pointwise's channels (the rule stated in
:mod:`sepconv_cli.counting.conventions`, the same for specs and presets).
"""

from __future__ import annotations

import re
from dataclasses import replace

from sepconv_cli.counting.lowering import lower
from sepconv_cli.counting.ops import Conv, LayerNorm
from sepconv_cli.counting.pairing import PAIR_TYPE, SEPARATOR, lower_pair
from sepconv_cli.counting.widths import Width
from sepconv_cli.interchange.onnx_walk_state import Walk, WalkRow, row_through
from sepconv_cli.spec.layers import LayerSpec


def relower(row: WalkRow) -> None:
    """Count ``row`` again after a batch-norm or a bias joined its (pointwise's) spec."""
    if row.pair_depthwise is not None:
        forms = lower_pair(row.pair_depthwise, row.spec, row.input_shape, norm=row.pair_norm)
        assert forms is not None  # a norm or bias on the pointwise keeps it a pair
        row.forms = forms
    else:
        row.forms = lower(row.spec, row.input_shape, Width())


def pair_name(names: list[str]) -> str:
    """The rows' names joined by ``+`` after the path they share: ``blocks.0.0.conv_dw`` and
    ``blocks.0.0.conv_pw`` → ``blocks.0.0.conv_dw+conv_pw``; ``sep7[0]/depthwise`` and
    ``sep7[0]/pointwise`` → ``sep7[0]/depthwise+pointwise`` (so the pairs of repeated
    blocks differ in one number, and fold)."""
    parts = [re.split(r"([./])", name) for name in names]
    common = 0  # tokens shared by every name, up to and including a separator
    for i in range(min(len(p) for p in parts) - 1):
        if any(p[i] != parts[0][i] for p in parts):
            break
        if parts[0][i] in "./":
            common = i + 1
    return "".join(parts[0][:common]) + SEPARATOR.join("".join(p[common:]) for p in parts)


def _pointwise_spec(row: WalkRow) -> LayerSpec | None:
    """The layer spec of a pointwise row: a 1×1 Conv's own, or one for a MatMul on
    channels-last tokens (a pointwise convolution over their positions)."""
    if row.spec is not None and row.type == "pointwise":
        spec: LayerSpec = row.spec
        return spec
    op = row.forms.as_specified[0]
    if row.type != "dense" or not isinstance(op, Conv) or len(op.in_shape) < 2:
        return None
    rank = len(op.kernel)
    return LayerSpec(
        type="conv",
        where=row.where,
        name=row.name,
        kernel=(1,) * rank,
        filters=op.out_channels,
        stride=(1,) * rank,
        padding=((0, 0),) * rank,
        dilation=(1,) * rank,
        groups=1,
        bias=op.bias,
    )


def join_pair(walk: Walk, output: str) -> None:
    """Make the last row, when it is a pointwise that reads a depthwise row (the one before
    it, or the one before a layer norm row before it), one depthwise-separable row with it;
    ``output`` is the pointwise's output tensor."""
    last = len(walk.rows) - 1
    pointwise = walk.rows[last]
    spec = _pointwise_spec(pointwise)
    if spec is None:
        return
    source = row_through(walk, pointwise.source)
    norm_row: WalkRow | None = None
    if source is not None and source == last - 1 and walk.rows[source].type == "layer_norm":
        norm_row = walk.rows[source]
        if norm_row.activation != "none":
            return
        source = row_through(walk, norm_row.source)
    first = last - (2 if norm_row is not None else 1)
    if source is None or source != first:
        return
    depthwise = walk.rows[first]
    if depthwise.spec is None or depthwise.pair_depthwise is not None:
        return
    norm = norm_row.forms.as_specified[0] if norm_row is not None else None
    if norm is not None and not isinstance(norm, LayerNorm):
        return
    forms = lower_pair(depthwise.spec, spec, depthwise.input_shape, norm=norm)
    if forms is None:
        return
    names = [depthwise.name, *([norm_row.name] if norm_row else []), pointwise.name]
    walk.rows[first] = replace(
        depthwise,
        name=pair_name(names),
        type=PAIR_TYPE,
        forms=forms,
        spec=spec,
        activation="none",
        bias_free_matmul=pointwise.bias_free_matmul,
        pair_depthwise=depthwise.spec,
        pair_norm=norm,
        inner_activation=depthwise.activation,
    )
    del walk.rows[first + 1 :]
    walk.producer[output] = first
