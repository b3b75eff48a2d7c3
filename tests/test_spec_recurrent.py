"""Recurrent spec layers (issue 21, item 5): ``lstm``, ``gru`` and ``rnn`` count as the ONNX
reader counts an LSTM, GRU or RNN node (gates·H·(I+H) MACs per step and direction; W, R
and B as parameters); a hand-made ONNX LSTM round-trips through ``export-spec``; one in a
layout the spec cannot hold is refused by name. Expected values are hand arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def totals(*args: str) -> dict[str, tuple[int, int]]:
    done = runner.invoke(app, ["profile", *args, "--no-time", "--format", "json"])
    assert done.exit_code == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)["totals"]
    return {
        f: (doc[f]["macs"], doc[f]["params"]) for f in ("as_specified", "standard", "separable")
    }


SPEC = """\
name: rec
inputs: {x: [10, 32], h0: [1, 16], c0: [1, 16]}
layers:
  - {type: lstm, name: l, hidden: 16, from: [x, h0, c0]}
  - {type: gru, name: g, hidden: 8, direction: bidirectional}
  - {type: rnn, name: r, hidden: 4, bias: false}
"""
# lstm: 10 steps · 4 gates · 16 · (32 + 16) = 30,720 MACs; 4·16·(32 + 16 + 2) = 3,200 params
# gru (bidirectional, input 16): 10 · 2 · 3 · 8 · (16 + 8) = 11,520; 2·3·8·(16 + 8 + 2) = 1,248
# rnn (no bias, input 16): 10 · 4 · (16 + 4) = 800; 4·(16 + 4) = 80
EXPECTED = (30_720 + 11_520 + 800, 3_200 + 1_248 + 80)


def test_recurrent_layers_count_by_hand(tmp_path: Path) -> None:
    spec = tmp_path / "rec.yaml"
    spec.write_text(SPEC)
    assert set(totals(str(spec)).values()) == {EXPECTED}  # one form each


def test_spec_export_profile_and_back(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    spec = tmp_path / "rec.yaml"
    spec.write_text(SPEC)
    model = tmp_path / "rec.onnx"
    assert runner.invoke(app, ["export", str(spec), "-o", str(model), "-q"]).exit_code == 0
    assert set(totals(str(model)).values()) == {EXPECTED}  # the ONNX reader agrees
    back = tmp_path / "back.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(back)])
    assert done.exit_code == 0, done.stderr
    text = back.read_text()
    assert "inputs: {x: [10, 32], h0: [1, 16], c0: [1, 16]}" in text
    assert "{type: lstm, name: l, from: [x, h0, c0], hidden: 16}" in text
    assert set(totals(str(back)).values()) == {EXPECTED}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  - {type: lstm, hidden: 4, from: [x, x2, x3, x4]}\n", "at most 3"),
        ("  - {type: gru, hidden: 4, from: [x, h]}\n", "= 3 values"),
        ("  - {type: lstm}\n", "needs hidden"),
        ("  - {type: rnn, hidden: 4, direction: sideways}\n", "expected one of forward"),
    ],
)
def test_bad_recurrent_layers_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "inputs: {x: [5, 8], h: [1, 3], x2: [5, 8], x3: [5, 8], x4: [5, 8]}\nlayers:\n" + text
    )
    done = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert done.exit_code == 2
    assert "bad.yaml:3:" in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr


def _lstm_graph(path: Path, layout: int = 0) -> Path:
    onnx = pytest.importorskip("onnx")
    import numpy as np

    helper, h, i, t = onnx.helper, 16, 32, 10
    w = onnx.numpy_helper.from_array(np.zeros((1, 4 * h, i), np.float32), "W")
    r = onnx.numpy_helper.from_array(np.zeros((1, 4 * h, h), np.float32), "R")
    b = onnx.numpy_helper.from_array(np.zeros((1, 8 * h), np.float32), "B")
    shape = onnx.numpy_helper.from_array(np.array([1, h, t], np.int64), "shape")
    nodes = [helper.make_node("Transpose", ["x"], ["seq"], name="seq", perm=[2, 0, 1])]
    nodes += [
        helper.make_node(
            "LSTM", ["seq", "W", "R", "B"], ["y"], name="lstm", hidden_size=h, layout=layout
        ),
        helper.make_node("Transpose", ["y"], ["turned"], name="turn", perm=[2, 1, 3, 0]),
        helper.make_node("Reshape", ["turned", "shape"], ["out"], name="out"),
    ]
    inits = [w, r, b, shape]
    graph = helper.make_graph(
        nodes,
        "lstm",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, i, t])],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, h, t])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_hand_made_lstm_round_trips(tmp_path: Path) -> None:
    model = _lstm_graph(tmp_path / "lstm.onnx")
    spec = tmp_path / "lstm.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec)])
    assert done.exit_code == 0, done.stderr
    assert "input: [10, 32]" in spec.read_text()
    # 10 · 4 · 16 · (32 + 16) = 30,720 MACs; W 2,048 + R 1,024 + B 128 = 3,200 params
    assert totals(str(model))["as_specified"] == (30_720, 3_200) == totals(str(spec))["standard"]


def test_an_lstm_the_spec_cannot_hold_is_refused_by_name(tmp_path: Path) -> None:
    """``layout: 1`` (batch first): not the spec's sequence, named, exit 2."""
    model = _lstm_graph(tmp_path / "lstm.onnx", layout=1)
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(tmp_path / "x.yaml")])
    assert done.exit_code == 2
    (line,) = done.stderr.splitlines()
    assert "cannot express 'lstm' (LSTM)" in line
