"""silero-vad's parts (issue 21, item 5): a ``Gather`` of one constant index of a computed
tensor or a graph input (its ``state[0]``, one step of its encoder's output) is written by
``export-spec`` as a ``slice`` and a ``reshape`` without the dim; both count nothing, as the
ONNX reader counts nothing for the ``Gather``. Expected counts are hand arithmetic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from onnx_graphs import helper, node, np, onnx, weight  # tests/onnx_graphs.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def totals(*args: str) -> tuple[int, int]:
    done = runner.invoke(app, ["profile", *args, "--no-time", "--format", "json"])
    assert done.exit_code == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    found = doc["totals"]["as_specified"]
    return found["macs"], found["params"]


def export_spec(model: Path, spec: Path, *flags: str) -> str:
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec), *flags])
    assert done.exit_code == 0, done.stderr
    return spec.read_text()


def test_a_gather_of_one_step_is_a_slice_and_a_reshape(tmp_path: Path) -> None:
    model = save(
        tmp_path / "step.onnx",
        [
            node("Conv", ["x", "w1"], ["c"], "conv1"),
            node("Gather", ["c", "two"], ["g"], "select", axis=2),
            node("Conv", ["g", "w2"], ["y"], "conv2"),
        ],
        {"x": [1, 3, 8, 8]},
        3,
        [weight("w1", 4, 3, 1, 1), weight("w2", 5, 4, 1), scalar("two", 2)],
    )
    text = export_spec(model, tmp_path / "spec.yaml")
    assert "{type: slice, name: select, axis: 0, start: 2, end: 3}" in text
    assert "type: reshape, name: select.1" in text
    # conv1: 8·8·3·4 = 768 MACs, 12 params; the Gather: none; conv2 on [1, 4, 8]:
    # 8·4·5 = 160 MACs, 20 params
    assert totals(str(model)) == totals(str(tmp_path / "spec.yaml")) == (768 + 160, 12 + 20)
    done = runner.invoke(
        app, ["export", str(tmp_path / "spec.yaml"), "-o", str(tmp_path / "b.onnx")]
    )
    assert done.exit_code == 0, done.stderr
    assert totals(str(tmp_path / "b.onnx"))[0] == 768 + 160


def scalar(name: str, value: int) -> Any:
    """A scalar int64 initializer (a Gather's index: it drops the dim)."""
    return onnx.numpy_helper.from_array(np.array(value, np.int64), name)


def save(path: Path, nodes: list[Any], inputs: dict[str, Any], out: Any, inits: list[Any]) -> Path:
    """A model of ``nodes`` with float inputs and one output ``y`` of rank ``out``."""
    floats = onnx.TensorProto.FLOAT
    made = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info(n, floats, d) for n, d in inputs.items()],
        [helper.make_tensor_value_info("y", floats, [f"d{i}" for i in range(out)])],
        inits,
    )
    onnx.save(helper.make_model(made, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path
