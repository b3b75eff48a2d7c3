"""The operations with a window or a weight matrix: convolutions (standard, grouped,
depthwise, pointwise, transposed), dense layers and pools, each with its exact cost rule
(the rules are stated once, in :mod:`sepconv_cli.counting.conventions`; the window
arithmetic is :mod:`sepconv_cli.counting.shapes`). Re-exported by :mod:`ops` with the other
operations as the one ``Op`` union."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any, Generic, Literal, TypeVar, overload

from sepconv_cli.counting.cost import Cost
from sepconv_cli.counting.cost import operation_cost as _cost
from sepconv_cli.counting.shapes import (
    Pads,
    ShapeError,
    adaptive_windows,
    ceil_window_output,
    window_output,
)

PoolKind = Literal["max", "avg"]

ConvRole = Literal["conv", "depthwise", "pointwise"]

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
