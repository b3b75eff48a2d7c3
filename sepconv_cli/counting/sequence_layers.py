"""Recurrent layers (``lstm``, ``gru``, ``rnn``) and ``resize`` as operations: each has one
form (no convolution to separate), counted by the ONNX reader's own rules, so a spec
written from a model file counts what the file counts.

* A recurrent layer reads a sequence of ``steps`` items of ``input`` features (the spec's
  ``[steps, input]``: one spatial dim, the channels) and gives ``[steps, directions ·
  hidden]``. Per step, direction and item ``gates · hidden · (input + hidden)`` MACs
  (gates: LSTM 4, GRU 3, RNN 1); parameters ``W`` (``gates · hidden · input``), ``R``
  (``gates · hidden · hidden``) and, with ``bias`` (the default, as torch and ONNX have
  it), ``B`` (``2 · gates · hidden``), each per direction: ONNX's ``W``, ``R`` and ``B``
  inputs (:class:`~sepconv_cli.counting.tensor_ops.Recurrent`).
* A ``resize`` scales the spatial dims by an integer ``scale`` per dim, or to an
  ``output_size``. ``nearest`` copies values: no MACs, no FLOPs (the ONNX reader counts a
  nearest ``Resize`` as data movement); ``linear`` and ``cubic`` weigh ``taps^d`` inputs
  per output value (2 and 4 taps per resized dim, d the dims whose size changes):
  ``2 · taps^d − 1`` FLOPs per value, no MACs (the reader's ``Resize`` rule).
"""

from __future__ import annotations

from sepconv_cli.counting.ops import Op, Passthrough
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.tensor_ops import GATES, Elementwise, Recurrent, RecurrentKind
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.units import shape_text

INTERPOLATION_TAPS = {"linear": 2, "cubic": 4}
"""Input values each output value of a resize weighs, per resized dim (nearest: 1, a copy)."""

_KINDS: dict[str, RecurrentKind] = {"lstm": "lstm", "gru": "gru", "rnn": "rnn"}


def recurrent_params(kind: RecurrentKind, size: int, hidden: int, dirs: int, bias: bool) -> int:
    """``W``, ``R`` and ``B`` of one recurrent layer: ``dirs · gates · hidden · (size +
    hidden)``, plus ``dirs · 2 · gates · hidden`` with a bias."""
    gates = GATES[kind]
    return dirs * gates * hidden * (size + hidden + (2 if bias else 0))


def recurrent(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[Op, ...]:
    """An ``lstm``, ``gru`` or ``rnn`` layer on ``[steps, features]``."""
    if len(shape) != 2:
        raise ShapeError(
            f"a {spec.type} layer reads a sequence [steps, features], got {shape_text(shape)}",
            "input",
        )
    kind = _KINDS[spec.type]
    steps, size = shape
    hidden = spec.hidden or 0
    dirs = 2 if spec.direction == "bidirectional" else 1
    bias = True if spec.bias is None else spec.bias
    params = recurrent_params(kind, size, hidden, dirs, bias)
    return (Recurrent(kind, steps, size, hidden, dirs, params, bias),)


def resized_shape(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output of a ``resize``: each spatial dim times its ``scale``, or the
    ``output_size``; the channels kept."""
    rank = len(shape) - 1
    if rank < 1:
        raise ShapeError(f"a resize layer needs a spatial input, got {shape_text(shape)}", "input")
    field = "scale" if spec.scale is not None else "output_size"
    values = spec.scale or spec.output_size or (1,)
    if len(values) not in (1, rank):
        raise ShapeError(
            f"{field} has {len(values)} values ({shape_text(values)}) but the input has "
            f"{rank} spatial dim{'s' if rank > 1 else ''}",
            field,
        )
    per_dim = values * rank if len(values) == 1 else values
    if spec.scale is not None:
        spatial = tuple(n * s for n, s in zip(shape[:-1], per_dim, strict=True))
    else:
        spatial = tuple(per_dim)
    return (*spatial, shape[-1])


def resize(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[Op, ...]:
    """A ``resize``: a copy (nearest) or an interpolation (module rules)."""
    out = resized_shape(spec, shape)
    taps = INTERPOLATION_TAPS.get(spec.interpolation)
    if taps is None:
        return (Passthrough(shape, out),)
    resized = sum(1 for a, b in zip(shape, out, strict=True) if a != b)
    return (Elementwise(shape, out, f"resize_{spec.interpolation}", 2 * taps**resized - 1),)


SEQUENCE_LAYERS = {"lstm": recurrent, "gru": recurrent, "rnn": recurrent, "resize": resize}
"""Each type's operations (one form), by :func:`sepconv_cli.counting.lowering.lower`."""
