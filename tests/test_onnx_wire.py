"""Reading an ONNX file without its large weights' bytes (interchange/onnx_wire.py).

The reference is ``onnx.load`` of the same file: the message sepconv reads, once each
weight it left in the file is read back from where it says, equals onnx's message
(protobuf equality); a file onnx cannot read is one line, as before; the counts do not
change. The field numbers the walk follows are checked against onnx's own descriptors.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnx")

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange import onnx_wire
from sepconv_cli.interchange.onnx_load import FOLD_LIMIT, load_graph, tensor_array
from sepconv_cli.interchange.onnx_validate import load_checked

runner = CliRunner()


def _weight(name: str, *shape: int, seed: int = 0) -> TensorProto:
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(values, name)


def _model() -> onnx.ModelProto:
    """A 3×3 conv of 64 → 64 channels (36,864 weights: above FOLD_LIMIT) whose weight is an
    initializer, a 1×1 conv whose 64·64 = 4,096 weights (FOLD_LIMIT, kept) come from a
    ``Constant`` node, and a depthwise whose 8,192-value weight (left out) is a Constant
    too; a Reshape's small target shape."""
    nodes = [
        helper.make_node("Conv", ["x", "w3"], ["a"], name="/conv3", pads=[1, 1, 1, 1]),
        helper.make_node("Constant", [], ["w1"], name="/w1", value=_weight("w1v", 64, 64, 1, 1)),
        helper.make_node("Conv", ["a", "w1"], ["b"], name="/conv1"),
        helper.make_node("Constant", [], ["wd"], name="/wd", value=_weight("wdv", 64, 1, 128)),
        helper.make_node("Reshape", ["wd", "shape"], ["wdr"], name="/wd/reshape"),
        helper.make_node("Conv", ["b", "wdr"], ["y"], name="/dw", group=64, pads=[1, 1, 1, 1]),
    ]
    inits = [
        _weight("w3", 64, 64, 3, 3, seed=1),
        numpy_helper.from_array(np.array([64, 1, 8, 16], np.int64), "shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _restored(slim: Any, folder: Path) -> Any:
    """``slim`` with every tensor it reads from elsewhere made inline again (onnx's own
    external-data loader): what onnx.load would have read."""
    copy = onnx.ModelProto()
    copy.CopyFrom(slim)
    tensors = [*copy.graph.initializer]
    tensors += [a.t for n in copy.graph.node for a in n.attribute if a.HasField("t")]
    for tensor in tensors:
        if tensor.data_location == TensorProto.EXTERNAL:
            onnx.external_data_helper.load_external_data_for_tensor(tensor, str(folder))
            del tensor.external_data[:]
            tensor.ClearField("data_location")
    return copy


def test_the_walk_follows_onnx_field_numbers() -> None:
    """The field numbers the walk hard-codes are onnx.proto's."""
    number = {
        (m.DESCRIPTOR.name, f): m.DESCRIPTOR.fields_by_name[f].number
        for m, fields in (
            (onnx.ModelProto, ["graph"]),
            (onnx.GraphProto, ["node", "initializer"]),
            (onnx.NodeProto, ["attribute"]),
            (onnx.AttributeProto, ["t"]),
            (onnx.TensorProto, ["dims", "raw_data", "external_data", "data_location"]),
        )
        for f in fields
    }
    assert number == {
        ("ModelProto", "graph"): onnx_wire._MODEL_GRAPH,
        ("GraphProto", "node"): onnx_wire._GRAPH_NODE,
        ("GraphProto", "initializer"): onnx_wire._GRAPH_INITIALIZER,
        ("NodeProto", "attribute"): onnx_wire._NODE_ATTRIBUTE,
        ("AttributeProto", "t"): onnx_wire._ATTRIBUTE_TENSOR,
        ("TensorProto", "dims"): onnx_wire._TENSOR_DIMS,
        ("TensorProto", "raw_data"): onnx_wire._TENSOR_RAW_DATA,
        ("TensorProto", "external_data"): onnx_wire._TENSOR_EXTERNAL_DATA,
        ("TensorProto", "data_location"): onnx_wire._TENSOR_DATA_LOCATION,
    }
    assert TensorProto.EXTERNAL == onnx_wire._EXTERNAL


def test_large_weights_stay_in_the_file_and_read_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_model(), str(path))
    full = onnx.load(str(path))
    slim = load_graph(path)
    # the two large tensors (36,864 and 8,192 values) are left out; the 4,096-value one
    # (FOLD_LIMIT: a value sepconv may evaluate) and the shape stay in the message
    assert FOLD_LIMIT == 4096
    w3, shape = slim.graph.initializer
    values = {n.name: n.attribute[0].t for n in slim.graph.node if n.op_type == "Constant"}
    assert w3.data_location == TensorProto.EXTERNAL and not w3.raw_data
    assert values["/wd"].data_location == TensorProto.EXTERNAL
    assert values["/w1"].data_location == TensorProto.DEFAULT and values["/w1"].raw_data
    assert shape.data_location == TensorProto.DEFAULT
    info = {e.key: e.value for e in w3.external_data}
    assert info["location"] == "m.onnx" and int(info["length"]) == 64 * 64 * 9 * 4
    # the message holds the graph, not the weights: (36,864 + 8,192) · 4 bytes fewer
    assert full.ByteSize() - slim.ByteSize() > (36_864 + 8_192) * 4 - 200
    for tensor, name in ((w3, "w3"), (values["/wd"], "wdv")):
        expected = next(
            numpy_helper.to_array(t)
            for t in [*full.graph.initializer]
            + [n.attribute[0].t for n in full.graph.node if n.op_type == "Constant"]
            if t.name == name
        )
        np.testing.assert_array_equal(tensor_array(tensor, tmp_path), expected)
    assert _restored(slim, tmp_path) == full


def test_counts_are_those_of_the_whole_file(tmp_path: Path) -> None:
    """Hand count: conv3 on 16×16, 64 → 64, 3×3: 16·16·64·64·9 MACs, 36,864 params; conv1
    16·16·64·64 and 4,096; the depthwise's 8×16 kernel with pads 1 on 16×16 gives 11×3:
    11·3·64·8·16 MACs, 8,192 params. A symbolic link to the file, which is read whole
    (onnx.load) rather than walked, counts the same."""
    path = tmp_path / "m.onnx"
    onnx.save(_model(), str(path))
    link = tmp_path / "link.onnx"
    link.symlink_to(path)
    assert onnx_wire.slim_model_bytes(link) is None  # read whole
    assert onnx_wire.slim_model_bytes(path) is not None
    reports = []
    for given in (path, link):
        result = runner.invoke(app, ["profile", str(given), "--no-time", "--format", "json"])
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.stdout))
    macs = [r["totals"]["as_specified"]["macs"] for r in reports]
    params = [r["totals"]["as_specified"]["params"] for r in reports]
    assert macs[0] == macs[1] and params[0] == params[1]
    assert params[0] == 36_864 + 4_096 + 8_192
    # conv3 and conv1 on 16×16; the depthwise 8×16 kernel with pads 1 on 16×16 → 11×3
    assert macs[0] == 16 * 16 * 64 * 64 * 9 + 16 * 16 * 64 * 64 + 11 * 3 * 64 * 8 * 16


def test_a_large_weight_of_the_wrong_length_is_one_line(tmp_path: Path) -> None:
    """A 36,864-value weight holding 4 bytes fewer than its dims need: the same line as when
    the weight was read into memory."""
    model = _model()
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:-4]
    path = tmp_path / "short.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(UsageError) as caught:
        load_checked(path)
    assert str(caught.value) == (
        f"{path}: initializer 'w3' holds 147,452 bytes where its dims (64x64x3x3) need "
        "147,456: the file is damaged (a truncated download?)"
    )


@pytest.mark.parametrize("seed", range(60))
def test_a_damaged_file_reads_as_onnx_reads_it(tmp_path: Path, seed: int) -> None:
    """Truncated or bit-flipped: where onnx.load reads the file, sepconv's message equals
    onnx's once the weights it left out are read back; where onnx.load cannot, the reader
    says so in one line (a UsageError), never another exception."""
    data = bytearray(_model().SerializeToString())
    rng = random.Random(seed)
    if seed % 3 == 0:
        data = data[: rng.randrange(len(data))]
    else:
        for _ in range(rng.randint(1, 6)):
            # most flips in the structure (the first and last 600 bytes, around the weights)
            at = rng.choice([rng.randrange(600), len(data) - 1 - rng.randrange(600)])
            data[at] ^= 1 << rng.randrange(8)
    path = tmp_path / f"fuzz_{seed}.onnx"
    path.write_bytes(bytes(data))
    try:
        expected = onnx.load(str(path), load_external_data=False)
    except Exception:
        expected = None
    try:
        slim = load_graph(path)
    except UsageError:
        assert expected is None or not expected.graph.node
        return
    assert expected is not None
    if any(
        t.data_location == TensorProto.EXTERNAL
        for t in [*expected.graph.initializer]
        + [a.t for n in expected.graph.node for a in n.attribute if a.HasField("t")]
    ):
        return  # a flip that made a tensor external itself: nothing of sepconv's to restore
    assert _restored(slim, tmp_path) == expected
