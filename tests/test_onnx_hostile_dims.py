"""Hostile dims in a model file (issue 22): a negative or empty dim never becomes a count.
A weight or Constant of negative dims counted negative MACs (a 1.85 G-MAC model with one
such node totalled 0 and passed every budget); now each is one line naming the node and
its dims, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx_graphs import node, save  # tests/onnx_graphs.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app


def dims_tensor(name: str, *dims: int) -> onnx.TensorProto:
    """A float tensor that declares ``dims`` and holds no data (as a hostile file may)."""
    tensor = onnx.TensorProto()
    tensor.name = name
    tensor.data_type = TensorProto.FLOAT
    tensor.dims.extend(dims)
    return tensor


def profile(path: Path) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["profile", str(path), "--format", "json", "-q"])
    return done.exit_code, done.stderr


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ((4, -2, 3, 3), "input 'w' has a negative dim (4x-2x3x3)"),
        ((-4, 2, 3, 3), "input 'w' has a negative dim (-4x2x3x3)"),
        ((0, 2, 3, 3), "input 'w' is empty (0x2x3x3)"),
    ],
)
def test_a_weight_of_bad_dims_is_refused_naming_the_node(
    tmp_path: Path, dims: tuple[int, ...], message: str
) -> None:
    nodes = [node("Conv", ["x", "w"], ["y"], "/conv/Conv")]
    path = save(tmp_path / "w.onnx", nodes, {"x": [1, 2, 8, 8]}, ["y"], [dims_tensor("w", *dims)])
    code, err = profile(path)
    assert code == 2
    assert err.strip() == f"sepconv: error: {path}: node /conv/Conv (Conv): {message}"


def test_a_constant_of_negative_dims_is_refused(tmp_path: Path) -> None:
    nodes = [
        helper.make_node(
            "Constant", [], ["w"], name="/w/Constant", value=dims_tensor("v", -4, 2, 3, 3)
        ),
        node("Conv", ["x", "w"], ["y"], "/conv/Conv"),
    ]
    path = save(tmp_path / "c.onnx", nodes, {"x": [1, 2, 8, 8]}, ["y"])
    code, err = profile(path)
    assert code == 2
    assert "node /w/Constant (Constant): " in err  # onnx's checker words the fault
    assert "negative dim" in err.lower()
    assert len(err.strip().splitlines()) == 1
    assert "internal error" not in err


@pytest.mark.parametrize(
    "command",
    [
        ["profile", "{m}", "-o", "{m}"],
        ["profile", "{m}", "--format", "json", "--output", "{m}"],
        ["export-spec", "{m}", "-o", "{m}"],
        ["compare", "{m}", "{m}", "-o", "{m}"],
        ["cost", "--spec", "{m}", "-o", "{m}"],
        ["bench", "{m}", "-o", "{m}"],
    ],
)
def test_the_report_never_replaces_the_model(tmp_path: Path, command: list[str]) -> None:
    """``sepconv profile m.onnx -o m.onnx`` replaced the model with its report: now one
    line naming --output, exit 2, before any work, and the file is untouched."""
    nodes = [node("Conv", ["x", "w"], ["y"], "/conv/Conv")]
    weight = onnx.numpy_helper.from_array(np.zeros((4, 2, 3, 3), np.float32), "w")
    path = save(tmp_path / "m.onnx", nodes, {"x": [1, 2, 8, 8]}, ["y"], [weight])
    before = path.read_bytes()
    args = [part.format(m=path) for part in command]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2, done.output
    assert "is the model being read; the report would replace it" in done.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", ["profile", "export-spec", "bench"])
def test_the_report_never_replaces_the_weights_beside_the_model(
    tmp_path: Path, command: str
) -> None:
    """A model whose weights live in ``m.onnx.data``: ``-o m.onnx.data`` would replace them
    (the model file then loads and counts, but no runtime can run it): refused, exit 2."""
    nodes = [node("Conv", ["x", "w"], ["y"], "/conv/Conv")]
    weight = onnx.numpy_helper.from_array(np.ones((16, 8, 3, 3), np.float32), "w")
    path = save(tmp_path / "m.onnx", nodes, {"x": [1, 8, 8, 8]}, ["y"], [weight], external=True)
    data = tmp_path / "m.onnx.data"
    before = data.read_bytes()
    assert len(before) >= 16 * 8 * 9 * 4  # the weights are there, not in the model file
    done = CliRunner().invoke(app, [command, str(path), "-o", str(data)])
    assert done.exit_code == 2, done.output
    assert done.stderr.strip() == (
        f"sepconv: error: --output: {data} holds the weights of {path}; the report would "
        "replace them"
    )
    assert data.read_bytes() == before


def test_no_report_is_made_of_a_negative_count() -> None:
    """The invariant under every report and gate, checked where counts are made: a row
    whose operation would count negative (here a dense layer on -4 features: -4·8 = -32
    MACs by hand) is one line naming the row's place, never a total."""
    from sepconv_cli.counting.lowering import Forms
    from sepconv_cli.counting.network import Row
    from sepconv_cli.counting.ops import Dense
    from sepconv_cli.counting.report import layer_report
    from sepconv_cli.errors import UsageError

    op = Dense((-4,), 8, bias=False)
    row = Row(0, "fc", "dense", (-4,), Forms("none", (op,), (op,), (op,)), where="m.onnx: node fc")
    with pytest.raises(UsageError) as raised:
        layer_report(row, 1, "float32")
    assert str(raised.value).startswith("m.onnx: node fc: counts -32 macs: ")


def test_a_constant_nodes_bytes_that_do_not_fit_its_dims_are_one_line(tmp_path: Path) -> None:
    """A Constant node's tensor (where paddle2onnx keeps weights) of dims 4×3×3×3 holding
    4 bytes, not 4·3·3·3·4 = 432: refused as the same fault of an initializer is, naming the
    node (onnx's checker, which sees every Constant as a typed input, no longer reads it)."""
    value = dims_tensor("w", 4, 3, 3, 3)
    value.raw_data = np.zeros(1, np.float32).tobytes()
    constant = helper.make_node("Constant", [], ["w"], name="weights", value=value)
    path = save(
        tmp_path / "m.onnx",
        [constant, node("Conv", ["x", "w"], ["y"], "conv")],
        {"x": (1, 3, 8, 8)},
        ["y"],
    )
    code, err = profile(path)
    assert code == 2, err
    assert "Constant node 'weights' holds 4 bytes where its dims (4x3x3x3) need 432" in err
