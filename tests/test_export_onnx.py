"""``sepconv export``: specs and presets as ONNX graphs (issue 14, item 7).

What the graph must be, checked from the graph itself (never from the exporter's own
bookkeeping): ``onnx.checker`` (full check) accepts it; ONNX's own shape inference gives
every row's output the row's shape; the weight initializers ONNX operators read as
parameters sum to sepconv's ``params`` of that form; ONNX Runtime runs it; and, for a small
spec, ONNX Runtime's output equals a NumPy forward pass written here from the spec's
semantics (docs/spec-format.md) with the graph's initializers as its weights.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.network import Model, build
from sepconv_cli.counting.report import profile_report
from sepconv_cli.spec.presets import load_model, preset_paths, resolve_model

onnx = pytest.importorskip("onnx")

from sepconv_cli.interchange.onnx_build import FORMS, Form, nchw  # noqa: E402 - after the skip
from sepconv_cli.interchange.onnx_export import Exported, export_model  # noqa: E402
from sepconv_cli.interchange.onnx_rows import form_graph, weight_elements  # noqa: E402

Array = np.ndarray[Any, Any]

runner = CliRunner()


def ort_session(model: Any, *, optimize: bool = True) -> Any:
    """A one-thread CPU session of ``model`` (a ModelProto or its bytes); ``optimize=False``
    skips ORT's graph optimizations, which copy every weight of a big graph (a run's
    shape and finiteness do not need them)."""
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def weightless(model: Any) -> Any:
    """A copy of ``model`` whose float initializers are graph inputs of the same type and
    dims: shape inference reads only their shapes, and skips copying 700 MB of weights."""
    graph = model.graph
    floats = [t for t in graph.initializer if t.data_type != onnx.TensorProto.INT64]
    inputs = [
        *graph.input,
        *(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in floats),
    ]
    kept = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT64]
    copy = onnx.helper.make_graph(list(graph.node), graph.name, inputs, list(graph.output), kept)
    return onnx.helper.make_model(
        copy, opset_imports=list(model.opset_import), ir_version=model.ir_version
    )


def inferred_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape as ONNX's shape inference (strict, with data propagation)
    gives it: the independent shape source."""
    inferred = onnx.shape_inference.infer_shapes(
        weightless(model), strict_mode=True, data_prop=True
    )
    values = [*inferred.graph.value_info, *inferred.graph.output]
    return {v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim) for v in values}


def seeded_input(model: Model, seed: int = 1) -> Array:
    shape = nchw(model.input_shape, model.batch)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------- every preset


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("preset", sorted(preset_paths()))
def test_every_preset_exports_in_every_form(preset: str, form: Form) -> None:
    spec = resolve_model(preset)
    model = build(spec)
    if getattr(profile_report(model).totals, form).params > 100_000_000:
        # EfficientNetV2-S's standard form (every depthwise dense) holds 410 M weights: a
        # 1.6 GB graph and 6.5 GB of memory to check and run. At a quarter of the width it
        # has the same rows and node kinds, and a sixteenth of the weights
        model = build(spec, width_multiplier=Fraction(1, 4))
    exported = export_model(spec, model, form, seed=0)
    proto = exported.model
    data = proto.SerializeToString()  # once: the checker and ORT read the same bytes
    onnx.checker.check_model(data, full_check=True)

    # ONNX's shape inference: each row's every instance has the row's shape (NCHW)
    shapes = inferred_shapes(proto)
    for row in model.rows:
        outputs = exported.row_outputs[row.index]
        assert len(outputs) == row.repeat, row.name  # a folded repeat is unrolled again
        for name in outputs:
            assert shapes[name] == nchw(row.output_shape, model.batch), (row.name, name)

    # parameters: read from the graph, against sepconv's params of the same form
    expected = getattr(profile_report(model).totals, form).params
    assert weight_elements(proto) == expected

    # ONNX Runtime runs it: the model's output shape, finite values
    (out,) = ort_session(data, optimize=False).run(None, {"input": seeded_input(model)})
    assert out.shape == nchw(model.output_shape, model.batch)
    assert np.isfinite(out).all()


def test_node_names_are_the_rows_names() -> None:
    spec = resolve_model("mobilenet_v2")
    exported = export_model(spec, build(spec), "as_specified")
    names = [node.name for node in exported.model.graph.node]
    assert names[:4] == ["conv1/conv", "conv1/conv_bn", "block1/depthwise", "block1/depthwise_bn"]
    # an inverted residual: expand, depthwise, project (each with its batch-norm), add
    assert names[6:13] == [
        "block2/expand",
        "block2/expand_bn",
        "block2/depthwise",
        "block2/depthwise_bn",
        "block2/project",
        "block2/project_bn",
        "block3/expand",
    ]
    assert len(set(names)) == len(names)


def test_a_folded_repeat_is_unrolled_with_its_own_names_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "rep.yaml"
    path.write_text(
        "name: rep\ninput: [6, 6, 4]\nlayers:\n"
        "  - {type: conv, name: c, kernel: 3, filters: 4, padding: same, repeat: 3}\n"
    )
    spec = load_model(path)
    model = build(spec)
    assert [(r.name, r.repeat) for r in model.rows] == [("c[0..2]", 3)]
    proto = export_model(spec, model).model
    assert [n.name for n in proto.graph.node] == ["c[0]", "c[1]", "c[2]", "output"]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert not np.array_equal(weights["c[0].weight"], weights["c[1].weight"])
    assert weight_elements(proto) == 3 * 4 * 4 * 9


def test_the_seed_decides_the_weights() -> None:
    spec = resolve_model("seed_example")
    model = build(spec)

    def weights(seed: int) -> list[bytes]:
        return [t.raw_data for t in export_model(spec, model, seed=seed).model.graph.initializer]

    assert weights(3) == weights(3)
    assert weights(3) != weights(4)


# --------------------------------------------------------------------------- the numbers

SMALL_SPEC = """\
name: small
input: [9, 9, 4]
batch: 2
layers:
  - {type: conv, name: c1, kernel: 3, filters: 8, padding: [[1, 2], [2, 1]], bias: true,
     activation: relu}
  - {type: depthwise, name: dw, kernel: 3, padding: 1, batch_norm: true, activation: relu6}
  - {type: pointwise, name: pw, filters: 8}
  - type: residual
    name: res
    activation: gelu
    layers:
      - {type: conv, name: a, kernel: 3, filters: 8, padding: same, groups: 2}
  - {type: squeeze_excite, name: se, se_channels: 2}
  - type: branches
    name: br
    split: true
    merge: concat
    branches:
      - []
      - - {type: pointwise, name: p, filters: 6, activation: silu}
  - {type: shuffle, name: sh, groups: 2}
  - {type: pool, name: avg, mode: avg, kernel: 3, stride: 2, padding: 1}
  - {type: pool, name: max, mode: max, kernel: 2, ceil_mode: true}
  - {type: dense, name: fc, units: 5}
"""


def conv2d(
    x: Array,
    w: Array,
    b: Array | None,
    *,
    stride: int = 1,
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    groups: int = 1,
) -> Array:
    """NCHW convolution, the textbook sum, one group at a time."""
    x = np.pad(x, ((0, 0), (0, 0), *pads))
    n, _, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, cout, oh, ow), np.float64)
    per_group = cout // groups
    for o in range(cout):
        g = o // per_group
        part = x[:, g * cin_g : (g + 1) * cin_g]
        for i in range(kh):
            for j in range(kw):
                window = part[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
                out[:, o] += np.einsum("ncxy,c->nxy", window, w[o, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def pool2d(x: Array, k: int, stride: int, pad: int, mode: str, ceil: bool = False) -> Array:
    """NCHW pooling: max pads with −∞, average divides by the real (unpadded) elements."""
    n, c, h, w = x.shape

    def size(length: int) -> int:
        span = length + 2 * pad - k
        out = -(-span // stride) + 1 if ceil else span // stride + 1
        # torch's rule: the last window must start inside the input or its left pad
        return out - 1 if ceil and (out - 1) * stride >= length + pad else out

    oh, ow = size(h), size(w)
    out = np.zeros((n, c, oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride - pad, j * stride - pad
            rows = slice(max(r0, 0), min(r0 + k, h))
            cols = slice(max(c0, 0), min(c0 + k, w))
            window = x[:, :, rows, cols]
            out[:, :, i, j] = window.max(axis=(2, 3)) if mode == "max" else window.mean((2, 3))
    return out


def batch_norm(x: Array, w: Callable[[str], Array], name: str) -> Array:
    def channel(v: Array) -> Array:
        return v[None, :, None, None]

    scale, shift = channel(w(f"{name}.scale")), channel(w(f"{name}.bias"))
    mean, var = channel(w(f"{name}.mean")), channel(w(f"{name}.var"))
    return (x - mean) / np.sqrt(var + 1e-5) * scale + shift


def small_reference(x: Array, w: Callable[[str], Array]) -> Array:
    """The small spec's forward pass, written from the spec (not from the graph)."""

    def relu(v: Array) -> Array:
        return np.maximum(v, 0)

    def sigmoid(v: Array) -> Array:
        out: Array = 1 / (1 + np.exp(-v))
        return out

    def erf(v: Array) -> Array:
        out: Array = np.array([math.erf(e) for e in v.ravel()]).reshape(v.shape)
        return out

    y = relu(conv2d(x, w("c1.weight"), w("c1.bias"), pads=((1, 2), (2, 1))))
    # the depthwise and the pointwise it feeds: one row, "dw+pw"
    y = conv2d(y, w("dw+pw/depthwise.weight"), None, pads=((1, 1), (1, 1)), groups=8)
    y = np.clip(batch_norm(y, w, "dw+pw/depthwise_bn"), 0, 6)
    y = conv2d(y, w("dw+pw/pointwise.weight"), None)
    # residual: identity shortcut, add, then GELU
    main = conv2d(y, w("res.a.weight"), None, pads=((1, 1), (1, 1)), groups=2)
    added = main + y
    y = added / 2 * (1 + erf(added / math.sqrt(2)))
    # squeeze-and-excite: avg pool → 1×1 + bias → ReLU → 1×1 + bias → sigmoid → scale
    pooled = y.mean(axis=(2, 3), keepdims=True)
    s = relu(conv2d(pooled, w("se/squeeze.weight"), w("se/squeeze.bias")))
    y = y * sigmoid(conv2d(s, w("se/excite.weight"), w("se/excite.bias")))
    # branches: split 8 channels 4 + 4; identity, pointwise 4 → 6 with SiLU; concat
    p = conv2d(y[:, 4:], w("br.branch1.p.weight"), None)
    y = np.concatenate([y[:, :4], p * sigmoid(p)], axis=1)
    # shuffle of 2 groups: channel g·5 + i moves to i·2 + g
    n, c, h, wd = y.shape
    y = y.reshape(n, 2, c // 2, h, wd).transpose(0, 2, 1, 3, 4).reshape(n, c, h, wd)
    y = pool2d(y, 3, 2, 1, "avg")
    y = pool2d(y, 2, 2, 0, "max", ceil=True)
    flat = y.reshape(n, -1)  # NCHW order, as ONNX's Flatten
    out: Array = flat @ w("fc.weight").T + w("fc.bias")
    return out


def small_model(tmp_path: Path) -> tuple[Any, Model, Exported]:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_SPEC)
    spec = load_model(path)
    model = build(spec)
    return spec, model, export_model(spec, model, "as_specified", seed=7)


def test_small_spec_runs_as_numpy_computes_it(tmp_path: Path) -> None:
    _, model, exported = small_model(tmp_path)
    proto = exported.model
    onnx.checker.check_model(proto, full_check=True)
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}

    def w(name: str) -> Array:
        out: Array = weights[name].astype(np.float64)
        return out

    x = seeded_input(model)
    (got,) = ort_session(proto).run(None, {"input": x})
    want = small_reference(x.astype(np.float64), w)
    assert got.shape == want.shape == (2, 5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # sepconv's shapes: 9×9 → 10×10 (pads 1 + 2) → 5×5 (avg, pad 1) → 3×3 (ceil_mode)
    assert model.rows[-3].output_shape == (5, 5, 10)
    assert model.rows[-2].output_shape == (3, 3, 10)


def test_small_spec_params_are_counted_by_hand(tmp_path: Path) -> None:
    _, _, exported = small_model(tmp_path)
    by_hand = (
        8 * 4 * 9
        + 8  # c1 with bias
        + 8 * 9
        + 2 * 8  # depthwise and its batch-norm (scale and shift; mean, var: state)
        + 8 * 8  # pw
        + 8 * 4 * 9  # res.a, 2 groups: 8 filters of 4 channels
        + 8 * 2
        + 2
        + 2 * 8
        + 8  # SE 8 → 2 → 8 with biases
        + 4 * 6  # branch pointwise
        + 3 * 3 * 10 * 5
        + 5  # fc on the 3×3×10 map, with bias
    )
    assert exported.params == by_hand == 1_257


# --------------------------------------------------------------------------- form_graph

FORM_SPEC = """\
name: forms
input: [8, 8, 6]
layers:
  - {type: conv, name: dense_conv, kernel: 3, filters: 6, padding: same, bias: true,
     batch_norm: true}
  - {type: conv, name: grouped, kernel: 3, filters: 6, groups: 3, stride: 2, padding: 1}
  - {type: separable, name: sep, kernel: 3, filters: 6, padding: same, batch_norm: output}
  - {type: depthwise, name: dw, kernel: [3, 1], dilation: 2, padding: same, depth_multiplier: 2}
  - {type: inverted_residual, name: ir, filters: 12, expansion: 2, se_channels: 4,
     batch_norm: true, activation: hardswish}
  - {type: squeeze_excite, name: se, se_ratio: 0.25}
  - type: residual
    name: res
    layers: [{type: pointwise, name: pw, filters: 12}]
    shortcut: [{type: pointwise, name: proj, filters: 12}]
    activation: hardsigmoid
  - type: branches
    name: br
    merge: add
    branches: [[], [{type: pointwise, name: p, filters: 12}], []]
  - type: branches
    name: cat
    split: [4, 8]
    merge: concat
    branches: [[{type: pool, mode: max, kernel: 3, stride: 1, padding: same}], []]
  - {type: shuffle, name: sh, groups: 3}
  - {type: pool, name: adaptive, mode: avg, output_size: 2}
  - {type: global_pool, name: gap, mode: max}
  - {type: dense, name: fc, units: 3, bias: false}
"""


def test_form_graph_of_every_row_kind_runs(tmp_path: Path) -> None:
    path = tmp_path / "forms.yaml"
    path.write_text(FORM_SPEC)
    model = build(load_model(path))
    kinds = {row.type for row in model.rows}
    assert kinds >= {"conv", "separable", "depthwise", "inverted_residual", "squeeze_excite"}
    assert kinds >= {"pointwise", "add", "concat", "pool", "shuffle", "global_pool", "dense"}
    report = profile_report(model)
    rng = np.random.default_rng(3)
    for row, layer in zip(model.rows, report.layers, strict=True):
        for form in FORMS:
            proto = form_graph(row, form, seed=1, batch=2, activation=True)
            onnx.checker.check_model(proto, full_check=True)
            cost = layer.separable.total if form == "separable" else getattr(layer, form)
            assert weight_elements(proto) == cost.params, (row.name, form)
            inputs = {
                i.name: rng.standard_normal(
                    [d.dim_value for d in i.type.tensor_type.shape.dim]
                ).astype(np.float32)
                for i in proto.graph.input
            }
            (out,) = ort_session(proto).run(["output"], inputs)
            assert out.shape == nchw(row.output_shape, 2), (row.name, form)
            assert np.isfinite(out).all()


def test_form_graph_runs_one_conv_as_numpy_does() -> None:
    """A standard 3×3 conv's three forms: ORT's output is the textbook convolution of the
    graph's own weights (the timing issue's agreement check, in miniature)."""
    from sepconv_cli.counting.lowering import lower
    from sepconv_cli.counting.network import Row
    from sepconv_cli.counting.widths import Width
    from sepconv_cli.spec.layers import LayerSpec

    layer = LayerSpec("conv", "test", kernel=(3,), filters=5, padding=((1, 0), (0, 1)), stride=(2,))
    row = Row(0, "c", "conv", (7, 7, 3), lower(layer, (7, 7, 3), Width()))
    x = np.random.default_rng(0).standard_normal((1, 3, 7, 7)).astype(np.float32)
    for form in FORMS:
        proto = form_graph(row, form, seed=2)
        w = {
            t.name: onnx.numpy_helper.to_array(t).astype(np.float64)
            for t in proto.graph.initializer
        }
        (got,) = ort_session(proto).run(None, {"input": x})
        pads = ((1, 0), (0, 1))
        if form == "separable":
            mid = conv2d(x, w["c/depthwise.weight"], None, stride=2, pads=pads, groups=3)
            want = conv2d(mid, w["c/pointwise.weight"], None)
        else:
            want = conv2d(x, w["c.weight"], None, stride=2, pads=pads)
        assert got.shape == (1, 5, 3, 3)  # (7 + 1 - 3) // 2 + 1
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- the command


def test_export_command_writes_a_checked_file(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    done = runner.invoke(
        app, ["export", "shufflenet_v2_x1_0", "-o", str(out), "--form", "separable", "-r", "64"]
    )
    assert done.exit_code == 0, done.output
    assert f"wrote {out} (separable, opset 17" in done.stderr
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[2].dim_value == 64
    model = build(resolve_model("shufflenet_v2_x1_0"), resolution=(64,))
    assert weight_elements(proto) == profile_report(model).totals.separable.params


def test_export_options(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    args = ["export", "seed_example", "-o", str(out), "-b", "3", "--seed", "5", "--opset", "18"]
    done = runner.invoke(app, [*args, "-a", "0.5", "-q"])
    assert done.exit_code == 0, done.output
    assert done.stderr == ""
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version == 18
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--form", "dense"], "--form: expected one of as_specified, standard, separable"),
        (["--opset", "16"], "--opset:"),
        (["--opset", "999"], "--opset: 999 is not supported"),
        (["--seed", "-1"], "--seed:"),
    ],
)
def test_bad_flags_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = runner.invoke(app, ["export", "seed_example", "-o", str(tmp_path / "m.onnx"), *args])
    assert done.exit_code == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_a_layer_without_an_onnx_form_is_named_and_the_file_kept(tmp_path: Path) -> None:
    spec = tmp_path / "adaptive.yaml"
    spec.write_text(
        "name: a\ninput: [7, 7, 2]\nlayers:\n  - {type: pool, name: odd, output_size: 3}\n"
    )
    out = tmp_path / "m.onnx"
    out.write_bytes(b"before")
    done = runner.invoke(app, ["export", str(spec), "-o", str(out)])
    assert done.exit_code == 2
    assert "odd" in done.stderr and "adaptive pooling 7 → 3, 7 → 3" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"before"


def test_without_onnx_installed_one_line_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    done = runner.invoke(app, ["export", "seed_example", "-o", str(tmp_path / "m.onnx")])
    assert done.exit_code == 2
    assert "pip install 'sepconv[onnx]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_other_commands_do_not_import_onnx() -> None:
    code = (
        "import sys\n"
        "from sepconv_cli.cli.app import main\n"
        "for argv in (['cost', '--format', 'json'], ['profile', 'mobilenet_v1', '--no-time'],"
        " ['export', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime'))\n"
        "print('ONNX=' + ','.join(loaded), file=sys.stderr)\n"
    )
    env = {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "ONNX=\n" in done.stderr, done.stderr


# --------------------------------------------------------------------------- other ranks, dtypes

RANKS = {
    "conv1d": """\
name: one_d
input: [16, 4]
layers:
  - {type: conv, name: c, kernel: 5, filters: 8, stride: 2, padding: same, activation: relu6}
  - type: branches
    name: br
    merge: concat
    branches: [[], [{type: depthwise, name: d, kernel: 3, padding: [[2, 0]], batch_norm: true}]]
  - {type: pool, name: ad, mode: avg, output_size: 4}
  - {type: global_pool, name: gap}
""",
    "conv3d": """\
name: three_d
input: [6, 7, 6, 4]
layers:
  - {type: conv, name: c, kernel: 3, filters: 8, padding: same, activation: silu}
  - {type: shuffle, name: sh, groups: 2}
  - {type: inverted_residual, name: ir, filters: 8, expansion: 2, se_ratio: 0.25,
     activation: relu}
  - {type: pool, name: p, mode: max, kernel: 2, ceil_mode: true}
  - {type: dense, name: fc, units: 3}
""",
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("rank", sorted(RANKS))
def test_one_and_three_dimensional_specs_export(tmp_path: Path, rank: str, form: Form) -> None:
    path = tmp_path / f"{rank}.yaml"
    path.write_text(RANKS[rank])
    spec = load_model(path)
    model = build(spec)
    exported = export_model(spec, model, form)
    onnx.checker.check_model(exported.model, full_check=True)
    shapes = inferred_shapes(exported.model)
    for row in model.rows:
        (name,) = exported.row_outputs[row.index]
        assert shapes[name] == nchw(row.output_shape, 1), row.name
    assert exported.params == getattr(profile_report(model).totals, form).params
    (out,) = ort_session(exported.model).run(None, {"input": seeded_input(model)})
    assert out.shape == nchw(model.output_shape, 1)
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    ("dtype", "element", "note"),
    [
        ("float32", "FLOAT", ""),
        ("float16", "FLOAT16", ""),
        ("float64", "FLOAT", "dtype float64: written as float32"),
        ("bfloat16", "FLOAT", "dtype bfloat16: written as float32"),
    ],
)
def test_the_specs_dtype_where_onnx_runtime_runs_it(
    tmp_path: Path, dtype: str, element: str, note: str
) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        f"name: d\ninput: [8, 8, 4]\ndtype: {dtype}\nlayers:\n"
        "  - {type: conv, name: c, kernel: 3, filters: 8, batch_norm: true, activation: gelu}\n"
        "  - {type: global_pool, name: gap}\n"
    )
    out = tmp_path / "d.onnx"
    done = runner.invoke(app, ["export", str(path), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert (note in done.stderr) if note else "written as" not in done.stderr
    proto = onnx.load(str(out))
    kind = getattr(onnx.TensorProto, element)
    assert proto.graph.input[0].type.tensor_type.elem_type == kind
    assert {t.data_type for t in proto.graph.initializer} == {kind}
    x = np.ones((1, 4, 8, 8), onnx.helper.tensor_dtype_to_np_dtype(kind))
    (y,) = ort_session(proto).run(None, {"input": x})
    assert y.shape == (1, 8) and np.isfinite(y).all()


def test_a_graph_past_two_gib_is_refused_with_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sepconv_cli.interchange import onnx_export

    monkeypatch.setattr(onnx_export, "PROTOBUF_LIMIT", 10_000)  # bytes: the seed example's
    out = tmp_path / "m.onnx"
    done = runner.invoke(app, ["export", "seed_example", "-o", str(out)])
    assert done.exit_code == 2
    assert "past the 2 GiB an ONNX file can hold" in done.stderr
    assert "--width-multiplier" in done.stderr
    assert not out.exists()


def test_tanh_and_leaky_relu_export_and_read_back(tmp_path: Path) -> None:
    """``tanh`` is ``Tanh``; ``leaky_relu`` is ``LeakyRelu`` at PyTorch's slope 0.01 (the
    spec records none). ORT's output equals the formula on the graph's own weights, and the
    file read back has the spec's activations and activation FLOPs."""
    spec_path = tmp_path / "act.yaml"
    spec_path.write_text(
        "name: act\ninput: [6, 6, 3]\nlayers:\n"
        "  - {type: conv, name: c, kernel: 3, filters: 4, padding: 1, bias: true,"
        " activation: tanh}\n"
        "  - {type: pointwise, name: p, filters: 5, bias: true, activation: leaky_relu}\n"
    )
    out = tmp_path / "act.onnx"
    done = runner.invoke(app, ["export", str(spec_path), "-o", str(out)])
    assert done.exit_code == 0, done.output
    proto = onnx.load(str(out))
    kinds = {n.op_type: n for n in proto.graph.node}
    assert "Tanh" in kinds and "LeakyRelu" in kinds
    assert onnx.helper.get_attribute_value(kinds["LeakyRelu"].attribute[0]) == pytest.approx(0.01)
    weights = {
        t.name: onnx.numpy_helper.to_array(t).astype(np.float64) for t in proto.graph.initializer
    }
    x = np.random.default_rng(0).standard_normal((1, 3, 6, 6)).astype(np.float32)
    (got,) = ort_session(proto).run(None, {"input": x})
    hidden = np.tanh(conv2d(x.astype(np.float64), weights["c.weight"], weights["c.bias"],
                            pads=((1, 1), (1, 1))))  # fmt: skip
    pointwise = conv2d(hidden, weights["p.weight"], weights["p.bias"])
    want = np.where(pointwise > 0, pointwise, 0.01 * pointwise)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    back = runner.invoke(app, ["profile", str(out), "--format", "json", "-q"])
    assert back.exit_code == 0, back.output
    rows = {row["name"]: row for row in __import__("json").loads(back.stdout)["layers"]}
    assert (rows["c"]["activation"], rows["p"]["activation"]) == ("tanh", "leaky_relu")
    # by hand: 6·6·4 values · 1 FLOP, 6·6·5 values · 2 FLOPs
    assert rows["c"]["activation_function_flops"] == 144
    assert rows["p"]["activation_function_flops"] == 360


def test_a_conv_head_after_global_pooling_runs(tmp_path: Path) -> None:
    """MobileNetV3's (and timm's) conv head: a 1×1 conv on the pooled [N, C] values, which
    the export reshapes to N×C×1×1 so ONNX Runtime runs it; its output is 2 × 12 values."""
    spec = tmp_path / "head.yaml"
    spec.write_text(
        "input: [6, 6, 4]\nbatch: 2\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 8}\n"
        "  - {type: global_pool, mode: avg}\n"
        "  - {type: pointwise, filters: 12}\n"
    )
    written = load_model(spec)
    model = build(written)
    exported = export_model(written, model, "as_specified")
    (out,) = ort_session(exported.model).run(None, {"input": seeded_input(model)})
    assert out.size == 2 * 12
