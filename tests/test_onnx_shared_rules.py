"""One output shape rule per ONNX node type (interchange/onnx_fold_rules.py), read two ways:
by the fold planner on what folding holds (``plan``), and by the walk through
``onnx_shape_rules.walked``, which reads a value where a rule asks for one
(``Tensors.need``). Both give the same shapes; the walk names a broken node's fault; the
shared helpers live in a module that imports no other part of the reader (no cycle)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnx")

import numpy as np
from onnx import helper
from onnx.reference import ReferenceEvaluator

from sepconv_cli.interchange import onnx_attrs
from sepconv_cli.interchange.onnx_fold_size import Operand, plan
from sepconv_cli.interchange.onnx_shape_rules import rule_for
from sepconv_cli.interchange.onnx_shapes import MalformedNode, NodeShapeError, Tensors

I64 = np.int64


def walk_shapes(op: str, feeds: dict[str, Any], **attrs: Any) -> list[tuple[int, ...]]:
    """The walk's output shapes for a node of ``op`` on ``feeds`` (name → value, or "" for
    an absent input): every input's shape known, its value readable as a constant."""
    tensors = Tensors(base_dir=Path("."))
    names = ["" if isinstance(v, str) else k for k, v in feeds.items()]
    for name, value in feeds.items():
        if not isinstance(value, str):
            tensors.shapes[name] = tuple(np.asarray(value).shape)
            tensors.values[name] = np.asarray(value)
    made = helper.make_node(op, names, ["out"], name="/n", **attrs)
    rule = rule_for(op)
    assert rule is not None
    return rule(made, [tensors.shapes[n] for n in names if n], tensors)


def planned_shapes(op: str, feeds: dict[str, Any], **attrs: Any) -> list[tuple[int, ...]]:
    names = ["" if isinstance(v, str) else k for k, v in feeds.items()]
    made = helper.make_node(op, names, ["out"], **attrs)
    ops = [
        None if isinstance(v, str) else Operand(np.asarray(v).shape, np.asarray(v))
        for v in feeds.values()
    ]
    found = plan(made, ops)
    assert found is not None
    return found.shapes


def reference_shape(op: str, feeds: dict[str, Any], **attrs: Any) -> tuple[int, ...]:
    names = ["" if isinstance(v, str) else k for k, v in feeds.items()]
    made = helper.make_node(op, names, ["out"], **attrs)
    given = {k: v for k, v in feeds.items() if not isinstance(v, str)}
    value, *_ = ReferenceEvaluator(made).run(None, given)
    return tuple(np.asarray(value).shape)


X = np.ones((1, 3, 4, 6), np.float32)
SHARED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("Reshape", {"x": np.ones((2, 3, 4)), "s": np.array([0, -1], I64)}, {}),
    ("Squeeze", {"x": np.ones((1, 3, 1)), "a": np.array([-1], I64)}, {}),
    ("Squeeze", {"x": np.ones((1, 3, 1)), "a": np.array([], I64)}, {}),  # none, as onnx
    ("Unsqueeze", {"x": np.ones((2, 3)), "a": np.array([-1, 0], I64)}, {}),
    ("Split", {"x": np.ones((7, 2)), "n": np.array([7], I64)}, {}),
    ("Slice", {"x": np.ones((10, 4)), "s": np.array([8], I64), "e": np.array([1], I64)}, {}),
    ("Pad", {"x": np.ones((2, 3)), "p": np.array([1, 0, 2, 3], I64)}, {}),
    ("Tile", {"x": np.ones((2, 3)), "r": np.array([2, 1], I64)}, {}),
    ("Expand", {"x": np.ones((3, 1)), "s": np.array([2, 1, 4], I64)}, {}),
    ("Resize", {"x": X, "r": "", "s": np.array([1, 1, 2, 1.5], np.float32)}, {}),
    ("Resize", {"x": X, "r": "", "c": "", "z": np.array([5, 5], I64)}, {"axes": [2, 3]}),
    (
        "Resize",
        {"x": X, "r": "", "c": "", "z": np.array([5, 5], I64)},
        {"axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"},
    ),
    (
        "Resize",
        {"x": X, "r": "", "c": "", "z": np.array([5, 5], I64)},
        {"axes": [2, 3], "keep_aspect_ratio_policy": "not_smaller"},
    ),
    ("Resize", {"x": X, "r": "", "s": np.array([1.5], np.float32)}, {"axes": [3]}),
    ("ReduceSum", {"x": np.ones((2, 3)), "a": np.array([], I64)}, {"noop_with_empty_axes": 1}),
    ("Einsum", {"a": np.ones((2, 3, 4)), "b": np.ones((4, 5))}, {"equation": "...j,jk"}),
    ("Dropout", {"x": np.ones((2, 3))}, {}),
]


@pytest.mark.parametrize(("op", "feeds", "attrs"), SHARED, ids=[c[0] for c in SHARED])
def test_the_walk_and_the_plan_share_one_rule(
    op: str, feeds: dict[str, Any], attrs: dict[str, Any]
) -> None:
    """The walk's shape, the plan's and the reference runtime's agree."""
    expected = reference_shape(op, feeds, **attrs)
    assert walk_shapes(op, feeds, **attrs)[0] == expected
    assert planned_shapes(op, feeds, **attrs)[0] == expected


BROKEN: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "Reshape",
        {"x": np.ones((2, 3)), "s": np.array([-1, -1], I64)},
        {},
        "target shape (-1, -1): at most one -1, no other negative",
    ),
    (
        "Reshape",
        {"x": np.ones((2, 3)), "s": np.array([5], I64)},
        {},
        "cannot reshape (2, 3) to (5,)",
    ),
    (
        "Reshape",
        {"x": np.ones((0, 3)), "s": np.array([0, -1], I64)},
        {},
        "cannot reshape (0, 3) to (0, -1): no size fills -1",
    ),
    (
        "Transpose",
        {"x": np.ones((2, 3))},
        {"perm": [0, 0]},
        "perm [0, 0] does not permute the input's 2 dims",
    ),
    (
        "Concat",
        {"a": np.ones((2, 3)), "b": np.ones((3, 3))},
        {"axis": 1},
        "inputs (2, 3) and (3, 3) differ off the concat axis 1",
    ),
    (
        "Squeeze",
        {"x": np.ones((2, 3)), "a": np.array([9], I64)},
        {},
        "axis 9 is out of range for a tensor of 2 dim(s)",
    ),
    (
        "Squeeze",
        {"x": np.ones((1, 3)), "a": np.array([1], I64)},
        {},
        "it squeezes axis 1 of (1, 3), of size 3, not 1",
    ),
    (
        "Split",
        {"x": np.ones((7, 2)), "n": np.array([3, 3], I64)},
        {},
        "split sizes [3, 3] do not add up to axis 0 of (7, 2)",
    ),
    (
        "Slice",
        {"x": np.ones(4), "s": np.array([0], I64), "e": np.array([2], I64), "a": "", "t": [0]},
        {},
        "a Slice step is 0 (steps [0])",
    ),
    ("Add", {"a": np.ones((2, 3)), "b": np.ones(4)}, {}, "inputs (2, 3) and (4,) do not broadcast"),
]


@pytest.mark.parametrize(
    ("op", "feeds", "attrs", "message"), BROKEN, ids=[c[3][:40] for c in BROKEN]
)
def test_the_walk_names_a_broken_nodes_fault(
    op: str, feeds: dict[str, Any], attrs: dict[str, Any], message: str
) -> None:
    feeds = {k: np.array(v, I64) if isinstance(v, list) else v for k, v in feeds.items()}
    with pytest.raises(MalformedNode) as raised:
        walk_shapes(op, feeds, **attrs)
    assert str(raised.value) == message
    names = ["" if isinstance(v, str) else k for k, v in feeds.items()]
    ops = [None if isinstance(v, str) else Operand(v.shape, v) for v in feeds.values()]
    assert plan(helper.make_node(op, names, ["out"], **attrs), ops) is None  # not planned


def test_the_walk_refuses_a_value_that_is_not_a_list_of_integers() -> None:
    """The walk reads a shape, axes or pads only from a list of integers (the plan reads
    the values it holds as they are: a float shape is left to the evaluator, which fails)."""
    feeds = {"x": np.ones((2, 3)), "s": np.array([6.0])}
    with pytest.raises(MalformedNode) as raised:
        walk_shapes("Reshape", feeds)
    assert str(raised.value) == (
        "its target shape is a float64 tensor of shape (1,), not a list of integers"
    )


def test_a_computed_value_leaves_the_walks_shape_unknown() -> None:
    tensors = Tensors(base_dir=Path("."))
    tensors.shapes.update({"x": (2, 3), "s": (2,)})  # s is computed: no value
    rule = rule_for("Reshape")
    assert rule is not None
    with pytest.raises(NodeShapeError, match=r"its target shape \(s\) is not a constant"):
        rule(helper.make_node("Reshape", ["x", "s"], ["y"]), [(2, 3), (2,)], tensors)


def test_the_shared_helpers_import_no_other_part_of_the_reader() -> None:
    """onnx_attrs is a leaf: the walk and the fold planner both import it, without a
    cycle."""
    tree = ast.parse(Path(onnx_attrs.__file__).read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    reader = {m for m in imported if m.startswith("sepconv_cli.interchange.")}
    assert reader <= {"sepconv_cli.interchange.optional"}, reader
