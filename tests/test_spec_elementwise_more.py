"""The last refusals of issue 21 item 5: ``elementwise`` operations ``pow``, ``sqrt``,
``reciprocal``... and the ``expand`` layer. Each counts as the ONNX reader counts its node
(one FLOP per value; an ``Expand`` nothing), is written by ``sepconv export`` as that node
and read back by ``export-spec``; bad values are one line (exit 2); timing refuses each by
name. Expected values are hand arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from spec_layer_checks import (  # tests/spec_layer_checks.py
    NOT_EXECUTED,
    error_line,
    runner,
    timing_notes,
    totals,
)

from sepconv_cli.cli.app import app

X = [1, 4, 5, 5]  # the hand-made graphs' input

SPEC = """\
name: powers
input: [8, 8, 4]
layers:
  - {type: conv, name: c, kernel: 1, filters: 4}
  - {type: elementwise, name: square, operation: pow}
  - {type: elementwise, name: root, operation: sqrt}
  - {type: elementwise, name: inverse, operation: reciprocal}
  - {type: reduce, name: norm, reduction: l2, axis: [0, 1]}
  - {type: expand, name: wide, shape: [8, 8, 4]}
"""
# c: 8·8 positions · 4 · 4 = 1,024 MACs, 16 params, 2,048 FLOPs (a 1×1 conv: the same in
#    every form); square, root, inverse: one FLOP per value each, 8·8·4 = 256;
# norm: one FLOP per input value, 256, output 1×1×4; wide: 8×8×4, nothing
EXPECTED = (1_024, 16, 2_048 + 3 * 256 + 256)


def test_counts_by_hand(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC)
    assert set(totals(str(spec)).values()) == {EXPECTED}


@pytest.mark.parametrize(
    ("operation", "op"),
    [("exp", "Exp"), ("log", "Log"), ("abs", "Abs"), ("neg", "Neg"), ("erf", "Erf")],
)
def test_each_function_is_one_flop_per_value(tmp_path: Path, operation: str, op: str) -> None:
    onnx = pytest.importorskip("onnx")
    spec = tmp_path / "f.yaml"
    spec.write_text(
        f"input: [3, 5, 2]\nlayers:\n  - {{type: elementwise, name: f, operation: {operation}}}\n"
    )
    assert set(totals(str(spec)).values()) == {(0, 0, 3 * 5 * 2)}  # 30 values
    model = tmp_path / "f.onnx"
    assert runner.invoke(app, ["export", str(spec), "-o", str(model), "-q"]).exit_code == 0
    assert [n.op_type for n in onnx.load(str(model)).graph.node] == [op, "Identity"]
    assert totals(str(model))["as_specified"] == (0, 0, 30)


def test_export_profile_and_back(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC)
    model = tmp_path / "m.onnx"
    assert runner.invoke(app, ["export", str(spec), "-o", str(model), "-q"]).exit_code == 0
    ops = [n.op_type for n in onnx.load(str(model)).graph.node]
    assert ops == ["Conv", "Pow", "Sqrt", "Reciprocal", "ReduceL2", "Expand", "Identity"]
    assert set(totals(str(model)).values()) == {EXPECTED}  # the ONNX reader agrees
    back = tmp_path / "back.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(back)])
    assert done.exit_code == 0, done.stderr
    written = back.read_text()
    for line in (
        "{type: elementwise, name: square, operation: pow}",
        "{type: elementwise, name: root, operation: sqrt}",
        "{type: elementwise, name: inverse, operation: reciprocal}",
        "{type: expand, name: wide, shape: [8, 8, 4]}",
    ):
        assert line in written
    assert set(totals(str(back)).values()) == {EXPECTED}


def test_a_normalization_by_a_broadcast_norm_round_trips(tmp_path: Path) -> None:
    """Conv → Pow by 2 → Sqrt → ReduceL2 over the spatial dims → Expand back → Div of the
    conv's output by it (F.normalize as EdgeNeXt's exporter writes it)."""
    from onnx_graphs import ints, node, onnx, save, weight

    two = onnx.numpy_helper.from_array(onnx_graphs_array(2.0), "two")
    nodes = [
        node("Conv", ["x", "w"], ["c"], "c"),
        node("Pow", ["c", "two"], ["sq"], "square"),
        node("Sqrt", ["sq"], ["root"], "root"),
        node("ReduceL2", ["root"], ["norm"], "norm", axes=[2, 3], keepdims=1),
        node("Expand", ["norm", "shape"], ["wide"], "wide"),
        node("Div", ["c", "wide"], ["y"], "unit"),
    ]
    inits = [weight("w", 4, 4, 1, 1), two, ints("shape", 1, 4, 5, 5)]
    model = save(tmp_path / "g.onnx", nodes, {"x": X}, {nodes[-1].output[0]: [1, 4, 5, 5]}, inits)
    spec = tmp_path / "g.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec)])
    assert done.exit_code == 0, done.stderr
    text = spec.read_text()
    assert "operation: pow" in text and "operation: sqrt" in text
    assert "{type: expand, name: wide, shape: [5, 5, 4]}" in text
    assert "merge: div" in text
    # c: 5·5 · 4 · 4 = 400 MACs, 16 params, 800 FLOPs; square, root, norm (one per input
    # value), the Div: 4·5·5 = 100 FLOPs each; the Expand nothing
    expected = (400, 16, 800 + 4 * 100)
    assert totals(str(model))["as_specified"] == expected
    assert set(totals(str(spec)).values()) == {expected}


def onnx_graphs_array(value: float) -> Any:
    """A one-value float32 array (the exponent)."""
    np = pytest.importorskip("numpy")
    return np.array(value, np.float32)


@pytest.mark.parametrize(
    ("nodes", "named"),
    [
        ([("Pow", ["x", "x"], "p")], "'p' (Pow)"),  # an exponent the graph computes
        ([("Expand", ["x", "shape5"], "e")], "'e' (Expand)"),  # a new leading dim
    ],
)
def test_what_the_spec_cannot_hold_is_named(
    tmp_path: Path, nodes: list[tuple[str, list[str], str]], named: str
) -> None:
    from onnx_graphs import ints, node, save

    made = [node(op, inputs, [name], name) for op, inputs, name in nodes]
    y = [2, 1, 4, 5, 5] if nodes[0][0] == "Expand" else [1, 4, 5, 5]
    model = save(
        tmp_path / "r.onnx",
        made,
        {"x": X},
        {made[-1].output[0]: y},
        [ints("shape5", 2, 1, 4, 5, 5)],
    )
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(tmp_path / "r.yaml")])
    assert done.exit_code == 2, done.output
    (line,) = done.stderr.splitlines()
    assert f"cannot express {named}" in line, line


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("{type: elementwise, operation: cube}", "operation: expected one of"),
        ("{type: elementwise, operation: 2}", "operation: expected one of"),
        ("{type: expand}", "needs shape"),
        ("{type: expand, shape: [6, 6]}", "shape: expand to 6x6 has 2 dims"),
        ("{type: expand, shape: [6, 6, 8]}", "shape: expand cannot broadcast 6x6x4"),
        ("{type: expand, shape: [6, 6, 0]}", "shape: expected an integer >= 1"),
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
    for name in ("square", "root", "inverse"):
        assert notes[name] == f"not timed: a elementwise {NOT_EXECUTED}"
    assert notes["wide"] == f"not timed: a shape {NOT_EXECUTED}"


def test_the_schema_has_the_new_layer_and_operations() -> None:
    done = runner.invoke(app, ["schema"])
    assert done.exit_code == 0, done.output
    defs = json.loads(done.stdout)["$defs"]
    assert "expand" in defs and "shape" in defs["expand"]["properties"]
    enum = defs["elementwise"]["properties"]["operation"]["enum"]
    assert {"add", "pow", "sqrt", "reciprocal"} <= set(enum)
