"""Exact integer cost of primitive operations: output shapes, MACs, FLOPs, parameters, bytes.

Pure arithmetic on Python ints (never floats, never NumPy), so counts stay exact at any size
and ``sepconv cost`` starts fast. One class per primitive operation, each with its own cost
rule, and the ``Op`` union of them: it stays one module (over 400 lines) so that every
operation's counting reads side by side and a new operation is added in one place; the
window arithmetic and ``Cost`` itself live in :mod:`shapes` and :mod:`cost`.

The rules these functions implement (channels-last shapes with the batch apart, the output
size and TensorFlow's ``same`` padding, a bias is not a MAC, FLOPs = 2·MACs plus the bias
adds, batch-norm counted in ``params``, what ``bytes_moved`` assumes) are stated once, in
:mod:`sepconv_cli.counting.conventions`: the JSON ``conventions``, the ``--help`` text, the
table footers and ``docs/conventions.md`` are all produced from that one table. A change
of rule here is a change of text there.

The window arithmetic the operations share (output sizes, padding, pooling windows,
:class:`ShapeError`) is :mod:`sepconv_cli.counting.shapes`; the :class:`Cost` record and
how costs combine is :mod:`sepconv_cli.counting.cost`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any, Generic, Literal, TypeVar, overload

from sepconv_cli.counting.cost import Cost as Cost
from sepconv_cli.counting.cost import chain
from sepconv_cli.counting.cost import operation_cost as _cost
from sepconv_cli.counting.shapes import (
    Pads,
    ShapeError,
    adaptive_windows,
    ceil_window_output,
    window_output,
)
from sepconv_cli.counting.tensor_ops import (
    Elementwise,
    GroupNorm,
    Product,
    Recurrent,
    Reduce,
)

# bytes per value: defined with the dtypes a spec accepts, re-exported for the counting code
from sepconv_cli.spec.fields import DTYPE_BYTES as DTYPE_BYTES

PoolKind = Literal["max", "avg"]

ConvRole = Literal["conv", "depthwise", "pointwise"]
Role = Literal[
    ConvRole,
    "dense",
    "pool",
    "batch_norm",
    "add",
    "scale",
    "squeeze_excite",
    "concat",
    "shuffle",
    "conv_transpose",
    "shape",
    "product",
    "recurrent",
    "elementwise",
    "reduce",
    "normalization",
]
"""What an operation is, as reports and JSON name it and as execution picks its kernel."""


# --------------------------------------------------------------------------- operations

_T = TypeVar("_T")


class cached_once(Generic[_T]):
    """``functools.cached_property`` without its lock: computed on first read, then kept in
    the instance's ``__dict__``, where later reads find it without calling here.

    Python 3.11's version takes a re-entrant lock on every first read (removed in 3.12), a
    third of the cost of reading a convolution's output shape, and a 10,000-point sweep grid
    makes 30,000 convolutions. Operations are immutable and built by one thread, so two
    threads computing the same value at once would only compute it twice.
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_once[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.name] = value
        return value


@dataclass(frozen=True)
class Conv:
    """N-d convolution (standard, grouped, depthwise or pointwise) on a channels-last input.

    ``role`` only labels the operation ("conv", "depthwise", "pointwise") for reports and for
    choosing an execution kernel; the counts depend on the shapes alone.
    """

    in_shape: tuple[int, ...]
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: Pads
    groups: int = 1
    bias: bool = False
    role: ConvRole = "conv"

    def __post_init__(self) -> None:
        rank = len(self.in_shape) - 1
        # one comparison chain for the common case (every length right); the loop only
        # to name the first wrong one
        if not len(self.kernel) == len(self.stride) == len(self.dilation) == len(self.pads) == rank:
            for name in ("kernel", "stride", "dilation", "pads"):
                if len(getattr(self, name)) != rank:
                    raise ShapeError(
                        f"{name} has {len(getattr(self, name))} values but the input has "
                        f"{rank} spatial dims",
                        "padding" if name == "pads" else name,
                    )
        cin = self.in_shape[-1]
        if cin % self.groups or self.out_channels % self.groups:
            raise ShapeError(
                f"groups={self.groups} must divide both the input channels ({cin}) "
                f"and the filters ({self.out_channels})",
                "groups",
            )

    @property
    def in_channels(self) -> int:
        return self.in_shape[-1]

    @cached_once
    def out_shape(self) -> tuple[int, ...]:
        spatial = window_output(
            self.in_shape[:-1], self.kernel, self.stride, self.dilation, self.pads
        )
        return (*spatial, self.out_channels)

    def weight_count(self) -> int:
        """``Cout * (Cin/groups) * prod(k)``, plus ``Cout`` with a bias."""
        weights = self.out_channels * (self.in_channels // self.groups) * prod(self.kernel)
        return weights + (self.out_channels if self.bias else 0)

    def cost(self, batch: int, itemsize: int) -> Cost:
        out = self.out_shape
        out_elems = batch * prod(out)
        macs = out_elems * (self.in_channels // self.groups) * prod(self.kernel)
        flops = 2 * macs + (out_elems if self.bias else 0)
        return _cost(
            macs, flops, self.weight_count(), 0, batch * prod(self.in_shape), out_elems, itemsize
        )


@dataclass(frozen=True)
class Dense:
    """Fully connected layer on the flattened input: ``in_features = prod(in_shape)``."""

    in_shape: tuple[int, ...]
    units: int
    bias: bool = True
    role: Literal["dense"] = "dense"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.units,)

    def cost(self, batch: int, itemsize: int) -> Cost:
        features = prod(self.in_shape)
        macs = batch * features * self.units
        flops = 2 * macs + (batch * self.units if self.bias else 0)
        params = features * self.units + (self.units if self.bias else 0)
        return _cost(macs, flops, params, 0, batch * features, batch * self.units, itemsize)


@dataclass(frozen=True)
class Pool:
    """Max or average pooling window, per channel. ``global_`` pools every spatial dim to 1.

    ``ceil_mode`` rounds the window count up (torch; see :func:`ceil_window_output`), the
    last window running past the padded input. ``output_size`` makes an adaptive pool
    (torch's ``AdaptiveAvgPool``/``AdaptiveMaxPool``): its windows, of varying size, follow
    :func:`adaptive_windows`, and ``kernel`` and ``stride`` are not used.
    """

    in_shape: tuple[int, ...]
    kind: PoolKind
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    pads: Pads
    global_: bool = False
    role: Literal["pool"] = "pool"
    ceil_mode: bool = False
    output_size: tuple[int, ...] | None = None

    @cached_once
    def out_shape(self) -> tuple[int, ...]:
        if self.global_:
            return (self.in_shape[-1],)
        if self.output_size is not None:
            return (*self.output_size, self.in_shape[-1])
        ones = tuple(1 for _ in self.kernel)
        spatial = window_output(self.in_shape[:-1], self.kernel, self.stride, ones, self.pads)
        if self.ceil_mode:
            spatial = tuple(
                ceil_window_output(n, k, s, p)
                for n, k, s, p in zip(
                    self.in_shape[:-1], self.kernel, self.stride, self.pads, strict=True
                )
            )
        return (*spatial, self.in_shape[-1])

    @property
    def window_pads(self) -> Pads:
        """``pads`` plus, with ``ceil_mode``, the after-padding the last window runs into:
        the padding an execution of the windows needs."""
        if not self.ceil_mode:
            return self.pads
        out = self.out_shape[:-1]
        return tuple(
            (b, max(a, (o - 1) * s + k - n - b))
            for n, k, s, o, (b, a) in zip(
                self.in_shape[:-1], self.kernel, self.stride, out, self.pads, strict=True
            )
        )

    def window_elements(self) -> int:
        """Input elements summed over every output position's window, per channel and item:
        ``prod(out) · prod(k)`` for a fixed window, the exact sum for adaptive windows."""
        if self.output_size is None:
            return prod(self.out_shape[:-1]) * prod(self.kernel)
        return prod(
            sum(end - start for start, end in adaptive_windows(n, o))
            for n, o in zip(self.in_shape[:-1], self.output_size, strict=True)
        )

    def cost(self, batch: int, itemsize: int) -> Cost:
        out_elems = batch * prod(self.out_shape)
        in_elems = batch * prod(self.in_shape)
        channels = self.in_shape[-1]
        flops = in_elems if self.global_ else batch * channels * self.window_elements()
        return _cost(0, flops, 0, 0, in_elems, out_elems, itemsize)


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
class ConvTranspose:
    """Transposed (fractionally strided) convolution, as a model file has it (ONNX
    ``ConvTranspose``): each input value is multiplied by a ``Cout/groups × k`` slice of the
    weight and scattered into the output, so MACs are
    ``N · prod(in spatial) · Cin · (Cout/groups) · prod(k)`` whatever the stride and padding
    (the padding only crops the output). Params ``Cin · (Cout/groups) · prod(k)``, plus
    ``Cout`` with a bias; FLOPs ``2·MACs`` plus one per output value with a bias. The output
    shape is the file's (``out_spatial``)."""

    in_shape: tuple[int, ...]
    out_channels: int
    kernel: tuple[int, ...]
    out_spatial: tuple[int, ...]
    groups: int = 1
    bias: bool = False
    role: Literal["conv_transpose"] = "conv_transpose"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (*self.out_spatial, self.out_channels)

    def cost(self, batch: int, itemsize: int) -> Cost:
        cin = self.in_shape[-1]
        per_input = (self.out_channels // self.groups) * prod(self.kernel)
        macs = batch * prod(self.in_shape) * per_input
        out_elems = batch * prod(self.out_shape)
        flops = 2 * macs + (out_elems if self.bias else 0)
        params = cin * per_input + (self.out_channels if self.bias else 0)
        return _cost(macs, flops, params, 0, batch * prod(self.in_shape), out_elems, itemsize)


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


# --------------------------------------------------------------------------- all operations

Op = (
    Conv
    | Dense
    | Pool
    | BatchNorm
    | LayerNorm
    | Add
    | Scale
    | SqueezeExcite
    | Concat
    | Shuffle
    | ConvTranspose
    | Passthrough
    | Product
    | Recurrent
    | Elementwise
    | Reduce
    | GroupNorm
)


# --------------------------------------------------------------------------- activations

ACTIVATION_FLOPS: dict[str, int] = {
    "none": 0,
    "relu": 1,  # max(x, 0)
    "relu6": 2,  # min(max(x, 0), 6)
    "hardsigmoid": 4,  # min(max(x + 3, 0), 6) / 6
    "hardswish": 5,  # x · hardsigmoid(x)
    "sigmoid": 4,  # 1 / (1 + exp(-x)): negate, exp, add, divide
    "silu": 5,  # x · sigmoid(x)
    "gelu": 5,  # x / 2 · (1 + erf(x / √2)): divide, erf, add, multiply, halve
    "tanh": 1,  # a primitive, counted as one like exp and erf
    "leaky_relu": 2,  # max(x, a·x): multiply, max (whatever the slope a)
    # exp(x - max) / sum over the channels: the compare into the max, the subtraction, the
    # exp, the add into the sum, the division (a classifier's last activation, Keras-style)
    "softmax": 5,
}
"""FLOPs per element of each activation function: one per arithmetic operation of its
formula, an ``exp`` or ``erf`` counted as one (sepconv's convention, stated in
counting/conventions.py; ptflops and mmcv count every ReLU-like function as 1)."""


def activation_flops(function: str, elements: int) -> int:
    """FLOPs of ``function`` applied to ``elements`` values (kept apart from ``flops``)."""
    return ACTIVATION_FLOPS[function] * elements


def ops_cost(ops: Sequence[Op], batch: int, itemsize: int) -> Cost:
    """Cost of a sequence of operations (one form of a layer)."""
    return chain([op.cost(batch, itemsize) for op in ops])


def theory_ratio(out_channels: int, kernel: Sequence[int]) -> tuple[int, int]:
    """The MobileNet closed form ``1/Cout + 1/prod(k)`` as an exact (numerator, denominator).

    It is exactly separable/standard MACs when M = 1 and groups = 1.

    >>> theory_ratio(256, (5, 5))
    (281, 6400)
    """
    from math import gcd

    k = prod(kernel)
    num, den = k + out_channels, out_channels * k
    g = gcd(num, den)
    return num // g, den // g
