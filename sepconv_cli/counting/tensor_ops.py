"""Exact cost of the operations model files hold beyond convolution networks' layers: products
of two computed tensors (attention's Q·Kᵀ and A·V, an ``Einsum``), recurrent layers (LSTM,
GRU, RNN), elementwise functions and reductions.

The same rules as :mod:`ops` (exact ints, shapes per item with the batch apart, a bias is
not a MAC, FLOPs = 2·MACs plus the bias adds); the FLOPs of an elementwise function or a
reduction are sepconv's stated convention (:mod:`sepconv_cli.counting.conventions`): one
per output value of an elementwise function, one per input value of a reduction.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Literal

from sepconv_cli.counting.cost import Cost, operation_cost

RecurrentKind = Literal["lstm", "gru", "rnn"]

GATES: dict[RecurrentKind, int] = {"lstm": 4, "gru": 3, "rnn": 1}
"""Gate matrices per step: an LSTM's input, output, forget and cell gates, a GRU's update,
reset and hidden gates, a plain RNN's one."""

CELL_FLOPS: dict[RecurrentKind, int] = {"lstm": 4, "gru": 4, "rnn": 0}
"""Elementwise FLOPs per hidden unit and step of the state update, gate functions apart
(they are activations): LSTM c = f·c + i·g (3), h = o·tanh(c) (1); GRU r·(R·h) (1),
h = (1 − z)·ĥ + z·h (3); RNN none."""


@dataclass(frozen=True)
class Product:
    """A product of two computed tensors (a ``MatMul`` or ``Gemm`` without a weight, a
    two-operand ``Einsum``): per item ``out_shape`` values, each a sum of ``inner``
    products, so ``prod(out_shape) · inner`` MACs (what fvcore, onnx-tool and torch's
    FlopCounterMode count for attention's Q·Kᵀ and A·V). ``in_elems``: values of the
    computed operands read per item; ``params``: an operand that is a weight but no dense
    layer's (batched, or on the left), its values read once."""

    in_shape: tuple[int, ...]
    result_shape: tuple[int, ...]
    inner: int
    in_elems: int
    params: int = 0
    role: Literal["product"] = "product"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.result_shape

    def cost(self, batch: int, itemsize: int) -> Cost:
        out = batch * prod(self.result_shape)
        macs = out * self.inner
        return operation_cost(macs, 2 * macs, self.params, 0, batch * self.in_elems, out, itemsize)


@dataclass(frozen=True)
class Recurrent:
    """An LSTM, GRU or RNN layer over ``steps`` time steps of ``input_size`` features, with
    ``hidden`` units in each of ``directions``: per step and direction each of the ``gates``
    gate matrices multiplies the input and the previous hidden state, so
    ``steps · directions · gates · hidden · (input_size + hidden)`` MACs per item. FLOPs
    ``2 · MACs``, plus the bias adds (``2 · gates · hidden`` per step and direction when it
    has a bias: ONNX's Wb and Rb) and the state update (:data:`CELL_FLOPS`). ``params``:
    the weights as the file holds them (W, R and B)."""

    kind: RecurrentKind
    steps: int
    input_size: int
    hidden: int
    directions: int
    params: int
    bias: bool
    role: Literal["recurrent"] = "recurrent"

    @property
    def in_shape(self) -> tuple[int, ...]:
        return (self.steps, self.input_size)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.steps, self.directions * self.hidden)

    def cost(self, batch: int, itemsize: int) -> Cost:
        gates = GATES[self.kind]
        per_step = self.directions * self.hidden
        macs = batch * self.steps * per_step * gates * (self.input_size + self.hidden)
        bias_adds = 2 * gates if self.bias else 0
        flops = 2 * macs + batch * self.steps * per_step * (bias_adds + CELL_FLOPS[self.kind])
        in_elems = batch * prod(self.in_shape)
        return operation_cost(
            macs, flops, self.params, 0, in_elems, batch * prod(self.out_shape), itemsize
        )


@dataclass(frozen=True)
class Elementwise:
    """An elementwise function of one or more tensors (``Pow``, ``Sqrt``, ``Exp``, ``Max``,
    ``Where``, a comparison...) with ``result_shape`` values per item: ``flops_per_value``
    FLOPs per value, no MACs. An activation function applied where no counted row made its
    input alone is one with 0 here: its FLOPs are the row's activation FLOPs, kept apart.
    ``params``: a learned operand of that many values, read once as weights."""

    in_shape: tuple[int, ...]
    result_shape: tuple[int, ...]
    function: str
    flops_per_value: int = 1
    params: int = 0
    role: Literal["elementwise"] = "elementwise"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.result_shape

    def cost(self, batch: int, itemsize: int) -> Cost:
        out = batch * prod(self.result_shape)
        in_elems = batch * prod(self.in_shape)
        return operation_cost(
            0, self.flops_per_value * out, self.params, 0, in_elems, out, itemsize
        )


@dataclass(frozen=True)
class Reduce:
    """A reduction (``ReduceSum``, ``ReduceMax``, ``ArgMax``, a mean over other than the
    spatial dims...) of ``in_shape`` values per item to ``result_shape``: one FLOP per input
    value (the add or compare that folds it in), no MACs."""

    in_shape: tuple[int, ...]
    result_shape: tuple[int, ...]
    function: str
    role: Literal["reduce"] = "reduce"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.result_shape

    def cost(self, batch: int, itemsize: int) -> Cost:
        in_elems = batch * prod(self.in_shape)
        out = batch * prod(self.result_shape)
        return operation_cost(0, in_elems, 0, 0, in_elems, out, itemsize)


@dataclass(frozen=True)
class GroupNorm:
    """An instance or group normalization of ``in_shape`` values per item in ``groups``
    groups, each by its own mean and variance, then a learned per-channel (or per-group)
    scale and shift: ``params`` values. No MACs; FLOPs by the layer norm's convention: 5 per
    value for the statistics and the normalization, 1 each for the scale and the shift, 4
    per group."""

    in_shape: tuple[int, ...]
    groups: int
    params: int
    role: Literal["normalization"] = "normalization"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape

    def cost(self, batch: int, itemsize: int) -> Cost:
        elems = batch * prod(self.in_shape)
        flops = 7 * elems + 4 * batch * self.groups
        return operation_cost(0, flops, self.params, 0, elems, elems, itemsize)
