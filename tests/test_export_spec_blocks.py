"""``sepconv export-spec`` for the blocks real mobile networks are made of (issue 21, item 5):
each graph is built here with ``onnx.helper``, written out as a spec, and the spec must count
what the file counts: ``profile`` of the file (the ONNX reader) and of the written spec (the
spec reader) give the same MACs and params, two independent paths. The comments count them
by hand too (params include a batch-norm's 2 per channel, as torch counts them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_export_spec import Builder, counts, export  # tests/test_export_spec.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

onnx = pytest.importorskip("onnx")
helper = onnx.helper
runner = CliRunner()
FLOAT = onnx.TensorProto.FLOAT


def save(b: Builder, path: Path, outputs: list[str], opset: int = 17, rank: int = 4) -> Path:
    """The graph with these outputs of ``rank`` dims, their sizes left to inference."""
    graph = helper.make_graph(
        b.nodes,
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, b.shape)],
        [
            helper.make_tensor_value_info(t, FLOAT, [f"{t}_{i}" for i in range(rank)])
            for t in outputs
        ],
        b.inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def round_trip(
    b: Builder, tmp_path: Path, output: str, name: str, opset: int = 17, rank: int = 4
) -> str:
    """Export the graph (never partial), and check that its spec counts what it counts."""
    model = save(b, tmp_path / f"{name}.onnx", [output], opset, rank)
    text, _ = export(model)
    assert "NOT EXPRESSED" not in text and "partial" not in text, text
    assert counts(model) == counts(model.with_suffix(".yaml")), text
    return text


def se_block(b: Builder, x: str, c: int, squeeze: int, bias: bool) -> str:
    """paddle2onnx's squeeze-and-excite: pool, 1×1 convs whose bias is an Add of a constant,
    ReLU, hard-sigmoid (paddle's slope 0.2), multiply."""
    p = b.node("GlobalAveragePool", [x], "se/pool")
    s = b.conv(p, "se/fc1", c, squeeze, 1, bn=False)
    if bias:
        s = b.node("Add", [s, b.const(np.zeros((1, squeeze, 1, 1)))], "se/fc1_bias")
    s = b.node("Relu", [s], "se/relu")
    s = b.conv(s, "se/fc2", squeeze, c, 1, bn=False)
    if bias:
        s = b.node("Add", [s, b.const(np.zeros((1, c, 1, 1)))], "se/fc2_bias")
    s = b.node("HardSigmoid", [s], "se/gate", alpha=0.2, beta=0.5)
    return b.node("Mul", [x, s], "se/mul")


def paddle_hardswish(b: Builder, x: str, name: str) -> str:
    """``x · clip(x + 3, 0, 6) / 6``, as paddle2onnx writes a hard-swish."""
    a = b.node("Add", [x, b.const(3.0)], f"{name}/add")
    c = b.node("Clip", [a, b.const(0.0), b.const(6.0)], f"{name}/clip")
    m = b.node("Mul", [x, c], f"{name}/mul")
    return b.node("Div", [m, b.const(6.0)], f"{name}/div")


def test_global_pool_then_a_conv_head(tmp_path: Path) -> None:
    b = Builder([1, 16, 7, 7])
    y = b.node("GlobalAveragePool", ["x"], "pool")
    y = b.conv(y, "conv_head", 16, 32, 1, bias=True, bn=False, act="HardSwish")
    y = b.node("Flatten", [y], "flatten", axis=1)
    y = b.node("Gemm", [y, b.const(b.rng.standard_normal((10, 32))), b.const(np.zeros(10))],
               "classifier", transB=1)  # fmt: skip
    text = round_trip(b, tmp_path, y, "head", rank=2)
    assert "{type: pointwise, name: conv_head, filters: 32, bias: true, activation: hardswish}" in (
        text
    )
    # conv head 16·32 = 512 MACs, 512 + 32 params; classifier 32·10 = 320, 320 + 10
    assert counts(tmp_path / "head.yaml") == (832, 874)


def test_a_hand_written_conv_head_after_the_pool(tmp_path: Path) -> None:
    spec = tmp_path / "head.yaml"
    spec.write_text(
        "input: [7, 7, 16]\nlayers:\n  - {type: global_pool}\n"
        "  - {type: pointwise, filters: 32, bias: true}\n  - {type: conv, kernel: 1, filters: 8}\n"
        "  - {type: dense, units: 10}\n"
    )
    result = runner.invoke(app, ["profile", str(spec), "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    layers = json.loads(result.stdout)["layers"]
    assert [layer["input_shape"] for layer in layers[1:3]] == [[1, 1, 16], [1, 1, 32]]
    # 16·32 + 32·8 + 8·10 MACs; 512 + 32 + 256 + 80 + 10 params
    assert counts(spec) == (848, 890)
    spec.write_text("input: [7, 7, 16]\nlayers:\n  - {type: global_pool}\n"
                    "  - {type: conv, kernel: 3, filters: 8}\n")  # fmt: skip
    result = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert result.exit_code == 2 and "needs a spatial input" in result.stderr


def test_paddle_squeeze_excite_and_written_out_hardswish(tmp_path: Path) -> None:
    b = Builder([1, 8, 8, 8])
    y = b.conv("x", "conv", 8, 8, 3, pads=[1, 1, 1, 1])
    y = paddle_hardswish(b, y, "hswish")
    y = se_block(b, y, 8, 2, bias=True)
    y = b.conv(y, "project", 8, 4, 1, bn=False)
    text = round_trip(b, tmp_path, y, "se")
    assert "padding: 1, batch_norm: true, activation: hardswish}" in text
    assert "{type: squeeze_excite, name: se/mul, se_channels: 2}" in text
    # conv 64·8·72 = 36,864 MACs, 576 + 16 params; SE 8·2 + 2·8 = 32, 16 + 2 + 16 + 8;
    # project 64·8·4 = 2,048, 32
    assert counts(tmp_path / "se.yaml") == (38_944, 666)


def test_squeeze_excite_without_biases_is_a_multiply_of_branches(tmp_path: Path) -> None:
    b = Builder([1, 8, 8, 8])
    y = b.conv("x", "conv", 8, 8, 3, pads=[1, 1, 1, 1], act="Relu")
    y = se_block(b, y, 8, 2, bias=False)
    text = round_trip(b, tmp_path, y, "se_mul")
    assert "merge: mul" in text and "squeeze_excite" not in text
    assert "{type: pointwise, name: se/fc2, filters: 8, activation: hardsigmoid}" in text
    # conv 36,864 MACs, 592 params; the gate's convs 8·2 + 2·8 = 32 MACs, 32 params
    assert counts(tmp_path / "se_mul.yaml") == (36_896, 624)


def test_an_explicit_pad_that_is_not_a_convs_padding(tmp_path: Path) -> None:
    b = Builder([1, 4, 8, 8])
    pads = b.const([0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    y = b.node("Pad", ["x", pads], "reflect", mode="reflect")
    y = b.node("MaxPool", [y], "pool", kernel_shape=[3, 3], strides=[2, 2])
    y = b.conv(y, "pw", 4, 8, 1, bn=False)
    text = round_trip(b, tmp_path, y, "pad")
    assert "{type: pad, name: reflect, padding: 1}" in text
    # padded to 10×10, pooled to 4×4: 16·4·8 = 512 MACs, 32 params
    assert counts(tmp_path / "pad.yaml") == (512, 32)


def test_re_parameterizable_branches_summed(tmp_path: Path) -> None:
    """MobileOne's and RepViT's train-time block: a 3×3 conv + BN, a 1×1 conv + BN and an
    identity batch-norm, added one after the other, then a ReLU."""
    b = Builder([1, 8, 8, 8])
    k = b.conv("x", "kxk", 8, 8, 3, pads=[1, 1, 1, 1])
    s = b.conv("x", "scale", 8, 8, 1)
    stats = [b.const(np.ones(8)) for _ in range(4)]
    i = b.node("BatchNormalization", ["x", *stats], "identity")
    y = b.node("Add", [s, i], "add0")
    y = b.node("Add", [y, k], "add1")
    y = b.node("Relu", [y], "act")
    text = round_trip(b, tmp_path, y, "rep")
    assert "merge: add" in text and "activation: relu" in text
    assert "{type: batch_norm, name: identity}" in text
    # 3×3: 64·8·72 = 36,864 MACs, 576 + 16 params; 1×1: 64·64 = 4,096, 64 + 16; BN 16
    assert counts(tmp_path / "rep.yaml") == (40_960, 688)


def test_branches_that_meet_a_few_at_a_time(tmp_path: Path) -> None:
    """FastViT's RepMixer, ``x + s·((bn(x) + dw(x)) − bn2(x))``: joins nested in a fork."""
    b = Builder([1, 8, 6, 6])
    stats = [b.const(np.ones(8)) for _ in range(4)]
    i = b.node("BatchNormalization", ["x", *stats], "identity")
    d = b.conv("x", "dw", 8, 8, 3, bn=False, group=8, pads=[1, 1, 1, 1])
    m = b.node("Add", [i, d], "mixer")
    n = b.node("BatchNormalization", ["x", *stats], "norm")
    y = b.node("Sub", [m, n], "sub")
    y = b.node("Mul", [y, b.const(np.ones((8, 1, 1)))], "layer_scale")
    y = b.node("Add", ["x", y], "residual")
    text = round_trip(b, tmp_path, y, "mixer")
    assert "merge: sub" in text and "type: residual" in text
    # dw 36·8·9 = 2,592 MACs, 72 params; two norms 16 each; layer scale 8
    assert counts(tmp_path / "mixer.yaml") == (2_592, 112)


def test_tf2onnx_nhwc_and_unfused_batch_norms(tmp_path: Path) -> None:
    b = Builder([1, 8, 8, 3])  # NHWC: each conv between Transposes
    y = b.node("Transpose", ["x"], "to_nchw", perm=[0, 3, 1, 2])
    y = b.conv(y, "conv", 3, 4, 3, bn=False, pads=[1, 1, 1, 1])
    y = b.node("Mul", [y, b.const(np.ones((4, 1, 1)))], "bn/mul")  # a batch-norm, unfused
    y = b.node("Add", [y, b.const(np.zeros((4, 1, 1)))], "bn/add")
    y = b.node("Relu", [y], "relu")
    y = b.node("Transpose", [y], "to_nhwc", perm=[0, 2, 3, 1])
    text = round_trip(b, tmp_path, y, "nhwc")
    assert "(NHWC, read through its Transposes)" in text and "input: [8, 8, 3]" in text
    assert "padding: 1, batch_norm: true, activation: relu}" in text
    # 64·4·27 = 6,912 MACs; 108 weights + 8 for the norm
    assert counts(tmp_path / "nhwc.yaml") == (6_912, 116)


def test_prelu_and_a_model_with_two_heads(tmp_path: Path) -> None:
    """MTCNN's: PReLU after each conv, and two outputs (box and score heads)."""
    b = Builder([1, 3, 8, 8])
    y = b.conv("x", "conv", 3, 8, 3, bn=False, bias=True)
    y = b.node("PRelu", [y, b.const(np.full((8, 1, 1), 0.25))], "prelu")
    box = b.conv(y, "box", 8, 4, 1, bn=False, bias=True)
    score = b.conv(y, "score", 8, 2, 1, bn=False, bias=True)
    score = b.node("Softmax", [score], "softmax", axis=1)
    model = save(b, tmp_path / "heads.onnx", [box, score])
    text, _ = export(model)
    assert "{type: prelu, name: prelu}" in text and "merge: outputs" in text
    # conv 36·8·27 = 7,776 MACs, 224 params; PReLU 8; heads 36·8·6 = 1,728 MACs, 36 + 18
    assert counts(model) == counts(tmp_path / "heads.yaml") == (9_504, 286)


def test_dynamo_gelu_and_arithmetic_with_constants(tmp_path: Path) -> None:
    """torch.onnx dynamo's GELU, ``x · (0.5 · (erf(x/√2) + 1))``; a ``/ 2`` (RepViT's two
    heads averaged) and an ``x + 0`` (MobileOne's sum starts at 0)."""
    b = Builder([1, 4, 6, 6])
    y = b.conv("x", "conv", 4, 8, 1, bn=False, bias=True)
    d = b.node("Div", [y, b.const(2**0.5)], "gelu/div")
    e = b.node("Erf", [d], "gelu/erf")
    a = b.node("Add", [e, b.const(1.0)], "gelu/add")
    h = b.node("Mul", [b.const(0.5), a], "gelu/half")
    y = b.node("Mul", [y, h], "gelu")
    y = b.node("Add", [y, b.const(0.0)], "plus_zero")
    y = b.node("Div", [y, b.const(2.0)], "average")
    text = round_trip(b, tmp_path, y, "gelu", opset=18)
    assert "activation: gelu}" in text and "plus_zero" not in text
    assert "{type: elementwise, name: average, operation: div}" in text
    assert counts(tmp_path / "gelu.yaml") == (36 * 4 * 8, 40)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("  - {type: pad, padding: same}\n", "a pad layer pads by explicit amounts"),
        (
            "  - {type: branches, merge: outputs, branches: [[], []]}\n  - {type: global_pool}\n",
            "the block must be the model's last layer",
        ),
        (
            "  - {type: branches, merge: mul, branches: [[], [{type: pool, kernel: 2}]]}\n",
            "mul needs shapes that broadcast",
        ),
    ],
)
def test_new_layers_refuse_what_they_cannot_mean(tmp_path: Path, layers: str, message: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: [8, 8, 4]\nlayers:\n" + layers)
    result = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_new_layers_count_by_hand(tmp_path: Path) -> None:
    spec = tmp_path / "layers.yaml"
    spec.write_text(
        "input: [8, 8, 4]\nlayers:\n"
        "  - {type: batch_norm}\n"  # 8 params
        "  - {type: pad, padding: [[0, 1], [2, 0]]}\n"  # 9×10, no cost
        "  - {type: prelu}\n"  # 4 params
        "  - {type: elementwise, operation: mul}\n"
        "  - {type: elementwise, activation: relu}\n"
        "  - {type: conv, kernel: 3, filters: 2}\n"  # 7·8·2·36 = 4,032 MACs, 72 params
    )
    result = runner.invoke(app, ["profile", str(spec), "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert doc["layers"][1]["output_shape"] == [9, 10, 4]
    totals = doc["totals"]["as_specified"]
    assert (totals["macs"], totals["params"]) == (4_032, 84)
    # FLOPs: the norm 2 per value, the PReLU 2, the multiply 1; the conv 2 per MAC
    assert totals["flops"] == 2 * 256 + 2 * 360 + 360 + 2 * 4_032
