"""The tensor layers of the spec (issue 21, item 5): ``reshape``, ``transpose``, ``slice``,
``softmax`` and ``branches`` with ``merge: matmul``, counted, validated, written to ONNX,
and read from hand-made ONNX graphs by ``export-spec`` (attention's q, k and v, a crop).

Every expected count is hand arithmetic, written out beside it: a 1×1 conv (or a Linear on
tokens) is ``positions · Cin · Cout`` MACs; a product of two computed tensors ``(M, K) ·
(K, N)`` is ``M · N · K`` MACs per leading item; reshapes, transposes and slices count
nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()

ATTENTION_SPEC = """\
input: [4, 4, 8]
layers:
  - {type: reshape, shape: [16, 8]}
  - {type: layer_norm}
  - type: branches
    name: attn
    merge: matmul
    branches:
      - - type: branches
          name: scores
          merge: matmul
          branches:
            - [{type: pointwise, name: q, filters: 8}]
            - [{type: pointwise, name: k, filters: 8}, {type: transpose, perm: [1, 0]}]
        - {type: softmax}
      - [{type: pointwise, name: v, filters: 8}]
  - {type: reshape, shape: [4, 4, 8]}
  - {type: slice, axis: [0, 1], start: [1, 0], end: [4, -1]}
"""
# q, k, v: 16 tokens · 8 · 8 = 1,024 MACs each; Q·Kᵀ (16, 8)·(8, 16): 16·16·8 = 2,048;
# A·V (16, 16)·(16, 8): 16·8·16 = 2,048. Params: the norm's 2·8, three 8×8 weights.
ATTENTION_MACS = 3 * 16 * 8 * 8 + 16 * 16 * 8 + 16 * 8 * 16
ATTENTION_PARAMS = 2 * 8 + 3 * 8 * 8


def profile(path: Path, *flags: str) -> dict[str, Any]:
    result = runner.invoke(app, ["profile", str(path), "--no-time", "--format", "json", *flags])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def totals(path: Path, *flags: str) -> tuple[int, int]:
    doc = profile(path, *flags)
    return doc["totals"]["as_specified"]["macs"], doc["totals"]["as_specified"]["params"]


def test_attention_written_as_nested_branches_counts_by_hand(tmp_path: Path) -> None:
    spec = tmp_path / "attention.yaml"
    spec.write_text(ATTENTION_SPEC)
    doc = profile(spec)
    assert (doc["totals"]["as_specified"]["macs"], doc["totals"]["as_specified"]["params"]) == (
        ATTENTION_MACS,
        ATTENTION_PARAMS,
    )
    for form in ("standard", "separable"):  # nothing here has another form
        assert doc["totals"][form]["macs"] == ATTENTION_MACS
    rows = {row["name"]: row for row in doc["layers"]}
    assert rows["reshape_0"]["output_shape"] == [16, 8]
    assert rows["attn.branch0.scores.branch1.transpose_1"]["output_shape"] == [8, 16]
    assert rows["attn.branch0.scores.matmul"]["output_shape"] == [16, 16]
    assert rows["attn.branch0.scores.matmul"]["as_specified"]["macs"] == 16 * 16 * 8
    assert rows["attn.matmul"]["output_shape"] == [16, 8]
    # rows 1..3 of 4 and columns 0..2 of 4 (end -1: the last one left out)
    assert rows["slice_4"]["output_shape"] == [3, 3, 8]
    for name in ("reshape_0", "slice_4", "attn.branch0.softmax_1"):
        assert rows[name]["as_specified"]["macs"] == 0
        assert rows[name]["as_specified"]["params"] == 0
    # the softmax: 5 FLOPs per value (16·16 scores)
    assert rows["attn.branch0.softmax_1"]["as_specified"]["flops"] == 5 * 16 * 16


def test_a_batched_product_counts_every_item_and_broadcasts(tmp_path: Path) -> None:
    """(4, 256, 16) · (1, 16, 1): the second's leading 1 broadcasts over 4 items, each
    256·1·16 MACs (MobileViT's windows folded into the leading dim count whole)."""
    spec = tmp_path / "batched.yaml"
    spec.write_text(
        "input: [32, 32, 16]\n"
        "layers:\n"
        "  - type: branches\n"
        "    merge: matmul\n"
        "    branches:\n"
        "      - [{type: reshape, shape: [4, 256, 16]}]\n"
        "      - [{type: global_pool}, {type: pointwise, filters: 32},"
        " {type: reshape, shape: [1, 16, 2]}, {type: slice, axis: -1, start: 0, end: 1},"
        " {type: reshape, shape: [1, 16, 1]}]\n"
    )
    # the pointwise on the pooled 1×1×16: 16·32 MACs; its 32 outputs are 16×2, cut to 16×1
    macs, params = totals(spec)
    assert macs == 16 * 32 + 4 * 256 * 1 * 16
    assert params == 16 * 32


@pytest.mark.parametrize(
    ("layer", "field", "message"),
    [
        ("{type: transpose, perm: [0, 0]}", "perm", "a permutation"),
        ("{type: reshape, shape: [5, 5]}", "shape", "needs 25 values"),
        ("{type: reshape, shape: 16x8}", "shape", "expected a list"),
        ("{type: slice, axis: 0, start: 3, end: 2}", "start", "keep nothing"),
        ("{type: slice, axis: [0, 1], start: 0, end: 1}", "start", "but axis names 2"),
        ("{type: softmax, axis: 3}", "axis", "outside a tensor of 3 dims"),
        ("{type: softmax, axis: true}", "axis", "expected an integer"),
    ],
)
def test_bad_tensor_layers_are_one_line_naming_the_field(
    tmp_path: Path, layer: str, field: str, message: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"input: [4, 4, 8]\nlayers:\n  - {layer}\n")
    result = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "bad.yaml:3:" in line and f"layers[0].{field}" in line and message in line


def test_a_matmul_of_shapes_that_do_not_multiply_is_named_at_its_merge(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "input: [4, 4, 8]\nlayers:\n  - type: branches\n    merge: matmul\n"
        "    branches: [[{type: reshape, shape: [16, 8]}], [{type: reshape, shape: [16, 8]}]]\n"
    )
    result = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert result.exit_code == 2
    assert "bad.yaml:4:12: layers[0].merge" in result.stderr
    assert "(8) must equal the second's next-to-last (16)" in result.stderr


def test_timing_names_the_tensor_layers_it_does_not_run(tmp_path: Path) -> None:
    spec = tmp_path / "attention.yaml"
    spec.write_text(ATTENTION_SPEC)
    result = runner.invoke(app, ["profile", str(spec), "--format", "json", "--time-budget", "0.05"])
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["layers"]}
    for name, role in (
        ("reshape_0", "shape"),
        ("attn.matmul", "product"),
        ("attn.branch0.softmax_1", "elementwise"),
    ):
        assert rows[name]["note"].startswith(f"not timed: a {role} operation is counted")


def test_export_writes_the_tensor_layers_and_reads_back_the_same_counts(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    spec = tmp_path / "attention.yaml"
    spec.write_text(ATTENTION_SPEC)
    out = tmp_path / "attention.onnx"
    done = runner.invoke(app, ["export", str(spec), "-o", str(out)])
    assert done.exit_code == 0, done.stderr
    assert totals(out) == (ATTENTION_MACS, ATTENTION_PARAMS)
    import onnx

    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    for op in ("Reshape", "Transpose", "Slice", "Softmax", "MatMul"):
        assert op in ops


# ---- hand-made ONNX graphs through export-spec ------------------------------------------


def save(
    path: Path, nodes: list[Any], shape: list[int], output: str, inits: list[Any], out: list[int]
) -> Path:
    """Write a graph of input ``x`` of ``shape`` and one output of shape ``out``."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, out)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _attention_graph(path: Path) -> Path:
    """x (1, 8, 4, 4) → tokens (1, 16, 8) → qkv Linear (8 → 24) → (3, 1, 2 heads, 16, 4)
    → Split on axis 0 → q, k, v → softmax(q·kᵀ)·v → tokens → (1, 8, 4, 4) → 1×1 conv."""
    from onnx_graphs import ints, node, weight  # tests/onnx_graphs.py

    nodes = [
        node("Reshape", ["x", "s_tok"], ["t0"], "to_tokens"),
        node("Transpose", ["t0"], ["t1"], "tokens_last", perm=[0, 2, 1]),
        node("MatMul", ["t1", "w_qkv"], ["qkv"], "qkv"),
        node("Reshape", ["qkv", "s_heads"], ["h0"], "heads"),
        node("Transpose", ["h0"], ["h1"], "qkv_first", perm=[2, 0, 3, 1, 4]),
        node("Split", ["h1", "split"], ["q0", "k0", "v0"], "unbind", axis=0),
        node("Squeeze", ["q0", "zero"], ["q"], "q"),
        node("Squeeze", ["k0", "zero"], ["k1"], "k"),
        node("Squeeze", ["v0", "zero"], ["v"], "v"),
        node("Transpose", ["k1"], ["kt"], "k_t", perm=[0, 1, 3, 2]),
        node("MatMul", ["q", "kt"], ["scores"], "scores"),
        node("Softmax", ["scores"], ["attn"], "softmax", axis=-1),
        node("MatMul", ["attn", "v"], ["o0"], "attn_v"),
        node("Transpose", ["o0"], ["o1"], "merge_heads", perm=[0, 2, 1, 3]),
        node("Reshape", ["o1", "s_tok2"], ["o2"], "tokens"),
        node("Transpose", ["o2"], ["o3"], "channels_first", perm=[0, 2, 1]),
        node("Reshape", ["o3", "s_img"], ["o4"], "to_image"),
        node("Conv", ["o4", "w_proj"], ["y"], "proj"),
    ]
    inits = [
        ints("s_tok", 1, 8, 16),
        weight("w_qkv", 8, 24),
        ints("s_heads", 1, 16, 3, 2, 4),
        ints("split", 1, 1, 1),
        ints("zero", 0),
        ints("s_tok2", 1, 16, 8),
        ints("s_img", 1, 8, 4, 4),
        weight("w_proj", 8, 8, 1, 1),
    ]
    return save(path, nodes, [1, 8, 4, 4], "y", inits, [1, 8, 4, 4])


# qkv: 16 tokens · 8 · 24 = 3,072; q·kᵀ per head (16, 4)·(4, 16): 2 heads · 16·16·4 =
# 2,048; attn·v per head (16, 16)·(16, 4): 2 · 16·4·16 = 2,048; the 1×1 conv 4·4·8·8 =
# 1,024. Params: the qkv weight 8·24, the conv's 8·8.
GRAPH_MACS = 16 * 8 * 24 + 2 * 16 * 16 * 4 + 2 * 16 * 4 * 16 + 4 * 4 * 8 * 8
GRAPH_PARAMS = 8 * 24 + 8 * 8


def _export_spec(model: Path, tmp_path: Path) -> Path:
    out = tmp_path / "spec.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(out)])
    assert done.exit_code == 0, done.stderr
    assert "NOT EXPRESSED" not in out.read_text()
    return out


def test_attention_q_k_v_round_trips_through_export_spec(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    model = _attention_graph(tmp_path / "attention.onnx")
    assert totals(model) == (GRAPH_MACS, GRAPH_PARAMS)
    spec = _export_spec(model, tmp_path)
    text = spec.read_text()
    assert text.count("merge: matmul") == 2 and "type: slice" in text
    assert "activation: softmax" in text
    assert totals(spec) == (GRAPH_MACS, GRAPH_PARAMS)
    done = runner.invoke(app, ["compare", str(model), str(spec), "--format", "json"])
    assert done.exit_code == 0, done.stderr
    compared = json.loads(done.stdout)["totals"]
    assert compared["macs"]["delta"] == compared["params"]["delta"] == 0


def test_a_crop_round_trips_through_export_spec(tmp_path: Path) -> None:
    """Keras' Cropping2D as tf2onnx writes it: a Slice of the spatial dims (every dim
    named, the batch and channels whole), then a 3×3 valid conv: the 7×7 crop gives 5×5
    outputs of 4 channels, 5·5·4·3·9 MACs and 4·3·9 weights."""
    pytest.importorskip("onnx")
    from onnx_graphs import ints, node, weight

    nodes = [
        node("Slice", ["x", "starts", "ends", "axes"], ["c"], "crop"),
        node("Conv", ["c", "w"], ["y"], "conv"),
    ]
    inits = [
        ints("starts", 0, 0, 1, 1),
        ints("ends", 1, 3, 2**62, 2**62),
        ints("axes", 0, 1, 2, 3),
        weight("w", 4, 3, 3, 3),
    ]
    model = save(tmp_path / "crop.onnx", nodes, [1, 3, 8, 8], "y", inits, [1, 4, 5, 5])
    spec = _export_spec(model, tmp_path)
    assert "{type: slice, name: crop, axis: [0, 1], start: [1, 1], end: [8, 8]}" in (
        spec.read_text()
    )
    assert totals(spec) == totals(model) == (5 * 5 * 4 * 3 * 9, 4 * 3 * 9)


def test_a_split_along_tokens_is_branches_opening_with_slices(tmp_path: Path) -> None:
    """A Split of tokens (not the channels) whose parts meet at a MatMul: each branch
    opens with a slice of its part. (1, 16, 8) split into 8 + 8 tokens: (8, 8)·(8, 8)
    after a transpose, 8·8·8 MACs."""
    pytest.importorskip("onnx")
    from onnx_graphs import ints, node

    nodes = [
        node("Reshape", ["x", "s"], ["t0"], "tokens"),
        node("Transpose", ["t0"], ["t"], "last", perm=[0, 2, 1]),
        node("Split", ["t", "parts"], ["a", "b0"], "split", axis=1),
        node("Transpose", ["b0"], ["b"], "b_t", perm=[0, 2, 1]),
        node("MatMul", ["a", "b"], ["y"], "product"),
    ]
    inits = [ints("s", 1, 8, 16), ints("parts", 8, 8)]
    model = save(tmp_path / "split.onnx", nodes, [1, 8, 4, 4], "y", inits, [1, 8, 8])
    spec = _export_spec(model, tmp_path)
    assert spec.read_text().count("type: slice") == 2
    assert totals(spec) == totals(model) == (8 * 8 * 8, 0)


def test_an_inexpressible_node_after_tokens_is_still_named(tmp_path: Path) -> None:
    """A reduction over every dim (the batch's too: no axes) has no spec layer: the
    refusal names it, exit 2."""
    pytest.importorskip("onnx")
    from onnx_graphs import ints, node

    nodes = [
        node("Reshape", ["x", "s"], ["t"], "tokens"),
        node("ReduceSum", ["t"], ["y"], "total", keepdims=1),
    ]
    inits = [ints("s", 1, 8, 16)]
    model = save(tmp_path / "reduce.onnx", nodes, [1, 8, 4, 4], "y", inits, [1, 1, 1])
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(tmp_path / "s.yaml")])
    assert done.exit_code == 2
    assert "cannot express 'total' (ReduceSum)" in done.stderr
    assert not (tmp_path / "s.yaml").exists()
    np.testing.assert_equal(done.stderr.count("\n"), 1)
