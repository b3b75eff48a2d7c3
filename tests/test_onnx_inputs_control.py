"""ONNX inputs: literal ``-1`` dims are symbolic, ``--input-value NAME=V`` pins an input's
value, and an ``If`` that value (or a shape, or a constant) decides is counted as the branch it
takes (:mod:`sepconv_cli.interchange.onnx_control`).

Every expected count is hand arithmetic, written beside it: a conv's MACs are
``out_positions · Cout · (Cin/groups) · prod(k)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from onnx_graphs import TP, conv_model, helper, node, np, onnx, weight  # tests/onnx_graphs.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_control import fold_control_flow
from sepconv_cli.interchange.onnx_inputs import parse_input_values, pin_inputs
from sepconv_cli.interchange.onnx_load import onnx_inferred_shapes

runner = CliRunner()

# the If graph's three convs on x = 1×2×8×8, each "same" padded (8×8 = 64 positions out)
THEN_MACS = 64 * 4 * 2 * 3 * 3  # 4,608: the 16 kHz branch, 3×3, 2 → 4 channels
ELSE_MACS = 64 * 4 * 2 * 5 * 5  # 12,800: the 8 kHz branch, 5×5
AFTER_MACS = 64 * 6 * 4  # 1,536: the 1×1 conv after the If, 4 → 6 channels


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def profile(path: Path, *args: str) -> tuple[dict[str, Any], str]:
    done = invoke("profile", str(path), "--format", "json", *args)
    assert done.exit_code == 0, done.output
    data: dict[str, Any] = json.loads(done.stdout)
    return data, done.stderr


def macs(data: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (r["name"], r["as_specified"]["macs"]) for r in data["layers"] if r["as_specified"]["macs"]
    ]


def error_line(done: Any) -> str:
    """The one error line of a run that exits 2 (notes before it aside)."""
    assert done.exit_code == 2, done.output
    lines = [line for line in done.stderr.splitlines() if not line.startswith("sepconv: note:")]
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: "), done.stderr
    return str(lines[0])


def branch(name: str, kernel: int, *, constant: bool, extra: Any = None) -> Any:
    """A branch: one Conv of x, 2 → 4 channels, k×k "same" padded; its weight an initializer
    of the branch or a Constant node in it; ``extra`` nodes (a nested If) after it."""
    w = onnx.numpy_helper.from_array(np.zeros((4, 2, kernel, kernel), np.float32), f"w_{name}")
    nodes = [helper.make_node("Constant", [], [w.name], value=w)] if constant else []
    nodes.append(
        node("Conv", ["x", w.name], [f"out_{name}"], f"conv_{name}", pads=[kernel // 2] * 4)
    )
    out = f"out_{name}"
    if extra is not None:
        nodes += extra(out)
        out = nodes[-1].output[0]
    return helper.make_graph(
        nodes,
        name,
        [],
        [helper.make_tensor_value_info(out, TP.FLOAT, [1, 4, 8, 8])],
        [] if constant else [w],
    )


def if_model(path: Path, *, nested: bool = False, sibling: bool = False, **dims: Any) -> Path:
    """``y = If(sr == 16000, then: Conv 3×3 (x), else: Conv 5×5 (x))``, then a 1×1 Conv of y.
    ``nested``: the then-branch's conv output goes through an If on its own width (8: a Relu;
    else a Sigmoid). ``sibling``: a second If on ``flag`` (an input given no value) whose
    branch defines a name the first If's then-branch defines too."""

    def shape_if(tensor: str) -> list[Any]:
        relu = helper.make_graph(
            [node("Relu", [tensor], ["relu_out"], "relu")],
            "is8",
            [],
            [helper.make_tensor_value_info("relu_out", TP.FLOAT, [1, 4, 8, 8])],
        )
        sigmoid = helper.make_graph(
            [node("Sigmoid", [tensor], ["sig_out"], "sigmoid")],
            "not8",
            [],
            [helper.make_tensor_value_info("sig_out", TP.FLOAT, [1, 4, 8, 8])],
        )
        return [
            node("Shape", [tensor], ["shape"], "shape"),
            helper.make_node(
                "Constant", [], ["three"], value=onnx.numpy_helper.from_array(np.array(3))
            ),
            node("Gather", ["shape", "three"], ["width"], "width"),
            helper.make_node(
                "Constant", [], ["eight"], value=onnx.numpy_helper.from_array(np.array(8))
            ),
            node("Equal", ["width", "eight"], ["is8"], "is8"),
            node("If", ["is8"], ["checked"], "if_width", then_branch=relu, else_branch=sigmoid),
        ]

    sixteen = onnx.numpy_helper.from_array(np.array(16000, np.int64), "k16000")
    nodes = [
        helper.make_node("Constant", [], ["k16000"], value=sixteen),
        node("Equal", ["sr", "k16000"], ["is16k"], "is16k"),
        node(
            "If",
            ["is16k"],
            ["y"],
            "if_sr",
            then_branch=branch("then", 3, constant=False, extra=shape_if if nested else None),
            else_branch=branch("else", 5, constant=True),
        ),
        node("Conv", ["y", "wp"], ["z"], "conv_after"),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TP.FLOAT, dims.get("x", [1, 2, 8, 8])),
        helper.make_tensor_value_info("sr", TP.INT64, []),
    ]
    outputs = ["z"]
    if sibling:  # its branches both define "out_then", as the first If's then-branch does
        inputs.append(helper.make_tensor_value_info("flag", TP.BOOL, []))
        nodes.append(
            node(
                "If",
                ["flag"],
                ["v"],
                "if_flag",
                then_branch=branch("then", 3, constant=True),
                else_branch=branch("then", 3, constant=True),
            )
        )
        outputs.append("v")
    graph = helper.make_graph(
        nodes,
        path.stem,
        inputs,
        [
            helper.make_tensor_value_info(o, TP.FLOAT, [1, 6, 8, 8] if o == "z" else [1, 4, 8, 8])
            for o in outputs
        ],
        [weight("wp", 6, 4, 1, 1)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)  # the file itself is valid
    onnx.save(model, str(path))
    return path


def folded(
    path: Path, values: list[str], shapes: dict[str, Any] | None = None
) -> tuple[Any, list[str]]:
    """The pre-pass on ``path`` as the readers run it: (the new model, the notes)."""
    model = onnx.load(str(path))
    parsed = parse_input_values(values)
    notes: list[str] = []
    pinned = pin_inputs(model, path, shapes or {}, notes, values=parsed)
    return fold_control_flow(model, path, pinned, parsed, notes), notes


# ------------------------------------------------------------------------ If on a value


@pytest.mark.parametrize(
    ("sr", "taken", "conv_macs"),
    [("16000", "then_branch", THEN_MACS), ("8000", "else_branch", ELSE_MACS)],
)
def test_an_if_on_a_value_counts_the_branch_it_takes(
    tmp_path: Path, sr: str, taken: str, conv_macs: int
) -> None:
    path = if_model(tmp_path / "vad.onnx")
    data, stderr = profile(path, "--input-value", f"sr={sr}")
    assert macs(data) == [(f"conv_{taken[:4]}", conv_macs), ("conv_after", AFTER_MACS)]
    assert data["uncounted_nodes"] == []
    assert data["totals"]["as_specified"]["macs"] == conv_macs + AFTER_MACS
    assert f"If 'if_sr' on sr = {sr} takes its {taken}" in " ".join(stderr.split())


def test_the_folded_model_is_valid_and_onnx_infers_it(tmp_path: Path) -> None:
    path = if_model(tmp_path / "vad.onnx", nested=True, sibling=True)
    model, notes = folded(path, ["sr=16000"])
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    # both Ifs on sr and on the conv's width folded; the one on flag (no value) stays
    assert ops.count("If") == 1 and "Relu" in ops and "Sigmoid" not in ops
    assert [i.name for i in model.graph.input] == ["x", "flag"]  # sr is a Constant now
    # the branch's initializer joined the graph's; it and the branch's "out_then" clashed
    # with the names the flag If's branches define: they took the folded If's name
    assert "if_sr/w_then" in {t.name for t in model.graph.initializer}
    assert "if_sr/out_then" in {o for n in model.graph.node for o in n.output}
    shapes, failure = onnx_inferred_shapes(model, {"x": (1, 2, 8, 8), "flag": ()})
    assert failure == "" and shapes["z"] == (1, 6, 8, 8) and shapes["y"] == (1, 4, 8, 8)
    assert any("1 If node(s) decided by the shapes" in n for n in notes)
    assert any("If 'if_flag' depends on input 'flag': --input-value flag=V" in n for n in notes)


def test_a_nested_if_on_a_shape_is_counted_through(tmp_path: Path) -> None:
    path = if_model(tmp_path / "vad.onnx", nested=True)
    data, _ = profile(path, "--input-value", "sr=16000")
    # the nested If on the conv's width (8) took its Relu (a row of its own: the conv's
    # output is the Shape's too), not its Sigmoid
    assert macs(data) == [("conv_then", THEN_MACS), ("conv_after", AFTER_MACS)]
    activations = [r["name"] for r in data["layers"] if r["type"] == "activation"]
    assert activations == ["relu"]
    assert data["uncounted_nodes"] == []


def test_without_a_value_the_if_is_named_and_the_rest_counted(tmp_path: Path) -> None:
    path = if_model(tmp_path / "vad.onnx")
    data, stderr = profile(path)
    assert [(u["name"], u["op_type"]) for u in data["uncounted_nodes"]] == [("if_sr", "If")]
    # the conv after the If: its input's shape from the branches' declared outputs
    assert macs(data) == [("conv_after", AFTER_MACS)]
    assert "If 'if_sr' depends on input 'sr': --input-value sr=V" in " ".join(stderr.split())
    strict = invoke("profile", str(path), "--strict")
    assert "1 node(s) of type(s) If not counted" in error_line(strict)


def test_a_graph_with_nothing_to_fold_is_not_copied(tmp_path: Path) -> None:
    # 2,000 Relu nodes, no If, a symbolic N (not a literal -1): one scan, the same ModelProto
    nodes = [node("Relu", [f"t{i}"], [f"t{i + 1}"], f"r{i}") for i in range(2000)]
    graph = helper.make_graph(
        nodes,
        "long",
        [helper.make_tensor_value_info("t0", TP.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("t2000", TP.FLOAT, ["N", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    out = fold_control_flow(model, Path("long.onnx"), {"t0": (1, 4)}, {}, [])
    assert out is model  # returned as it was: nothing copied (no test asserts a speed)


# -------------------------------------------------------------- literal -1 input dims


def test_a_minus_one_batch_is_symbolic_and_defaults_to_one(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "paddle.onnx", [-1, 2, 8, 8], [4, 2, 3, 3], pads=[1] * 4)
    data, stderr = profile(path)
    assert macs(data) == [("conv", THEN_MACS)]  # 64 positions · 4 · 2 · 9 = 4,608
    assert data["batch"] == 1
    assert (
        "input 'x' has a symbolic batch (?): taken as 1 (--input-shape or --batch to change)"
        in (" ".join(stderr.split()))
    )
    twice, _ = profile(path, "--batch", "2")
    assert twice["totals"]["as_specified"]["macs"] == 2 * THEN_MACS


def test_a_minus_one_spatial_dim_needs_input_shape(tmp_path: Path) -> None:
    path = tmp_path / "paddle.onnx"
    graph = helper.make_graph(
        [node("Conv", ["x", "w"], ["y"], "conv", pads=[1] * 4)],
        "paddle",
        [helper.make_tensor_value_info("x", TP.FLOAT, [-1, 2, -1, 0])],
        [helper.make_tensor_value_info("y", TP.FLOAT, [-1, 4, -1, -1])],  # Paddle's outputs too
        [weight("w", 4, 2, 3, 3)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    line = error_line(invoke("profile", str(path)))
    assert (
        "input 'x' (float32, ?x2x?x0 (a 0 is read as unknown, as exporters write it)) has an "
        "unknown shape past the batch; pin it: "
        "--input-shape x=1x2x?x? (each ? a size)"
    ) in line
    data, _ = profile(path, "--input-shape", "x=1x2x10x12")
    # 10×12 positions (same padding) · 4 · 2 · 9 = 8,640; onnx's strict inference ran
    assert macs(data) == [("conv", 10 * 12 * 4 * 2 * 9)]
    assert not any("inference" in note for note in data.get("graph_notes", []))
    wrong = error_line(invoke("profile", str(path), "--input-shape", "x=1x3x10x12"))
    assert "3 contradicts its fixed size 2" in wrong


# ------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--input-value", "rate=16000"],
            "--input-value: {path} has no input 'rate'; its inputs: x, sr",
        ),
        (
            ["--input-value", "sr=16000.5"],
            "--input-value: input 'sr' of {path} holds integers; got 16000.5",
        ),
        (
            ["--input-value", "sr=1,2"],
            "--input-value: input 'sr' of {path} is a scalar; got 2 values",
        ),
        (["--input-value", "sr"], "--input-value: expected NAME=V"),
        (["--input-value", "sr=fast"], "--input-value: expected NAME=V"),
        (["--input-value", "x=1"], "--input-value: input 'x' of {path} is 1x2x8x8: only a scalar"),
        (
            ["--input-value", "sr=1", "--input-value", "sr=2"],
            "--input-value: input 'sr' is given twice",
        ),
        (
            ["--input-value", "sr=16000", "--input-shape", "sr=1"],
            "--input-value: input 'sr' of {path}: the value's shape scalar contradicts "
            "--input-shape sr=1",
        ),
    ],
)
def test_a_bad_value_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    path = if_model(tmp_path / "vad.onnx")
    assert message.format(path=path) in error_line(invoke("profile", str(path), *args))


def test_a_value_fills_a_one_d_input_and_pins_its_shape(tmp_path: Path) -> None:
    path = tmp_path / "scales.onnx"
    graph = helper.make_graph(
        [node("Conv", ["x", "w"], ["y"], "conv")],
        "scales",
        [
            helper.make_tensor_value_info("x", TP.FLOAT, [1, 2, 8, 8]),
            helper.make_tensor_value_info("gain", TP.FLOAT, ["n"]),
        ],
        [helper.make_tensor_value_info("y", TP.FLOAT, None)],
        [weight("w", 4, 2, 3, 3)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    # without a value, the symbolic "n" is a batch taken as 1; the value's 3 numbers pin it
    _, stderr = profile(path)
    assert "input 'gain' has a symbolic batch (n)" in stderr
    data, stderr = profile(path, "--input-value", "gain=0.5,2,1.5")
    assert "gain" not in stderr
    assert macs(data) == [("conv", 36 * 4 * 2 * 9)]  # 6×6 positions: 2,592
    model, _ = folded(path, ["gain=0.5,2,1.5"])
    constant = next(n for n in model.graph.node if n.output[0] == "gain")
    assert onnx.numpy_helper.to_array(constant.attribute[0].t).tolist() == [0.5, 2.0, 1.5]
    every = ["--input-value", "gain=1,2", "--input-value", "x=1"]
    assert "every input of" in error_line(invoke("profile", str(path), *every))
    short = error_line(
        invoke("profile", str(path), "--input-value", "gain=1,2", "--input-shape", "gain=3")
    )
    assert "the value's shape 2 contradicts --input-shape gain=3" in short


def test_input_value_on_a_yaml_spec_or_preset_is_refused() -> None:
    line = error_line(invoke("profile", "mobilenet_v1", "--input-value", "sr=16000"))
    assert (
        line == "sepconv: error: --input-value: only for ONNX models (a YAML spec states its input)"
    )


# ------------------------------------------------------------------- every command


def test_every_command_with_input_shape_takes_input_value(tmp_path: Path) -> None:
    path = if_model(tmp_path / "vad.onnx")
    # cost --spec: each Conv of the taken branch
    done = invoke("cost", "--spec", str(path), "--input-value", "sr=8000", "--format", "json")
    assert done.exit_code == 0, done.output
    layers = json.loads(done.stdout)["layers"]
    assert [layer["as_specified"]["macs"] for layer in layers] == [ELSE_MACS, AFTER_MACS]
    assert "only for an ONNX model (--spec model.onnx)" in error_line(
        invoke("cost", "--input-value", "sr=1")
    )
    # compare: the values apply to each ONNX side
    done = invoke("compare", str(path), str(path), "--input-value", "sr=16000", "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["totals"]["macs"]["base"] == THEN_MACS + AFTER_MACS
    assert "neither BASE nor NEW is one" in error_line(
        invoke("compare", "mobilenet_v1", "mobilenet_v1", "--input-value", "sr=1")
    )
    # bench reads the model before it times anything
    assert "has no input 'rate'" in error_line(
        invoke("bench", str(path), "--input-value", "rate=1")
    )
    # export-spec: the taken branch's conv, then the 1×1; sr is no data input any more
    done = invoke("export-spec", str(path), "--input-value", "sr=16000")
    assert done.exit_code == 0, done.output
    assert "kernel: 3" in done.stdout and "kernel: 5" not in done.stdout
    assert "has no input 'rate'" in error_line(
        invoke("export-spec", str(path), "--input-value", "rate=1")
    )


# ------------------------------------------------------------------------ silero-vad


@pytest.fixture(scope="module")
def silero(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """silero-vad 6.2.3's shipped ONNX file, read out of its wheel by the real-file corpus
    (tests/wild_corpus.py: skipped when pip cannot fetch it)."""
    from wild_corpus import ENTRIES, Corpus  # tests/wild_corpus.py

    entry = next(e for e in ENTRIES if e.name == "silero-vad-silero_vad.onnx")
    return Corpus(tmp_path_factory.mktemp("silero")).obtain(entry).path


def branch_conv_macs(path: Path, taken: str, samples: int) -> list[int]:
    """Each Conv of the graph's top If's ``taken`` branch, counted independently of sepconv:
    the branch run on its own by onnx's reference evaluator (zeros in), each Conv's output
    shape read from the run, times its weight's size."""
    from onnx.reference import ReferenceEvaluator

    model = onnx.load(str(path))
    top = next(n for n in model.graph.node if n.op_type == "If")
    sub = next(a.g for a in top.attribute if a.name == taken)
    convs = [n for n in sub.node if n.op_type == "Conv"]
    weights = {
        n.output[0]: tuple(a.t.dims)
        for n in sub.node
        if n.op_type == "Constant"
        for a in n.attribute
    }
    weights.update({t.name: tuple(t.dims) for t in sub.initializer})
    graph = helper.make_graph(
        list(sub.node),
        "branch",
        [
            helper.make_tensor_value_info("input", TP.FLOAT, [1, samples]),
            helper.make_tensor_value_info("state", TP.FLOAT, [2, 1, 128]),
        ],
        [helper.make_tensor_value_info(c.output[0], TP.FLOAT, None) for c in convs],
        list(sub.initializer),
    )
    run = ReferenceEvaluator(helper.make_model(graph, opset_imports=model.opset_import))
    with np.errstate(all="ignore"):
        outs = run.run(
            None,
            {
                "input": np.zeros((1, samples), np.float32),
                "state": np.zeros((2, 1, 128), np.float32),
            },
        )
    # out positions · Cout · Cin/group · prod(k) = prod(out[2:]) · prod(weight dims)
    return [
        int(np.prod(o.shape[2:]) * np.prod(weights[c.input[1]]))
        for c, o in zip(convs, outs, strict=True)
    ]


@pytest.mark.parametrize(
    ("sr", "taken", "samples"), [("16000", "then_branch", 512), ("8000", "else_branch", 256)]
)
def test_silero_vad_counts_the_branch_of_its_sample_rate(
    silero: Path, sr: str, taken: str, samples: int
) -> None:
    shapes = ["--input-shape", f"input=1x{samples}", "--input-shape", "state=2x1x128"]
    data, stderr = profile(silero, "--input-value", f"sr={sr}", *shapes)
    convs = [r["as_specified"]["macs"] for r in data["layers"] if r["name"].endswith("Conv")]
    expected = branch_conv_macs(silero, taken, samples)
    assert len(expected) == 6  # the STFT, four encoder convs, the decoder's 1×1
    assert convs == expected
    assert f"If 'If_0' on sr = {sr} takes its {taken}" in " ".join(stderr.split())
    assert data["uncounted_nodes"] == []  # the LSTM's Ifs on shapes folded too


def test_silero_vad_without_a_rate_names_its_if(silero: Path) -> None:
    data, stderr = profile(silero, "--input-shape", "input=1x512", "--input-shape", "state=2x1x128")
    assert ("If_0", "If") in [(u["name"], u["op_type"]) for u in data["uncounted_nodes"]]
    assert "--input-value sr=V counts the branch that value takes" in " ".join(stderr.split())
    bad = error_line(invoke("profile", str(silero), "--input-value", "rate=16000"))
    assert bad.endswith("its inputs: input, state, sr")
    with pytest.raises(UsageError, match="is a scalar; got 2 values"):
        folded(silero, ["sr=1,2"])
