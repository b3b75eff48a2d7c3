"""sepconv operations → ONNX nodes and initializers (opset 17, NCHW), with seeded weights.

One :class:`GraphBuilder` collects the nodes, weight initializers and constants of a graph;
:mod:`onnx_rows` writes one report row's form (a linear sequence of operations, plus the
row's activation) into it with these operations (``emit_row``), and makes a whole one-row
model of it (``form_graph``), with its weights as initializers: what timing on ONNX Runtime
runs for one layer's form.

The rules of the mapping:

* Layout. sepconv's shapes are channels-last without the batch (``[H, W, C]``); ONNX's are
  ``[N, C, H, W]`` (:func:`nchw`). A flat shape ``[C]`` is ``[N, C]``.
* Conv → ``Conv`` with ``group``, ``strides``, ``dilations``, ``kernel_shape`` and ``pads``
  in ONNX's order (every dim's begin pad, then every dim's end pad) from sepconv's per-side
  pads; a bias input only where sepconv counts a bias. Weight ``[Cout, Cin/groups, *k]``.
* BatchNorm → ``BatchNormalization`` with ``scale``, ``B``, ``mean`` and ``var``
  initializers. sepconv counts 2 parameters per channel (scale and shift); ``mean`` and
  ``var`` are running state, not parameters (``onnx_rows.weight_elements`` leaves them
  out).
* Dense → ``Flatten`` (only after a spatial input) then ``Gemm`` with ``transB = 1``
  (weight ``[units, features]``) and a bias ``C`` only where sepconv counts one.
* Pool → ``MaxPool`` / ``AveragePool`` with ``ceil_mode``; average pooling divides by the
  unpadded elements (``count_include_pad = 0``: sepconv's convention, TensorFlow's rule).
  Global pooling → ``GlobalAveragePool`` / ``GlobalMaxPool`` then ``Flatten`` (sepconv's
  global pool gives a flat ``[C]``). An adaptive pool is exported only where a fixed
  window is exact: every input size a multiple of its output size (kernel = stride =
  in / out); otherwise :class:`ExportError` names the layer.
* Add (an inverted residual's) → ``Add`` of the row's input; Scale → ``Mul``.
* SqueezeExcite → ``GlobalAveragePool`` → 1×1 ``Conv`` with bias (C → S) → ``Relu`` →
  1×1 ``Conv`` with bias (S → C) → ``Sigmoid`` → ``Mul`` with the block's input. sepconv
  does not model the SE's activation and gate (they cost no MACs or params); the export
  uses the original SE paper's ReLU and sigmoid.
* Shuffle → ``Reshape [N, g, C/g, *spatial]`` → ``Transpose`` (swap the two channel axes)
  → ``Reshape [N, C, *spatial]``; Concat → ``Concat`` on axis 1.
* Activations: ``relu`` → ``Relu``; ``relu6`` → ``Clip(0, 6)``; ``hardsigmoid`` →
  ``HardSigmoid(alpha = 1/6, beta = 1/2)``; ``hardswish`` → ``HardSwish``; ``sigmoid`` →
  ``Sigmoid``; ``silu`` → ``x · Sigmoid(x)``; ``gelu`` → ``x/2 · (1 + Erf(x/√2))`` (opset
  17 has no ``Gelu``); ``tanh`` → ``Tanh``; ``leaky_relu`` → ``LeakyRelu(alpha = 0.01)``
  (PyTorch's default slope: the spec, which counts, does not record one); ``softmax`` →
  ``Softmax(axis = 1)``, over the channels. Placed as the spec places them
  (docs/spec-format.md): after the row's output, except in an inverted residual, after its
  expansion and its depthwise (each after its batch-norm).
* Weights: NumPy ``default_rng(seed)`` uniform in ``±sqrt(3 / fan_in)`` (variance
  ``1 / fan_in``, so values stay finite through deep networks), batch-norm scale in
  [0.5, 1.5] and variance in [0.5, 2]; float16 for a float16 spec, else float32 (ONNX
  Runtime's CPU convolutions take no float64, ONNX's no bfloat16 or int8 at opset 17).
* Names: every node is named ``<row>/<part>`` (``block3/depthwise``, ``block3/depthwise_bn``,
  ``block3/relu``), and a row of one node is named as the row, so a profile of the file
  reads like the spec; a node's output tensor has the node's name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any, Literal

import numpy as np

from sepconv_cli.counting.ops import (
    BatchNorm,
    Conv,
    Dense,
    LayerNorm,
    Pool,
    Scale,
    Shuffle,
    SqueezeExcite,
)
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.optional import require_onnx
from sepconv_cli.names import unique_name

Form = Literal["as_specified", "standard", "separable"]
FORMS: tuple[Form, ...] = ("as_specified", "standard", "separable")
OPSET = 17

# the spec's dtype → (ONNX element type name, NumPy dtype). The others are written as
# float32: ONNX Runtime's CPU Conv has no float64 kernel, ONNX's Conv no bfloat16 before
# opset 22, and int8 needs quantized operators
ONNX_DTYPES: dict[str, tuple[str, str]] = {
    "float32": ("FLOAT", "float32"),
    "float16": ("FLOAT16", "float16"),
}

# the inputs of each weighted op type that hold sepconv's parameters (mean and var of a
# BatchNormalization are state): what weight_elements counts
PARAM_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2),
    "Gemm": (1, 2),
    "BatchNormalization": (1, 2),
    "LayerNormalization": (1, 2),
    "Mul": (0, 1),  # a layer scale's gamma (an initializer of more than one value)
    "Add": (0, 1),
    # recurrent layers' W, R and B (sepconv export's resize and recurrent rows)
    "ConvTranspose": (1, 2),  # a conv_transpose row's weight and bias
    "LSTM": (1, 2, 3),
    "GRU": (1, 2, 3),
    "RNN": (1, 2, 3),
}


LEAKY_RELU_SLOPE = 0.01  # torch.nn.LeakyReLU's default; a slope costs the same FLOPs


class ExportError(UsageError):
    """A part of the spec that has no exact ONNX form (exit 2), naming the layer."""


def nchw(shape: Sequence[int], batch: int) -> tuple[int, ...]:
    """sepconv's channels-last shape without the batch → ONNX's ``[N, C, *spatial]``."""
    return (batch, shape[-1], *shape[:-1])


def onnx_pads(pads: Sequence[tuple[int, int]]) -> list[int]:
    """Per-side pads ``((b0, a0), (b1, a1))`` → ONNX's ``[b0, b1, a0, a1]``."""
    return [b for b, _ in pads] + [a for _, a in pads]


@dataclass
class GraphBuilder:
    """The nodes, initializers and names of one graph being built.

    Initializers are written straight into the ModelProto being built (never into a list
    that ``make_graph`` would copy): the standard form of a big network holds over 100 M
    weights, and every copy of them costs seconds.
    """

    seed: int = 0
    dtype: str = "float32"
    batch: int = 1
    opset: int = OPSET
    nodes: list[Any] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.onnx = require_onnx("export to ONNX")
        self.rng = np.random.default_rng(self.seed)
        type_name, np_name = ONNX_DTYPES.get(self.dtype, ONNX_DTYPES["float32"])
        self.elem_type: int = getattr(self.onnx.TensorProto, type_name)
        self.np_dtype = np.dtype(np_name)
        newest = self.onnx.defs.onnx_opset_version()
        if not OPSET <= self.opset <= newest:
            raise UsageError(
                f"--opset: {self.opset} is not supported; {OPSET} to {newest} (the installed "
                "onnx's newest)"
            )
        self.proto = self.onnx.ModelProto()

    def unique(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2`` … when taken (node and tensor names)."""
        out = unique_name(name, self.used)
        self.used.add(out)
        return out

    def constant(self, name: str, values: np.ndarray[Any, Any]) -> str:
        """An initializer that is not a weight (shapes, split sizes, clip bounds)."""
        tensor_name = self.unique(name)
        tensor = self.proto.graph.initializer.add()
        tensor.name = tensor_name
        tensor.data_type = self.onnx.helper.np_dtype_to_tensor_dtype(values.dtype)
        tensor.dims.extend(values.shape)
        # raw_data is little-endian; no copy where NumPy's order already is
        little = values.astype(values.dtype.newbyteorder("<"), copy=False)
        tensor.raw_data = np.ascontiguousarray(little).tobytes()
        return tensor_name

    def weight(self, name: str, shape: Sequence[int], fan_in: int) -> str:
        """Uniform in ±sqrt(3 / fan_in) (variance 1 / fan_in): float32 draws, scaled in
        place (the fastest NumPy offers: a big standard form has over 100 M weights)."""
        values = self.rng.random(tuple(shape), dtype=np.float32)
        bound = math.sqrt(3 / max(fan_in, 1))
        values *= np.float32(2 * bound)
        values -= np.float32(bound)
        return self.constant(name, values.astype(self.np_dtype, copy=False))

    def uniform(self, name: str, shape: Sequence[int], low: float, high: float) -> str:
        values = self.rng.uniform(low, high, tuple(shape))
        return self.constant(name, values.astype(self.np_dtype))

    def scalar(self, name: str, value: float) -> str:
        return self.constant(name, np.array(value, dtype=self.np_dtype))

    def node(self, op_type: str, inputs: Sequence[str], name: str, **attrs: Any) -> str:
        """Add one node named ``name`` (made unique); its output tensor has the same name."""
        node_name = self.unique(name)
        self.nodes.append(
            self.onnx.helper.make_node(op_type, list(inputs), [node_name], name=node_name, **attrs)
        )
        return node_name

    def value_info(self, name: str, shape: Sequence[int]) -> Any:
        return self.onnx.helper.make_tensor_value_info(name, self.elem_type, list(shape))

    def model(self, inputs: Sequence[Any], outputs: Sequence[Any], name: str) -> Any:
        """The ModelProto of everything built, at ``opset`` and the oldest IR version that
        opset allows (what every runtime of that opset reads)."""
        helper = self.onnx.helper
        model = self.proto
        model.graph.name = name
        model.graph.node.extend(self.nodes)
        model.graph.input.extend(inputs)
        model.graph.output.extend(outputs)
        opsets = [helper.make_opsetid("", self.opset)]
        model.opset_import.extend(opsets)
        model.ir_version = helper.find_min_ir_version_for(opsets)
        model.producer_name = "sepconv"
        return model


# --------------------------------------------------------------------------- operations


def emit_conv(g: GraphBuilder, op: Conv, x: str, name: str) -> str:
    if all(d == 1 for d in op.in_shape[:-1]):  # after a global pool's flat [N, C]: N×C×1×1
        target = np.array([0, op.in_channels, *op.in_shape[:-1]], np.int64)
        x = g.node("Reshape", [x, g.constant(f"{name}_shape", target)], f"{name}_unflatten")
    fan_in = (op.in_channels // op.groups) * prod(op.kernel)
    weight_shape = (op.out_channels, op.in_channels // op.groups, *op.kernel)
    inputs = [x, g.weight(f"{name}.weight", weight_shape, fan_in)]
    if op.bias:
        inputs.append(g.weight(f"{name}.bias", (op.out_channels,), fan_in))
    return g.node(
        "Conv",
        inputs,
        name,
        group=op.groups,
        kernel_shape=list(op.kernel),
        strides=list(op.stride),
        dilations=list(op.dilation),
        pads=onnx_pads(op.pads),
    )


def emit_batch_norm(g: GraphBuilder, op: BatchNorm, x: str, name: str) -> str:
    channels = op.in_shape[-1]
    scale = g.uniform(f"{name}.scale", (channels,), 0.5, 1.5)
    shift = g.weight(f"{name}.bias", (channels,), 10)
    mean = g.weight(f"{name}.mean", (channels,), 10)
    var = g.uniform(f"{name}.var", (channels,), 0.5, 2.0)
    return g.node("BatchNormalization", [x, scale, shift, mean, var], name)


def emit_layer_norm(
    g: GraphBuilder, op: LayerNorm, x: str, name: str, *, channels_first: bool = True
) -> str:
    """``LayerNormalization`` over the trailing dims of ``op.in_shape`` (channels-last).
    On an NCHW tensor (``channels_first``) it is wrapped in the two ``Transpose``s that
    bring the channels last and back, as torchvision's ``LayerNorm2d`` exports; a model
    without a learned scale gets ones (ONNX requires the input)."""
    dims = op.normalized_shape
    rank = len(op.in_shape) + 1  # with the batch
    if channels_first and rank > 2:
        x = g.node("Transpose", [x], f"{name}_to_last", perm=[0, *range(2, rank), 1])
    scale = (
        g.uniform(f"{name}.scale", dims, 0.5, 1.5)
        if op.scale
        else g.constant(f"{name}.scale", np.ones(dims, g.np_dtype))
    )
    inputs = [x, scale]
    if op.bias:
        inputs.append(g.weight(f"{name}.bias", dims, 10))
    y = g.node("LayerNormalization", inputs, name, axis=-len(dims), epsilon=op.epsilon)
    if channels_first and rank > 2:
        y = g.node("Transpose", [y], f"{name}_to_first", perm=[0, rank - 1, *range(1, rank - 1)])
    return y


def emit_scale(g: GraphBuilder, op: Scale, x: str, name: str) -> str:
    """A learned per-channel scale (``layer_scale``): ``Mul`` by a ``(C, 1, …, 1)``
    initializer."""
    channels = op.in_shape[-1]
    shape = (channels, *(1 for _ in op.in_shape[:-1]))
    return g.node("Mul", [x, g.uniform(f"{name}.gamma", shape, 0.5, 1.5)], name)


def emit_dense(g: GraphBuilder, op: Dense, x: str, name: str) -> str:
    features = prod(op.in_shape)
    if len(op.in_shape) > 1:  # a spatial input: Gemm takes [N, features]
        x = g.node("Flatten", [x], f"{name}_flatten", axis=1)
    inputs = [x, g.weight(f"{name}.weight", (op.units, features), features)]
    if op.bias:
        inputs.append(g.weight(f"{name}.bias", (op.units,), features))
    return g.node("Gemm", inputs, name, transB=1)


def emit_pool(g: GraphBuilder, op: Pool, x: str, name: str, where: str) -> str:
    kind = "Average" if op.kind == "avg" else "Max"
    if op.global_:
        pooled = g.node(f"Global{kind}Pool", [x], name)
        return g.node("Flatten", [pooled], f"{name}_flatten", axis=1)
    kernel, stride, pads, ceil = op.kernel, op.stride, op.pads, op.ceil_mode
    if op.output_size is not None:
        sizes = list(zip(op.in_shape[:-1], op.output_size, strict=True))
        if any(n % o for n, o in sizes):
            text = ", ".join(f"{n} → {o}" for n, o in sizes)
            raise ExportError(
                f"{where}: adaptive pooling {text} has no exact ONNX form (each input size "
                "must be a multiple of its output size)"
            )
        kernel = stride = tuple(n // o for n, o in sizes)
        pads, ceil = tuple((0, 0) for _ in sizes), False
    attrs: dict[str, Any] = {
        "kernel_shape": list(kernel),
        "strides": list(stride),
        "pads": onnx_pads(pads),
        "ceil_mode": int(ceil),
    }
    if op.kind == "avg":
        attrs["count_include_pad"] = 0  # divide by the real elements (conventions.md)
    return g.node(f"{kind}Pool", [x], name, **attrs)


def emit_squeeze_excite(
    g: GraphBuilder, op: SqueezeExcite, x: str, name: str, activations: bool = True
) -> str:
    """Pool, squeeze 1×1 conv, ReLU, excite 1×1 conv, sigmoid gate, channel-wise multiply.
    ``activations=False`` leaves out the ReLU and the gate, as timing leaves out every
    activation (the NumPy kernels run none), so the two can be checked against each other."""
    _, squeeze, excite, _ = op.parts
    pooled = g.node("GlobalAveragePool", [x], f"{name}/pool")
    s = emit_conv(g, squeeze, pooled, f"{name}/squeeze")
    if activations:
        s = g.node("Relu", [s], f"{name}/relu")
    e = emit_conv(g, excite, s, f"{name}/excite")
    if activations:
        e = g.node("Sigmoid", [e], f"{name}/gate")
    return g.node("Mul", [x, e], f"{name}/scale")


def emit_shuffle(g: GraphBuilder, op: Shuffle, x: str, name: str) -> str:
    channels, spatial = op.in_shape[-1], list(op.in_shape[:-1])
    split = [0, op.groups, channels // op.groups, *spatial]  # 0: keep the batch
    grouped = g.node(
        "Reshape", [x, g.constant(f"{name}.groups_shape", np.array(split, np.int64))], name
    )
    perm = [0, 2, 1, *range(3, 3 + len(spatial))]
    swapped = g.node("Transpose", [grouped], f"{name}_transpose", perm=perm)
    back = np.array([0, channels, *spatial], np.int64)
    return g.node("Reshape", [swapped, g.constant(f"{name}.shape", back)], f"{name}_reshape")


def emit_activation(g: GraphBuilder, function: str, x: str, name: str) -> str:
    """``function`` (a spec activation) applied to ``x``; "none" leaves it as it is."""
    if function == "none":
        return x
    if function == "relu":
        return g.node("Relu", [x], name)
    if function == "relu6":
        low, high = g.scalar(f"{name}.min", 0.0), g.scalar(f"{name}.max", 6.0)
        return g.node("Clip", [x, low, high], name)
    if function == "hardsigmoid":  # min(max(x + 3, 0), 6) / 6
        return g.node("HardSigmoid", [x], name, alpha=1 / 6, beta=0.5)
    if function == "hardswish":
        return g.node("HardSwish", [x], name)
    if function == "sigmoid":
        return g.node("Sigmoid", [x], name)
    if function == "silu":
        gate = g.node("Sigmoid", [x], f"{name}_sigmoid")
        return g.node("Mul", [x, gate], name)
    if function == "gelu":  # x/2 · (1 + erf(x/√2))
        scaled = g.node("Div", [x, g.scalar(f"{name}.sqrt2", math.sqrt(2.0))], f"{name}_div")
        erf = g.node("Erf", [scaled], f"{name}_erf")
        one = g.node("Add", [erf, g.scalar(f"{name}.one", 1.0)], f"{name}_add")
        half = g.node("Mul", [x, g.scalar(f"{name}.half", 0.5)], f"{name}_half")
        return g.node("Mul", [half, one], name)
    if function == "tanh":
        return g.node("Tanh", [x], name)
    if function == "leaky_relu":  # the spec has no slope: PyTorch's default
        return g.node("LeakyRelu", [x], name, alpha=LEAKY_RELU_SLOPE)
    if function == "softmax":  # over the channels: axis 1 of NCHW, of a dense layer's (N, C)
        return g.node("Softmax", [x], name, axis=1)
    raise ExportError(f"activation {function!r} has no ONNX form here")


# --------------------------------------------------------------------------- rows
