"""The ``layer_norm`` and ``layer_scale`` layer types (ConvNeXt's), counted by hand.

A layer norm over C channels at each of P positions: params 2C (C without its bias); FLOPs,
sepconv's stated convention (docs/conventions.md#layer-norm-onnx-files), 7 per value with
scale and bias (6 without the bias) plus 4 per position. A layer scale: C params, one
multiply per value. Neither has MACs; each is one form.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_models import profile, write

from sepconv_cli.counting.ops import LayerNorm
from sepconv_cli.counting.shapes import ShapeError


@pytest.mark.parametrize(("bias", "params", "per_value"), [(True, 8, 7), (False, 4, 6)])
def test_layer_norm_counts(tmp_path: Path, bias: bool, params: int, per_value: int) -> None:
    text = f"input: [8, 8, 4]\nlayers:\n  - {{type: layer_norm, bias: {str(bias).lower()}}}\n"
    (row,) = profile(write(tmp_path, text))["layers"]
    for form in ("as_specified", "standard", "separable"):
        assert row[form]["macs"] == 0
        assert row[form]["params"] == params  # 2 or 1 per channel, 4 channels
        assert row[form]["bn_params"] == 0  # not a batch-norm
        assert row[form]["flops"] == per_value * 8 * 8 * 4 + 4 * 8 * 8


def test_layer_scale_counts(tmp_path: Path) -> None:
    text = "input: [8, 8, 4]\nlayers:\n  - {type: layer_scale}\n"
    (row,) = profile(write(tmp_path, text))["layers"]
    assert row["as_specified"]["params"] == 4
    assert row["as_specified"]["flops"] == 8 * 8 * 4
    assert row["as_specified"]["macs"] == 0


def test_a_layer_norm_after_global_pooling_normalizes_the_vector(tmp_path: Path) -> None:
    """ConvNeXt's head: a norm over the pooled 768-vector (one group)."""
    text = (
        "input: [7, 7, 16]\nlayers:\n  - {type: global_pool}\n  - {type: layer_norm}\n"
        "  - {type: dense, units: 10}\n"
    )
    rows = profile(write(tmp_path, text))["layers"]
    assert rows[1]["as_specified"]["params"] == 32
    assert rows[1]["as_specified"]["flops"] == 7 * 16 + 4


def test_a_normalized_count_no_trailing_dims_hold_is_refused() -> None:
    with pytest.raises(ShapeError, match="no trailing dims of"):
        LayerNorm((4, 5, 6), 7)
