"""The exact cost record of one operation, one form of a layer, or a sum of layers
(:class:`Cost`), and how costs combine: summed (:meth:`Cost.__add__`, :meth:`Cost.times`)
or applied in sequence (:func:`chain`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """Exact counts for one operation, one form of a layer, or a sum of layers."""

    macs: int = 0
    flops: int = 0
    params: int = 0
    bn_params: int = 0
    weight_bytes: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    intermediate_bytes: int = 0
    bytes_moved: int = 0

    @property
    def activation_bytes(self) -> int:
        return self.input_bytes + self.intermediate_bytes + self.output_bytes

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per byte moved (0.0 for an operation that moves nothing)."""
        return self.flops / self.bytes_moved if self.bytes_moved else 0.0

    def __add__(self, other: Cost) -> Cost:
        """Field-wise sum: the cost of independent work (rows of a model summed into totals)."""
        return Cost(
            self.macs + other.macs,
            self.flops + other.flops,
            self.params + other.params,
            self.bn_params + other.bn_params,
            self.weight_bytes + other.weight_bytes,
            self.input_bytes + other.input_bytes,
            self.output_bytes + other.output_bytes,
            self.intermediate_bytes + other.intermediate_bytes,
            self.bytes_moved + other.bytes_moved,
        )

    @staticmethod
    def total(costs: Iterable[Cost]) -> Cost:
        """Field-wise sum of many costs (``sum(costs, Cost())``), making one Cost rather
        than one per addition (a 10,000-layer model's totals add 30,000)."""
        macs = flops = params = bn_params = weight_bytes = 0
        input_bytes = output_bytes = intermediate_bytes = bytes_moved = 0
        for c in costs:
            macs += c.macs
            flops += c.flops
            params += c.params
            bn_params += c.bn_params
            weight_bytes += c.weight_bytes
            input_bytes += c.input_bytes
            output_bytes += c.output_bytes
            intermediate_bytes += c.intermediate_bytes
            bytes_moved += c.bytes_moved
        return Cost(
            macs,
            flops,
            params,
            bn_params,
            weight_bytes,
            input_bytes,
            output_bytes,
            intermediate_bytes,
            bytes_moved,
        )

    def times(self, n: int) -> Cost:
        """The cost of ``n`` identical instances."""
        if n == 1:
            return self
        return Cost(
            self.macs * n,
            self.flops * n,
            self.params * n,
            self.bn_params * n,
            self.weight_bytes * n,
            self.input_bytes * n,
            self.output_bytes * n,
            self.intermediate_bytes * n,
            self.bytes_moved * n,
        )

    def as_dict(self) -> dict[str, int | float]:
        """The JSON object of a cost (a contract): every field in declaration order, then
        ``activation_bytes`` and ``arithmetic_intensity`` (rounded to 6 places).

        Written out rather than read through ``dataclasses.fields``: a JSON report calls it
        six times per layer, and the reflection was most of a 10,000-layer report's time
        (tests/test_cost.py checks the keys follow the fields).
        """
        return {
            "macs": self.macs,
            "flops": self.flops,
            "params": self.params,
            "bn_params": self.bn_params,
            "weight_bytes": self.weight_bytes,
            "input_bytes": self.input_bytes,
            "output_bytes": self.output_bytes,
            "intermediate_bytes": self.intermediate_bytes,
            "bytes_moved": self.bytes_moved,
            "activation_bytes": self.input_bytes + self.intermediate_bytes + self.output_bytes,
            "arithmetic_intensity": round(
                self.flops / self.bytes_moved if self.bytes_moved else 0.0, 6
            ),
        }


def chain(costs: Sequence[Cost]) -> Cost:
    """Cost of operations applied in sequence, each consuming the previous one's output.

    Counts add up; the first input and last output are the chain's input and output, and
    every output before the last becomes an intermediate tensor.
    """
    if not costs:
        return Cost()
    if len(costs) == 1:
        return costs[0]
    total = sum(costs[1:], costs[0])
    internal = sum(c.output_bytes for c in costs[:-1]) + sum(c.intermediate_bytes for c in costs)
    return Cost(
        macs=total.macs,
        flops=total.flops,
        params=total.params,
        bn_params=total.bn_params,
        weight_bytes=total.weight_bytes,
        input_bytes=costs[0].input_bytes,
        output_bytes=costs[-1].output_bytes,
        intermediate_bytes=internal,
        bytes_moved=total.bytes_moved,
    )


def operation_cost(
    macs: int,
    flops: int,
    params: int,
    bn_params: int,
    in_elems: int,
    out_elems: int,
    itemsize: int,
) -> Cost:
    """One operation's :class:`Cost` from its counts: weights and tensors in bytes at
    ``itemsize``, and ``bytes_moved`` as every operation reads its input and weights once
    and writes its output once."""
    weight_bytes = params * itemsize
    return Cost(
        macs=macs,
        flops=flops,
        params=params,
        bn_params=bn_params,
        weight_bytes=weight_bytes,
        input_bytes=in_elems * itemsize,
        output_bytes=out_elems * itemsize,
        bytes_moved=weight_bytes + (in_elems + out_elems) * itemsize,
    )
