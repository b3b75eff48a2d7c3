"""A learned table added or multiplied (``type: learned``) and a concat along a dim other
than the channels (``axis`` on ``concat``): issue 21 item 5's last refusals. Each counts as
the ONNX reader counts its node, is written by ``sepconv export`` as that node and read
back by ``export-spec``; bad values are one line (exit 2); timing refuses each by name.
Expected values are hand arithmetic.
"""

from __future__ import annotations

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

onnx = pytest.importorskip("onnx")


SPEC = """\
name: tables
inputs: {a: [4, 4, 8], b: [2, 4, 8]}
layers:
  - {type: pointwise, name: pw, filters: 8, from: a}
  - {type: learned, name: bias, shape: [4, 1, 8]}
  - {type: learned, name: gain, shape: [4, 4, 1], operation: mul}
  - {type: concat, name: rows, from: [gain, b], axis: 0}
  - {type: pointwise, name: head, filters: 4}
"""
# pw: 4·4 positions · 8 · 8 = 1,024 MACs, 64 params, 2,048 FLOPs
# bias: a 4×1×8 table, 32 params; one FLOP per output value, 4·4·8 = 128
# gain: a 4×4×1 table, 16 params, 128 FLOPs
# rows: [4, 4, 8] and [2, 4, 8] along dim 0: 6×4×8, nothing counted
# head: 6·4 · 8 · 4 = 768 MACs, 32 params, 1,536 FLOPs
EXPECTED = (1_024 + 768, 64 + 32 + 16 + 32, 2_048 + 128 + 128 + 1_536)


def test_counts_by_hand(tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(SPEC)
    assert set(totals(str(spec)).values()) == {EXPECTED}  # one form each


def test_a_concat_along_the_channels_is_the_usual_one(tmp_path: Path) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text(
        "inputs: {a: [4, 4, 8], b: [4, 4, 2]}\nlayers:\n"
        "  - {type: concat, name: c, from: [a, b], axis: -1}\n"
        "  - {type: pointwise, filters: 1}\n"
    )
    # the pointwise reads 4·4 positions of 10 channels: 160 MACs, 10 params, 320 FLOPs
    assert totals(str(spec))["as_specified"] == (160, 10, 320)


def test_export_profile_and_back(tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(SPEC)
    model = tmp_path / "t.onnx"
    done = runner.invoke(app, ["export", str(spec), "-o", str(model), "-q"])
    assert done.exit_code == 0, done.stderr
    nodes = onnx.load(str(model)).graph.node
    assert {n.op_type for n in nodes} >= {"Add", "Mul", "Concat"}
    assert [a.i for n in nodes if n.op_type == "Concat" for a in n.attribute] == [2]  # H
    assert set(totals(str(model)).values()) == {EXPECTED}  # the ONNX reader agrees
    back = tmp_path / "back.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(back)])
    assert done.exit_code == 0, done.stderr
    text = back.read_text()
    assert "{type: learned, name: bias, shape: [4, 1, 8]}" in text
    assert "{type: learned, name: gain, shape: [4, 4, 1], operation: mul}" in text
    assert "axis: 0}" in text
    assert set(totals(str(back)).values()) == {EXPECTED}


def test_a_hand_made_table_graph_round_trips(tmp_path: Path) -> None:
    """Conv 1×1 → Add of a learned 4×5×5 table → Mul by a learned 5×5 one."""
    from onnx_graphs import node, save, weight

    nodes = [
        node("Conv", ["x", "w"], ["c"], "conv"),
        node("Add", ["c", "pos"], ["p"], "pos"),
        node("Mul", ["grid", "p"], ["y"], "grid"),
    ]
    inits = [weight("w", 4, 4, 1, 1), weight("pos", 4, 5, 5), weight("grid", 5, 5)]
    model = save(
        tmp_path / "g.onnx", nodes, {"x": [1, 4, 5, 5]}, {nodes[-1].output[0]: [1, 4, 5, 5]}, inits
    )
    spec = tmp_path / "g.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec)])
    assert done.exit_code == 0, done.stderr
    text = spec.read_text()
    assert "{type: learned, name: pos, shape: [5, 5, 4]}" in text
    assert "{type: learned, name: grid, shape: [5, 5, 1], operation: mul}" in text
    # conv: 25 · 4 · 4 = 400 MACs, 16 params, 800 FLOPs; pos: 100 params, 100 FLOPs;
    # grid: 25 params, 100 FLOPs
    expected = (400, 16 + 100 + 25, 800 + 100 + 100)
    assert totals(str(model))["as_specified"] == expected
    assert set(totals(str(spec)).values()) == {expected}


def test_a_hand_made_concat_along_rows_round_trips(tmp_path: Path) -> None:
    """Two 1×1 convs of one input concatenated along H (ONNX axis 2), then a 1×1 conv."""
    from onnx_graphs import node, save, weight

    nodes = [
        node("Conv", ["x", "wa"], ["a"], "a"),
        node("Conv", ["x", "wb"], ["b"], "b"),
        node("Concat", ["a", "b"], ["rows"], "rows", axis=2),
        node("Conv", ["rows", "wc"], ["y"], "c"),
    ]
    inits = [weight("wa", 4, 4, 1, 1), weight("wb", 4, 4, 1, 1), weight("wc", 2, 4, 1, 1)]
    model = save(
        tmp_path / "r.onnx", nodes, {"x": [1, 4, 5, 5]}, {nodes[-1].output[0]: [1, 2, 10, 5]}, inits
    )
    spec = tmp_path / "r.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec)])
    assert done.exit_code == 0, done.stderr
    assert "{type: concat, name: rows, from: [a, b], axis: 0}" in spec.read_text()
    # a, b: 25 · 4 · 4 = 400 MACs each, 16 params, 800 FLOPs; rows: 10×5×4, nothing;
    # c: 50 · 4 · 2 = 400 MACs, 8 params, 800 FLOPs
    expected = (1_200, 40, 2_400)
    assert totals(str(model))["as_specified"] == expected
    assert set(totals(str(spec)).values()) == {expected}


def test_a_table_along_the_batch_is_refused_by_name(tmp_path: Path) -> None:
    from onnx_graphs import node, save, weight

    nodes = [node("Add", ["x", "t"], ["y"], "per_item")]
    model = save(
        tmp_path / "b.onnx",
        nodes,
        {"x": [2, 4, 5, 5]},
        {nodes[-1].output[0]: [2, 4, 5, 5]},
        [weight("t", 2, 4, 1, 1)],
    )
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(tmp_path / "b.yaml")])
    assert done.exit_code == 2
    assert "cannot express 'per_item' (Add)" in done.stderr


def test_timing_refuses_each_by_name(tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(SPEC)
    notes = timing_notes(spec)
    assert notes["bias"] == notes["gain"] == f"not timed: a elementwise {NOT_EXECUTED}"
    assert notes["rows"] == f"not timed: a shape {NOT_EXECUTED}"


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("{type: learned}", "needs shape"),
        ("{type: learned, shape: [1, 1]}", "shape: a learned table holds two or more values"),
        ("{type: learned, shape: [4], operation: sub}", "operation: a learned layer adds or"),
        ("{type: learned, shape: [3]}", "shape: the table 3 does not broadcast"),
        ("{type: learned, shape: [2, 6, 6, 4]}", "shape: the table 2x6x6x4 has more dims"),
        ("{type: concat, from: [input, b], axis: [0, 1]}", "axis: a concat joins along one dim"),
        ("{type: concat, from: [input, b], axis: 5}", "axis: axis 5 is outside"),
        ("{type: concat, from: [input, b], axis: 0}", "from: a concat along dim 0 needs equal"),
    ],
)
def test_bad_values_are_one_line(tmp_path: Path, layer: str, message: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"inputs: {{input: [6, 6, 4], b: [3, 5, 4]}}\nlayers:\n  - {layer}\n")
    line = error_line(spec)
    assert f"{spec}:3:" in line, line
    assert message in line, line
