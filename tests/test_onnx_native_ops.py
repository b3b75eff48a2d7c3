"""The shape arithmetic sepconv folds with NumPy (interchange/onnx_native_ops.py) gives what
ONNX's own reference runtime gives, node by node, at the opsets exporters write."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("onnx")

import numpy as np
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from sepconv_cli.interchange.onnx_native_ops import evaluate_natively

I64 = np.int64
CASES: list[tuple[str, dict[str, Any], dict[str, Any], int]] = [
    ("Unsqueeze", {"x": np.array(40, I64)}, {"axes": [0]}, 11),
    ("Unsqueeze", {"x": np.arange(3, dtype=I64), "axes": np.array([-1, 0], I64)}, {}, 13),
    ("Squeeze", {"x": np.zeros((1, 3, 1), I64)}, {"axes": [2]}, 11),
    ("Squeeze", {"x": np.zeros((1, 3, 1), I64)}, {}, 13),
    ("Gather", {"x": np.array([1, 120, 1, 40], I64), "i": np.array(-1, I64)}, {"axis": 0}, 13),
    (
        "Gather",
        {"x": np.arange(12, dtype=I64).reshape(3, 4), "i": np.array([2, 0], I64)},
        {"axis": 1},
        13,
    ),
    ("Concat", {"a": np.array([1], I64), "b": np.array([-1, 64], I64)}, {"axis": 0}, 13),
    (
        "Slice",
        {
            "x": np.array([1, 120, 1, 40], I64),
            "s": np.array([-2], I64),
            "e": np.array([2**62], I64),
            "a": np.array([0], I64),
            "t": np.array([1], I64),
        },
        {},
        13,
    ),
    (
        "Slice",
        {
            "x": np.arange(10, dtype=I64),
            "s": np.array([8], I64),
            "e": np.array([1], I64),
            "a": np.array([0], I64),
            "t": np.array([-3], I64),
        },
        {},
        13,
    ),
    (
        "Reshape",
        {"x": np.arange(24, dtype=I64).reshape(2, 3, 4), "s": np.array([0, -1], I64)},
        {},
        13,
    ),
    (
        "Reshape",
        {"x": np.arange(24, dtype=I64).reshape(2, 12), "s": np.array([0, 3, -1], I64)},
        {},
        13,
    ),
    ("Cast", {"x": np.array([1.7, -2.5], np.float32)}, {"to": 7}, 13),
    ("Add", {"a": np.array([3], I64), "b": np.array(4, I64)}, {}, 13),
    ("Sub", {"a": np.array([3], I64), "b": np.array([5], I64)}, {}, 13),
    ("Mul", {"a": np.array([3, 2], I64), "b": np.array(7, I64)}, {}, 13),
    ("Div", {"a": np.array([7, -7, 8], I64), "b": np.array(2, I64)}, {}, 13),
    ("Div", {"a": np.array([7.0], np.float32), "b": np.array(2.0, np.float32)}, {}, 13),
    ("Equal", {"a": np.array([3, 4], I64), "b": np.array(4, I64)}, {}, 13),
    (
        "Where",
        {"c": np.array([True, False]), "a": np.array([1, 2], I64), "b": np.array([9, 9], I64)},
        {},
        13,
    ),
    ("Sqrt", {"x": np.array(64.0, np.float32)}, {}, 13),
    ("Max", {"a": np.array([3, 9], I64), "b": np.array(4, I64)}, {}, 13),
    ("Neg", {"x": np.array([3, -9], I64)}, {}, 13),
    ("Floor", {"x": np.array([2.5, -2.5], np.float32)}, {}, 13),
    ("Range", {"s": np.array(2, I64), "l": np.array(11, I64), "d": np.array(3, I64)}, {}, 13),
    (
        "ConstantOfShape",
        {"s": np.array([2, 3], I64)},
        {"value": numpy_helper.from_array(np.array([1], I64))},
        13,
    ),
]


@pytest.mark.parametrize(("op", "feeds", "attrs", "opset"), CASES)
def test_native_folding_matches_the_reference_runtime(
    op: str, feeds: dict[str, Any], attrs: dict[str, Any], opset: int
) -> None:
    node = helper.make_node(op, list(feeds), ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), None)
            for n, v in feeds.items()
        ],
        [helper.make_tensor_value_info("y", 0, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    (expected,) = ReferenceEvaluator(model).run(None, feeds)
    native = evaluate_natively(node, list(feeds), feeds)
    assert native is not None
    np.testing.assert_array_equal(native[0], expected)
    assert native[0].dtype == np.asarray(expected).dtype
    assert native[0].shape == np.asarray(expected).shape
