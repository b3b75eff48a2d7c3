"""The ``expand`` layer (issue 21 item 5): the input broadcast to ``shape``, ONNX's
``Expand``. Data movement: nothing counted, as the ONNX reader counts an ``Expand``. Each
dim of the input must be 1 or the target's (aligned at the end, as ONNX broadcasts: the
spec's channels-last shape and ONNX's ``[N, C, …]`` keep the same dims apart from their
order); the target has the input's rank.

The ``elementwise`` layer's operations (``pow``, ``sqrt``...) are lowered with its
arithmetic (:mod:`~sepconv_cli.counting.lowering`): one FLOP per value, the reader's
rule for ``Pow``, ``Sqrt``, ``Reciprocal``... (``ELEMENTWISE_FLOPS``).
"""

from __future__ import annotations

from collections.abc import Callable

from sepconv_cli.counting.ops import Op, Passthrough
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.units import shape_text


def lower_expand(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> tuple[Op, ...]:
    """The input broadcast to ``shape``: nothing counted."""
    target = tuple(spec.shape or ())
    if len(target) != len(shape):
        raise ShapeError(
            f"expand to {shape_text(target)} has {len(target)} dims, but its input "
            f"{shape_text(shape)} has {len(shape)}",
            "shape",
        )
    for n, t in zip(shape, target, strict=True):
        if n not in (1, t):
            raise ShapeError(
                f"expand cannot broadcast {shape_text(shape)} to {shape_text(target)}: "
                "each dim must be 1 or the target's",
                "shape",
            )
    return (Passthrough(shape, target),)


ELEMENTWISE_LAYERS: dict[str, Callable[[LayerSpec, tuple[int, ...], Width], tuple[Op, ...]]] = {
    "expand": lower_expand,
}
"""Each type's one form (joined to :mod:`~sepconv_cli.counting.lowering`'s)."""
