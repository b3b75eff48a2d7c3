"""A depthwise k×k and the 1×1 convolution it alone feeds are one depthwise-separable
convolution (docs/conventions.md, "A depthwise and the 1×1 convolution it feeds"; issue 21,
item 4): one row whose standard form is one dense k×k conv from the depthwise's input to the
1×1's output channels, in a spec (``depthwise`` then ``pointwise``; an inverted residual's
depthwise and projection) as in the function the ONNX reader calls (``lower_pair``).

Every expected count is hand arithmetic written next to the assert (positions × output
channels × input channels per group × kernel taps) or a published figure; none comes from
sepconv itself.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.lowering import lower
from sepconv_cli.counting.network import build
from sepconv_cli.counting.ops import BatchNorm, Conv, LayerNorm
from sepconv_cli.counting.pairing import lower_pair
from sepconv_cli.counting.report import profile_report
from sepconv_cli.counting.widths import Width
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.spec.presets import load_model, resolve_model

runner = CliRunner()
FORMS = ("as_specified", "standard", "separable")


def profile_doc(tmp_path: Path, layers: list[str], input_shape: str) -> dict[str, Any]:
    body = "".join(f"  - {layer}\n" for layer in layers)
    path = tmp_path / "model.yaml"
    path.write_text(f"name: t\ninput: {input_shape}\nlayers:\n{body}", encoding="utf-8")
    result = runner.invoke(app, ["profile", str(path), "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def counts(part: dict[str, Any]) -> tuple[int, int]:
    return part["macs"], part["params"]


# --------------------------------------------------------------------------- one pair

# 112x112x32, 3x3, padding 1: 12,544 positions (MobileNet's first depthwise-separable layer)
P112 = 112 * 112
DW_MACS, PW_MACS = P112 * 32 * 9, P112 * 64 * 32  # 3,612,672 and 25,690,112
DENSE_MACS = P112 * 64 * 32 * 9  # 231,211,008: the dense 3x3 conv 32 → 64


@pytest.mark.parametrize(
    ("depthwise", "pointwise"),
    [
        pytest.param(
            "{name: dw, type: depthwise, kernel: 3, padding: 1}",
            "{name: pw, type: pointwise, filters: 64}",
            id="depthwise+pointwise",
        ),
        pytest.param(
            "{name: dw, type: conv, kernel: 3, filters: 32, groups: 32, padding: 1}",
            "{name: pw, type: conv, kernel: 1, filters: 64}",
            id="conv+conv",
        ),
    ],
)
def test_a_depthwise_and_the_pointwise_it_feeds_are_one_row(
    tmp_path: Path, depthwise: str, pointwise: str
) -> None:
    doc = profile_doc(tmp_path, [depthwise, pointwise], "[112, 112, 32]")
    (row,) = doc["layers"]
    assert (row["name"], row["type"], row["form"]) == ("dw+pw", "separable", "separable")
    assert row["output_shape"] == [112, 112, 64]
    written = (DW_MACS + PW_MACS, 32 * 9 + 64 * 32)
    assert counts(row["as_specified"]) == counts(row["separable"]) == written
    # standard: the one dense 3x3 conv from 32 to 64 channels, 64·32·9 = 18,432 weights
    assert counts(row["standard"]) == (DENSE_MACS, 64 * 32 * 9)
    assert row["separable"]["depthwise"]["macs"] == DW_MACS
    assert row["separable"]["pointwise"]["macs"] == PW_MACS
    # MobileNet's law holds exactly: 1/Cout + 1/k² = 1/64 + 1/9
    assert row["ratio"]["theory_exact"] == str(Fraction(1, 64) + Fraction(1, 9))
    assert Fraction(written[0], DENSE_MACS) == Fraction(1, 64) + Fraction(1, 9)


def test_mobilenet_v1_written_as_depthwise_and_pointwise_layers_is_conv_mobilenet(
    tmp_path: Path,
) -> None:
    """Table 1 written with ``depthwise`` and ``pointwise`` layers (BN and ReLU after every
    conv): its standard form is Table 4's Conv MobileNet, 4,866 M mult-adds and 29.3 M
    params, and all three totals equal the ``mobilenet_v1`` preset's (``separable``
    layers)."""
    pairs = [(112, 32, 64), (56, 64, 128), (56, 128, 128), (28, 128, 256), (28, 256, 256)]
    pairs += [(14, 256, 512)] + [(14, 512, 512)] * 5 + [(7, 512, 1024), (7, 1024, 1024)]
    strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    layers = ["{type: conv, name: conv1, kernel: 3, filters: 32, stride: 2}"]
    for i, ((_, _, cout), stride) in enumerate(zip(pairs, strides, strict=True)):
        layers.append(f"{{type: depthwise, name: dw{i}, kernel: 3, stride: {stride}}}")
        layers.append(f"{{type: pointwise, name: pw{i}, filters: {cout}}}")
    layers += ["{type: global_pool, name: pool}", "{type: dense, name: fc, units: 1000}"]
    path = tmp_path / "mobilenet.yaml"
    path.write_text(
        "name: MobileNetV1\ninput: [224, 224, 3]\n"
        "defaults: {padding: same, batch_norm: true, conv: {activation: relu}, "
        "depthwise: {activation: relu}, pointwise: {activation: relu}}\nlayers:\n"
        + "".join(f"  - {layer}\n" for layer in layers),
        encoding="utf-8",
    )
    report = profile_report(build(load_model(path)))
    assert len(report.layers) == 1 + 13 + 2

    # by hand: every layer as one dense 3x3 conv (the classifier as it is), batch-norm after
    # every conv (2 per output channel; the depthwise's has no place in the dense conv)
    macs = 112 * 112 * 32 * 3 * 9 + 1024 * 1000
    params = 32 * 3 * 9 + 2 * 32 + 1024 * 1000 + 1000
    for size, cin, cout in pairs:
        macs += size * size * cout * cin * 9
        params += cout * cin * 9 + 2 * cout
    standard = report.totals.standard
    assert (standard.macs, standard.params) == (macs, params) == (4_867_293_184, 29_294_088)
    assert round(macs / 1e6) == 4867  # Table 4 prints 4866 for the convolutions alone:
    assert round((macs - 1024 * 1000) / 1e6) == 4866

    preset = profile_report(build(resolve_model("mobilenet_v1"))).totals
    for form in FORMS:
        mine, theirs = getattr(report.totals, form), getattr(preset, form)
        assert mine == theirs, form  # every count of the form, bytes included


# --------------------------------------------------------------------------- inverted residuals

# MobileNetV2's third block: 56x56x24, t = 6 → 144, 3x3, back to 24, batch-norm after each
P56 = 56 * 56
EXPAND, DEPTHWISE, PROJECT = P56 * 24 * 144, P56 * 144 * 9, P56 * 144 * 24


def test_an_inverted_residual_t6_by_hand(tmp_path: Path) -> None:
    ir = "{type: inverted_residual, expansion: 6, filters: 24, batch_norm: true}"
    (row,) = profile_doc(tmp_path, [ir], "[56, 56, 24]")["layers"]
    bn = 2 * 144 + 2 * 144 + 2 * 24
    written = (EXPAND + DEPTHWISE + PROJECT, 24 * 144 + 144 * 9 + 144 * 24 + bn)
    assert counts(row["as_specified"]) == counts(row["separable"]) == written
    # standard: the expansion, then the depthwise and the projection as one dense 3x3 conv
    # 144 → 24 (3136·24·144·9 = 97,542,144 MACs), the expansion's and the projection's BN
    dense = P56 * 24 * 144 * 9
    assert (
        counts(row["standard"])
        == (
            EXPAND + dense,
            24 * 144 + 2 * 144 + 144 * 24 * 9 + 2 * 24,
        )
        == (108_380_160, 34_896)
    )
    # the residual add (1 per output value) and the batch-norms (2 per value) in every form
    flops = 2 * (EXPAND + dense) + 2 * P56 * 144 + 2 * P56 * 24 + P56 * 24
    assert row["standard"]["flops"] == flops


def test_an_inverted_residual_written_out_as_layers_counts_the_same(tmp_path: Path) -> None:
    """The block as a residual of pointwise, depthwise, pointwise layers (what export-spec
    writes): the depthwise and the projection pair, so every form's totals agree."""
    block = (
        "{type: residual, name: b, layers: ["
        "{type: pointwise, name: expand, filters: 144, batch_norm: true, activation: relu6}, "
        "{type: depthwise, name: dw, kernel: 3, padding: same, batch_norm: true, "
        "activation: relu6}, "
        "{type: pointwise, name: project, filters: 24, batch_norm: true}]}"
    )
    ir = (
        "{type: inverted_residual, name: b, expansion: 6, filters: 24, batch_norm: true, "
        "activation: relu6}"
    )
    layers_doc = profile_doc(tmp_path, [block], "[56, 56, 24]")
    block_doc = profile_doc(tmp_path, [ir], "[56, 56, 24]")
    assert [r["name"] for r in layers_doc["layers"]] == ["b.expand", "b.dw+project", "b.add"]
    for form in FORMS:
        for key in ("macs", "flops", "params", "bn_params"):
            assert layers_doc["totals"][form][key] == block_doc["totals"][form][key], (form, key)
    # relu6 (2 FLOPs) on the expansion's and the depthwise's outputs, 3136·144 each
    assert layers_doc["totals"]["activation_function_flops"] == 2 * 2 * P56 * 144
    assert block_doc["totals"]["activation_function_flops"] == 2 * 2 * P56 * 144


def test_an_inverted_residual_with_squeeze_and_excite_keeps_the_old_rule(tmp_path: Path) -> None:
    ir = "{type: inverted_residual, expansion: 6, filters: 24, se_channels: 8}"
    (row,) = profile_doc(tmp_path, [ir], "[56, 56, 24]")["layers"]
    se = 2 * 144 * 8  # the squeeze-and-excite's two 1x1 convs on the pooled vector
    # the depthwise alone dense on the expanded width, 144 → 144, then the SE, the projection
    assert row["standard"]["macs"] == EXPAND + P56 * 144 * 144 * 9 + se + PROJECT


# --------------------------------------------------------------------------- not a pair


def standard_of_dw(doc: dict[str, Any]) -> int:
    (row,) = [r for r in doc["layers"] if r["name"] == "dw"]
    assert row["type"] == "depthwise"
    macs: int = row["standard"]["macs"]
    return macs


DW = "{name: dw, type: depthwise, kernel: 3, padding: 1}"
PW = "{name: pw, type: pointwise, filters: 16}"
DW_ALONE = 8 * 8 * 8 * 8 * 9  # 8x8x8: the depthwise alone as the dense 3x3 conv 8 → 8


@pytest.mark.parametrize(
    "layers",
    [
        pytest.param([DW, "{type: squeeze_excite, se_channels: 2}", PW], id="an SE between"),
        pytest.param(
            [DW, "{type: residual, name: res, layers: [{type: pointwise, filters: 8}]}"],
            id="feeds a shortcut too",
        ),
        pytest.param(
            [
                DW,
                "{type: branches, name: br, merge: concat, branches: "
                "[[{type: pointwise, filters: 8}], []]}",
            ],
            id="feeds two branches",
        ),
        pytest.param([DW, "{type: pool, kernel: 1}", PW], id="a pool between"),
        pytest.param([DW[:-1] + ", repeat: 2}", PW], id="repeated"),
        pytest.param([DW, "{type: layer_norm, activation: relu}", PW], id="an activated norm"),
        pytest.param([DW, "{type: pointwise, filters: 16, stride: 2}"], id="a strided 1x1"),
        pytest.param([DW, "{type: conv, kernel: 1, filters: 16, groups: 2}"], id="a grouped 1x1"),
        pytest.param([DW], id="last"),
    ],
)
def test_a_depthwise_not_feeding_one_1x1_alone_keeps_the_old_rule(
    tmp_path: Path, layers: list[str]
) -> None:
    doc = profile_doc(tmp_path, layers, "[8, 8, 8]")
    assert not [r for r in doc["layers"] if r["type"] == "separable"]
    standard = standard_of_dw(doc) if "repeat" not in layers[0] else None
    if standard is not None:
        assert standard == DW_ALONE


def test_a_depthwise_last_in_a_block_does_not_pair_with_the_layer_after_it(
    tmp_path: Path,
) -> None:
    block = f"{{type: residual, name: res, layers: [{DW}]}}"
    doc = profile_doc(tmp_path, [block, PW], "[8, 8, 8]")
    assert [r["type"] for r in doc["layers"]] == ["depthwise", "add", "pointwise"]


# ------------------------------------------------------------------- layer norm, activations


def test_convnext_block_pairs_through_its_layer_norm(tmp_path: Path) -> None:
    # ConvNeXt-T's stage-1 block at 56x56x96: depthwise 7x7 with bias, layer norm, 1x1 to
    # 384 with bias and GELU
    layers = [
        "{type: depthwise, name: dwconv, kernel: 7, padding: 3, bias: true}",
        "{type: layer_norm, name: norm}",
        "{type: pointwise, name: pwconv1, filters: 384, bias: true, activation: gelu}",
    ]
    (row,) = profile_doc(tmp_path, layers, "[56, 56, 96]")["layers"]
    assert (row["name"], row["type"]) == ("dwconv+norm+pwconv1", "separable")
    positions = 56 * 56
    written = (
        positions * 96 * 49 + positions * 384 * 96,
        96 * 49 + 96 + 2 * 96 + 384 * 96 + 384,  # dw and bias, the norm's scale and bias, pw
    )
    assert counts(row["as_specified"]) == counts(row["separable"]) == written
    # standard: one dense 7x7 conv 96 → 384 with the 1x1's bias; no layer norm
    assert counts(row["standard"]) == (positions * 384 * 96 * 49, 384 * 96 * 49 + 384)
    # GELU (5 FLOPs) on the 1x1's output, in every form
    assert row["activation_function_flops"] == 5 * positions * 384
    assert row["activation"] == "gelu" and "inner_activation" not in row


def test_convnext_tiny_standard_by_hand() -> None:
    """ConvNeXt-T's standard form: each block's depthwise 7x7, layer norm and 1x1 to 4C as
    one dense 7x7 conv C → 4C (with the 1x1's bias), the second 1x1 as it is; the stem, the
    2x2 downsamplings and the classifier are their own standard form."""
    stages = ((56, 96, 3), (28, 192, 3), (14, 384, 9), (7, 768, 3))
    macs = 56 * 56 * 96 * 3 * 16  # the 4x4 stride-4 stem
    params = 96 * 3 * 16 + 96 + 2 * 96  # with its bias and its layer norm
    for i, (size, c, blocks) in enumerate(stages):
        macs += blocks * size * size * (4 * c * c * 49 + c * 4 * c)
        # dense 4C·C·49 + 4C bias; the 1x1 back 4C·C + C; the layer scale's C
        params += blocks * (4 * c * c * 49 + 4 * c + 4 * c * c + c + c)
        if i:
            before = stages[i - 1][1]
            macs += size * size * c * before * 4
            params += 2 * before + before * c * 4 + c
    macs += 768 * 1000
    params += 2 * 768 + 768 * 1000 + 1000
    standard = profile_report(build(resolve_model("convnext_tiny"))).totals.standard
    assert (standard.macs, standard.params) == (macs, params)


def test_both_activations_are_counted_in_every_form(tmp_path: Path) -> None:
    layers = [
        "{type: depthwise, name: dw, kernel: 3, padding: 1, batch_norm: true, activation: relu6}",
        "{type: pointwise, name: pw, filters: 16, batch_norm: true, activation: relu}",
    ]
    doc = profile_doc(tmp_path, layers, "[8, 8, 8]")
    (row,) = doc["layers"]
    assert (row["activation"], row["inner_activation"]) == ("relu", "relu6")
    # relu6 (2 FLOPs) on the depthwise's 8·8·8 values, relu (1) on the 8·8·16 outputs
    assert row["activation_function_flops"] == 2 * 8 * 8 * 8 + 1 * 8 * 8 * 16
    assert doc["totals"]["activation_function_flops"] == 2 * 512 + 1024


# --------------------------------------------------------------------------- lower_pair


SHAPE = (8, 8, 8)


def conv_spec(**keys: Any) -> LayerSpec:
    return LayerSpec(type="conv", where="test", **keys)


def test_lower_pair_takes_the_readers_conv_specs() -> None:
    dw = conv_spec(kernel=(3, 3), filters=8, groups=8, padding=((1, 1), (1, 1)), bias=True)
    pw = conv_spec(kernel=(1, 1), filters=16, batch_norm="each", bias=True)
    forms = lower_pair(dw, pw, SHAPE)
    assert forms is not None
    assert forms.declared == "separable"
    assert forms.as_specified is forms.separable
    assert [op.role for op in forms.as_specified] == ["depthwise", "pointwise", "batch_norm"]
    dense, bn = forms.standard
    assert isinstance(dense, Conv) and isinstance(bn, BatchNorm)
    assert (dense.in_shape, dense.kernel, dense.groups) == (SHAPE, (3, 3), 1)
    assert dense.out_channels == 16
    assert dense.pads == ((1, 1), (1, 1)) and dense.bias  # the pointwise's bias
    assert dense.out_shape == (8, 8, 16)


def test_lower_pair_with_a_layer_norm_between() -> None:
    dw = conv_spec(kernel=(7, 7), filters=8, groups=8, padding=((3, 3), (3, 3)))
    pw = conv_spec(kernel=(1, 1), filters=32)
    norm = LayerNorm((8, 8, 8), 8)
    forms = lower_pair(dw, pw, SHAPE, norm=norm)
    assert forms is not None
    assert forms.as_specified[1] is norm
    assert len(forms.standard) == 1
    # a norm on another tensor is not between them
    assert lower_pair(dw, pw, SHAPE, norm=LayerNorm((4, 4, 8), 8)) is None


@pytest.mark.parametrize(
    ("dw", "pw"),
    [
        pytest.param(
            conv_spec(kernel=(3, 3), filters=8, groups=4),
            conv_spec(kernel=(1, 1), filters=16),
            id="a grouped first conv",
        ),
        pytest.param(
            conv_spec(kernel=(1, 1), filters=8, groups=8),
            conv_spec(kernel=(1, 1), filters=16),
            id="a 1x1 depthwise",
        ),
        pytest.param(
            conv_spec(kernel=(3, 3), filters=8, groups=8),
            conv_spec(kernel=(3, 3), filters=16),
            id="a 3x3 second conv",
        ),
        pytest.param(
            conv_spec(kernel=(3, 3), filters=8, groups=8),
            conv_spec(kernel=(1, 1), filters=16, stride=(2, 2)),
            id="a strided 1x1",
        ),
        pytest.param(
            conv_spec(kernel=(3, 3), filters=8, groups=8),
            conv_spec(kernel=(1, 1), filters=16, padding=((1, 1), (1, 1))),
            id="a padded 1x1",
        ),
        pytest.param(
            conv_spec(kernel=(3, 3), filters=8, groups=8),
            conv_spec(kernel=(1, 1), filters=16, groups=2),
            id="a grouped 1x1",
        ),
    ],
)
def test_lower_pair_refuses_what_is_not_a_pair(dw: LayerSpec, pw: LayerSpec) -> None:
    assert lower_pair(dw, pw, SHAPE) is None


def test_lower_pair_agrees_with_a_separable_layer() -> None:
    """The rule a ``separable`` layer always followed: its three forms are the pair's."""
    sep = LayerSpec(type="separable", where="t", kernel=(5,), filters=24, batch_norm="each")
    dw = LayerSpec(type="depthwise", where="t", kernel=(5,), batch_norm="each")
    pw = LayerSpec(type="pointwise", where="t", filters=24, batch_norm="each")
    shape = (9, 9, 6)
    pair = lower_pair(dw, pw, shape, width=Width())
    whole = lower(sep, shape, Width())
    assert pair is not None
    for form in FORMS:
        assert getattr(pair, form) == getattr(whole, form), form


# --------------------------------------------------------------------------- export and execution

PAIRS_SPEC = """\
name: pairs
input: [10, 10, 8]
layers:
  - {type: depthwise, name: dw, kernel: 3, padding: same, batch_norm: true, activation: relu6}
  - {type: pointwise, name: pw, filters: 16, batch_norm: true, activation: relu}
  - type: residual
    name: block
    layers:
      - {type: depthwise, name: dwconv, kernel: 7, padding: 3, bias: true}
      - {type: layer_norm, name: norm}
      - {type: pointwise, name: pwconv1, filters: 32, bias: true, activation: gelu}
      - {type: pointwise, name: pwconv2, filters: 16, bias: true}
  - {type: inverted_residual, name: ir, expansion: 4, filters: 16, batch_norm: true,
     activation: hardswish}
  - {type: inverted_residual, name: ir_se, expansion: 4, filters: 24, stride: 2,
     se_channels: 4, batch_norm: true}
"""


def pairs_model(tmp_path: Path) -> tuple[Any, Any]:
    path = tmp_path / "pairs.yaml"
    path.write_text(PAIRS_SPEC, encoding="utf-8")
    spec = load_model(path)
    return spec, build(spec)


def test_pairs_export_in_every_form(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import numpy as np

    from sepconv_cli.interchange.onnx_build import nchw
    from sepconv_cli.interchange.onnx_export import export_model
    from sepconv_cli.interchange.onnx_rows import weight_elements

    spec, model = pairs_model(tmp_path)
    assert [row.name for row in model.rows[:3]] == [
        "dw+pw",
        "block.dwconv+norm+pwconv1",
        ("block.pwconv2"),
    ]
    totals = profile_report(model).totals
    x = np.random.default_rng(0).standard_normal(nchw(model.input_shape, 1)).astype(np.float32)
    for form in FORMS:
        proto = export_model(spec, model, form, seed=0).model  # type: ignore[arg-type]
        onnx.checker.check_model(proto, full_check=True)
        assert weight_elements(proto) == getattr(totals, form).params, form
        nodes = [(n.name, n.op_type) for n in proto.graph.node]
        convs = [name for name, op in nodes if op == "Conv" and name.startswith("dw+pw")]
        # the pair: two convs as written (relu6 after the depthwise's BN), one dense
        # conv in the standard form
        if form == "standard":
            assert convs == ["dw+pw/conv"]
            assert not [n for n, _ in nodes if n.startswith("dw+pw/relu6")]
        else:
            assert convs == ["dw+pw/depthwise", "dw+pw/pointwise"]
            names = [n for n, _ in nodes]
            assert names.index("dw+pw/depthwise_bn") < names.index("dw+pw/relu6")
            assert names.index("dw+pw/relu6") < names.index("dw+pw/pointwise")
        ir = [name for name, op in nodes if op == "Conv" and name.startswith("ir/")]
        assert ir == (
            ["ir/expand", "ir/conv"]
            if form == "standard"
            else ["ir/expand", "ir/depthwise", "ir/project"]
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        (out,) = session.run(None, {"input": x})
        assert out.shape == nchw(model.output_shape, 1)
        assert np.isfinite(out).all()


def test_pair_forms_execute_and_time(tmp_path: Path) -> None:
    from sepconv_cli.execution.kernels import run_form
    from sepconv_cli.execution.timing import TimingSettings, time_forms

    _, model = pairs_model(tmp_path)
    for row in model.rows:
        for form in FORMS:
            out = run_form(getattr(row.forms, form), batch=2)
            assert out.shape == (2, *row.output_shape), (row.name, form)
    pair = model.rows[1]
    assert pair.type == "separable"
    timing = time_forms(pair.forms, 1, "float32", TimingSettings(min_time_s=0.001, budget_s=0.05))
    assert timing.standard.runs > 0 and timing.separable.runs > 0
