"""The operations on channels and tensors without a window: batch and layer norms,
residual adds, per-channel scales, squeeze-and-excite, concats, channel shuffles, and the
free data movement of a model file, each with its exact cost rule (stated once, in
:mod:`sepconv_cli.counting.conventions`). Re-exported by :mod:`ops` with the other
operations as the one ``Op`` union."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Literal

from sepconv_cli.counting.cost import Cost, chain
from sepconv_cli.counting.cost import operation_cost as _cost
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.window_ops import Conv, Pool, cached_once


@dataclass(frozen=True)
class BatchNorm:
    """Inference batch-norm: a per-channel scale and shift (2 params per channel)."""

    in_shape: tuple[int, ...]
    role: Literal["batch_norm"] = "batch_norm"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape

    def cost(self, batch: int, itemsize: int) -> Cost:
        elems = batch * prod(self.in_shape)
        params = 2 * self.in_shape[-1]
        return _cost(0, 2 * elems, params, params, elems, elems, itemsize)


@dataclass(frozen=True)
class Add:
    """Element-wise residual add of two tensors of ``in_shape``. ``params``: the second
    operand is a learned tensor of that many values rather than an activation (an ONNX
    file's ``Add`` of an initializer: a position embedding, a bias on its own); it is then
    read as weights, once, not per item."""

    in_shape: tuple[int, ...]
    params: int = 0
    role: Literal["add"] = "add"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape

    def cost(self, batch: int, itemsize: int) -> Cost:
        elems = batch * prod(self.in_shape)
        if self.params:
            return _cost(0, elems, self.params, 0, elems, elems, itemsize)
        return _cost(0, elems, 0, 0, 2 * elems, elems, itemsize)


@dataclass(frozen=True)
class LayerNorm:
    """Layer normalization (Ba et al. 2016; ConvNeXt, transformers) of a tensor of
    ``in_shape``: each group of ``normalized`` values (the trailing dims the model
    normalizes over) by its own mean and variance, then, where the model has them, times a
    learned scale and plus a learned bias, one of each per normalized position.

    No MACs. Params: ``normalized`` for the scale and as many for the bias. FLOPs, one per
    arithmetic operation of y = (x − mean) / sqrt(var + eps) · scale + bias (sepconv's
    convention, as for activations): per value the add into the mean, the subtraction, the
    square, the add into the variance and the multiply by 1/sqrt — 5 — plus 1 for the scale
    and 1 for the bias; per group 4 (the two divisions by n, the add of eps, the reciprocal
    square root counted as one). A layer norm's statistics are computed at inference, so
    unlike a batch-norm it does not fold into the convolution before it. ``in_shape`` is the
    tensor's own layout (an ONNX file's order, batch dropped; the normalized dims trailing),
    not necessarily channels-last.
    """

    in_shape: tuple[int, ...]
    normalized: int
    scale: bool = True
    bias: bool = True
    epsilon: float = 1e-5  # added to the variance: ONNX's and PyTorch's default; no count
    role: Literal["layer_norm"] = "layer_norm"

    def __post_init__(self) -> None:
        self.normalized_shape  # noqa: B018 - raises now if no trailing dims hold the count

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape

    @property
    def normalized_shape(self) -> tuple[int, ...]:
        """The trailing dims of ``in_shape`` whose product is ``normalized`` (the shape of
        the scale and the bias)."""
        for k in range(1, len(self.in_shape) + 1):
            if prod(self.in_shape[-k:]) == self.normalized:
                return tuple(self.in_shape[-k:])
        raise ShapeError(
            f"no trailing dims of {self.in_shape} hold the {self.normalized} values a layer "
            "norm normalizes",
            "input",
        )

    def cost(self, batch: int, itemsize: int) -> Cost:
        elems = batch * prod(self.in_shape)
        groups = elems // self.normalized
        per_value = 5 + int(self.scale) + int(self.bias)
        params = self.normalized * (int(self.scale) + int(self.bias))
        return _cost(0, per_value * elems + 4 * groups, params, 0, elems, elems, itemsize)


# --------------------------------------------------------------------------- squeeze-and-excite


@dataclass(frozen=True)
class Scale:
    """Channel-wise multiply: each element of a tensor of ``in_shape`` times its channel's
    gate value (a gate of ``gate_shape``: one value per item and channel).

    An elementwise op like the residual add: one FLOP per output element, no MACs, no
    parameters; it reads both the tensor and the gate and writes a tensor
    of ``in_shape``. ``params``: the gate is a learned tensor of that many values (an ONNX
    file's ``Mul`` by an initializer: ConvNeXt's layer scale), read once as weights.
    """

    in_shape: tuple[int, ...]
    params: int = 0
    role: Literal["scale"] = "scale"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape

    @property
    def gate_shape(self) -> tuple[int, ...]:
        return (*(1 for _ in self.in_shape[:-1]), self.in_shape[-1])

    def cost(self, batch: int, itemsize: int) -> Cost:
        elems = batch * prod(self.in_shape)
        if self.params:  # a learned gate: weights, read once
            return _cost(0, elems, self.params, 0, elems, elems, itemsize)
        return _cost(0, elems, 0, 0, elems + batch * self.in_shape[-1], elems, itemsize)


@dataclass(frozen=True)
class SqueezeExcite:
    """Squeeze-and-excite (Hu et al.; MobileNetV3, EfficientNet) on a tensor of ``in_shape``
    with C channels and a squeeze of ``squeeze`` = S channels, as :attr:`parts`:

    global average pool (C values per item) → 1×1 conv with bias C → S → [activation] →
    1×1 conv with bias S → C → [gate: sigmoid or hard-sigmoid] → channel-wise multiply of
    the input by the gate (:class:`Scale`).

    MACs are the two convs' only: ``N·(C·S + S·C)`` (PyTorch's ``FlopCounterMode`` and
    torchvision's published figures count convolutions and linear layers only; fvcore's
    default adds the pool, which is a FLOP here). Params ``C·S + S + S·C + C``. FLOPs
    add the pool (one per input element), the convs' ``2·MACs`` plus their bias adds, and
    the multiply (one per element); the activation and the gate are not counted (no
    activation is). The block keeps its input's shape, so it is one operation in a chain:
    its input is read twice (by the pool and by the multiply).
    """

    in_shape: tuple[int, ...]
    squeeze: int
    role: Literal["squeeze_excite"] = "squeeze_excite"

    def __post_init__(self) -> None:
        channels = self.in_shape[-1]
        if not 1 <= self.squeeze <= channels:
            raise ShapeError(
                f"the squeeze-and-excite squeezes {channels} channels to {self.squeeze}; "
                f"it needs 1 to {channels} (no wider than the channels it gates)",
                "se_channels",
            )

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape

    @cached_once
    def parts(self) -> tuple[Pool, Conv, Conv, Scale]:
        """The block's operations in order; the convs read the pooled values as a map of
        1×1 (…×1) spatial positions."""
        rank = len(self.in_shape) - 1
        channels = self.in_shape[-1]
        ones = (1,) * rank
        zero = ((0, 0),) * rank
        pooled = (*ones, channels)
        squeeze = Conv(pooled, self.squeeze, ones, ones, ones, zero, bias=True, role="pointwise")
        excite = Conv(
            (*ones, self.squeeze), channels, ones, ones, ones, zero, bias=True, role="pointwise"
        )
        spatial = self.in_shape[:-1]
        pool = Pool(self.in_shape, "avg", kernel=spatial, stride=spatial, pads=zero, global_=True)
        return (pool, squeeze, excite, Scale(self.in_shape))

    def cost(self, batch: int, itemsize: int) -> Cost:
        return chain([op.cost(batch, itemsize) for op in self.parts])


# --------------------------------------------------------------------------- branches


@dataclass(frozen=True)
class Concat:
    """Concatenation along channels of tensors of ``in_shapes`` (equal spatial sizes): the
    merge of a ``branches`` block. No MACs, no FLOPs, no parameters: it reads every input
    once and writes the output once (a copy)."""

    in_shapes: tuple[tuple[int, ...], ...]
    role: Literal["concat"] = "concat"

    def __post_init__(self) -> None:
        spatial = {shape[:-1] for shape in self.in_shapes}
        if len(spatial) != 1:
            sizes = ", ".join("×".join(map(str, s)) for s in (x[:-1] for x in self.in_shapes))
            raise ShapeError(
                f"concat needs equal spatial sizes in every branch, got {sizes}", "merge"
            )

    @property
    def in_shape(self) -> tuple[int, ...]:
        """The first input (the one a chain hands this op; the others come from branches)."""
        return self.in_shapes[0]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (*self.in_shapes[0][:-1], sum(shape[-1] for shape in self.in_shapes))

    def cost(self, batch: int, itemsize: int) -> Cost:
        elems = batch * prod(self.out_shape)
        return _cost(0, 0, 0, 0, elems, elems, itemsize)


@dataclass(frozen=True)
class Shuffle:
    """Channel shuffle (ShuffleNet): channels viewed as ``groups × C/groups``, transposed to
    ``C/groups × groups``. No MACs, no FLOPs, no parameters: it reads and writes the tensor
    once (a copy)."""

    in_shape: tuple[int, ...]
    groups: int
    role: Literal["shuffle"] = "shuffle"

    def __post_init__(self) -> None:
        channels = self.in_shape[-1]
        if channels % self.groups:
            raise ShapeError(
                f"a channel shuffle of {self.groups} groups needs channels divisible by "
                f"{self.groups}, got {channels}",
                "groups",
            )

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape

    def cost(self, batch: int, itemsize: int) -> Cost:
        elems = batch * prod(self.in_shape)
        return _cost(0, 0, 0, 0, elems, elems, itemsize)


@dataclass(frozen=True)
class Passthrough:
    """A node of a model file that only relabels or moves data (a reshape, a transpose, an
    identity, shape arithmetic), shown on request (``--all-nodes``): nothing is counted for
    it, not even bytes, so showing it never changes a total."""

    in_shape: tuple[int, ...]
    result_shape: tuple[int, ...]
    role: Literal["shape"] = "shape"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.result_shape

    def cost(self, batch: int, itemsize: int) -> Cost:
        return Cost()
