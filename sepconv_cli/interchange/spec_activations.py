"""Activation functions written out as several elementwise nodes, recognized by what they
compute rather than by one exporter's node order.

Rules:

- The *region* of a tensor ``x`` is the smallest set of nodes, grown from ``x``'s readers
  (then from the elementwise readers of its outputs read outside it), that reads only
  ``x``, its own outputs and one-value constants, holds only elementwise ops
  (:data:`FUNCTIONS`), takes every reader of ``x``, and has exactly one output read
  outside it (or a graph output). At most :data:`MAX_NODES` nodes.
- The region is evaluated on :data:`SAMPLES` points in [-8, 8] and compared with each
  activation the spec knows (:data:`REFERENCES`, to 1e-3: a tanh-approximated GELU is a
  GELU); the first that agrees names it. ``hardsigmoid`` is ``clip(a·x + b, 0, 1)`` of
  torch's slope 1/6 or paddle's 0.2 (``b`` 1/2), ``hardswish`` ``x`` times it; a
  ``leaky_relu`` has any slope in (0, 1). Anything else is no activation.

So paddle's ``x · clip(x + 3, 0, 6) / 6``, torch.onnx dynamo's GELU
``x · (0.5 · (erf(x/√2) + 1))`` and Keras' ``x · hard_sigmoid(x)`` are each one
``activation:``, as a ``HardSwish`` or ``Gelu`` node would be.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from sepconv_cli.interchange.spec_graph import Graph

MAX_NODES = 10
SAMPLES = np.linspace(-8.0, 8.0, 161)
TOLERANCE = 1e-3

_erf = np.vectorize(math.erf)


def _hard_sigmoid(x: Any, slope: float = 1 / 6, offset: float = 0.5) -> Any:
    return np.clip(slope * x + offset, 0.0, 1.0)


def _gelu(x: Any) -> Any:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


REFERENCES: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("relu", lambda x: np.maximum(x, 0.0)),
    ("relu6", lambda x: np.clip(x, 0.0, 6.0)),
    ("hardsigmoid", _hard_sigmoid),
    ("hardsigmoid", lambda x: _hard_sigmoid(x, 0.2)),
    ("hardswish", lambda x: x * _hard_sigmoid(x)),
    ("hardswish", lambda x: x * _hard_sigmoid(x, 0.2)),
    ("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x))),
    ("silu", lambda x: x / (1.0 + np.exp(-x))),
    ("gelu", _gelu),
    ("tanh", np.tanh),
)
"""Each spec activation as a function of a float64 array (leaky_relu is checked apart)."""


def _clip(node: Any, args: list[Any], attrs: dict[str, Any]) -> Any:
    low = args[1] if len(args) > 1 and args[1] is not None else attrs.get("min", -np.inf)
    high = args[2] if len(args) > 2 and args[2] is not None else attrs.get("max", np.inf)
    return np.clip(args[0], low, high)


FUNCTIONS: dict[str, Callable[[Any, list[Any], dict[str, Any]], Any]] = {
    "Add": lambda n, a, k: a[0] + a[1],
    "Sub": lambda n, a, k: a[0] - a[1],
    "Mul": lambda n, a, k: a[0] * a[1],
    "Div": lambda n, a, k: a[0] / a[1],
    "Neg": lambda n, a, k: -a[0],
    "Max": lambda n, a, k: np.maximum(a[0], a[1]) if len(a) == 2 else None,
    "Min": lambda n, a, k: np.minimum(a[0], a[1]) if len(a) == 2 else None,
    "Clip": _clip,
    "Relu": lambda n, a, k: np.maximum(a[0], 0.0),
    "Sigmoid": lambda n, a, k: 1.0 / (1.0 + np.exp(-a[0])),
    "HardSigmoid": lambda n, a, k: _hard_sigmoid(a[0], k.get("alpha", 0.2), k.get("beta", 0.5)),
    "HardSwish": lambda n, a, k: a[0] * _hard_sigmoid(a[0]),
    "Tanh": lambda n, a, k: np.tanh(a[0]),
    "Erf": lambda n, a, k: _erf(a[0]),
    "Exp": lambda n, a, k: np.exp(a[0]),
    "Pow": lambda n, a, k: np.power(a[0], a[1]),
    "Sqrt": lambda n, a, k: np.sqrt(a[0]),
    "Reciprocal": lambda n, a, k: 1.0 / a[0],
    "LeakyRelu": lambda n, a, k: np.where(a[0] > 0, a[0], k.get("alpha", 0.01) * a[0]),
    "Softplus": lambda n, a, k: np.log1p(np.exp(a[0])),
}


def written_out(graph: Graph, tensor: str) -> tuple[str, list[Any], str] | None:
    """The activation ``tensor``'s region computes: (spec name, its nodes in graph order,
    its output tensor), or None."""
    for nodes, out in _regions(graph, tensor):
        name = _evaluate(graph, tensor, nodes, out)
        if name is not None:
            return name, nodes, out
    return None


def _evaluate(graph: Graph, tensor: str, nodes: list[Any], out: str) -> str | None:
    """The spec activation the region computes, or None."""
    from sepconv_cli.interchange.spec_patterns import attrs

    values: dict[str, Any] = {graph.tensor(tensor): SAMPLES}
    with np.errstate(all="ignore"):
        for node in nodes:
            args: list[Any] = []
            for name in node.input:
                if not name:
                    args.append(None)
                    continue
                known = values.get(graph.tensor(name))
                if known is None:
                    constant = graph.constant(name)
                    known = None if constant is None else float(constant.reshape(-1)[0])
                args.append(known)
            if any(a is None for a in args[:1]):
                return None
            result = FUNCTIONS[node.op_type](node, args, attrs(node))
            if result is None:
                return None
            values[str(node.output[0])] = np.broadcast_to(result, SAMPLES.shape)
    computed = values[out]
    return _name(computed) if np.all(np.isfinite(computed)) else None


def _name(computed: Any) -> str | None:
    for name, function in REFERENCES:
        with np.errstate(all="ignore"):
            if np.allclose(computed, function(SAMPLES), atol=TOLERANCE, rtol=TOLERANCE):
                return name
    positive, negative = SAMPLES > 0, SAMPLES < 0
    if np.allclose(computed[positive], SAMPLES[positive], atol=TOLERANCE):
        slope = computed[negative] / SAMPLES[negative]
        if np.allclose(slope, slope[0], atol=TOLERANCE) and 0 < slope[0] < 1:
            return "leaky_relu"
    return None


def _regions(graph: Graph, tensor: str) -> Iterator[tuple[list[Any], str]]:
    """The regions of ``tensor`` (module rules), smallest first: nodes in graph order, and
    the output.

    The elementwise nodes reachable from ``x`` (at most :data:`MAX_NODES`) are the
    candidates; each of them, in graph order, whose output closes a region (its ancestors
    among them take every reader of ``x`` and are read only by each other and by the
    outside through it) gives one (``x · clip(x + 3, 0, 6)`` closes before its ``/ 6``)."""
    x = graph.tensor(tensor)
    if x in graph.outputs:
        return
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    reach: dict[int, Any] = {}
    frontier = [x]
    while frontier and len(reach) <= MAX_NODES:
        following = []
        for name in frontier:
            for node in graph.readers(name):
                if id(node) in reach:
                    continue
                if node.op_type not in FUNCTIONS or len(node.output) != 1:
                    if name == x:  # every reader of x is in the region
                        return
                    continue
                reach[id(node)] = node
                following.append(graph.tensor(node.output[0]))
        frontier = following
    producer = {graph.tensor(n.output[0]): n for n in reach.values()}
    first = {id(n) for n in graph.readers(x)}
    for candidate in sorted(reach.values(), key=lambda n: order[id(n)]):
        members: dict[int, Any] = {}
        stack = [candidate]
        while stack:
            node = stack.pop()
            if id(node) in members:
                continue
            members[id(node)] = node
            stack.extend(
                producer[graph.tensor(t)] for t in node.input if graph.tensor(t) in producer
            )
        if not first <= members.keys():
            continue
        out = graph.tensor(candidate.output[0])
        available = {x} | {graph.tensor(n.output[0]) for n in members.values()}
        inner = [t for t in available if t not in (x, out)]
        if any(
            t in graph.outputs or any(id(r) not in members for r in graph.readers(t)) for t in inner
        ):
            continue
        if any(not graph.readers(t) for t in inner) or not _closed(graph, members, available):
            continue
        yield sorted(members.values(), key=lambda n: order[id(n)]), out


def _closed(graph: Graph, members: dict[int, Any], available: set[str]) -> bool:
    """Every input of every member is computed in the region or a one-value constant."""
    for node in members.values():
        for name in node.input:
            if not name or graph.tensor(name) in available:
                continue
            value = graph.constant(name)
            if value is None or value.size != 1:
                return False
    return True
