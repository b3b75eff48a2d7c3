"""The layers real mobile networks add (issue 21 item 5): ``reduce``, ``conv_transpose``,
``depth_to_space``, a ``pad`` of the channels and ``merge: div``. Each counts as the ONNX
reader counts its node, is written by ``sepconv export`` as that node and read back by
``export-spec``; bad values are one line (exit 2); timing refuses each by name. Expected
values are hand arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spec_layer_checks import (  # tests/spec_layer_checks.py
    NOT_EXECUTED,
    error_line,
    runner,
    timing_notes,
    totals,
)

from sepconv_cli.cli.app import app

SPEC = """\
name: more
input: [8, 8, 4]
layers:
  - {type: conv_transpose, name: up, kernel: 2, filters: 6, stride: 2, bias: true}
  - {type: pad, name: widen, channels: [1, 1], padding: 1}
  - {type: depth_to_space, name: d2s, block_size: 2}
  - {type: reduce, name: norm, reduction: sum, axis: -1}
"""
# up: 8·8 inputs · 4 channels · 6 filters · 2·2 taps = 6,144 MACs; params 4·6·4 + 6 = 102;
#     FLOPs 2·6,144 + 16·16·6 bias adds = 13,824; output 16×16×6
# widen: 18×18×8, nothing; d2s: 36×36×2, nothing
# norm: one FLOP per input value, 36·36·2 = 2,592; output 36×36×1
EXPECTED = (6_144, 102, 13_824 + 2_592)

DIV = """\
name: div
input: [4, 4, 8]
layers:
  - {type: pointwise, name: pw, filters: 8}
  - type: branches
    name: unit
    merge: div
    branches:
      - []
      - [{type: reduce, name: l2, reduction: l2, axis: -1}]
"""
# pw: 16·8·8 = 1,024 MACs, 64 params, 2,048 FLOPs; l2: 4·4·8 = 128 FLOPs;
# div: one FLOP per output value, 128
DIV_EXPECTED = (1_024, 64, 2_048 + 128 + 128)


@pytest.mark.parametrize(("text", "expected"), [(SPEC, EXPECTED), (DIV, DIV_EXPECTED)])
def test_counts_by_hand(tmp_path: Path, text: str, expected: tuple[int, int, int]) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(text)
    assert set(totals(str(spec)).values()) == {expected}  # one form each


@pytest.mark.parametrize(
    ("text", "expected", "lines"),
    [
        (
            SPEC,
            EXPECTED,
            [
                "{type: conv_transpose, name: up, kernel: 2, filters: 6, stride: 2, bias: true}",
                "{type: pad, name: widen, channels: [1, 1], padding: 1}",
                "{type: depth_to_space, name: d2s, block_size: 2}",
                "{type: reduce, name: norm, reduction: sum, axis: 2}",
            ],
        ),
        (DIV, DIV_EXPECTED, ["merge: div", "reduction: l2"]),
    ],
)
def test_export_profile_and_back(
    tmp_path: Path, text: str, expected: tuple[int, int, int], lines: list[str]
) -> None:
    onnx = pytest.importorskip("onnx")
    spec = tmp_path / "m.yaml"
    spec.write_text(text)
    model = tmp_path / "m.onnx"
    assert runner.invoke(app, ["export", str(spec), "-o", str(model), "-q"]).exit_code == 0
    ops = {n.op_type for n in onnx.load(str(model)).graph.node}
    assert ops >= (
        {"ConvTranspose", "Pad", "DepthToSpace", "ReduceSum"} if text is SPEC else {"Div"}
    )
    assert set(totals(str(model)).values()) == {expected}  # the ONNX reader agrees
    back = tmp_path / "back.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(back)])
    assert done.exit_code == 0, done.stderr
    written = back.read_text()
    for line in lines:
        assert line in written
    assert set(totals(str(back)).values()) == {expected}


def test_a_hand_made_graph_round_trips(tmp_path: Path) -> None:
    """ConvTranspose → channel Pad → DepthToSpace (CRD) → ReduceL2 (axes as an input,
    keepdims 0 is refused on an image, so 1) → Div of the two: every node a layer."""
    from onnx_graphs import ints, node, save, weight

    nodes = [
        node(
            "ConvTranspose",
            ["x", "w"],
            ["up"],
            "up",
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            output_padding=[1, 1],
        ),
        node("Pad", ["up", "pads"], ["wide"], "channel_padding"),
        node("DepthToSpace", ["wide"], ["d2s"], "d2s", blocksize=2, mode="CRD"),
        node("ReduceL2", ["d2s"], ["norm"], "norm", axes=[1], keepdims=1),
        node("Div", ["d2s", "norm"], ["y"], "unit"),
    ]
    inits = [weight("w", 4, 6, 3, 3), ints("pads", 0, 0, 0, 0, 0, 2, 0, 0)]
    model = save(
        tmp_path / "g.onnx",
        nodes,
        {"x": [1, 4, 5, 5]},
        {nodes[-1].output[0]: [1, 2, 20, 20]},
        inits,
    )
    spec = tmp_path / "g.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec)])
    assert done.exit_code == 0, done.stderr
    text = spec.read_text()
    assert (
        "{type: conv_transpose, name: up, kernel: 3, filters: 6, stride: 2, padding: 1, "
        "output_padding: 1}" in text
    )
    assert "{type: pad, name: channel_padding, channels: [0, 2]}" in text
    assert "{type: depth_to_space, name: d2s, block_size: 2, order: crd}" in text
    assert "merge: div" in text and "reduction: l2, axis: 2" in text
    # up: 5·5·4 · 6 · 9 = 5,400 MACs, 2·5,400 = 10,800 FLOPs, 4·6·9 = 216 params; its
    # output 2·4 + 1 + 2 + 1 − 2 = 10 wide; the pad: 10×10×8; d2s: 20×20×2;
    # norm: 800 FLOPs; div: 800
    expected = (5_400, 216, 10_800 + 800 + 800)
    assert totals(str(model))["as_specified"] == expected
    assert set(totals(str(spec)).values()) == {expected}


def test_a_reduction_over_the_batch_is_refused_by_name(tmp_path: Path) -> None:
    from onnx_graphs import node, save

    nodes = [node("ReduceSum", ["x"], ["y"], "total", keepdims=0)]  # no axes: every dim
    model = save(tmp_path / "r.onnx", nodes, {"x": [1, 4, 5, 5]}, {nodes[-1].output[0]: []}, [])
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(tmp_path / "r.yaml")])
    assert done.exit_code == 2
    (line,) = done.stderr.splitlines()
    assert "cannot express 'total' (ReduceSum)" in line


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("{type: reduce, reduction: avg, axis: 0}", "reduction: expected one of sum"),
        ("{type: reduce, reduction: sum, axis: 0, keepdims: 1}", "keepdims: expected true"),
        ("{type: reduce, reduction: sum}", "needs axis"),
        ("{type: reduce, reduction: sum, axis: 5}", "axis: axis 5 is outside"),
        ("{type: reduce, reduction: sum, axis: [0, 1, 2], keepdims: false}", "leaves no dim"),
        ("{type: conv_transpose, kernel: 2, filters: 4, output_padding: -1}", "output_padding"),
        (
            "{type: conv_transpose, kernel: 2, filters: 4, stride: 2, output_padding: 2}",
            "output_padding: output_padding 2 must be less",
        ),
        ("{type: conv_transpose, kernel: 2, filters: 5, groups: 2}", "groups: groups 2 does"),
        ("{type: depth_to_space, block_size: 0}", "block_size: expected an integer >= 1"),
        ("{type: depth_to_space, block_size: 3}", "block_size: 4 channels do not fill"),
        ("{type: depth_to_space, block_size: 2, order: rcd}", "order: expected dcr or crd"),
        ("{type: pad, channels: [1]}", "channels: expected [before, after]"),
        ("{type: pad}", "a pad layer needs padding (spatial) or channels"),
        ("{type: pad, padding: same}", "padding: a pad layer pads by explicit amounts"),
    ],
)
def test_bad_values_are_one_line(tmp_path: Path, layer: str, message: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"input: [6, 6, 4]\nlayers:\n  - {layer}\n")
    line = error_line(spec)
    assert line.startswith(f"sepconv: error: {spec}:3:") and message in line, line


def test_timing_refuses_each_by_name(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC)
    notes = timing_notes(spec)
    assert notes == {
        "up": f"not timed: a conv_transpose {NOT_EXECUTED}",
        "widen": f"not timed: a shape {NOT_EXECUTED}",
        "d2s": f"not timed: a shape {NOT_EXECUTED}",
        "norm": f"not timed: a reduce {NOT_EXECUTED}",
    }


def test_the_schema_has_the_new_layers() -> None:
    done = runner.invoke(app, ["schema"])
    assert done.exit_code == 0, done.output
    defs = json.loads(done.stdout)["$defs"]
    assert {"reduce", "conv_transpose", "depth_to_space"} <= set(defs)
    assert set(defs["pad"]["properties"]) >= {"padding", "channels"}
    assert "div" in defs["branches"]["properties"]["merge"]["enum"]
