"""What real model files hold beyond convolution layers, each counted by hand (issue 21):
windows folded into the leading dim, products of two computed tensors (attention),
recurrent layers, weights stored as Constants or transposed, work on constants alone,
elementwise functions and reductions, activations that are not a row's own.

Every graph here is built with onnx.helper; every expected count is hand arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnx")

import numpy as np
import onnx
from onnx import helper
from onnx_graphs import ints, node, save, weight  # tests/onnx_graphs.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def profile(path: Path, *args: str) -> dict[str, Any]:
    done = runner.invoke(app, ["profile", str(path), "--format", "json", "-q", *args])
    assert done.exit_code == 0, done.output
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def totals(data: dict[str, Any]) -> tuple[int, int]:
    spec = data["totals"]["as_specified"]
    return spec["macs"], spec["params"]


def test_windows_in_the_leading_dim_are_all_counted(tmp_path: Path) -> None:
    """MobileViT's tokens (4 patches, 256 tokens, 64 features) through a Linear 64 → 32:
    4·256·64·32 MACs, not a quarter of them; the weight counted once."""
    nodes = [
        node("Reshape", ["x", "shape"], ["t"], "/unfold/Reshape"),
        node("MatMul", ["t", "w"], ["y"], "/fc/MatMul"),
    ]
    inits = [ints("shape", 4, 256, 64), weight("w", 64, 32)]
    path = save(tmp_path / "w.onnx", nodes, {"x": [1, 64, 32, 32]}, ["y"], inits)
    data = profile(path)
    assert totals(data) == (4 * 256 * 64 * 32, 64 * 32)
    (row,) = data["layers"]
    assert row["batch"] == 4 and data["batch"] == 1


def test_attention_products_are_counted(tmp_path: Path) -> None:
    """Q·Kᵀ and A·V on 2 heads of 16 tokens of 8 features, for 4 stacked windows: each
    product 4·2·16·16·8 MACs; the Softmax between joins the scores' row as its activation."""
    nodes = [
        node("Transpose", ["k"], ["kt"], "/attn/Transpose", perm=[0, 1, 3, 2]),
        node("MatMul", ["q", "kt"], ["s"], "/attn/MatMul"),
        node("Softmax", ["s"], ["a"], "/attn/Softmax", axis=-1),
        node("MatMul", ["a", "v"], ["y"], "/attn/MatMul_1"),
    ]
    dims = [4, 2, 16, 8]
    path = save(tmp_path / "a.onnx", nodes, {"q": dims, "k": dims, "v": dims}, ["y"])
    data = profile(path)
    assert totals(data) == (2 * 4 * 2 * 16 * 16 * 8, 0)
    assert data["uncounted_nodes"] == []
    scores = data["layers"][0]
    assert (scores["type"], scores["activation"]) == ("matmul", "softmax")
    assert scores["activation_function_flops"] == 5 * 4 * 2 * 16 * 16


def test_einsum_of_two_tensors(tmp_path: Path) -> None:
    nodes = [node("Einsum", ["q", "k"], ["s"], "/attn/Einsum", equation="bhqd,bhkd->bhqk")]
    path = save(tmp_path / "e.onnx", nodes, {"q": [2, 3, 5, 7], "k": [2, 3, 11, 7]}, ["s"])
    assert totals(profile(path)) == (2 * 3 * 5 * 11 * 7, 0)


def test_lstm_and_gru(tmp_path: Path) -> None:
    """A bidirectional LSTM over 10 steps, batch 2, 16 → 32 units: per step, direction and
    item 4 gates · 32 · (16 + 32) MACs; params W + R + B as the file holds them."""
    h, i, t, n = 32, 16, 10, 2
    inits = [weight("W", 2, 4 * h, i), weight("R", 2, 4 * h, h), weight("B", 2, 8 * h)]
    lstm = node("LSTM", ["x", "W", "R", "B"], ["y"], "/rnn/LSTM", hidden_size=h)
    lstm.attribute.append(helper.make_attribute("direction", "bidirectional"))
    path = save(tmp_path / "l.onnx", [lstm], {"x": [t, n, i]}, ["y"], inits)
    data = profile(path, "--batch", "2")
    macs = t * n * 2 * 4 * h * (i + h)
    params = 2 * 4 * h * i + 2 * 4 * h * h + 2 * 8 * h
    assert totals(data) == (macs, params)
    gru_inits = [weight("W", 1, 3 * h, i), weight("R", 1, 3 * h, h)]
    gru = node("GRU", ["x", "W", "R"], ["y"], "/rnn/GRU", hidden_size=h)
    path = save(tmp_path / "g.onnx", [gru], {"x": [t, n, i]}, ["y"], gru_inits)
    assert totals(profile(path)) == (t * n * 3 * h * (i + h), 3 * h * i + 3 * h * h)


def test_weights_from_a_constant_or_a_transpose_are_weights(tmp_path: Path) -> None:
    """A Linear whose weight is a Constant node, and one stored transposed: dense rows with
    their weights as parameters, not products of two computed tensors."""
    value = onnx.numpy_helper.from_array(np.zeros((8, 4), np.float32))
    nodes = [
        node("Constant", [], ["c"], "/fc1/Constant", value=value),
        node("MatMul", ["x", "c"], ["h"], "/fc1/MatMul"),
        node("Transpose", ["wt"], ["w2"], "/fc2/Transpose", perm=[1, 0]),
        node("MatMul", ["h", "w2"], ["y"], "/fc2/MatMul"),
    ]
    path = save(tmp_path / "c.onnx", nodes, {"x": [3, 8]}, ["y"], [weight("wt", 6, 4)])
    data = profile(path)
    assert [row["type"] for row in data["layers"]] == ["dense", "dense"]
    assert totals(data) == (3 * 8 * 4 + 3 * 4 * 6, 8 * 4 + 4 * 6)


def test_a_conv_on_constants_is_a_row_counted_once(tmp_path: Path) -> None:
    """EdgeNeXt's positional encoding: a Conv whose inputs are all constants (a 1×2×4×4
    grid, weight 3×2×1×1) is counted once, whatever the batch, and said."""
    nodes = [
        node("Conv", ["grid", "wp"], ["pos"], "/pos/Conv"),
        node("Conv", ["x", "w"], ["c"], "/conv/Conv"),
        node("Add", ["c", "pos"], ["y"], "/Add"),
    ]
    inits = [weight("grid", 1, 2, 4, 4), weight("wp", 3, 2, 1, 1), weight("w", 3, 3, 1, 1)]
    path = save(tmp_path / "p.onnx", nodes, {"x": [5, 3, 4, 4]}, ["y"], inits)
    done = runner.invoke(app, ["profile", str(path)])
    assert "read only constants" in " ".join(done.output.split())
    data = profile(path)
    pos = data["layers"][0]
    assert (pos["name"], pos["batch"]) == ("pos", 1)
    assert pos["as_specified"]["macs"] == 16 * 3 * 2
    assert totals(data)[0] == 16 * 3 * 2 + 5 * 16 * 3 * 3


def test_written_out_layer_norm_is_counted_and_shapes_go_on(tmp_path: Path) -> None:
    """PaddleOCR's layer norm written out (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt,
    Div): every node an elementwise or reduce row, and the Linear after it still counted."""
    nodes = [
        node("ReduceMean", ["x"], ["m"], "/ln/ReduceMean", axes=[-1]),
        node("Sub", ["x", "m"], ["d"], "/ln/Sub"),
        node("Pow", ["d", "two"], ["p"], "/ln/Pow"),
        node("ReduceMean", ["p"], ["v"], "/ln/ReduceMean_1", axes=[-1]),
        node("Add", ["v", "eps"], ["ve"], "/ln/Add"),
        node("Sqrt", ["ve"], ["s"], "/ln/Sqrt"),
        node("Div", ["d", "s"], ["n"], "/ln/Div"),
        node("MatMul", ["n", "w"], ["y"], "/fc/MatMul"),
    ]
    two = onnx.numpy_helper.from_array(np.array(2.0, np.float32), "two")
    eps = onnx.numpy_helper.from_array(np.array(1e-5, np.float32), "eps")
    inits = [two, eps, weight("w", 8, 5)]
    path = save(tmp_path / "n.onnx", nodes, {"x": [1, 6, 8]}, ["y"], inits, opset=13)
    data = profile(path)
    assert data["uncounted_nodes"] == []
    assert totals(data) == (6 * 8 * 5, 8 * 5)
    flops = {row["name"]: row["as_specified"]["flops"] for row in data["layers"]}
    assert flops["ln.reducemean"] == 48 and flops["ln.pow"] == 48 and flops["ln.sqrt"] == 6


def test_an_activation_on_a_shared_tensor_is_its_own_row(tmp_path: Path) -> None:
    """Xception: the ReLU before a separable conv reads a tensor the shortcut reads too; it
    is counted (an activation row: 1 FLOP per value, apart), so --strict passes."""
    nodes = [
        node("Conv", ["x", "w"], ["c"], "/conv/Conv"),
        node("Relu", ["c"], ["r"], "/act/Relu"),
        node("Conv", ["r", "w2"], ["d"], "/conv2/Conv"),
        node("Add", ["c", "d"], ["y"], "/Add"),
    ]
    inits = [weight("w", 4, 4, 1, 1), weight("w2", 4, 4, 1, 1)]
    path = save(tmp_path / "s.onnx", nodes, {"x": [1, 4, 5, 5]}, ["y"], inits)
    data = profile(path, "--strict")
    act = next(row for row in data["layers"] if row["type"] == "activation")
    assert act["activation_function_flops"] == 100 and act["as_specified"]["flops"] == 0


def test_a_softmax_after_a_reshape_is_the_classifier_activation(tmp_path: Path) -> None:
    nodes = [
        node("Gemm", ["x", "w"], ["g"], "/fc/Gemm"),
        node("Reshape", ["g", "shape"], ["r"], "/Reshape"),
        node("Softmax", ["r"], ["y"], "/Softmax", axis=-1),
    ]
    inits = [weight("w", 16, 10), ints("shape", 1, 10)]
    path = save(tmp_path / "k.onnx", nodes, {"x": [1, 16]}, ["y"], inits)
    data = profile(path, "--strict")
    (row,) = data["layers"]
    assert (row["type"], row["activation"]) == ("dense", "softmax")


def test_a_channels_last_input_reads_as_it_is(tmp_path: Path) -> None:
    """A TensorFlow export's NHWC input (its first node transposes it to NCHW) is shown as
    224×224×3, not 224×3×224."""
    nodes = [
        node("Transpose", ["x"], ["t"], "/Transpose", perm=[0, 3, 1, 2]),
        node("Conv", ["t", "w"], ["y"], "/conv/Conv"),
    ]
    path = save(tmp_path / "t.onnx", nodes, {"x": [1, 8, 8, 3]}, ["y"], [weight("w", 4, 3, 3, 3)])
    assert profile(path)["input_shape"] == [8, 8, 3]
    # Keras' Rescaling before the transpose (EfficientNetB0): still NHWC
    scale = onnx.numpy_helper.from_array(np.array(1 / 255, np.float32), "scale")
    rescaled = [node("Mul", ["x", "scale"], ["m"], "/rescale/Mul"), *nodes]
    rescaled[1] = node("Transpose", ["m"], ["t"], "/Transpose", perm=[0, 3, 1, 2])
    inits = [weight("w", 4, 3, 3, 3), scale]
    path = save(tmp_path / "r.onnx", rescaled, {"x": [1, 8, 8, 3]}, ["y"], inits)
    assert profile(path)["input_shape"] == [8, 8, 3]
    # an NCHW input read by a Conv directly: turned channels-last
    path = save(tmp_path / "c.onnx", nodes[1:2], {"t": [1, 3, 8, 6]}, ["y"], inits)
    assert profile(path)["input_shape"] == [8, 6, 3]


def test_reductions_and_comparisons(tmp_path: Path) -> None:
    nodes = [
        node("ReduceMax", ["x"], ["m"], "/ReduceMax", axes=[1], keepdims=0),
        node("ArgMax", ["x"], ["a"], "/ArgMax", axis=1),
        node("Greater", ["x", "x"], ["y"], "/Greater"),
    ]
    path = save(tmp_path / "r.onnx", nodes, {"x": [2, 7, 3]}, ["m", "a", "y"], opset=13)
    data = profile(path)
    assert data["uncounted_nodes"] == []
    assert data["totals"]["as_specified"]["flops"] == 3 * 2 * 7 * 3


def test_the_final_check_refuses_a_total_that_lost_a_node(tmp_path: Path) -> None:
    """onnx_audit: a Conv of 1·4·3·3 outputs × 2·3·3 products (648 MACs by hand) that the
    rows lost, or counted otherwise, or rows that do not sum to their nodes, is refused."""
    from sepconv_cli.errors import RuntimeFailure
    from sepconv_cli.interchange.onnx_audit import check_counts, independent_macs

    conv = node("Conv", ["x", "w"], ["y"], "conv")
    shapes = {"x": (1, 2, 5, 5), "w": (4, 2, 3, 3), "y": (1, 4, 3, 3)}
    independent = independent_macs([conv], shapes)
    assert independent == {0: 648}
    check_counts("m.onnx", [conv], independent, {0: 648}, set(), 648)
    check_counts("m.onnx", [conv], independent, {}, {0}, 0)  # named as not counted: fine
    with pytest.raises(RuntimeFailure, match="no row counts it"):
        check_counts("m.onnx", [conv], independent, {}, set(), 0)
    with pytest.raises(RuntimeFailure, match="its row counts 162"):
        check_counts("m.onnx", [conv], independent, {0: 162}, set(), 162)
    with pytest.raises(RuntimeFailure, match="the rows count 0 MACs"):
        check_counts("m.onnx", [conv], independent, {0: 648}, set(), 0)


def test_instance_norm_and_bilinear_resize(tmp_path: Path) -> None:
    """MobileViTv2's GroupNorm(1) exported as InstanceNormalization over 4 channels of 3×5
    (7 FLOPs per value + 4 per group; scale and bias 4 each), then a bilinear 2× Resize:
    each of 4·6·10 outputs weighs 2·2 inputs, 2·4 − 1 = 7 FLOPs."""
    nodes = [
        node("InstanceNormalization", ["x", "s", "b"], ["n"], "/norm/InstanceNormalization"),
        node("Resize", ["n", "", "scales"], ["y"], "/up/Resize", mode="linear"),
    ]
    scales = onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    inits = [weight("s", 4), weight("b", 4), scales]
    path = save(tmp_path / "i.onnx", nodes, {"x": [1, 4, 3, 5]}, ["y"], inits)
    data = profile(path, "--strict")
    norm, resize = data["layers"]
    assert norm["as_specified"]["flops"] == 7 * 60 + 4 * 4
    assert norm["as_specified"]["params"] == 8
    assert resize["as_specified"]["flops"] == 7 * 4 * 6 * 10


def test_a_batch_norm_written_as_mul_and_add_keeps_a_pair(tmp_path: Path) -> None:
    """tf2onnx writes Keras' BatchNormalization after a depthwise conv as Mul then Add by
    per-channel weights: the depthwise's batch-norm (2 params per channel), so the depthwise
    3×3 on 8 channels of 6×6 and the 1×1 to 16 after it are one separable row whose
    standard form is one dense 3×3 8 → 16: 36·16·8·9 MACs."""
    nodes = [
        node("Conv", ["x", "dw"], ["d"], "/dw/Conv", group=8, pads=[1, 1, 1, 1]),
        node("Mul", ["d", "gamma"], ["m"], "/bn/Mul"),
        node("Add", ["m", "beta"], ["b"], "/bn/Add"),
        node("Relu", ["b"], ["r"], "/relu/Relu"),
        node("Conv", ["r", "pw"], ["y"], "/pw/Conv"),
    ]
    inits = [weight("dw", 8, 1, 3, 3), weight("gamma", 8, 1, 1), weight("beta", 8, 1, 1)]
    inits.append(weight("pw", 16, 8, 1, 1))
    path = save(tmp_path / "k.onnx", nodes, {"x": [1, 8, 6, 6]}, ["y"], inits)
    data = profile(path, "--strict")
    (row,) = data["layers"]
    assert (row["type"], row["inner_activation"]) == ("separable", "relu")
    assert row["standard"]["macs"] == 36 * 16 * 8 * 9
    assert row["as_specified"]["macs"] == 36 * 8 * 9 + 36 * 16 * 8
    assert row["as_specified"]["params"] == 8 * 9 + 2 * 8 + 16 * 8
    assert "written out as Mul then Add" in data["graph_notes"][-1]


def test_a_conv_bias_written_as_an_add_is_the_conv_s(tmp_path: Path) -> None:
    """paddle2onnx writes a conv's bias as an Add of a (1, C, 1, 1) weight: the conv's bias
    (C params, one add per output: 2·MACs + outputs FLOPs), one row, as a Conv's own."""
    nodes = [
        node("Conv", ["x", "w"], ["c"], "/conv/Conv"),
        node("Add", ["c", "b"], ["y"], "/conv/Add"),
    ]
    inits = [weight("w", 6, 3, 3, 3), weight("b", 1, 6, 1, 1)]
    path = save(tmp_path / "b.onnx", nodes, {"x": [1, 3, 5, 5]}, ["y"], inits)
    (row,) = profile(path)["layers"]
    macs = 9 * 6 * 3 * 9
    assert row["as_specified"]["macs"] == macs
    assert row["as_specified"]["params"] == 6 * 3 * 9 + 6
    assert row["as_specified"]["flops"] == 2 * macs + 9 * 6
