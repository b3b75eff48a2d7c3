"""``sepconv export-spec``: ONNX graphs built here with ``onnx.helper`` are written out as
specs, and ``sepconv profile`` of each written spec gives the MACs and params counted by
hand in the comments (params include a batch-norm's 2 per channel, as torch counts them).

``test_torchvision_exports`` exports torchvision models with ``torch.onnx.export`` where
torch, torchvision and onnx are all importable (skips otherwise); its reference numbers are
torchvision's params (its docs' num_params) and conv + linear MACs counted by torch's
``FlopCounterMode`` (halved), e.g. MobileNetV2's 3,504,872 and 300,774,272.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

onnx = pytest.importorskip("onnx")
helper = onnx.helper
runner = CliRunner()
FLOAT = onnx.TensorProto.FLOAT


class Builder:
    """A graph built node by node, with seeded random weights."""

    def __init__(self, shape: list[int]) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.shape = shape
        self.count = 0
        self.rng = np.random.default_rng(0)

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        self.count += 1
        name = f"init{self.count}"
        self.inits.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(
        self,
        x: str,
        name: str,
        cin: int,
        cout: int,
        k: int,
        bias: bool = False,
        bn: bool = True,
        act: str | None = None,
        group: int = 1,
        **attrs: Any,
    ) -> str:
        w = self.const(self.rng.standard_normal((cout, cin // group, k, k)))
        inputs = [x, w] + ([self.const(np.zeros(cout))] if bias else [])
        y = self.node("Conv", inputs, name, group=group, **attrs)
        if bn:
            stats = [self.const(np.ones(cout)) for _ in range(4)]
            y = self.node("BatchNormalization", [y, *stats], name + "/bn")
        if act == "relu6":
            y = self.node("Clip", [y, self.const(0.0), self.const(6.0)], name + "/relu6")
        elif act is not None:
            y = self.node(act, [y], name + "/" + act)
        return y

    def save(self, path: Path, output: str, opset: int = 17) -> Path:
        graph = helper.make_graph(
            self.nodes,
            "g",
            [helper.make_tensor_value_info("x", FLOAT, self.shape)],
            [helper.make_tensor_value_info(output, FLOAT, ["n", "c", "h", "w"])],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        onnx.save(model, str(path))
        return path


def export(model: Path, *flags: str) -> tuple[str, str]:
    """The spec written, and stderr less the line every written file gets (``wrote``)."""
    out = model.with_suffix(".yaml")
    result = runner.invoke(app, ["export-spec", str(model), "-o", str(out), *flags])
    assert result.exit_code == 0, result.stderr
    wrote = f"sepconv: wrote {out}\n"
    assert result.stderr.endswith(wrote), result.stderr
    return out.read_text(), result.stderr.removesuffix(wrote)


def counts(spec: Path, *flags: str) -> tuple[int, int]:
    result = runner.invoke(app, ["profile", str(spec), "--no-time", "--format", "json", *flags])
    assert result.exit_code == 0, result.stderr
    totals = json.loads(result.stdout)["totals"]["as_specified"]
    return totals["macs"], totals["params"]


def test_mobilenet_stack(tmp_path: Path) -> None:
    b = Builder([1, 3, 32, 32])
    y = b.conv("x", "stem", 3, 8, 3, act="relu6", strides=[2, 2], pads=[1, 1, 1, 1])
    y = b.conv(y, "dw", 8, 8, 3, act="relu6", group=8, pads=[1, 1, 1, 1])
    y = b.conv(y, "pw", 8, 16, 1, act="relu6")
    text, stderr = export(b.save(tmp_path / "m.onnx", y))
    assert "{type: conv, name: stem, kernel: 3, filters: 8, stride: 2, padding: 1, " in text
    assert "{type: depthwise, name: dw, kernel: 3, padding: 1, batch_norm: true" in text
    assert "{type: pointwise, name: pw, filters: 16, batch_norm: true, activation: relu6}" in text
    assert "NOT EXPRESSED" not in text and stderr == ""
    # stem 16·16·8·27 = 55,296 MACs, 216 + 16 params; dw 16·16·8·9 = 18,432, 72 + 16;
    # pw 16·16·8·16 = 32,768, 128 + 32
    assert counts(tmp_path / "m.yaml") == (106_496, 480)


def test_resnet_basic_block_with_projection(tmp_path: Path) -> None:
    b = Builder([1, 8, 8, 8])
    y = b.conv("x", "conv1", 8, 16, 3, act="Relu", strides=[2, 2], pads=[1, 1, 1, 1])
    y = b.conv(y, "conv2", 16, 16, 3, pads=[1, 1, 1, 1])
    s = b.conv("x", "down", 8, 16, 1, strides=[2, 2])
    z = b.node("Relu", [b.node("Add", [y, s], "add")], "relu")
    text, _ = export(b.save(tmp_path / "r.onnx", z))
    assert "type: residual" in text and "shortcut:" in text and "activation: relu" in text
    # conv1 4·4·16·72 = 18,432 MACs, 1,152 + 32 params; conv2 4·4·16·144 = 36,864,
    # 2,304 + 32; shortcut 4·4·16·8 = 2,048, 128 + 32
    assert counts(tmp_path / "r.yaml") == (57_344, 3_680)


def test_tanh_and_leaky_relu_are_activations(tmp_path: Path) -> None:
    b = Builder([1, 3, 8, 8])
    y = b.conv("x", "c1", 3, 4, 3, act="Tanh", pads=[1, 1, 1, 1])
    y = b.conv(y, "c2", 4, 4, 1, act="LeakyRelu")  # ONNX's default slope 0.01
    text, stderr = export(b.save(tmp_path / "a.onnx", y))
    assert "activation: tanh" in text and "activation: leaky_relu" in text and stderr == ""


def test_inverted_residual_with_se_and_hardswish(tmp_path: Path) -> None:
    b = Builder([1, 16, 8, 8])
    y = b.conv("x", "expand", 16, 32, 1, act="HardSwish")
    y = b.conv(y, "dw", 32, 32, 3, act="HardSwish", group=32, pads=[1, 1, 1, 1])
    p = b.node("GlobalAveragePool", [y], "se/pool")
    s = b.conv(p, "se/fc1", 32, 8, 1, bias=True, bn=False, act="Relu")
    s = b.conv(s, "se/fc2", 8, 32, 1, bias=True, bn=False, act="HardSigmoid")
    y = b.node("Mul", [y, s], "se/mul")
    y = b.conv(y, "project", 32, 16, 1)
    z = b.node("Add", [y, "x"], "block")
    text, _ = export(b.save(tmp_path / "ir.onnx", z))
    assert "{type: squeeze_excite, name: se/mul, se_channels: 8}" in text
    assert text.count("activation: hardswish") == 2
    # expand 64·16·32 = 32,768 MACs, 512 + 64 params; dw 64·32·9 = 18,432, 288 + 64;
    # SE 32·8 + 8·32 = 512 MACs, 256 + 8 + 256 + 32 params; project 64·32·16 = 32,768, 512 + 32
    assert counts(tmp_path / "ir.yaml") == (84_480, 2_024)


def test_shufflenet_unit(tmp_path: Path) -> None:
    b = Builder([1, 16, 8, 8])
    b.nodes.append(
        helper.make_node(
            "Split", ["x", b.const([8, 8], np.int64)], ["x1", "x2"], name="split", axis=1
        )
    )
    y = b.conv("x2", "b2/pw1", 8, 8, 1, act="Relu")
    y = b.conv(y, "b2/dw", 8, 8, 3, group=8, pads=[1, 1, 1, 1])
    y = b.conv(y, "b2/pw2", 8, 8, 1, act="Relu")
    c = b.node("Concat", ["x1", y], "unit", axis=1)
    r = b.node("Reshape", [c, b.const([1, 2, 8, 8, 8], np.int64)], "shuffle/view")
    t = b.node("Transpose", [r], "shuffle/t", perm=[0, 2, 1, 3, 4])
    z = b.node("Reshape", [t, b.const([1, 16, 8, 8], np.int64)], "shuffle/back")
    text, _ = export(b.save(tmp_path / "s.onnx", z))
    assert "split: true" in text and "merge: concat" in text and "    - []" in text
    assert "{type: shuffle, name: shuffle/view, groups: 2}" in text
    # pw1 64·8·8 = 4,096 MACs, 64 + 16 params; dw 64·8·9 = 4,608, 72 + 16; pw2 as pw1
    assert counts(tmp_path / "s.yaml") == (12_800, 248)


def test_asymmetric_pads(tmp_path: Path) -> None:
    b = Builder([1, 3, 9, 9])
    # ONNX pads: top 0, left 1, bottom 1, right 2
    y = b.conv("x", "c", 3, 4, 3, bias=True, bn=False, strides=[2, 2], pads=[0, 1, 1, 2])
    text, _ = export(b.save(tmp_path / "p.onnx", y))
    assert "padding: [[0, 1], [1, 2]]" in text
    # out H (9 + 0 + 1 - 3) // 2 + 1 = 4, W (9 + 1 + 2 - 3) // 2 + 1 = 5: 20·4·27 = 2,160 MACs;
    # 108 weights + 4 biases
    assert counts(tmp_path / "p.yaml") == (2_160, 112)


def _unsupported(tmp_path: Path) -> Path:
    b = Builder([1, 3, 8, 8])
    y = b.conv("x", "c1", 3, 4, 1, bn=False)
    y = b.node("LogSoftmax", [y], "soft", axis=1)
    # a Tile (the spec has a resize since issue 21, item 5, no tile)
    y = b.node("Tile", [y, b.const([1, 1, 2, 2], np.int64)], "up")
    y = b.conv(y, "c2", 4, 4, 1, bn=False)
    return b.save(tmp_path / "u.onnx", y)


def test_a_partial_spec_is_an_error_naming_the_first_node(tmp_path: Path) -> None:
    model = _unsupported(tmp_path)
    out = tmp_path / "u.yaml"
    result = runner.invoke(app, ["export-spec", str(model), "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()
    (line,) = result.stderr.splitlines()
    assert "the spec cannot express 'soft' (LogSoftmax): the spec has no layer for a " in line
    assert "--partial" in line


def test_partial_writes_the_stop_at_the_top_and_profile_warns(tmp_path: Path) -> None:
    text, _ = export(_unsupported(tmp_path), "--partial")
    assert "# PARTIAL: the spec stops at 'soft' (LogSoftmax): the spec has no layer" in text
    assert "partial: \"'soft' (LogSoftmax): the spec has no layer for a LogSoftmax\"" in text
    spec = tmp_path / "u.yaml"
    result = runner.invoke(app, ["profile", str(spec), "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["partial"] == "'soft' (LogSoftmax): the spec has no " + (
        "layer for a LogSoftmax"
    )
    warning = "sepconv: warning: " + str(spec) + ": a partial spec (export-spec --partial): "
    assert warning in result.stderr and "totals are a lower bound" in result.stderr
    table = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert "Partial spec: it stops at 'soft' (LogSoftmax)" in " ".join(table.stdout.split())
    # compare prints the same warning (cost --spec reads layers, not a model spec)
    done = runner.invoke(app, ["compare", str(spec), str(spec)])
    assert done.exit_code == 0 and warning in done.stderr, done.stderr
    # a spec without the key has no warning and no JSON key
    spec.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("partial:")))
    result = runner.invoke(app, ["profile", str(spec), "--no-time", "--format", "json"])
    assert "partial" not in json.loads(result.stdout) and "warning" not in result.stderr


def test_unsupported_ops_are_named_in_the_file_and_on_stderr(tmp_path: Path) -> None:
    text, stderr = export(_unsupported(tmp_path), "--partial")
    assert "# NOT EXPRESSED: soft (LogSoftmax)" in text
    assert "# NOT EXPRESSED: up (Tile)" in text
    assert "c2 (Conv)" in text  # named as not written, after the stop
    lines = stderr.splitlines()
    assert any("LogSoftmax" in line for line in lines) and any("Tile" in line for line in lines)
    assert len(lines) == 3  # one per kind: LogSoftmax, Tile, the rest
    # only c1 is written: 64·3·4 = 768 MACs, 12 params
    assert counts(tmp_path / "u.yaml") == (768, 12)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a model")
    result = runner.invoke(app, ["export-spec", str(bad)])
    assert result.exit_code == 2
    # the same line as `sepconv profile bad.onnx` (one reader for both)
    assert len(result.stderr.splitlines()) == 1 and "bad.onnx: not a readable ONNX model (" in (
        result.stderr
    )


def test_symbolic_batch_is_one_with_a_note(tmp_path: Path) -> None:
    b = Builder(["N", 3, 8, 8])  # type: ignore[list-item]
    y = b.conv("x", "c", 3, 4, 1, bn=False)
    text, stderr = export(b.save(tmp_path / "n.onnx", y))
    assert "input: [8, 8, 3]" in text
    assert "input 'x' has a symbolic batch (N): taken as 1 (--input-shape to change)" in stderr


# torchvision builder -> (params, conv + linear MACs): MobileNetV2's are its docs' num_params
# and 0.30 GFLOPS measured exactly; the rest are tests/test_torchvision_presets.py's (params
# from torchvision's docs, MACs from torch's FlopCounterMode, halved)
TORCHVISION = {
    "mobilenet_v2": (3_504_872, 300_774_272),
    "resnet50": (25_557_032, 4_089_184_256),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992),
    "mobilenet_v3_large": (5_483_032, 216_589_760),
    "efficientnet_b0": (5_288_548, 385_814_752),
}


@pytest.mark.parametrize("builder", sorted(TORCHVISION))
def test_torchvision_exports(builder: str, tmp_path: Path) -> None:
    from torch_reference import import_torchvision  # tests/torch_reference.py

    torchvision = import_torchvision()
    import torch

    model = getattr(torchvision.models, builder)().eval()
    path = tmp_path / f"{builder}.onnx"
    # TRAINING keeps each BatchNormalization a node (eval mode would fold it into the conv's
    # bias, 1 param per channel instead of torch's 2)
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 224, 224),),
        str(path),
        dynamo=False,
        opset_version=17,
        training=torch.onnx.TrainingMode.TRAINING,
        do_constant_folding=False,
    )
    # EfficientNet's stochastic depth (a Mul by a random mask in training mode) is the only
    # part not expressed: no MACs, no params, so the partial spec still counts the file's
    partial = ["--partial"] if builder == "efficientnet_b0" else []
    _, stderr = export(path, *partial)
    assert all("stochastic_depth" in line for line in stderr.splitlines())
    assert counts(path.with_suffix(".yaml")) == TORCHVISION[builder][::-1]


def test_same_padding_and_input_shape(tmp_path: Path) -> None:
    b = Builder(["N", 3, "H", "W"])  # type: ignore[list-item]
    # SAME_UPPER is TensorFlow's "same"; SAME_LOWER on 8 → 4 with a 2×2 window pads 0 (even)
    # but a 3×3 stride-2 window on 8 pads 1 in total, the odd pixel before: [[1, 0], [1, 0]]
    y = b.conv("x", "up", 3, 4, 3, bn=False, strides=[2, 2], auto_pad="SAME_UPPER")
    y = b.conv(y, "low", 4, 4, 3, bn=False, strides=[2, 2], auto_pad="SAME_LOWER")
    model = b.save(tmp_path / "same.onnx", y)
    out = tmp_path / "same.yaml"
    args = ["export-spec", str(model), "-o", str(out), "--input-shape", "x=1x3x16x16"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert "input: [16, 16, 3]" in text
    assert "name: up, kernel: 3, filters: 4, stride: 2, padding: same}" in text
    assert "name: low, kernel: 3, filters: 4, stride: 2, padding: [[1, 0], [1, 0]]}" in text
    # up: 8·8·4·27 = 6,912 MACs, 108 params; low: 4·4·4·36 = 2,304 MACs, 144 params
    assert counts(out) == (9_216, 252)


def test_symbolic_dims_without_input_shape_are_refused(tmp_path: Path) -> None:
    b = Builder(["N", 3, "H", "W"])  # type: ignore[list-item]
    model = b.save(tmp_path / "sym.onnx", b.conv("x", "c", 3, 4, 1, bn=False))
    result = runner.invoke(app, ["export-spec", str(model)])
    assert result.exit_code == 2
    # the same line as profile's (one pinning rule for both)
    assert "input 'x' (float32, Nx3xHxW) has an unknown shape past the batch; pin it: " in (
        result.stderr
    )
    assert "--input-shape x=1x3x?x?" in result.stderr


def test_a_zero_pad_before_a_conv_is_its_padding(tmp_path: Path) -> None:
    b = Builder([1, 3, 8, 8])
    # TensorFlow's exports: Pad bottom and right by 1, then a valid 3×3 stride-2 conv
    y = b.node("Pad", ["x", b.const([0, 0, 0, 0, 0, 0, 1, 1], np.int64)], "pad")
    y = b.conv(y, "c", 3, 4, 3, bn=False, strides=[2, 2])
    text, stderr = export(b.save(tmp_path / "pad.onnx", y))
    assert "padding: [[0, 1], [0, 1]]" in text and stderr == ""
    # out (8 + 1 - 3) // 2 + 1 = 4: 4·4·4·27 = 1,728 MACs, 108 params
    assert counts(tmp_path / "pad.yaml") == (1_728, 108)


def test_a_graph_with_no_expressible_layer_is_refused(tmp_path: Path) -> None:
    b = Builder([1, 3, 8, 8])  # a Tile first: nothing to write, even with --partial
    y = b.node("Tile", ["x", b.const([1, 1, 2, 2], np.int64)], "up")
    y = b.conv(y, "c", 3, 4, 1, bn=False)
    model = b.save(tmp_path / "up.onnx", y)
    result = runner.invoke(app, ["export-spec", str(model), "--partial"])
    assert result.exit_code == 2
    assert "'up' (Tile)" in result.stderr and "no spec to write" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def _convnext_block(b: Builder, x: str, c: int, written_out_gelu: bool) -> str:
    """ConvNeXt's block as torch.onnx writes it: a depthwise 7×7, then on channels-last
    tokens a layer norm, a Linear to 4C, GELU, a Linear back; the layer scale and the
    residual add back in NCHW."""
    y = b.conv(x, "blk/dw", c, c, 7, bias=True, bn=False, group=c, pads=[3] * 4)
    y = b.node("Transpose", [y], "blk/to_last", perm=[0, 2, 3, 1])
    y = b.node("LayerNormalization", [y, b.const(np.ones(c)), b.const(np.zeros(c))], "blk/ln",
               axis=-1)  # fmt: skip
    y = b.node("MatMul", [y, b.const(b.rng.standard_normal((c, 4 * c)))], "blk/fc1")
    y = b.node("Add", [b.const(np.zeros(4 * c)), y], "blk/fc1_bias")
    if written_out_gelu:  # opset 17: x/√2 → Erf → +1 → ·x → ·0.5
        d = b.node("Div", [y, b.const(2**0.5)], "blk/gelu_div")
        e = b.node("Erf", [d], "blk/gelu_erf")
        a = b.node("Add", [e, b.const(1.0)], "blk/gelu_add")
        m = b.node("Mul", [y, a], "blk/gelu_mul")
        y = b.node("Mul", [m, b.const(0.5)], "blk/gelu")
    else:
        y = b.node("Gelu", [y], "blk/gelu")
    y = b.node("MatMul", [y, b.const(b.rng.standard_normal((4 * c, c)))], "blk/fc2")
    y = b.node("Add", [b.const(np.zeros(c)), y], "blk/fc2_bias")
    y = b.node("Transpose", [y], "blk/to_first", perm=[0, 3, 1, 2])
    y = b.node("Mul", [b.const(np.full((c, 1, 1), 1e-6)), y], "blk/Mul")
    return b.node("Add", [y, x], "blk/Add")


@pytest.mark.parametrize("written_out_gelu", [False, True])
def test_a_convnext_block_through_its_channels_last_region(
    tmp_path: Path, written_out_gelu: bool
) -> None:
    b = Builder([1, 8, 6, 6])
    y = _convnext_block(b, "x", 8, written_out_gelu)
    opset = 17 if written_out_gelu else 20  # opset 20 has Gelu; 17's exporters write it out
    text, stderr = export(b.save(tmp_path / "cnx.onnx", y, opset))
    assert stderr == "" and "NOT EXPRESSED" not in text
    for line in (
        "type: residual",
        "type: layer_norm",
        "type: layer_scale",
        "filters: 32, bias: true, activation: gelu",
        "filters: 8, bias: true",
    ):
        assert line in text, (line, text)  # fmt: skip
    # by hand, 6×6 positions, C = 8: depthwise 49·8 + two Linears 2·8·32 MACs per position;
    # params: depthwise 49·8 + 8, norm 16, Linears 8·32 + 32 + 32·8 + 8, layer scale 8
    assert counts(tmp_path / "cnx.yaml") == (36 * (49 * 8 + 2 * 8 * 32), 400 + 16 + 552 + 8)
