"""Small ONNX models built with ``onnx.helper`` for the tests (skips where onnx is missing).
Imports nothing from sepconv."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
helper = onnx.helper
TP = onnx.TensorProto

Dims = Sequence[int | str | None] | None


def weight(name: str, *shape: int, dtype: Any = None) -> Any:
    """An initializer of ``shape`` (zeros: the counts need shapes only)."""
    return onnx.numpy_helper.from_array(np.zeros(shape, dtype or np.float32), name)


def ints(name: str, *values: int) -> Any:
    """An int64 initializer holding ``values`` (a shape, axes, pads)."""
    return onnx.numpy_helper.from_array(np.array(values, np.int64), name)


def node(
    op: str, inputs: Sequence[str], outputs: Sequence[str], name: str = "", **attrs: Any
) -> Any:
    return helper.make_node(op, list(inputs), list(outputs), name=name or None, **attrs)


def save(
    path: Path,
    nodes: Sequence[Any],
    inputs: dict[str, Dims],
    outputs: Sequence[str] | dict[str, Dims],
    inits: Sequence[Any] = (),
    opset: int = 17,
    external: bool = False,
) -> Path:
    """Write a model of ``nodes`` (float inputs of the given dims) to ``path``; its outputs
    of no declared shape, or of the dims ``outputs`` maps each to."""
    declared = outputs if isinstance(outputs, dict) else dict.fromkeys(outputs)
    graph = helper.make_graph(
        list(nodes),
        path.stem,
        [helper.make_tensor_value_info(n, TP.FLOAT, d) for n, d in inputs.items()],
        [helper.make_tensor_value_info(n, TP.FLOAT, d) for n, d in declared.items()],
        list(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if external:
        onnx.save(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=path.name + ".data",
            size_threshold=0,
        )
    else:
        onnx.save(model, str(path))
    return path


def conv_model(path: Path, x: Sequence[int | str], w: Sequence[int], **attrs: Any) -> Path:
    """One Conv of input dims ``x`` and weight dims ``w``."""
    return save(
        path, [node("Conv", ["x", "w"], ["y"], "conv", **attrs)], {"x": x}, ["y"], [weight("w", *w)]
    )
