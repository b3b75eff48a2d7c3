"""Bounded work on hostile ONNX files (issue 22): folding is bounded by OUTPUT size.

A 186-byte ConstantOfShape took 35 s and 4.2 GB, a 1 KB Range 66 s and 9.2 GB: the folding
limit capped inputs, not outputs. Now every node's output shape is known before it is
evaluated (interchange/onnx_fold_size.py), a node that would make more than 4,096 values is
not evaluated, and a file that needs such a value is one line naming the node and the size it
asked for (exit 2). onnx's own data propagation, which writes a 1-D tensor's every value as a
dim, runs in bounded memory too.

Each bomb runs the CLI in a child held to 2 GiB of address space; a case passes with exit 0
and non-negative counts, or exit 2 and the one line, and a peak resident size under 1 GiB
(the old code built each bomb: 1.2 to 7 GB). No test asserts a time; 60 s is a hang guard.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnx")

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from onnx_graphs import Dims, ints, node, save, weight  # tests/onnx_graphs.py

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_fold_size import NeedsValue, Operand, plan
from sepconv_cli.interchange.onnx_load import infer_bounded
from sepconv_cli.interchange.onnx_shapes import Tensors, fold

GIB = 1 << 30
X: dict[str, Dims] = {"x": [1, 3, 16, 16]}
CONV = node("Conv", ["x", "w"], ["y"], "/c/Conv")
W = weight("w", 8, 3, 3, 3)
CONV_MACS = 8 * 3 * 9 * 14 * 14


def _input(*dims: int) -> dict[str, Dims]:
    return {"x": list(dims)}


def scalar(name: str, value: Any, dtype: Any = np.int64) -> Any:
    return numpy_helper.from_array(np.array(value, dtype), name)


def array(name: str, value: Any) -> Any:
    return numpy_helper.from_array(np.asarray(value), name)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * GIB, 2 * GIB))


def profile_bounded(path: Path) -> tuple[int, str, dict[str, Any] | None, int]:
    """``sepconv profile PATH --format json`` in a child held to 2 GiB of address space:
    its exit code, stderr, JSON report (or None) and peak resident bytes."""
    out, err = path.with_suffix(".json"), path.with_suffix(".err")
    command = [sys.executable, "-m", "sepconv_cli", "profile", str(path), "--format", "json"]
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        child = subprocess.Popen(
            [*command, "-q"], stdout=stdout, stderr=stderr, preexec_fn=_limit_memory
        )
    guard = threading.Timer(60, child.kill)  # a hang guard, not a speed test
    guard.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        guard.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    text = out.read_text()
    report = json.loads(text) if child.returncode == 0 and text else None
    return child.returncode, err.read_text(), report, usage.ru_maxrss * 1024


def needed(extra: list[Any], bomb: str, inits: list[Any]) -> tuple[list[Any], list[Any]]:
    """A graph whose Reshape target a runtime computes from ``bomb``'s values: its smallest
    (1) as the first dim of ``[1, -1]``."""
    nodes = [
        *extra,
        node("ReduceMin", [bomb], ["m"], "/min", keepdims=0),
        node("Cast", ["m"], ["mi"], "/cast", to=TensorProto.INT64),
        node("Unsqueeze", ["mi", "ax"], ["u"], "/u"),
        node("Concat", ["u", "m1"], ["t"], "/cat", axis=0),
        CONV,
        node("Reshape", ["y", "t"], ["z"], "/r"),
    ]
    return nodes, [W, ints("ax", 0), ints("m1", -1), *inits]


ONE = scalar("one", [1.0], np.float32)
THEN = helper.make_graph(
    [node("ConstantOfShape", ["s"], ["t"], "/if/cos", value=ONE)],
    "then",
    [],
    [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)],
)
ELSE = helper.make_graph(
    [node("Constant", [], ["e"], "/if/k", value=ONE)],
    "else",
    [],
    [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)],
)

NEEDED = {
    "constant_of_shape": (
        [node("ConstantOfShape", ["s"], ["b"], "/cos", value=ONE)],
        [ints("s", 30000, 30000)],
        "node /cos (ConstantOfShape): its output would hold 900,000,000 values",
    ),
    "range": (
        [node("Range", ["a", "l", "d"], ["b"], "/rng")],
        [scalar("a", 1), scalar("l", 400_000_001), scalar("d", 1)],
        "node /rng (Range): its output would hold 400,000,000 values",
    ),
    "range_float": (
        [node("Range", ["a", "l", "d"], ["b"], "/rng")],
        [scalar(n, v, np.float32) for n, v in (("a", 1.0), ("l", 1e9), ("d", 1e-3))],
        "node /rng (Range): its output would hold 999,999,",
    ),
    "tile": (
        [node("Tile", ["s", "rep"], ["b"], "/tile")],
        [ints("s", 1), ints("rep", 400_000_000)],
        "node /tile (Tile): its output would hold 400,000,000 values",
    ),
    "expand": (
        [node("Expand", ["s", "to"], ["b"], "/ex")],
        [ints("s", 1), ints("to", 20000, 20000)],
        "node /ex (Expand): its output would hold 400,000,000 values",
    ),
    "pad": (
        [node("Pad", ["s", "p", "v"], ["b"], "/pad")],
        [ints("s", 1), ints("p", 0, 400_000_000), scalar("v", 1)],
        "node /pad (Pad): its output would hold 400,000,001 values",
    ),
    "resize": (
        [node("Resize", ["s", "", "sc"], ["b"], "/resize", mode="nearest")],
        [array("s", np.ones((1, 1), np.float32)), array("sc", np.array([1, 4e8], np.float32))],
        "node /resize (Resize): its output would hold 400,000,000 values",
    ),
    "one_hot": (
        [node("OneHot", ["i", "depth", "v"], ["b"], "/onehot")],
        [ints("i", 0, 1), scalar("depth", 200_000_000), ints("v", 1, 1)],
        "node /onehot (OneHot): its output would hold 400,000,000 values",
    ),
    "concat": (
        [
            node("Concat", ["v"] * 1000, ["c1"], "/cat1", axis=0),
            node("Concat", ["c1"] * 100, ["b"], "/cat2", axis=0),
        ],
        [ints("v", *[1] * 4096)],
        "node /cat1 (Concat): its output would hold 4,096,000 values",
    ),
    "where": (
        [node("Where", ["c", "p", "q"], ["b"], "/where")],
        [
            array("c", np.ones((1000, 1, 1), bool)),
            array("p", np.ones((1, 1000, 1), np.int64)),
            array("q", np.ones((1, 1, 400), np.int64)),
        ],
        "node /where (Where): its output would hold 400,000,000 values",
    ),
    "matmul": (
        [node("MatMul", ["p", "q"], ["b"], "/mm")],
        [array("p", np.ones((4096, 1), np.float32)), array("q", np.ones((1, 4096), np.float32))],
        "node /mm (MatMul): its output would hold 16,777,216 values",
    ),
    "einsum_output": (
        [node("Einsum", ["p", "q", "r"], ["b"], "/ein", equation="i,j,k->ijk")],
        [array(n, np.ones(900, np.float32)) for n in "pqr"],
        "node /ein (Einsum): its output would hold 729,000,000 values",
    ),
    "einsum_work": (
        [node("Einsum", ["p", "q", "r"], ["b"], "/ein", equation="i,j,k->")],
        [array(n, np.ones(4096, np.float32)) for n in "pqr"],
        "node /ein (Einsum): evaluating it would take 206,158,430,208 steps",
    ),
    "in_an_if_branch": (
        [node("If", ["cond"], ["b"], "/if", then_branch=THEN, else_branch=ELSE)],
        [ints("s", 30000, 30000), scalar("cond", True, np.bool_)],
        "node /if/cos (ConstantOfShape): its output would hold 900,000,000 values",
    ),
    "nested": (
        [
            node("ConstantOfShape", ["n"], ["dims"], "/dims", value=ints("k", 20000)),
            node("ConstantOfShape", ["dims"], ["b"], "/cos", value=ONE),
        ],
        [ints("n", 2)],
        "node /cos (ConstantOfShape): its output would hold 400,000,000 values",
    ),
    "int64_overflow": (
        [node("Mul", ["p", "p"], ["b"], "/mul")],
        [ints("p", 2**40)],
        "node /mul (Mul): its integer values could reach 1,208,925,819,614,629,174,706,176, "
        "past the largest its type holds (9,223,372,036,854,775,807)",
    ),
}


@pytest.mark.parametrize("case", sorted(NEEDED))
def test_a_bomb_whose_value_is_needed_is_refused_naming_the_node(tmp_path: Path, case: str) -> None:
    """Each bomb feeds a Reshape's target: one line naming the node and the size it asked
    for, exit 2, in bounded memory. (The old code built each, 1.6 to 7 GB, and counted.)"""
    extra, inits, message = NEEDED[case]
    nodes, all_inits = needed(extra, "b", inits)
    path = save(tmp_path / f"{case}.onnx", nodes, X, ["z"], all_inits)
    code, err, _, peak = profile_bounded(path)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("sepconv: error: ") and message in err
    assert "needs its value for its target shape" in err
    assert peak < GIB


def _unused_bomb(tmp_path: Path) -> Path:
    nodes = [
        node("ConstantOfShape", ["s"], ["b"], "/cos", value=ONE),
        node("ReduceMax", ["b"], ["m"], "/max", keepdims=0),
        CONV,
        node("Add", ["y", "m"], ["z"], "/add"),
    ]
    return save(tmp_path / "u.onnx", nodes, X, ["z"], [W, ints("s", 1, 300_000_000)])


def _declared_vector(tmp_path: Path) -> Path:
    """A 1-D input of 16 M values read by a Cast: onnx's data propagation wrote 16 M dims
    (2.3 GB)."""
    nodes = [CONV, node("Cast", ["v"], ["vf"], "/cast", to=TensorProto.FLOAT)]
    inputs: dict[str, Dims] = {"x": [1, 3, 16, 16], "v": [16_000_000]}
    return save(tmp_path / "v.onnx", nodes, inputs, ["y", "vf"], [W])


def _found_vector(tmp_path: Path) -> Path:
    """A 1-D tensor whose 16 M length only data propagation finds (Shape → Mul →
    ConstantOfShape → Cast): bounded by the memory limit around onnx's inference."""
    nodes = [
        node("Shape", ["x"], ["s"], "/shape"),
        node("Gather", ["s", "i3"], ["n"], "/g", axis=0),
        node("Mul", ["n", "n"], ["nn"], "/mul"),
        node("Unsqueeze", ["nn", "ax"], ["len"], "/u"),
        node("ConstantOfShape", ["len"], ["c"], "/cos", value=ints("k", 1)),
        node("Cast", ["c"], ["cf"], "/cast", to=TensorProto.FLOAT),
        node("Conv", ["x", "w"], ["y"], "/c/Conv"),
    ]
    inits = [W, scalar("i3", 3), ints("ax", 0)]
    return save(tmp_path / "f.onnx", nodes, _input(1, 3, 4096, 4096), ["y", "cf"], inits)


def _if_on_a_bomb(tmp_path: Path) -> Path:
    """An If whose condition reads a 1.2 GB Where: neither the control-flow pass nor the
    walk evaluates it; the If stays, named as not counted."""
    nodes = [
        node("Where", ["c", "p", "q"], ["b"], "/where"),
        node("ReduceMax", ["b"], ["m"], "/max", keepdims=0),
        node("Greater", ["m", "zero"], ["cond"], "/gt"),
        node("If", ["cond"], ["t"], "/if", then_branch=THEN, else_branch=ELSE),
        CONV,
    ]
    inits = [
        W,
        ints("s", 2, 2),
        array("c", np.ones((1000, 1, 1), bool)),
        array("p", np.ones((1, 1000, 1), np.int32)),
        array("q", np.ones((1, 1, 300), np.int32)),
        scalar("zero", 0, np.int32),
    ]
    return save(tmp_path / "i.onnx", nodes, X, ["y", "t"], inits)


@pytest.mark.parametrize(
    "build",
    [_unused_bomb, _declared_vector, _found_vector, _if_on_a_bomb],
    ids=lambda f: f.__name__,
)
def test_a_bomb_nothing_needs_is_counted_around(tmp_path: Path, build: Any) -> None:
    """A bomb whose value nothing counted needs: exit 0, the conv counted exactly, no count
    negative, and never the bomb's memory (the old code peaked at 1.2 to 2 GB here)."""
    code, err, report, peak = profile_bounded(build(tmp_path))
    assert code == 0, err
    assert report is not None
    totals = report["totals"]["as_specified"]
    assert all(v >= 0 for v in totals.values() if not isinstance(v, str))  # peak_at: a name
    conv = next(r for r in report["layers"] if r["type"] == "conv")
    assert conv["as_specified"]["macs"] > 0
    assert peak < GIB


def test_huge_dims_count_exactly_without_allocating(tmp_path: Path) -> None:
    """A 2**40 × 2**40 input: the counts are Python ints, exact and positive."""
    path = save(tmp_path / "h.onnx", [CONV], _input(1, 3, 2**40, 2**40), ["y"], [W])
    code, err, report, peak = profile_bounded(path)
    assert code == 0, err
    assert report is not None
    assert report["totals"]["as_specified"]["macs"] == 8 * 3 * 9 * (2**40 - 2) ** 2
    assert peak < GIB


def test_a_dim_past_int64_is_refused_where_shape_arithmetic_needs_it(tmp_path: Path) -> None:
    """Shape arithmetic on dims 2**40: their product wraps NumPy's int64 (to 0 here); it is
    refused, naming the node, instead of becoming a count."""
    nodes = [
        CONV,
        node("Shape", ["y"], ["sy"], "/sh"),
        node("Gather", ["sy", "i2"], ["h"], "/g", axis=0),
        node("Mul", ["h", "h"], ["hw"], "/mul"),
        node("Concat", ["one", "hw"], ["t"], "/cat", axis=0),
        node("Reshape", ["y", "t"], ["z"], "/r"),
    ]
    inits = [W, ints("i2", 2), ints("one", 1)]
    path = save(tmp_path / "o.onnx", nodes, _input(1, 3, 2**40, 2**40), ["z"], inits)
    code, err, _, _ = profile_bounded(path)
    assert code == 2, err
    assert "node /mul (Mul): its integer values could reach" in err


# -- the plan: shapes before evaluation, in process ----------------------------------------

I64 = np.int64
PLANNED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("ConstantOfShape", {"s": np.array([2, 3], I64)}, {}),
    ("Range", {"a": np.array(7, I64), "l": np.array(-5, I64), "d": np.array(-3, I64)}, {}),
    ("Range", {"a": np.float32(0.5), "l": np.float32(2.0), "d": np.float32(0.4)}, {}),
    ("Tile", {"x": np.ones((2, 3), I64), "r": np.array([2, 1], I64)}, {}),
    ("Expand", {"x": np.ones((3, 1), I64), "s": np.array([2, 1, 4], I64)}, {}),
    ("Pad", {"x": np.ones((2, 3), I64), "p": np.array([1, 0, 2, 3], I64)}, {}),
    ("Concat", {"a": np.ones((2, 3)), "b": np.ones((2, 5))}, {"axis": 1}),
    ("Gather", {"x": np.ones((4, 5, 6)), "i": np.array([[0, 1]], I64)}, {"axis": 1}),
    (
        "Slice",
        {
            "x": np.ones((10, 4)),
            "s": np.array([8, -9], I64),
            "e": np.array([1, 2**62], I64),
            "a": np.array([0, 1], I64),
            "t": np.array([-3, 2], I64),
        },
        {},
    ),
    ("Reshape", {"x": np.ones((2, 3, 4)), "s": np.array([0, -1], I64)}, {}),
    ("Unsqueeze", {"x": np.ones((2, 3)), "a": np.array([-1, 0], I64)}, {}),
    ("Squeeze", {"x": np.ones((1, 3, 1))}, {}),
    ("Transpose", {"x": np.ones((2, 3, 4))}, {"perm": [1, 2, 0]}),
    ("Flatten", {"x": np.ones((2, 3, 4))}, {"axis": 2}),
    ("Split", {"x": np.ones((7, 2)), "n": np.array([3, 4], I64)}, {}),
    (
        "Resize",
        {
            "x": np.ones((1, 1, 2, 3), np.float32),
            "r": "",
            "s": np.array([1, 1, 2, 1.5], np.float32),
        },
        {},
    ),
    ("OneHot", {"i": np.array([[0, 2]], I64), "d": np.array(5, I64), "v": np.array([0, 1])}, {}),
    ("ReduceSum", {"x": np.ones((2, 3, 4)), "a": np.array([1], I64)}, {"keepdims": 0}),
    ("ArgMax", {"x": np.ones((2, 3, 4))}, {"axis": -1}),
    ("TopK", {"x": np.ones((2, 6)), "k": np.array([4], I64)}, {}),
    ("Where", {"c": np.ones((2, 1), bool), "a": np.ones((1, 3)), "b": np.ones(3)}, {}),
    ("MatMul", {"a": np.ones((2, 1, 3, 4)), "b": np.ones((5, 4, 2))}, {}),
    ("Gemm", {"a": np.ones((4, 3)), "b": np.ones((5, 4))}, {"transA": 1, "transB": 1}),
    ("Einsum", {"a": np.ones((2, 3, 4)), "b": np.ones((4, 5))}, {"equation": "...j,jk"}),
    (
        "Conv",
        {"x": np.ones((1, 4, 7, 9), np.float32), "w": np.ones((6, 2, 3, 2), np.float32)},
        {"group": 2, "strides": [2, 3], "pads": [1, 0, 2, 1], "dilations": [1, 2]},
    ),
    (
        "MaxPool",
        {"x": np.ones((1, 2, 7, 7), np.float32)},
        {"kernel_shape": [3, 3], "ceil_mode": 1, "strides": [2, 2]},
    ),
    ("DepthToSpace", {"x": np.ones((1, 8, 2, 3))}, {"blocksize": 2}),
    ("Shape", {"x": np.ones((2, 3, 4))}, {"start": -2}),
]


@pytest.mark.parametrize(("op", "feeds", "attrs"), PLANNED, ids=[c[0] for c in PLANNED])
def test_the_plan_gives_the_shapes_the_reference_runtime_makes(
    op: str, feeds: dict[str, Any], attrs: dict[str, Any]
) -> None:
    """The output shapes a plan gives before evaluating equal what onnx.reference makes."""
    names = ["" if isinstance(v, str) else k for k, v in feeds.items()]  # "": absent
    made = helper.make_node(op, names, ["out"], **attrs)
    ops = [
        Operand(np.asarray(v).shape, np.asarray(v)) if not isinstance(v, str) else None
        for v in feeds.values()
    ]
    planned = plan(made, ops)
    assert planned is not None and planned.refusal == ""
    given = {k: v for k, v in feeds.items() if not isinstance(v, str)}
    (value,) = ReferenceEvaluator(made).run(None, given)
    assert planned.shapes[0] == np.asarray(value).shape


def test_a_plan_that_needs_a_value_not_held_says_which() -> None:
    made = helper.make_node("Reshape", ["x", "t"], ["out"])
    with pytest.raises(NeedsValue) as raised:
        plan(made, [Operand((2, 3), np.ones((2, 3))), Operand((10**9,))])
    assert (raised.value.position, raised.value.what) == (1, "target shape")


@pytest.mark.parametrize(
    ("made", "ops", "why"),
    [
        (
            helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64),
            [Operand((1,), np.array([np.nan], np.float32))],
            "integer values could reach",
        ),
        (
            helper.make_node("Size", ["x"], ["y"]),
            [Operand((2**40, 2**40))],
            "integer values could reach 1,208,925,819,614,629,174,706,176",
        ),
        (
            helper.make_node("ReduceProd", ["x"], ["y"], keepdims=0),
            [Operand((70,), np.full(70, 2, np.int64))],
            "integer values could reach",
        ),
        (
            helper.make_node(
                "Constant",
                [],
                ["y"],
                sparse_value=helper.make_sparse_tensor(
                    numpy_helper.from_array(np.array([1.0], np.float32)),
                    numpy_helper.from_array(np.array([0], np.int64)),
                    [2**30, 2**30],
                ),
            ),
            [],
            "its output would hold 1,152,921,504,606,846,976 values",
        ),
    ],
    ids=["cast_nan", "size_past_int64", "reduce_prod", "sparse_constant"],
)
def test_a_plan_refuses_what_would_overflow_or_blow_up(made: Any, ops: list[Any], why: str) -> None:
    planned = plan(made, ops)
    assert planned is not None
    assert why in planned.refusal


def test_fold_records_the_shape_of_a_bomb_and_refuses_who_needs_it(tmp_path: Path) -> None:
    """Folding a bomb gives no value (``[]``): its shape and why are recorded; reading its
    value for a shape is the one-line error naming the bomb."""
    tensors = Tensors(base_dir=tmp_path, path=tmp_path / "m.onnx")
    tensors.values["s"] = np.array([100_000, 100_000], I64)
    bomb = helper.make_node("ConstantOfShape", ["s"], ["b"], name="/cos")
    assert fold(bomb, tensors) == []
    assert tensors.shapes["b"] == (100_000, 100_000)
    shape = helper.make_node("Shape", ["b"], ["sb"], name="/shape")
    (dims,) = fold(shape, tensors) or [None]
    assert dims is not None and list(dims) == [100_000, 100_000]  # its shape is known
    total = helper.make_node("ReduceSum", ["b"], ["t"], name="/sum", keepdims=0)
    assert fold(total, tensors) == [] and tensors.shapes["t"] == ()
    reshape = helper.make_node("Reshape", ["x", "t"], ["y"], name="/r")
    with pytest.raises(UsageError) as raised:
        tensors.need(reshape, 1, "target shape")
    assert str(raised.value) == (
        f"{tmp_path / 'm.onnx'}: node /cos (ConstantOfShape): its output would hold "
        "10,000,000,000 values; sepconv folds constants of up to 4,096 (node /r (Reshape) "
        "needs its value for its target shape)"
    )


def test_inference_skips_data_propagation_on_a_declared_long_vector() -> None:
    """A graph input of 2**40 values: onnx's data propagation would write 2**40 dims; it
    does not run, and the reason says so."""
    graph = helper.make_graph(
        [node("Cast", ["v"], ["w"], to=TensorProto.FLOAT)],
        "g",
        [helper.make_tensor_value_info("v", TensorProto.INT64, [2**40])],
        [helper.make_tensor_value_info("w", TensorProto.FLOAT, None)],
    )
    inferred, why = infer_bounded(helper.make_model(graph))
    assert inferred is not None
    assert "'v' is a 1-D tensor of 1,099,511,627,776 values" in why
    assert inferred.graph.output[0].type.tensor_type.shape.dim[0].dim_value == 2**40
