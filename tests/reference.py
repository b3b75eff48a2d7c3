"""A deliberately naive reference counter for convolution cost, written from the rules of
docs/conventions.md.

Nothing here imports ``sepconv_cli``: the tests compare the package against this file, so it
must stay independent. It is slow on purpose and small enough to check by eye:

* an output size is found by *walking the window* along the padded input and counting the
  positions where the whole (dilated) window fits, not by the floor formula;
* TensorFlow's ``same`` padding is computed from its definition (``out = ceil(in / s)``,
  ``pad_total = max((out - 1)*s + (k - 1)*d + 1 - in, 0)``, the odd pad after);
* the multiply-accumulates of one output position are found by looping over every output
  channel, every input channel it is connected to (groups) and every kernel tap.

Shapes are channels-last ``(spatial..., C)`` without the batch, as docs/conventions.md says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

Padding = str | tuple[int, ...]


# --------------------------------------------------------------------------- shapes


def positions_1d(
    size: int, kernel: int, stride: int, dilation: int, before: int, after: int
) -> int:
    """How many window positions fit along one padded dim (0 when none fits).

    The window starts at ``-before`` and moves by ``stride``; its last tap is
    ``dilation * (kernel - 1)`` further on and must stay inside ``[-before, size + after)``.
    """
    last_index = size + after - 1  # last valid index of the padded input
    span = dilation * (kernel - 1)  # distance from the first to the last tap
    count = 0
    start = -before
    while start + span <= last_index:
        count += 1
        start += stride
    return count


def same_pads_1d(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's ``same``: out = ceil(in / s); the odd extra pad goes after."""
    out = 0
    while out * stride < size:  # ceil(size / stride) by counting
        out += 1
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    before = total // 2
    return before, total - before


def pads(
    padding: Padding | tuple[tuple[int, int], ...],
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[tuple[int, int], ...]:
    """(before, after) per spatial dim for ``valid``, ``same`` or symmetric explicit ints."""
    if padding == "valid":
        return tuple((0, 0) for _ in spatial)
    if padding == "same":
        return tuple(
            same_pads_1d(n, k, s, d)
            for n, k, s, d in zip(spatial, kernel, stride, dilation, strict=True)
        )
    assert not isinstance(padding, str), padding
    return tuple((p, p) if isinstance(p, int) else (p[0], p[1]) for p in padding)


def spatial_out(
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: Padding,
) -> tuple[int, ...]:
    """Output spatial shape (a 0 in it means the output is empty)."""
    pp = pads(padding, spatial, kernel, stride, dilation)
    return tuple(
        positions_1d(n, k, s, d, b, a)
        for n, k, s, d, (b, a) in zip(spatial, kernel, stride, dilation, pp, strict=True)
    )


def _per_dim(value: int | tuple[int, ...], rank: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    if len(value) == 1:
        return tuple(value) * rank
    assert len(value) == rank, (value, rank)
    return tuple(value)


# --------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class RefCost:
    macs: int
    flops: int
    params: int
    weight_bytes: int
    input_bytes: int
    output_bytes: int
    intermediate_bytes: int
    out_shape: tuple[int, ...]

    @property
    def activation_bytes(self) -> int:
        return self.input_bytes + self.intermediate_bytes + self.output_bytes


def _taps(kernel: tuple[int, ...]) -> int:
    """Number of kernel taps, counted one by one."""
    return sum(1 for _ in product(*(range(k) for k in kernel)))


def _connections(cin: int, cout: int, groups: int) -> int:
    """How many (output channel, input channel) pairs are connected, counted one by one.

    Output channel ``o`` belongs to group ``o // (cout / groups)`` and sees exactly the input
    channels of that group.
    """
    assert cin % groups == 0 and cout % groups == 0, (cin, cout, groups)
    in_per_group, out_per_group = cin // groups, cout // groups
    count = 0
    for o in range(cout):
        for c in range(cin):
            if c // in_per_group == o // out_per_group:
                count += 1
    return count


def _elements(shape: tuple[int, ...]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def conv(
    in_shape: tuple[int, ...],
    out_channels: int,
    kernel: int | tuple[int, ...],
    stride: int | tuple[int, ...] = 1,
    dilation: int | tuple[int, ...] = 1,
    padding: Padding | int = "valid",
    groups: int = 1,
    bias: bool = False,
    batch: int = 1,
    itemsize: int = 4,
) -> RefCost:
    """Cost of one N-d convolution on a channels-last input (no batch in ``in_shape``).

    MACs are the multiply-accumulates of every output element: for each output position
    and output channel, one per connected input channel per kernel tap (taps over padding
    count, as every counter does). Bias adds one FLOP per output element and ``Cout``
    params, never a MAC.
    """
    rank = len(in_shape) - 1
    k = _per_dim(kernel, rank)
    s = _per_dim(stride, rank)
    d = _per_dim(dilation, rank)
    pad: Padding = _per_dim(padding, rank) if not isinstance(padding, str) else padding
    cin = in_shape[-1]
    out_spatial = spatial_out(in_shape[:-1], k, s, d, pad)
    positions = _elements(out_spatial)
    per_position = _connections(cin, out_channels, groups) * _taps(k)
    macs = batch * positions * per_position
    out_elements = batch * positions * out_channels
    params = _connections(cin, out_channels, groups) * _taps(k) + (out_channels if bias else 0)
    return RefCost(
        macs=macs,
        flops=2 * macs + (out_elements if bias else 0),
        params=params,
        weight_bytes=params * itemsize,
        input_bytes=batch * _elements(in_shape) * itemsize,
        output_bytes=out_elements * itemsize,
        intermediate_bytes=0,
        out_shape=(*out_spatial, out_channels),
    )


@dataclass(frozen=True)
class RefSeparable:
    total: RefCost
    depthwise: RefCost
    pointwise: RefCost


def separable(
    in_shape: tuple[int, ...],
    out_channels: int,
    kernel: int | tuple[int, ...],
    stride: int | tuple[int, ...] = 1,
    dilation: int | tuple[int, ...] = 1,
    padding: Padding | int = "valid",
    multiplier: int = 1,
    bias: bool = False,
    batch: int = 1,
    itemsize: int = 4,
) -> RefSeparable:
    """Depthwise k×k (``Cin → Cin·M``, groups = Cin, same stride/padding/dilation, no bias),
    then pointwise 1×1 (``Cin·M → Cout``, with the bias if any), as docs/conventions.md
    states."""
    cin = in_shape[-1]
    dw = conv(
        in_shape,
        cin * multiplier,
        kernel,
        stride,
        dilation,
        padding,
        groups=cin,
        bias=False,
        batch=batch,
        itemsize=itemsize,
    )
    rank = len(in_shape) - 1
    pw = conv(
        dw.out_shape,
        out_channels,
        (1,) * rank,
        1,
        1,
        "valid",
        groups=1,
        bias=bias,
        batch=batch,
        itemsize=itemsize,
    )
    total = RefCost(
        macs=dw.macs + pw.macs,
        flops=dw.flops + pw.flops,
        params=dw.params + pw.params,
        weight_bytes=dw.weight_bytes + pw.weight_bytes,
        input_bytes=dw.input_bytes,
        output_bytes=pw.output_bytes,
        intermediate_bytes=dw.output_bytes,  # the depthwise output, made and consumed inside
        out_shape=pw.out_shape,
    )
    return RefSeparable(total=total, depthwise=dw, pointwise=pw)


# --------------------------------------------------------------------------- pooling


def pool_positions_1d(
    size: int, kernel: int, stride: int, before: int, after: int, ceil_mode: bool = False
) -> int:
    """Window positions of a pool along one dim, walked as :func:`positions_1d` does.

    torch's ``ceil_mode`` keeps a last window that runs past the padded input by up to
    ``stride - 1`` elements (the walk is done on an input that much longer), but drops it
    when it would start at or past the end of the input and its left padding.
    """
    if not ceil_mode:
        return positions_1d(size, kernel, stride, 1, before, after)
    count = positions_1d(size, kernel, stride, 1, before, after + stride - 1)
    last_start = -before + (count - 1) * stride  # in input coordinates
    if count > 1 and last_start >= size:
        count -= 1
    return count


def adaptive_windows_1d(size: int, out: int) -> list[tuple[int, int]]:
    """torch's adaptive pooling windows, from the documented definition: output ``i`` pools
    ``[floor(i * in / out), ceil((i + 1) * in / out))``, computed on exact fractions."""
    return [
        (math.floor(Fraction(i * size, out)), math.ceil(Fraction((i + 1) * size, out)))
        for i in range(out)
    ]


def adaptive_pool_flops(in_shape: tuple[int, ...], output_size: tuple[int, ...]) -> int:
    """One FLOP per element of every output's window, counted window by window."""
    per_dim = [adaptive_windows_1d(n, o) for n, o in zip(in_shape[:-1], output_size, strict=True)]
    count = 0
    for windows in product(*per_dim):
        elements = 1
        for start, end in windows:
            elements *= end - start
        count += elements
    return count * in_shape[-1]
