"""`sepconv profile model.onnx` (and `compare`) on models built here with ``onnx.helper``.

Every expected number is hand arithmetic, written beside it: MACs of a conv are
``out_positions · Cout · (Cin/groups) · prod(k)``, of a dense layer ``in · out``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from onnx_graphs import conv_model, ints, node, save, weight  # tests/onnx_graphs.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, ["profile", *args])


def profile(path: Path, *args: str) -> dict[str, Any]:
    done = run(str(path), "--format", "json", "-q", *args)
    assert done.exit_code == 0, done.output
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def first(data: dict[str, Any]) -> dict[str, Any]:
    layer: dict[str, Any] = data["layers"][0]
    return layer


# --------------------------------------------------------------------------- convolutions


@pytest.mark.parametrize(
    ("attrs", "x", "out", "macs"),
    [
        # pads are all begins then all ends: h 0+2, w 1+3 → 8+2-3+1 = 8 rows, 8+4-3+1 = 10 cols
        ({"pads": [0, 1, 2, 3]}, 8, [8, 10, 4], 8 * 10 * 4 * 2 * 9),
        # VALID at stride 2: (7-3)//2+1 = 3 → 3×3×4, 9·4·2·9 = 648
        ({"auto_pad": "VALID", "strides": [2, 2]}, 7, [3, 3, 4], 648),
        # SAME_UPPER / SAME_LOWER at stride 2 on 8: ceil(8/2) = 4 (one pad after / before)
        ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, 8, [4, 4, 4], 16 * 4 * 2 * 9),
        ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, 8, [4, 4, 4], 16 * 4 * 2 * 9),
        # dilation 2: effective kernel 5, 8-5+1 = 4
        ({"dilations": [2, 2]}, 8, [4, 4, 4], 16 * 4 * 2 * 9),
        # NOTSET with no pads attribute: no padding, 8-3+1 = 6
        ({}, 8, [6, 6, 4], 36 * 4 * 2 * 9),
    ],
)
def test_conv_padding_modes(
    tmp_path: Path, attrs: dict[str, Any], x: int, out: list[int], macs: int
) -> None:
    path = conv_model(tmp_path / "c.onnx", [1, 2, x, x], [4, 2, 3, 3], **attrs)
    layer = first(profile(path))
    assert layer["output_shape"] == out
    assert layer["as_specified"]["macs"] == macs
    assert layer["as_specified"]["params"] == 4 * 2 * 9  # 72, no bias


def test_conv_1d_and_3d(tmp_path: Path) -> None:
    one = conv_model(tmp_path / "c1.onnx", [1, 4, 10], [8, 4, 3])
    # 1-D: 10-3+1 = 8 positions · 8 filters · 4 · 3 = 768
    assert first(profile(one))["as_specified"]["macs"] == 768
    three = conv_model(tmp_path / "c3.onnx", [1, 2, 4, 4, 4], [3, 2, 3, 3, 3], pads=[1] * 6)
    layer = first(profile(three))
    # 3-D, same size: 64 positions · 3 · 2 · 27 = 10,368
    assert layer["output_shape"] == [4, 4, 4, 3]
    assert layer["as_specified"]["macs"] == 10_368


def test_grouped_depthwise_and_pointwise_forms(tmp_path: Path) -> None:
    # 4×4×8 input, 3×3, same size (pads 1): 16 positions
    grouped = first(
        profile(conv_model(tmp_path / "g.onnx", [1, 8, 4, 4], [8, 2, 3, 3], group=4, pads=[1] * 4))
    )
    assert grouped["form"] == "grouped"
    assert grouped["as_specified"]["macs"] == 16 * 8 * 2 * 9  # 2,304: 2 input channels per group
    assert grouped["standard"]["macs"] == 16 * 8 * 8 * 9  # 9,216: dense
    assert grouped["separable"]["macs"] == 16 * 8 * 9 + 16 * 8 * 8  # 1,152 + 1,024
    dw = first(
        profile(conv_model(tmp_path / "d.onnx", [1, 8, 4, 4], [8, 1, 3, 3], group=8, pads=[1] * 4))
    )
    assert (dw["form"], dw["type"]) == ("depthwise", "depthwise")
    assert dw["as_specified"]["macs"] == dw["separable"]["macs"] == 16 * 8 * 9  # its own form
    assert dw["standard"]["macs"] == 9_216
    pw = first(profile(conv_model(tmp_path / "p.onnx", [1, 8, 4, 4], [16, 8, 1, 1])))
    assert (pw["form"], pw["type"]) == ("none", "pointwise")
    assert pw["as_specified"]["macs"] == pw["standard"]["macs"] == pw["separable"]["macs"] == 2048


def test_kernel_shape_disagreeing_with_the_weight_names_the_node(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "k.onnx", [1, 2, 8, 8], [4, 2, 3, 3], kernel_shape=[5, 5])
    done = run(str(path))
    assert done.exit_code == 2
    assert (
        "node conv (Conv): kernel_shape (5, 5) disagrees with the weight's kernel (3, 3)"
        in done.output
    )
    assert len(done.output.strip().splitlines()) == 1


def test_conv_bias_and_batch_norm(tmp_path: Path) -> None:
    nodes = [
        node("Conv", ["x", "w", "b"], ["c"], "/conv/Conv", pads=[1] * 4),
        node("BatchNormalization", ["c", "s", "t", "m", "v"], ["y"], "/bn/BatchNormalization"),
    ]
    inits = [weight("w", 4, 3, 3, 3), weight("b", 4), *(weight(n, 4) for n in "stmv")]
    data = profile(save(tmp_path / "bn.onnx", nodes, {"x": [1, 3, 4, 4]}, ["y"], inits))
    assert len(data["layers"]) == 1  # the BN joins the conv's row, as batch_norm in YAML
    spec = data["layers"][0]["as_specified"]
    assert spec["params"] == 4 * 27 + 4 + 2 * 4  # weights 108, bias 4, BN scale and shift 8
    assert spec["bn_params"] == 8
    assert "1 BatchNormalization node(s) in the graph" in data["graph_notes"][-1]
    folded = profile(conv_model(tmp_path / "f.onnx", [1, 3, 4, 4], [4, 3, 3, 3], pads=[1] * 4))
    assert "folded it into the convolutions" in folded["graph_notes"][-1]


# --------------------------------------------------------------------------- other counted ops


def test_gemm_and_matmul(tmp_path: Path) -> None:
    gemm = [node("Gemm", ["x", "w", "b"], ["y"], "/fc/Gemm", transB=1)]
    data = profile(
        save(
            tmp_path / "g.onnx", gemm, {"x": [1, 16]}, ["y"], [weight("w", 10, 16), weight("b", 10)]
        )
    )
    assert first(data)["as_specified"]["macs"] == 160  # 16 · 10
    assert first(data)["as_specified"]["params"] == 170  # + 10 bias
    linear = [
        node("MatMul", ["x", "w"], ["m"], "/fc/MatMul"),
        node("Add", ["m", "b"], ["y"], "/fc/Add"),
    ]
    data = profile(
        save(
            tmp_path / "l.onnx",
            linear,
            {"x": [1, 16]},
            ["y"],
            [weight("w", 16, 10), weight("b", 10)],
        )
    )
    assert len(data["layers"]) == 1  # the bias Add joins the MatMul: a Linear
    assert first(data)["as_specified"]["params"] == 170
    tokens = [node("MatMul", ["x", "w"], ["y"], "/proj/MatMul")]
    data = profile(
        save(tmp_path / "t.onnx", tokens, {"x": [1, 5, 16]}, ["y"], [weight("w", 16, 10)])
    )
    assert first(data)["as_specified"]["macs"] == 800  # 5 tokens · 16 · 10
    assert first(data)["as_specified"]["params"] == 160  # the weight once, not per token


def test_conv_transpose(tmp_path: Path) -> None:
    # 4×4×8 in, weight (Cin 8, Cout 4, 3, 3), stride 2, pads 1+1, output_padding 1:
    # out = 2·(4-1) + 1 + 3 - 2 = 8 → 8×8×4. Every input value meets 4·9 weights:
    # MACs = 16 positions · 8 · 4 · 9 = 4,608; params 8·4·9 + 4 bias = 292
    convt = [
        node(
            "ConvTranspose",
            ["x", "w", "b"],
            ["y"],
            "/up/ConvTranspose",
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            output_padding=[1, 1],
        )
    ]
    inits = [weight("w", 8, 4, 3, 3), weight("b", 4)]
    layer = first(profile(save(tmp_path / "t.onnx", convt, {"x": [1, 8, 4, 4]}, ["y"], inits)))
    assert (layer["type"], layer["output_shape"]) == ("conv_transpose", [8, 8, 4])
    assert layer["as_specified"]["macs"] == 4608
    assert layer["as_specified"]["params"] == 292


def test_pools(tmp_path: Path) -> None:
    nodes = [
        node("MaxPool", ["x"], ["a"], "max", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4),
        node(
            "AveragePool",
            ["a"],
            ["b"],
            "avg",
            kernel_shape=[3, 3],
            strides=[2, 2],
            ceil_mode=1,
            count_include_pad=1,
        ),
        node("GlobalMaxPool", ["b"], ["c"], "gmax"),
    ]
    data = profile(save(tmp_path / "p.onnx", nodes, {"x": [1, 4, 12, 12]}, ["c"]))
    shapes = [layer["output_shape"] for layer in data["layers"]]
    # 12 → (12+2-3)//2+1 = 6; ceil mode: ceil((6-3)/2)+1 = 3 (floor would give 2); global → 4
    assert shapes == [[6, 6, 4], [3, 3, 4], [4]]
    # max pool FLOPs: one per window element: 36 positions · 9 · 4 channels = 1,296
    assert data["layers"][0]["as_specified"]["flops"] == 1296


def test_ceil_mode_drops_a_last_window_that_starts_in_the_padding(tmp_path: Path) -> None:
    # 5 wide, pads 1+1, k 2, s 2: ceil((5+2-2)/2)+1 = 4 windows, but the 4th starts at 6,
    # in the right padding (5+1): dropped, 3 (PyTorch's and onnxruntime's rule; onnx's
    # shape inference says 4, so the report says whose shape it took)
    attrs = {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1] * 4, "ceil_mode": 1}
    pool = [node("MaxPool", ["x"], ["y"], "mp", **attrs)]
    data = profile(save(tmp_path / "c.onnx", pool, {"x": [1, 1, 5, 5]}, ["y"]))
    assert first(data)["output_shape"] == [3, 3, 1]
    assert any("onnx shape inference gives 1x1x4x4" in n for n in data["graph_notes"])


def test_elementwise_concat_reduce_mean(tmp_path: Path) -> None:
    nodes = [
        node("Conv", ["x", "w"], ["a"], "/a/Conv", pads=[1] * 4),
        node("Conv", ["x", "w"], ["b"], "/b/Conv", pads=[1] * 4),
        node("Add", ["a", "b"], ["s"], "/Add"),
        node("Concat", ["s", "a"], ["c"], "/Concat", axis=1),
        node("ReduceMean", ["c"], ["m"], "/ReduceMean", axes=[2, 3], keepdims=1),
        node("Mul", ["c", "m"], ["y"], "/Mul"),
    ]
    data = profile(
        save(tmp_path / "e.onnx", nodes, {"x": [1, 2, 4, 4]}, ["y"], [weight("w", 3, 2, 3, 3)])
    )
    types = [layer["type"] for layer in data["layers"]]
    assert types == ["conv", "conv", "add", "concat", "global_pool", "mul"]
    assert data["layers"][2]["as_specified"]["flops"] == 48  # one per value: 4·4·3
    assert data["layers"][3]["output_shape"] == [4, 4, 6]  # 3 + 3 channels
    assert data["layers"][5]["as_specified"]["flops"] == 96  # 4·4·6, a per-channel scale


@pytest.mark.parametrize(
    ("nodes", "function", "per_value"),
    [
        ([node("Relu", ["c"], ["y"])], "relu", 1),
        ([node("Clip", ["c", "lo", "hi"], ["y"])], "relu6", 2),
        ([node("HardSwish", ["c"], ["y"])], "hardswish", 5),
        ([node("HardSigmoid", ["c"], ["y"])], "hardsigmoid", 4),
        ([node("Sigmoid", ["c"], ["s"]), node("Mul", ["c", "s"], ["y"])], "silu", 5),
        ([node("Sigmoid", ["c"], ["y"])], "sigmoid", 4),
        ([node("Tanh", ["c"], ["y"])], "tanh", 1),
        ([node("LeakyRelu", ["c"], ["y"], alpha=0.2)], "leaky_relu", 2),  # any slope
        ([node("Softmax", ["c"], ["y"], axis=1)], "softmax", 5),
    ],
)
def test_activations_join_their_row(
    tmp_path: Path, nodes: list[Any], function: str, per_value: int
) -> None:
    graph = [node("Conv", ["x", "w"], ["c"], "/conv/Conv", pads=[1] * 4), *nodes]
    inits = [weight("w", 4, 2, 3, 3), weight("lo"), weight("hi")]
    inits[2] = __import__("onnx").numpy_helper.from_array(
        __import__("numpy").array(6, "float32"), "hi"
    )
    data = profile(save(tmp_path / "a.onnx", graph, {"x": [1, 2, 4, 4]}, ["y"], inits))
    assert len(data["layers"]) == 1
    assert first(data)["activation"] == function
    # 4·4·4 = 64 values through the function, FLOPs apart (no MACs)
    assert first(data)["activation_function_flops"] == 64 * per_value
    assert data["uncounted_nodes"] == []


def test_gelu_at_opset_20(tmp_path: Path) -> None:
    graph = [node("Conv", ["x", "w"], ["c"], "/conv/Conv"), node("Gelu", ["c"], ["y"])]
    data = profile(
        save(
            tmp_path / "g.onnx",
            graph,
            {"x": [1, 2, 3, 3]},
            ["y"],
            [weight("w", 4, 2, 3, 3)],
            opset=20,
        )
    )
    assert first(data)["activation"] == "gelu"
    assert first(data)["activation_function_flops"] == 4 * 5  # 1×1×4 values, 5 FLOPs each


def test_shape_nodes_are_free_and_hidden(tmp_path: Path) -> None:
    nodes = [
        node("Identity", ["x"], ["i"]),
        node("Pad", ["i", "pads"], ["p"], mode="constant"),  # 6×6 → 8×8
        node("Transpose", ["p"], ["t"], perm=[0, 1, 3, 2]),
        node("Split", ["t", "split"], ["s1", "s2"], axis=1),  # 4 channels → 2 + 2
        node("Slice", ["s1", "st", "en"], ["sl"]),  # rows 0..8 of 8: all
        node("Resize", ["sl", "", "scales"], ["r"], mode="nearest"),  # 8 → 16
        node("Conv", ["r", "w"], ["c"], "/conv/Conv"),  # 16-3+1 = 14
        node("Shape", ["c"], ["shape"]),
        node("Gather", ["shape", "zero"], ["n"], axis=0),
        node("Unsqueeze", ["n", "axes0"], ["n1"]),
        node("Concat", ["n1", "minus1"], ["target"], axis=0),
        node("Reshape", ["c", "target"], ["flat"]),
        node("Unsqueeze", ["flat", "axes2"], ["u"]),
        node("Squeeze", ["u", "axes2"], ["q"]),
        node("Flatten", ["q"], ["y"]),
    ]
    np = pytest.importorskip("numpy")
    onnx = pytest.importorskip("onnx")
    scales = onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    inits = [
        ints("pads", 0, 0, 1, 1, 0, 0, 1, 1),
        ints("split", 2, 2),
        ints("st", 0),
        ints("en", 8),
        scales,
        weight("w", 3, 2, 3, 3),
        onnx.numpy_helper.from_array(np.array(0, np.int64), "zero"),  # a scalar index
        ints("axes0", 0),
        ints("minus1", -1),
        ints("axes2", 2),
    ]
    data = profile(save(tmp_path / "s.onnx", nodes, {"x": [1, 4, 6, 6]}, ["y", "s2"], inits))
    assert [layer["type"] for layer in data["layers"]] == ["conv"]
    assert first(data)["output_shape"] == [14, 14, 3]
    assert first(data)["as_specified"]["macs"] == 14 * 14 * 3 * 2 * 9  # 10,584
    assert data["uncounted_nodes"] == []


def test_all_nodes_shows_the_free_nodes_without_changing_a_total(tmp_path: Path) -> None:
    nodes = [
        node("Conv", ["x", "w"], ["c"], "/conv/Conv"),
        node("Flatten", ["c"], ["f"], "/Flatten"),
        node("Identity", ["f"], ["y"], "/head/id/Identity"),
    ]
    path = save(tmp_path / "a.onnx", nodes, {"x": [1, 2, 3, 3]}, ["y"], [weight("w", 4, 2, 3, 3)])
    hidden, shown = profile(path), profile(path, "--all-nodes")
    assert [row["name"] for row in hidden["layers"]] == ["conv"]
    assert [(row["name"], row["type"]) for row in shown["layers"]] == [
        ("conv", "conv"),
        ("flatten", "flatten"),
        ("head.id", "identity"),
    ]
    assert shown["totals"] == hidden["totals"]
    spec = runner.invoke(app, ["profile", "mobilenet_v1", "--no-time", "--all-nodes"])
    assert spec.exit_code == 2 and "--all-nodes: only for ONNX models" in spec.output


def test_nhwc_model_wrapped_in_transposes_counts_its_convs(tmp_path: Path) -> None:
    nodes = [
        node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        node("Conv", ["t", "w"], ["c"], "conv"),
        node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1]),
    ]
    data = profile(
        save(tmp_path / "tf.onnx", nodes, {"x": [1, 8, 8, 3]}, ["y"], [weight("w", 4, 3, 3, 3)])
    )
    assert data["totals"]["as_specified"]["macs"] == 6 * 6 * 4 * 27  # 3,888, not 0


def test_repeated_blocks_fold_into_one_row(tmp_path: Path) -> None:
    nodes = [
        node("Conv", [f"x{i}", "w"], [f"x{i + 1}"], f"/blocks/blocks.{i}/conv/Conv", pads=[1] * 4)
        for i in range(3)
    ]
    data = profile(
        save(tmp_path / "r.onnx", nodes, {"x0": [1, 4, 8, 8]}, ["x3"], [weight("w", 4, 4, 3, 3)])
    )
    assert [(row["name"], row["repeat"]) for row in data["layers"]] == [("blocks.[0..2].conv", 3)]
    assert data["totals"]["as_specified"]["macs"] == 3 * 64 * 4 * 4 * 9  # 27,648


def test_external_data_loads(tmp_path: Path) -> None:
    path = tmp_path / "ext.onnx"
    conv = [node("Conv", ["x", "w"], ["y"], "conv")]
    save(path, conv, {"x": [1, 2, 5, 5]}, ["y"], [weight("w", 4, 2, 3, 3)], external=True)
    assert (tmp_path / "ext.onnx.data").is_file()
    assert first(profile(path))["as_specified"]["macs"] == 9 * 4 * 2 * 9  # 648


# --------------------------------------------------------------------------- inputs and shapes


def test_symbolic_batch_defaults_to_one_with_a_note(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "n.onnx", ["N", 2, 5, 5], [4, 2, 3, 3])
    done = run(str(path), "--format", "json")
    assert done.exit_code == 0
    assert "symbolic batch (N): taken as 1 (--input-shape or --batch to change)" in done.stderr
    assert json.loads(done.stdout)["batch"] == 1
    batched = run(str(path), "--format", "json", "--batch", "4")
    assert "symbolic batch" not in batched.stderr
    assert json.loads(batched.stdout)["batch"] == 4
    pinned = profile(path, "--input-shape", "x=2x2x5x5")
    assert pinned["batch"] == 2
    assert pinned["totals"]["as_specified"]["activation_bytes"] > 0


def test_symbolic_spatial_dims_need_input_shape(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "h.onnx", ["N", 2, "H", "W"], [4, 2, 3, 3])
    done = run(str(path))
    assert done.exit_code == 2
    assert "pin it: --input-shape x=1x2x?x?" in done.output
    assert first(profile(path, "--input-shape", "x=1x2x10x10"))["output_shape"] == [8, 8, 4]
    wrong = run(str(path), "--input-shape", "y=1x2x10x10")
    assert (
        wrong.exit_code == 2
        and "--input-shape: " in wrong.output
        and "no input 'y'" in wrong.output
    )
    bad = run(str(path), "--input-shape", "x=1xtwo")
    assert bad.exit_code == 2
    assert "--input-shape: expected DIMS or NAME=DIMS" in bad.output
    # a shape without a name is the model's only input
    unnamed = run(str(path), "--input-shape", "1x2x8x8", "--format", "json", "-q")
    assert unnamed.exit_code == 0, unnamed.output
    named = run(str(path), "--input-shape", "x=1x2x8x8", "--format", "json", "-q")
    assert json.loads(unnamed.stdout)["totals"] == json.loads(named.stdout)["totals"]


def test_a_shape_disagreement_with_onnx_names_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sepconv_cli.interchange import onnx_model

    monkeypatch.setattr(
        onnx_model, "onnx_inferred_shapes", lambda model, inputs: ({"y": (1, 4, 9, 9)}, "")
    )
    done = run(str(conv_model(tmp_path / "d.onnx", [1, 2, 5, 5], [4, 2, 3, 3])))
    assert done.exit_code == 2
    assert (
        "node conv (Conv): sepconv computes output 'y' as 1x4x3x3 but onnx shape inference "
        "gives 1x4x9x9" in done.output
    )


# --------------------------------------------------------------------------- not counted, errors


def test_unsupported_op_is_named_and_strict_exits_2(tmp_path: Path) -> None:
    nodes = [
        node("Conv", ["x", "w"], ["c"], "/conv/Conv"),
        node("Flatten", ["c"], ["f"]),
        node("Unsqueeze", ["f", "axes"], ["u"]),
        node("LRN", ["u"], ["s"], "/lrn/LRN", size=3),
        node("MeanVarianceNormalization", ["s"], ["y"], "/mvn/MeanVarianceNormalization"),
    ]
    inits = [weight("w", 4, 2, 3, 3), ints("axes", 2, 3)]
    path = save(tmp_path / "u.onnx", nodes, {"x": [1, 2, 3, 3]}, ["y"], inits)
    table = run(str(path), "-q")
    assert table.exit_code == 0
    kinds = "LRN, MeanVarianceNormalization"
    assert f"2 nodes of types {kinds} not counted: totals are a lower bound" in " ".join(
        table.stdout.split()
    )
    data = profile(path)
    assert [(u["name"], u["op_type"]) for u in data["uncounted_nodes"]] == [
        ("/lrn/LRN", "LRN"),
        ("/mvn/MeanVarianceNormalization", "MeanVarianceNormalization"),
    ]
    markdown = run(str(path), "--format", "markdown", "-q")
    assert f"2 nodes of types {kinds} not counted" in " ".join(markdown.stdout.split())
    strict = run(str(path), "--strict")
    assert strict.exit_code == 2
    assert "--strict" in strict.output and kinds in " ".join(strict.output.split())


def test_an_operator_of_another_domain_is_not_counted(tmp_path: Path) -> None:
    graph = [node("Conv", ["x", "w"], ["y"], "fused", domain="com.example")]
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "custom.onnx"
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            graph,
            "g",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 5, 5])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
            [weight("w", 4, 2, 3, 3)],
        ),
        opset_imports=[
            onnx.helper.make_opsetid("", 17),
            onnx.helper.make_opsetid("com.example", 1),
        ],
    )
    onnx.save(model, str(path))
    done = run(str(path), "-q")
    assert done.exit_code == 2  # nothing left to count
    assert "no node of this graph is one sepconv counts" in done.output


def test_bad_files_are_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xff not a protobuf \x12\x99")
    done = run(str(junk))
    assert done.exit_code == 2
    assert "junk.onnx: not a readable ONNX model" in done.output
    assert len(done.output.strip().splitlines()) == 1
    missing = run(str(tmp_path / "missing.onnx"))
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_flags_an_onnx_model_cannot_honour(tmp_path: Path) -> None:
    path = str(conv_model(tmp_path / "c.onnx", [1, 2, 5, 5], [4, 2, 3, 3]))
    for flags, named in (
        (["-a", "0.5"], "--width-multiplier:"),
        (["-r", "160"], "--resolution:"),
    ):
        done = run(path, *flags)
        assert done.exit_code == 2, flags
        assert named in done.output and len(done.output.strip().splitlines()) == 1
    yaml_input = runner.invoke(app, ["profile", "mobilenet_v1", "--input-shape", "x=1x3x8x8"])
    assert yaml_input.exit_code == 2 and "--input-shape: only for ONNX models" in yaml_input.output


def test_not_timed_by_default_with_a_note(tmp_path: Path) -> None:
    done = run(str(conv_model(tmp_path / "c.onnx", [1, 2, 5, 5], [4, 2, 3, 3])))
    assert done.exit_code == 0
    assert "a model file's layers are counted, not timed, unless --time" in done.stderr
    assert "Measured" not in done.stdout
    # asked for with --no-time, it is not news
    asked = run(str(tmp_path / "c.onnx"), "--no-time")
    assert asked.exit_code == 0 and "not timed" not in asked.stderr


def test_gates_formats_and_compare(tmp_path: Path) -> None:
    path = str(conv_model(tmp_path / "c.onnx", [1, 2, 5, 5], [4, 2, 3, 3]))  # 648 MACs
    assert run(path, "--max-macs", "600", "-q").exit_code == 1
    assert run(path, "--max-macs", "700", "-q").exit_code == 0
    out = tmp_path / "r.csv"
    assert run(path, "-o", str(out), "-q").exit_code == 0
    assert "648" in out.read_text()
    spec = tmp_path / "same.yaml"
    spec.write_text(
        "name: same\ninput: [5, 5, 2]\nlayers:\n"
        "  - {name: conv, type: conv, kernel: 3, filters: 4}\n"
    )
    done = runner.invoke(app, ["compare", path, str(spec), "--format", "json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["totals"]["macs"]["base"] == result["totals"]["macs"]["new"] == 648


def test_without_onnx_one_line_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(conv_model(tmp_path / "c.onnx", [1, 2, 5, 5], [4, 2, 3, 3]))
    monkeypatch.setitem(sys.modules, "onnx", None)
    done = run(path)
    assert done.exit_code == 2
    assert "pip install 'sepconv[onnx]'" in done.output
    assert len(done.output.strip().splitlines()) == 1


def test_other_commands_do_not_import_onnx() -> None:
    code = (
        "import sys\n"
        "from sepconv_cli.cli.app import main\n"
        "for argv in (['cost', '--format', 'json'],\n"
        "             ['profile', 'mobilenet_v1', '--no-time', '--format', 'json']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] == 'onnx']\n"
        "print('ONNX=' + ','.join(loaded), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ONNX=\n" in done.stderr, done.stderr


FAST = ["--time", "--time-budget", "0.05s"]


def _has_ort() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def test_time_times_an_onnx_models_rows(tmp_path: Path) -> None:
    """With --time an ONNX file's rows are timed like a spec's: the 3×3 conv 2 → 4 in both
    forms (its separable form has a depthwise and a pointwise part)."""
    data = profile(conv_model(tmp_path / "c.onnx", [1, 2, 5, 5], [4, 2, 3, 3]), *FAST)
    assert data["timing"]["layers_timed"] == 1 and data["timing"]["layers_not_timed"] == 0
    timing = first(data)["timing"]
    assert timing["standard"]["median_s"] > 0
    assert timing["separable"]["depthwise"]["runs"] >= 1
    assert timing["separable"]["pointwise"]["runs"] >= 1


def test_a_row_nothing_executes_is_not_timed_and_says_why(tmp_path: Path) -> None:
    nodes = [
        node("Conv", ["x", "w"], ["a"], "conv", pads=[1, 1, 1, 1]),
        node("ConvTranspose", ["a", "wt"], ["y"], "up", strides=[2, 2]),
    ]
    inits = [weight("w", 4, 2, 3, 3), weight("wt", 4, 3, 2, 2)]
    path = save(tmp_path / "t.onnx", nodes, {"x": [1, 2, 5, 5]}, ["y"], inits)
    done = run(str(path), *FAST, "--format", "json")
    assert done.exit_code == 0, done.output
    rows = {layer["name"]: layer for layer in json.loads(done.stdout)["layers"]}
    assert rows["conv"]["timing"]["standard"]["median_s"] > 0
    assert "timing" not in rows["up"]
    assert rows["up"]["note"] == (
        "not timed: a conv_transpose operation is counted, not executed (no kernel here runs it)"
    )
    assert "sepconv: up: not timed: a conv_transpose operation" in done.stderr


@pytest.mark.skipif(not _has_ort(), reason="onnxruntime not installed")
def test_an_onnx_model_on_onnxruntime_per_layer_and_in_bench(tmp_path: Path) -> None:
    path = str(conv_model(tmp_path / "c.onnx", [1, 2, 5, 5], [4, 2, 3, 3], pads=[1, 1, 1, 1]))
    data = profile(Path(path), *FAST, "--runtime", "onnxruntime")
    assert first(data)["timing"]["runtime"]["name"] == "onnxruntime"
    done = runner.invoke(app, ["bench", path, "--runtime", "numpy,onnxruntime",
                               "--time-budget", "0.05s", "--format", "json", "-q"])  # fmt: skip
    assert done.exit_code == 0, done.output
    bench = json.loads(done.stdout)
    (layer,) = bench["layers"]
    assert layer["macs"]["as_specified"] == 25 * 4 * 2 * 9  # 5×5 out, 4 filters, 2·3·3
    for name in ("numpy", "onnxruntime"):
        assert layer["runtimes"][name]["standard_s"] > 0, name
    as_specified = bench["whole_graph"]["forms"]["as_specified"]  # the file itself, whole
    assert as_specified["median_s"] > 0 and as_specified["sum_of_layers_s"] > 0


def test_compare_says_what_reading_the_file_said(tmp_path: Path) -> None:
    """compare prints the ONNX reader's notes and the nodes it did not count, as profile
    does (the totals it compares are then a lower bound)."""
    nodes = [
        node("Conv", ["x", "w"], ["a"], "conv"),
        node("LRN", ["a"], ["y"], "lrn", size=3),
    ]
    path = save(tmp_path / "l.onnx", nodes, {"x": ["N", 2, 5, 5]}, ["y"], [weight("w", 4, 2, 3, 3)])
    done = runner.invoke(app, ["compare", str(path), str(path)])
    assert done.exit_code == 0, done.output
    assert "input 'x' has a symbolic batch (N): taken as 1" in done.stderr
    assert (
        f"sepconv: note: {path}: 1 node of type LRN not counted: totals are a lower bound"
        in done.stderr
    )


def _scalar(name: str, value: float) -> Any:
    import numpy as np
    import onnx

    return onnx.numpy_helper.from_array(np.array(value, np.float32), name)


@pytest.mark.parametrize(
    ("axis", "inputs", "params", "flops"),
    [
        # by hand, 120 values: normalized over the last dim (6): 20 groups; 7 FLOPs a value
        # (mean add, subtract, square, variance add, ·1/sqrt, ·scale, +bias), 4 a group
        (-1, ["x", "s6", "b6"], 12, 7 * 120 + 4 * 20),
        # over dims 1.. (4·5·6 = 120): one group; a scale, no bias: 6 a value
        (1, ["x", "s120"], 120, 6 * 120 + 4 * 1),
    ],
)
def test_layer_norm_rows(
    tmp_path: Path, axis: int, inputs: list[str], params: int, flops: int
) -> None:
    nodes = [node("LayerNormalization", inputs, ["y"], "ln", axis=axis)]
    inits = [weight("s6", 6), weight("b6", 6), weight("s120", 4, 5, 6)]
    data = profile(save(tmp_path / "ln.onnx", nodes, {"x": [1, 4, 5, 6]}, ["y"], inits))
    (row,) = data["layers"]
    assert row["type"] == "layer_norm" and data["uncounted_nodes"] == []
    for form in ("as_specified", "standard", "separable"):
        assert row[form]["macs"] == 0
        assert row[form]["params"] == params
        assert row[form]["flops"] == flops


def test_an_initializer_shared_through_identity_is_still_a_weight(tmp_path: Path) -> None:
    """torch.onnx shares equal-valued initializers (zero biases) through Identity nodes:
    each Linear's bias Add still joins its MatMul, and counts once per Linear."""
    nodes = [
        node("Identity", ["b"], ["b1"]),
        node("Identity", ["b"], ["b2"]),
        node("MatMul", ["x", "w1"], ["m1"], "/fc1/MatMul"),
        node("Add", ["b1", "m1"], ["a1"], "/fc1/Add"),
        node("MatMul", ["a1", "w2"], ["m2"], "/fc2/MatMul"),
        node("Add", ["b2", "m2"], ["y"], "/fc2/Add"),
    ]
    inits = [weight("w1", 8, 4), weight("w2", 4, 4), weight("b", 4)]
    data = profile(save(tmp_path / "s.onnx", nodes, {"x": [1, 3, 8]}, ["y"], inits))
    assert [row["type"] for row in data["layers"]] == ["dense", "dense"]
    # 8·4 + 4 and 4·4 + 4: each Linear has its own bias, shared or not in the file
    assert [row["as_specified"]["params"] for row in data["layers"]] == [36, 20]


@pytest.mark.parametrize(
    ("op", "operand", "params"),
    [
        ("Mul", "gamma", 4),  # a layer scale (4, 1, 1): a learned per-channel tensor
        ("Add", "gamma", 4),  # a bias on its own
        ("Mul", "half", 0),  # a scalar: a constant
        ("Div", "gamma", 0),  # an input's std folded into the graph: a constant
    ],
)
def test_elementwise_initializers_as_parameters(
    tmp_path: Path, op: str, operand: str, params: int
) -> None:
    # after the conv's activation: right after the conv, an Add of a per-channel weight is
    # the conv's bias (paddle2onnx writes it so), tested in test_onnx_wild_patterns.py
    nodes = [
        node("Conv", ["x", "w"], ["c"], "conv"),
        node("Relu", ["c"], ["r"], "relu"),
        node(op, ["r", operand], ["y"], "op"),
    ]
    inits = [weight("w", 4, 2, 3, 3), weight("gamma", 4, 1, 1), _scalar("half", 0.5)]
    data = profile(save(tmp_path / "e.onnx", nodes, {"x": [1, 2, 5, 5]}, ["y"], inits))
    assert data["layers"][1]["as_specified"]["params"] == params
    assert data["layers"][1]["as_specified"]["flops"] == 3 * 3 * 4  # one per output value


def _gelu_nodes(divisor: str) -> list[Any]:
    """torch.onnx's GELU below opset 20: x/√2 → Erf → +1 → ·x → ·0.5."""
    return [
        node("MatMul", ["x", "w"], ["m"], "/fc/MatMul"),
        node("Div", ["m", divisor], ["d"], "/act/Div"),
        node("Erf", ["d"], ["e"], "/act/Erf"),
        node("Add", ["e", "one"], ["a"], "/act/Add"),
        node("Mul", ["m", "a"], ["p"], "/act/Mul"),
        node("Mul", ["p", "half"], ["y"], "/act/Mul_1"),
    ]


def test_a_decomposed_gelu_is_one_activation(tmp_path: Path) -> None:
    inits = [
        weight("w", 8, 16),
        _scalar("sqrt2", 2**0.5),
        _scalar("two", 2.0),
        _scalar("one", 1.0),
        _scalar("half", 0.5),
    ]
    path = save(tmp_path / "g.onnx", _gelu_nodes("sqrt2"), {"x": [1, 4, 8]}, ["y"], inits)
    data = profile(path)
    (row,) = data["layers"]
    assert (row["type"], row["activation"]) == ("dense", "gelu")
    assert row["activation_function_flops"] == 5 * 4 * 16  # gelu's 5 per value, 64 values
    assert data["uncounted_nodes"] == []
    # not GELU (x/2, not x/√2): elementwise rows, the Erf's one FLOP per value among them
    other = profile(save(tmp_path / "n.onnx", _gelu_nodes("two"), {"x": [1, 4, 8]}, ["y"], inits))
    assert other["uncounted_nodes"] == []
    assert other["layers"][0]["activation"] is None
    erf = next(row for row in other["layers"] if row["name"] == "act.erf")
    assert (erf["type"], erf["as_specified"]["flops"]) == ("elementwise", 4 * 16)
