"""sepconv operations → TFLite builtin operators, float32, NHWC, weights given in NumPy's
layouts (:mod:`sepconv_cli.execution.kernels` states them).

:class:`OpWriter` writes one operation at a time into a :class:`~tflite_write.FlatModel`;
timing on LiteRT writes a form's operations with NumPy's own weights, ``sepconv export -o
model.tflite`` a whole model's with seeded ones (:mod:`tflite_export`).

Rules
-----
* Conv → ``CONV_2D`` (standard and grouped: TFLite takes the groups from the filter's input
  channels), ``DEPTHWISE_CONV_2D`` (``groups == Cin``, the depth multiplier M as output
  channels ``c·M + m``, NumPy's order), ``CONV_3D`` (3-D, groups 1); a 1-D conv is the 2-D
  one on a ``RESHAPE`` to height 1 and back. Every conv has a bias input (zeros where sepconv
  counts none: LiteRT requires one).
* Padding: zero pads are ``VALID``; TensorFlow's own ``same`` pads (the odd one after, for
  ``out = ceil(in / stride)``) are ``SAME``; any other pads are a ``PAD`` (zeros) then
  ``VALID``, or for max pooling a ``PADV2`` with float32's lowest value (a pad never wins).
  Average pooling divides by the real elements (TFLite's ``SAME`` does): padded otherwise,
  it is ``PAD``, ``AVERAGE_POOL_2D`` ``VALID`` (the sum over k·k) and a ``MUL`` by each
  window's k·k / real elements, a constant.
* BatchNorm (NumPy's folded ``scale``, ``shift``) → folded into the convolution or dense
  layer written just before it (weights and bias, in float64), as TFLite's converter
  does; on its own, ``MUL`` + ``ADD`` per channel.
* Dense → ``RESHAPE`` to ``(N, features)`` after a spatial input (NHWC order: NumPy's) and
  ``FULLY_CONNECTED`` with weights ``(units, features)``.
* Pool → ``AVERAGE_POOL_2D`` / ``MAX_POOL_2D`` (2-D; 1-D through a height-1 ``RESHAPE``);
  global → ``MEAN`` / ``REDUCE_MAX`` over the spatial axes; adaptive only where every input
  size is a multiple of its output size (a fixed window).
* Add → ``ADD``; Scale → ``MUL`` by its gate (a further input) or, learned, by a constant;
  Concat → ``CONCATENATION`` on the channels; Shuffle → ``RESHAPE`` ``(…, g, C/g)``,
  ``TRANSPOSE`` of the two channel axes, ``RESHAPE`` back; SqueezeExcite → ``MEAN`` (keep
  dims), a 1×1 ``CONV_2D`` with bias C → S (``RELU`` fused), another S → C, ``LOGISTIC``,
  ``MUL`` with the input (without the ReLU and gate when timing, as NumPy runs it); a layer
  norm → ``MEAN``, ``SUB``, ``MUL``, ``MEAN``, ``ADD`` ε, ``RSQRT``, ``MUL`` (then the
  scale's ``MUL`` and the bias's ``ADD``) over its trailing dims.
* Activations (``sepconv export`` writes them; timing runs none): ``relu``, ``relu6`` fused
  into the operator before them where TFLite fuses them, else ``RELU``/``RELU6``;
  ``sigmoid`` → ``LOGISTIC``; ``hardswish`` → ``HARD_SWISH``; ``hardsigmoid`` → ``ADD`` 3,
  ``RELU6``, ``MUL`` 1/6; ``silu`` → ``LOGISTIC`` · x; ``gelu`` → ``GELU`` (exact, erf);
  ``tanh`` → ``TANH``; ``leaky_relu`` → ``LEAKY_RELU`` (slope 0.01); ``softmax`` →
  ``SOFTMAX`` over the channels.
* Anything else raises :class:`TfliteWriteError` naming the operation: never a silent
  wrong graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

import numpy as np

from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Concat,
    Conv,
    Dense,
    LayerNorm,
    Op,
    Pool,
    Scale,
    Shuffle,
    SqueezeExcite,
)
from sepconv_cli.counting.shapes import same_padding
from sepconv_cli.interchange.tflite_write import SAME, VALID, FlatModel, TfliteWriteError

Weights = dict[str, Any]  # NumPy's arrays for one operation (kernels.py's layouts)
LEAKY_RELU_SLOPE = 0.01  # as the ONNX export's: PyTorch's default (a spec records none)
LOWEST = float(np.finfo(np.float32).min)  # a max pool's pad value


class OpWriter:
    """Writes sepconv operations into ``model`` for a batch of ``batch``."""

    def __init__(self, model: FlatModel, batch: int) -> None:
        self.m = model
        self.batch = batch

    # ----------------------------------------------------------------------- helpers

    def full(self, shape: Sequence[int]) -> tuple[int, ...]:
        return (self.batch, *shape)

    def reshape(self, x: str, shape: tuple[int, ...], name: str) -> str:
        """``x`` as ``shape`` (same elements): itself when it already is."""
        if self.m.shape(x) == shape:
            return x
        if prod(self.m.shape(x)) != prod(shape):
            raise TfliteWriteError(
                f"{name}: a {list(self.m.shape(x))} tensor read as {list(shape)}"
            )
        target = self.m.constant(f"{name}/shape", np.asarray(shape, np.int32), "int32")
        return self.m.op("RESHAPE", [x, target], (f"{name}/Reshape", shape))

    def binary(self, code: str, x: str, y: str, name: str) -> str:
        shape = tuple(np.broadcast_shapes(self.m.shape(x), self.m.shape(y)))
        options = {"ADD": "AddOptions", "MUL": "MulOptions", "SUB": "SubOptions"}[code]
        return self.m.op(
            code, [x, y], (f"{name}/{code.title()}", shape), options, FusedActivationFunction=0
        )

    def scalar(self, name: str, value: float) -> str:
        return self.m.constant(name, np.float32(value))

    def _padding(
        self,
        x: str,
        kernel: Sequence[int],
        stride: Sequence[int],
        dilation: Sequence[int],
        pads: Sequence[tuple[int, int]],
        fill: float,
        name: str,
    ) -> tuple[str, int]:
        """``x`` (padded when needed) and the Padding its window op takes."""
        shape = self.m.shape(x)
        if all(p == (0, 0) for p in pads):
            return x, VALID
        spatial = shape[1:-1]
        same = [same_padding(*args) for args in zip(spatial, kernel, stride, dilation, strict=True)]
        if [tuple(p) for p in pads] == same:
            return x, SAME
        if any(b < 0 or a < 0 for b, a in pads):
            raise TfliteWriteError(f"{name}: negative pads {list(pads)} have no TFLite form")
        table = np.asarray([(0, 0), *pads, (0, 0)], np.int32)
        padded = tuple(n + b + a for n, (b, a) in zip(shape, table, strict=True))
        paddings = self.m.constant(f"{name}/paddings", table, "int32")
        if fill == 0:
            return self.m.op("PAD", [x, paddings], (f"{name}/Pad", padded)), VALID
        value = self.scalar(f"{name}/pad_value", fill)
        return self.m.op("PADV2", [x, paddings, value], (f"{name}/PadV2", padded)), VALID

    # ----------------------------------------------------------------------- operations

    def write(self, op: Op, x: str, weights: Weights, operands: Sequence[str], name: str) -> str:
        """``op`` applied to ``x``; ``operands`` are the further tensors it reads (an add's
        residual, a scale's gate, a concat's other inputs), in order."""
        if isinstance(op, Conv):
            return self.conv(op, x, weights["w"], weights.get("b"), name)
        if isinstance(op, BatchNorm):
            return self.batch_norm(op, x, weights["scale"], weights["shift"], name)
        if isinstance(op, Dense):
            return self.dense(op, x, weights["w"], weights.get("b"), name)
        if isinstance(op, Pool):
            return self.pool(op, x, name)
        x = self.reshape(x, self.full(op.in_shape), name) if not isinstance(op, Concat) else x
        if isinstance(op, Add):
            return self.binary("ADD", x, operands[0], name)
        if isinstance(op, Scale):
            gate = operands[0] if operands else self.m.constant(f"{name}/gamma", weights["gate"])
            return self.binary("MUL", x, gate, name)
        if isinstance(op, Concat):
            axis = len(op.in_shape)
            return self.m.op(
                "CONCATENATION",
                [x, *operands],
                (f"{name}/concat", self.full(op.out_shape)),
                "ConcatenationOptions",
                Axis=axis,
                FusedActivationFunction=0,
            )
        if isinstance(op, Shuffle):
            return self.shuffle(op, x, name)
        if isinstance(op, SqueezeExcite):
            return self.squeeze_excite(op, x, weights, name)
        if isinstance(op, LayerNorm):
            return self.layer_norm(op, x, weights, name)
        raise TfliteWriteError(
            f"{name}: a {op.role} operation ({type(op).__name__}) has no TensorFlow Lite form here"
        )

    def conv(self, op: Conv, x: str, w: Any, b: Any, name: str) -> str:
        rank = len(op.kernel)
        depthwise = op.groups > 1 and op.groups == op.in_channels
        bias = np.zeros(op.out_channels, np.float32) if b is None else np.asarray(b)
        x = self.reshape(x, self.full(op.in_shape), name)
        if rank == 3:
            if op.groups != 1:
                raise TfliteWriteError(
                    f"{name}: a 3-D convolution of {op.groups} groups has no TFLite form "
                    "(CONV_3D has no groups)"
                )
            return self._window_conv(op, x, np.asarray(w), bias, name, 3)
        if rank == 1:  # as a 2-D conv of height 1
            line = self.reshape(x, (self.batch, 1, *op.in_shape), f"{name}/as_2d")
            flat = Conv(
                (1, *op.in_shape),
                op.out_channels,
                (1, *op.kernel),
                (1, *op.stride),
                (1, *op.dilation),
                ((0, 0), *op.pads),
                op.groups,
                op.bias,
                op.role,
            )
            y = self.conv(flat, line, np.asarray(w)[None], b, name)
            return self.reshape(y, self.full(op.out_shape), f"{name}/as_1d")
        if rank != 2:
            raise TfliteWriteError(f"{name}: a {rank}-D convolution has no TFLite form")
        return self._window_conv(op, x, np.asarray(w), bias, name, 2, depthwise)

    def _window_conv(
        self, op: Conv, x: str, w: Any, bias: Any, name: str, rank: int, depthwise: bool = False
    ) -> str:
        x, padding = self._padding(x, op.kernel, op.stride, op.dilation, op.pads, 0.0, name)
        out = self.full(op.out_shape)
        b = self.m.constant(f"{name}/bias", bias)
        if rank == 3:  # NumPy's (kd, kh, kw, Cin, Cout) is CONV_3D's own
            f = self.m.constant(f"{name}/kernel", w)
            (sd, sh, sw), (dd, dh, dw) = op.stride, op.dilation
            return self.m.op(
                "CONV_3D", [x, f, b], (f"{name}/Conv3D", out), "Conv3DOptions",
                Padding=padding, StrideD=sd, StrideH=sh, StrideW=sw, DilationDFactor=dd,
                DilationHFactor=dh, DilationWFactor=dw, FusedActivationFunction=0,
            )  # fmt: skip
        (sh, sw), (dh, dw) = op.stride, op.dilation
        window = {"Padding": padding, "StrideH": sh, "StrideW": sw}
        window.update(DilationHFactor=dh, DilationWFactor=dw, FusedActivationFunction=0)
        if depthwise:  # (kh, kw, C, M) → (1, kh, kw, C·M): channel c·M + m
            multiplier = op.out_channels // op.in_channels
            f = self.m.constant(f"{name}/depthwise_kernel", w.reshape(*op.kernel, -1)[None])
            return self.m.op(
                "DEPTHWISE_CONV_2D",
                [x, f, b],
                (f"{name}/depthwise", out),
                "DepthwiseConv2DOptions",
                DepthMultiplier=multiplier,
                **window,
            )
        f = self.m.constant(
            f"{name}/kernel", np.transpose(w, (3, 0, 1, 2))
        )  # (Cout, kh, kw, Cin/g)
        return self.m.op("CONV_2D", [x, f, b], (f"{name}/Conv2D", out), "Conv2DOptions", **window)

    def batch_norm(self, op: BatchNorm, x: str, scale: Any, shift: Any, name: str) -> str:
        if self.m.shape(x)[-1] == op.in_shape[-1] and self.m.fold(x, scale, shift):
            return x
        x = self.reshape(x, self.full(op.in_shape), name)
        scaled = self.binary("MUL", x, self.m.constant(f"{name}/scale", scale), f"{name}/scale")
        return self.binary("ADD", scaled, self.m.constant(f"{name}/shift", shift), name)

    def dense(self, op: Dense, x: str, w: Any, b: Any, name: str) -> str:
        features = prod(op.in_shape)
        x = self.reshape(x, (self.batch, features), f"{name}/flatten")
        weight = self.m.constant(f"{name}/kernel", np.asarray(w).T)  # (units, features)
        bias = np.zeros(op.units, np.float32) if b is None else b
        return self.m.op(
            "FULLY_CONNECTED",
            [x, weight, self.m.constant(f"{name}/bias", bias)],
            (f"{name}/MatMul", (self.batch, op.units)),
            "FullyConnectedOptions",
            FusedActivationFunction=0,
            KeepNumDims=False,
        )

    def pool(self, op: Pool, x: str, name: str) -> str:
        rank = len(op.in_shape) - 1
        x = self.reshape(x, self.full(op.in_shape), name)
        if op.global_:
            return self.reduce("MEAN" if op.kind == "avg" else "REDUCE_MAX", x, rank, False, name)
        kernel, stride, pads = op.kernel, op.stride, op.window_pads
        if op.output_size is not None:
            sizes = list(zip(op.in_shape[:-1], op.output_size, strict=True))
            if any(n % o for n, o in sizes):
                text = ", ".join(f"{n} → {o}" for n, o in sizes)
                raise TfliteWriteError(
                    f"{name}: adaptive pooling {text} has no TFLite form (each input size must "
                    "be a multiple of its output size)"
                )
            kernel = stride = tuple(n // o for n, o in sizes)
            pads = tuple((0, 0) for _ in sizes)
        if rank == 1:
            line = self.reshape(x, (self.batch, 1, *op.in_shape), f"{name}/as_2d")
            y = self._pool_2d(op, line, (1, *kernel), (1, *stride), ((0, 0), *pads), name)
            return self.reshape(y, self.full(op.out_shape), f"{name}/as_1d")
        if rank != 2:
            raise TfliteWriteError(f"{name}: a {rank}-D pool has no TFLite form")
        return self._pool_2d(op, x, kernel, stride, pads, name)

    def _pool_2d(
        self,
        op: Pool,
        x: str,
        kernel: Sequence[int],
        stride: Sequence[int],
        pads: Sequence[tuple[int, int]],
        name: str,
    ) -> str:
        spatial = self.m.shape(x)[1:-1]
        fill = LOWEST if op.kind == "max" else 0.0
        x, padding = self._padding(x, kernel, stride, (1, 1), pads, fill, name)
        code, part = (
            ("MAX_POOL_2D", "MaxPool") if op.kind == "max" else ("AVERAGE_POOL_2D", "AvgPool")
        )
        out = (self.batch, *_window_counts(spatial, kernel, stride, pads).shape, op.in_shape[-1])
        y = self.m.op(
            code, [x], (f"{name}/{part}", out), "Pool2DOptions",
            Padding=padding, StrideH=stride[0], StrideW=stride[1], FilterHeight=kernel[0],
            FilterWidth=kernel[1], FusedActivationFunction=0,
        )  # fmt: skip
        if op.kind == "max" or padding == SAME or all(p == (0, 0) for p in pads):
            return y
        # zeros padded in: the window's sum over k·k; times k·k / its real elements
        counts = _window_counts(spatial, kernel, stride, pads)
        factor = (prod(kernel) / counts)[None, :, :, None]
        return self.binary("MUL", y, self.m.constant(f"{name}/real_elements", factor), name)

    def reduce(self, code: str, x: str, rank: int, keep: bool, name: str) -> str:
        """``code`` (MEAN, REDUCE_MAX) over the ``rank`` axes before the channels."""
        return self.reduce_axes(code, x, list(range(1, rank + 1)), keep, name)

    def reduce_axes(self, code: str, x: str, axes: list[int], keep: bool, name: str) -> str:
        shape = self.m.shape(x)
        out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
        axis = self.m.constant(f"{name}/axes", np.asarray(axes, np.int32), "int32")
        part = "Mean" if code == "MEAN" else "Max"
        return self.m.op(code, [x, axis], (f"{name}/{part}", out), "ReducerOptions", KeepDims=keep)

    def shuffle(self, op: Shuffle, x: str, name: str) -> str:
        spatial, channels = op.in_shape[:-1], op.in_shape[-1]
        rank = len(spatial) + 1  # the batch and the spatial axes
        grouped = self.reshape(
            x, (self.batch, *spatial, op.groups, channels // op.groups), f"{name}/groups"
        )
        perm = self.m.constant(
            f"{name}/perm", np.asarray([*range(rank), rank + 1, rank], np.int32), "int32"
        )
        swapped = self.m.op(
            "TRANSPOSE",
            [grouped, perm],
            (f"{name}/transpose", (self.batch, *spatial, channels // op.groups, op.groups)),
        )
        return self.reshape(swapped, self.full(op.out_shape), f"{name}/shuffle")

    def squeeze_excite(
        self, op: SqueezeExcite, x: str, w: Weights, name: str, activations: bool = False
    ) -> str:
        """Pool, squeeze, [ReLU], excite, [sigmoid gate], multiply; ``activations`` adds the
        ReLU and the gate (the export's; timing leaves them out, as NumPy does)."""
        channels, squeeze = op.in_shape[-1], op.squeeze
        rank = len(op.in_shape) - 1
        down_w = np.asarray(w["squeeze_w"]).reshape(channels, squeeze).T  # (S, C)
        up_w = np.asarray(w["excite_w"]).reshape(squeeze, channels).T  # (C, S)
        if rank == 2:
            pooled = self.reduce("MEAN", x, rank, True, f"{name}/pool")
            ones = (1, 1)
            down = self._se_conv(pooled, down_w, w["squeeze_b"], ones, f"{name}/squeeze")
            if activations:
                down = self.activation("relu", down, f"{name}/relu")
            gate = self._se_conv(down, up_w, w["excite_b"], ones, f"{name}/excite")
        else:
            pooled = self.reduce("MEAN", x, rank, False, f"{name}/pool")
            down = self._se_dense(pooled, down_w, w["squeeze_b"], f"{name}/squeeze")
            if activations:
                down = self.activation("relu", down, f"{name}/relu")
            up = self._se_dense(down, up_w, w["excite_b"], f"{name}/excite")
            gate = self.reshape(up, (self.batch, *(1,) * rank, channels), f"{name}/excite")
        if activations:
            gate = self.m.op("LOGISTIC", [gate], (f"{name}/gate/Sigmoid", self.m.shape(gate)))
        return self.binary("MUL", x, gate, f"{name}/scale")

    def _se_conv(self, x: str, w: Any, b: Any, ones: tuple[int, int], name: str) -> str:
        conv = Conv((*ones, w.shape[1]), w.shape[0], ones, ones, ones, ((0, 0), (0, 0)), bias=True)
        # NumPy's (1, 1, Cin, Cout) from the (Cout, Cin) matrix
        return self.conv(conv, x, w.T.reshape(1, 1, w.shape[1], w.shape[0]), b, name)

    def _se_dense(self, x: str, w: Any, b: Any, name: str) -> str:
        return self.dense(Dense((w.shape[1],), w.shape[0]), x, w.T, b, name)

    def layer_norm(self, op: LayerNorm, x: str, w: Weights, name: str) -> str:
        dims = op.normalized_shape
        total = len(op.in_shape) + 1
        axes = list(range(total - len(dims), total))
        mean = self.reduce_axes("MEAN", x, axes, True, f"{name}/mean")
        centred = self.binary("SUB", x, mean, f"{name}/centre")
        square = self.binary("MUL", centred, centred, f"{name}/square")
        var = self.reduce_axes("MEAN", square, axes, True, f"{name}/variance")
        var = self.binary("ADD", var, self.scalar(f"{name}/epsilon", op.epsilon), f"{name}/eps")
        inv = self.m.op("RSQRT", [var], (f"{name}/Rsqrt", self.m.shape(var)))
        y = self.binary("MUL", centred, inv, f"{name}/normalize")
        if op.scale:
            gamma = self.m.constant(f"{name}/gamma", np.asarray(w["scale"]).reshape(dims))
            y = self.binary("MUL", y, gamma, f"{name}/gamma")
        if op.bias:
            beta = self.m.constant(f"{name}/beta", np.asarray(w["bias"]).reshape(dims))
            y = self.binary("ADD", y, beta, f"{name}/beta")
        return y

    # ----------------------------------------------------------------------- activations

    def activation(self, function: str, x: str, name: str) -> str:
        """A spec activation applied to ``x`` (fused into the op before it where TFLite
        fuses it); "none" leaves it as it is."""
        shape = self.m.shape(x)
        if function == "none":
            return x
        if function in ("relu", "relu6") and self.m.fuse(x, function):
            return x
        unary = {
            "relu": "RELU",
            "relu6": "RELU6",
            "sigmoid": "LOGISTIC",
            "hardswish": "HARD_SWISH",
            "tanh": "TANH",
        }
        if function in unary:
            return self.m.op(unary[function], [x], (f"{name}/{unary[function].title()}", shape))
        if function == "hardsigmoid":  # min(max(x + 3, 0), 6) / 6
            shifted = self.binary("ADD", x, self.scalar(f"{name}/three", 3.0), name)
            clipped = self.m.op("RELU6", [shifted], (f"{name}/Relu6", shape))
            return self.binary("MUL", clipped, self.scalar(f"{name}/sixth", 1 / 6), name)
        if function == "silu":
            gate = self.m.op("LOGISTIC", [x], (f"{name}/Sigmoid", shape))
            return self.binary("MUL", x, gate, name)
        if function == "gelu":
            return self.m.op("GELU", [x], (f"{name}/Gelu", shape), "GeluOptions", Approximate=False)
        if function == "leaky_relu":
            return self.m.op(
                "LEAKY_RELU", [x], (f"{name}/LeakyRelu", shape), "LeakyReluOptions",
                Alpha=LEAKY_RELU_SLOPE,
            )  # fmt: skip
        if function == "softmax":  # over the channels: the last axis
            return self.m.op("SOFTMAX", [x], (f"{name}/Softmax", shape), "SoftmaxOptions", Beta=1.0)
        raise TfliteWriteError(f"{name}: activation {function!r} has no TFLite form here")


def _window_counts(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
) -> np.ndarray[Any, Any]:
    """The real (unpadded) elements of each window of a 2-D pool, ``(out_h, out_w)``."""
    per_axis = []
    for n, k, s, (b, a) in zip(spatial, kernel, stride, pads, strict=True):
        starts = np.arange(0, n + b + a - k + 1, s) - b
        per_axis.append(np.minimum(starts + k, n) - np.maximum(starts, 0))
    return np.outer(per_axis[0], per_axis[1]).astype(np.float64)
