"""Output sizes and padding of a sliding window, exact in Python ints: the shape arithmetic
every convolution and pooling operation of :mod:`sepconv_cli.counting.ops` shares.

The output size per dim, TensorFlow's ``same`` padding, symmetric and per-side padding,
torch's ``ceil_mode`` and adaptive pooling windows; :class:`ShapeError` when a layer
cannot be applied to its input. The rules are stated, as text, in
:mod:`sepconv_cli.counting.conventions`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sepconv_cli.units import shape_text

Pads = tuple[tuple[int, int], ...]


class ShapeError(ValueError):
    """A layer cannot be applied to its input (empty output, mismatched dims or channels).

    ``field`` names the spec field most to blame, so callers can point at a flag or key.
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def per_spatial_dim(values: tuple[int, ...], rank: int, field: str) -> tuple[int, ...]:
    """One value for every spatial dim, or exactly one per dim (else :class:`ShapeError`
    naming ``field``)."""
    if len(values) == 1:
        return values * rank
    if len(values) != rank:
        raise ShapeError(
            f"{field} has {len(values)} values ({shape_text(values)}) but the input has "
            f"{rank} spatial dim{'s' if rank > 1 else ''}",
            field,
        )
    return values


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's ``same`` padding: ``out = ceil(in / stride)``, the odd pad after.

    >>> same_padding(224, 3, 2, 1)
    (0, 1)
    >>> same_padding(7, 3, 1, 2)
    (2, 2)
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return (total // 2, total - total // 2)


def resolve_padding(
    padding: str | Sequence[int | tuple[int, int]],
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> Pads:
    """Turn ``"valid"``, ``"same"``, symmetric ints or per-side ``(before, after)`` pairs
    (one value or pair for every dim, or one per dim) into (before, after) pairs.

    >>> resolve_padding(((0, 1),), (5, 5), (3, 3), (1, 1), (1, 1))
    ((0, 1), (0, 1))
    >>> resolve_padding((2, 1), (5, 5), (3, 3), (1, 1), (1, 1))
    ((2, 2), (1, 1))
    """
    if padding == "valid":
        return tuple((0, 0) for _ in spatial)
    if padding == "same":
        return tuple(
            same_padding(n, k, s, d)
            for n, k, s, d in zip(spatial, kernel, stride, dilation, strict=True)
        )
    if isinstance(padding, str):
        raise ShapeError(
            f"unknown padding {padding!r} (expected valid, same or integers)", "padding"
        )
    rank = len(spatial)
    if len(padding) not in (1, rank):
        written = "x".join(str(p) if isinstance(p, int) else f"{p[0]}+{p[1]}" for p in padding)
        raise ShapeError(
            f"padding has {len(padding)} values ({written}) but the input has {rank} spatial "
            f"dim{'s' if rank > 1 else ''}",
            "padding",
        )
    values: list[int | tuple[int, int]] = list(padding) * (rank if len(padding) == 1 else 1)
    return tuple((p, p) if isinstance(p, int) else (p[0], p[1]) for p in values)


def ceil_window_output(size: int, kernel: int, stride: int, pads: tuple[int, int]) -> int:
    """Output length of a pooling window with torch's ``ceil_mode``: the window count rounded
    up, less one when the last window would start past the input and its left padding
    (``(out - 1) * stride >= in + pad_before``: torch's ``pooling_output_shape``).

    >>> ceil_window_output(112, 3, 2, (0, 0)), ceil_window_output(113, 3, 2, (0, 0))
    (56, 56)
    >>> ceil_window_output(6, 2, 2, (1, 1))
    4
    """
    span = size + pads[0] + pads[1] - kernel
    out = -(-span // stride) + 1
    if out > 1 and (out - 1) * stride >= size + pads[0]:
        out -= 1
    return out


def adaptive_windows(size: int, out: int) -> tuple[tuple[int, int], ...]:
    """torch's ``AdaptiveAvgPool``/``AdaptiveMaxPool`` windows along one dim: output ``i``
    covers ``[floor(i·in/out), ceil((i+1)·in/out))``.

    >>> adaptive_windows(5, 3)
    ((0, 2), (1, 4), (3, 5))
    """
    return tuple((i * size // out, -(-(i + 1) * size // out)) for i in range(out))


def window_output(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
) -> tuple[int, ...]:
    """Spatial output shape of a sliding window; raises ShapeError when any dim is empty.

    Per dim: ``floor((in + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1``.

    >>> window_output((12, 12), (5, 5), (1, 1), (1, 1), ((0, 0), (0, 0)))
    (8, 8)
    >>> window_output((224,), (3,), (2,), (1,), ((0, 1),))
    (112,)
    """
    out = tuple(
        (n + p[0] + p[1] - d * (k - 1) - 1) // s + 1
        for n, k, s, d, p in zip(spatial, kernel, stride, dilation, pads, strict=True)
    )
    if min(out) <= 0:
        raise ShapeError(
            f"output would be empty: input {shape_text(spatial)} with kernel {shape_text(kernel)}, "
            f"dilation {shape_text(dilation)}, stride {shape_text(stride)} and padding "
            f"{fmt_pads(pads)} gives {shape_text(out)}",
            "kernel",
        )
    return out


def fmt_pads(pads: Pads) -> str:
    return "x".join(str(b) if b == a else f"{b}+{a}" for b, a in pads)
