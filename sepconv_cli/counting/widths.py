"""Channel widths: the width multiplier with a model's channel rounding (:class:`Width`,
:func:`make_divisible`), and the widths a layer derives from its spec: a grouped conv's
groups, an inverted residual's expanded width and a squeeze-and-excite's squeeze width.

Pure arithmetic on Python ints and fractions; :mod:`sepconv_cli.counting.lowering` builds
the operations at these widths.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.spec.layers import LayerSpec


@dataclass(frozen=True)
class Width:
    """Width multiplier α with the model's channel rounding (``channel_divisor``).

    With ``channel_divisor`` d > 1, channels become ``make_divisible(c · max(α, width_floor),
    d)``: the rule of the MobileNetV2 reference implementations (torchvision, TF-slim).
    With d = 1 they become ``max(1, floor(c · α))``: the MobileNet paper's α·c, truncated
    as Keras' MobileNet does (``int(filters * alpha)``) when α·c is not whole.
    """

    alpha: Fraction = Fraction(1)
    divisor: int = 1

    def channels(self, count: int, floor: float = 0.0) -> int:
        alpha = max(self.alpha, Fraction(str(floor))) if floor else self.alpha
        if alpha == 1 and count % self.divisor == 0:
            return count
        if self.divisor == 1:
            return max(1, int(count * alpha))
        return make_divisible(count * alpha, self.divisor)


def make_divisible(value: Fraction, divisor: int) -> int:
    """torchvision's ``_make_divisible``: nearest multiple of ``divisor`` (at least
    ``divisor``), bumped up one step if that loses more than 10%.

    >>> make_divisible(Fraction(32 * 35, 100), 8)
    16
    >>> make_divisible(Fraction(1280), 8)
    1280
    """
    rounded = max(divisor, int(value + Fraction(divisor, 2)) // divisor * divisor)
    if rounded < Fraction(9, 10) * value:
        rounded += divisor
    return rounded


def scaled_groups(spec: LayerSpec, filters: int) -> int:
    """A grouped conv's groups at its scaled width ``filters``: each group keeps its output
    channels (``filters / groups`` as written). A depthwise conv written as ``groups: C``
    (one output channel per group, or M with a multiplier) so stays depthwise, as
    ``type: depthwise`` does, and a group width stays fixed as in RegNet. At the written
    width the groups are as written.

    Networks that keep the number of groups instead (ResNeXt's cardinality, ShuffleNetV1's
    g) are written at each width.
    """
    written = spec.filters or 0
    if spec.groups == 1 or filters == written or written % spec.groups:
        return spec.groups  # a groups that does not divide the filters is refused later
    per_group = written // spec.groups
    if filters % per_group:
        raise ShapeError(
            f"under the width multiplier a grouped conv keeps {per_group} output channels "
            f"per group (filters {written} / groups {spec.groups}), but its {filters} scaled "
            f"filters are not a multiple of {per_group}",
            "groups",
        )
    return filters // per_group


def expanded_width(spec: LayerSpec, cin: int, width: Width) -> int:
    """An inverted residual's expanded (hidden) width.

    ``expanded: E`` is a channel count like ``filters``: scaled by the width multiplier with
    the model's rounding (``Width.channels``; torchvision's MobileNetV3 and EfficientNet
    scale theirs with ``_make_divisible(E · α, 8)``). ``expansion: t`` is ``round(Cin · t)``
    of the block's actual input (MobileNetV2), so under a multiplier it follows the input's
    rounding.
    """
    if spec.expanded is not None:
        return width.channels(spec.expanded, spec.width_floor)
    t = Fraction(str(spec.expansion if spec.expansion is not None else 1))
    hidden = round(Fraction(cin) * t)
    if hidden < 1:
        raise ShapeError(f"expansion {float(t):g} of {cin} channels leaves none", "expansion")
    return hidden


def squeeze_width(spec: LayerSpec, block_input: int, gated: int, width: Width) -> int | None:
    """The squeeze (reduced) width S of a squeeze-and-excite, or None when there is none.

    * ``se_channels: S``: S as written at width 1; under a width multiplier α ≠ 1,
      ``max(1, floor(S · α))`` (no ``channel_divisor`` rounding: use a ratio to follow a
      network's rounding).
    * ``se_ratio: r``: ``floor(B · r)`` of the base width B: the block's input
      (``se_ratio_of: input``, EfficientNet's ``max(1, Cin // 4)``) or the width the SE gates
      (``expanded``, the default; MobileNetV3), then ``make_divisible(·, se_divisor)`` when
      a divisor is given (MobileNetV3's ``_make_divisible(E // 4, 8)``), else at least 1.
    """
    if spec.se_channels is not None:
        squeeze = (
            spec.se_channels if width.alpha == 1 else Width(width.alpha).channels(spec.se_channels)
        )
        how, field = f"se_channels {spec.se_channels}", "se_channels"
    elif spec.se_ratio is not None:
        base = block_input if spec.se_ratio_of == "input" else gated
        raw = int(Fraction(base) * Fraction(str(spec.se_ratio)))  # floor: both are positive
        how, field = f"se_ratio {spec.se_ratio:g} of {base}", "se_ratio"
        if spec.se_divisor is not None:
            squeeze = make_divisible(Fraction(raw), spec.se_divisor)
            how += f", rounded to a multiple of {spec.se_divisor}"
        else:
            squeeze = max(1, raw)
    else:
        return None
    if squeeze > gated:
        raise ShapeError(
            f"the squeeze-and-excite would squeeze {gated} channels to {squeeze} ({how}): "
            "the squeeze cannot be wider than the channels it gates",
            field,
        )
    return squeeze
