"""What the reader makes of one ONNX node (:data:`Outcome`), for the node rules
(:mod:`onnx_nodes`, :mod:`onnx_tensor_nodes`) and the walk that places them:

* :class:`Counted` — a row of the report, its operations' three forms;
* :class:`Activation` — an activation function, which joins the row that produced its input
  (no MACs, its FLOPs apart: sepconv's activation convention);
* :class:`Hidden` — data movement and shape arithmetic: no arithmetic, hidden from the
  table unless ``--all-nodes``;
* :class:`NotCounted` — anything else, named in every report (never a silent zero).
"""

from __future__ import annotations

from dataclasses import dataclass

from sepconv_cli.counting.lowering import Forms
from sepconv_cli.counting.ops import Op
from sepconv_cli.spec.layers import LayerSpec


@dataclass(frozen=True)
class Counted:
    type: str  # the row's type: conv, dense, pool, global_pool, batch_norm, add, ...
    forms: Forms
    spec: LayerSpec | None = None  # a Conv's layer spec: re-lowered with a following BN
    bias_free_matmul: bool = False  # a MatMul: a following Add of a bias vector joins it
    # the items the operation runs on, when not its output's leading dim (an LSTM's batch)
    items: int | None = None
    activation: str = "none"  # an activation function's own row (no row made its input)


@dataclass(frozen=True)
class Activation:
    function: str  # a key of counting.ops.ACTIVATION_FLOPS


@dataclass(frozen=True)
class Hidden:
    pass


@dataclass(frozen=True)
class NotCounted:
    reason: str


Outcome = Counted | Activation | Hidden | NotCounted


def one(op: Op) -> Forms:
    """A row whose three forms are this one operation."""
    return Forms("none", (op,), (op,), (op,))
