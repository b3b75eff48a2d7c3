"""``resize`` and recurrent rows as ONNX nodes (``sepconv export``), written so that the
ONNX reader counts them as the spec does and ``export-spec`` reads them back
(:mod:`~sepconv_cli.interchange.spec_sequence`).

* A ``resize`` is one ``Resize`` to the row's output ``sizes`` (``[N, C, *spatial]``), in
  its mode (``nearest``, ``linear``, ``cubic``).
* A recurrent row on the spec's ``[T, I]`` (ONNX ``[N, I, T]``) is ``Transpose`` (perm
  ``[2, 0, 1]``) to ``[T, N, I]``, the ``LSTM``/``GRU``/``RNN`` with seeded weights ``W``,
  ``R`` and (with a bias) ``B`` as initializers, then ``Transpose`` (perm ``[2, 1, 3, 0]``)
  and ``Reshape`` of ``Y`` to ``[N, directions · H, T]``, the spec's ``[T, directions ·
  H]``. Each initial state it reads (the spec's ``[directions, H]``, ONNX ``[N, H,
  directions]``) is made ``[directions, N, H]`` by the same first ``Transpose``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sepconv_cli.counting.network import Row
from sepconv_cli.counting.ops import Passthrough
from sepconv_cli.counting.tensor_ops import GATES, Elementwise, Recurrent
from sepconv_cli.interchange.onnx_build import GraphBuilder, emit_activation, nchw

SEQUENCE_ROWS = ("resize", "lstm", "gru", "rnn")
_OPS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def emit_sequence_row(
    g: GraphBuilder, row: Row, inputs: Sequence[str], name: str, activation: bool
) -> str:
    """One instance of a ``resize`` or recurrent ``row`` reading ``inputs`` (the recurrent
    layer's sequence, then its states); returns its output."""
    op = row.forms.as_specified[0]
    if isinstance(op, Recurrent):
        out = _recurrent(g, op, inputs, name)
    else:
        assert isinstance(op, (Passthrough, Elementwise))
        mode = op.function.removeprefix("resize_") if isinstance(op, Elementwise) else "nearest"
        sizes = g.constant(f"{name}.sizes", np.array(nchw(op.out_shape, g.batch), np.int64))
        out = g.node("Resize", [inputs[0], "", "", sizes], name, mode=mode)
    if activation:
        out = emit_activation(g, row.activation, out, f"{name}/{row.activation}")
    return out


def _recurrent(g: GraphBuilder, op: Recurrent, inputs: Sequence[str], name: str) -> str:
    gates, hidden, dirs = GATES[op.kind], op.hidden, op.directions
    x = g.node("Transpose", [inputs[0]], f"{name}/sequence", perm=[2, 0, 1])
    w = g.weight(f"{name}.W", (dirs, gates * hidden, op.input_size), op.input_size)
    r = g.weight(f"{name}.R", (dirs, gates * hidden, hidden), hidden)
    b = g.weight(f"{name}.B", (dirs, 2 * gates * hidden), hidden) if op.bias else ""
    states = [
        g.node("Transpose", [s], f"{name}/state{i}", perm=[2, 0, 1])
        for i, s in enumerate(inputs[1:])
    ]
    operands = [x, w, r, b, "", *states]
    while operands and not operands[-1]:
        operands.pop()
    direction = "bidirectional" if dirs == 2 else "forward"
    y = g.node(_OPS[op.kind], operands, name, hidden_size=hidden, direction=direction)
    turned = g.node("Transpose", [y], f"{name}/turn", perm=[2, 1, 3, 0])
    shape = g.constant(f"{name}.shape", np.array([g.batch, dirs * hidden, op.steps], np.int64))
    return g.node("Reshape", [turned, shape], f"{name}/sequence_out")
