"""A whole sepconv model → one TensorFlow Lite file (``sepconv export SPEC -o model.tflite``),
float32 or full-integer int8 (``--dtype int8``), with seeded random weights.

The walk over the spec's layers, residual and branches blocks and unrolled repeats is the
ONNX export's own (:class:`~sepconv_cli.interchange.onnx_export._Walker`); only what a row
becomes differs: each row's form is written with :class:`~tflite_write_ops.OpWriter`'s
operators, a branches block's channel split is one ``SPLIT_V``, its merge a
``CONCATENATION`` or ``ADD``.

What the file holds, beside :mod:`tflite_write_ops`'s mapping of every operation:

* Input ``input`` ``(N, *spatial, C)`` (channels-last: TFLite's layout and the spec's), one
  output; a tensor is named ``<row>/<part>/<TF op>`` (``block3/depthwise/depthwise``,
  ``conv1/Conv2D``), so a reader that names layers as TF's converter does shows the spec's
  row names.
* As TFLite's converter writes a Keras model: every batch-norm folded into the
  convolution before it (its weights scaled, its bias shifted), a ``relu`` or ``relu6``
  fused into the operator before it, every convolution with a bias (zeros where the spec
  has none). Activations are placed as the ONNX export places them (the spec's rules); a
  squeeze-and-excite has its ReLU and sigmoid gate.
* Weights: NumPy ``default_rng(seed)``, uniform in ±sqrt(3 / fan_in) (as the ONNX export
  draws them), a batch-norm's folded scale in [0.5, 1.5].
* A float16 or other spec dtype is written as float32, with a note.
* ``dtype="int8"``: the float32 file is calibrated on one seeded standard-normal input
  (``default_rng(seed + 1)``, the model's batch and input shape) run through it on LiteRT,
  and rewritten full-integer int8 as TensorFlow's converter writes it
  (:mod:`tflite_quant`): int8 weights per channel, int32 biases, int8 activations, a
  ``QUANTIZE`` after the float32 input and a ``DEQUANTIZE`` before the float32 output. An
  operator with no int8 form here stays float32 and is named in the note.

Read back (``sepconv profile model.tflite``), the file gives the spec's MACs exactly; its
parameters differ by what folding does, per convolution or dense layer (tested, and stated
in docs/tflite.md): a batch-norm's 2·C become the C of a bias (−C, or −2·C where the layer
had its own bias too), and a layer without a bias or batch-norm gains C zeros (+C).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from sepconv_cli.counting.network import Model, Row
from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Conv,
    Dense,
    LayerNorm,
    Op,
    Scale,
    SqueezeExcite,
)
from sepconv_cli.interchange.onnx_build import ExportError, Form
from sepconv_cli.interchange.onnx_export import _Walker
from sepconv_cli.interchange.onnx_rows import (
    _activated_after,
    _inverted_residual_roles,
    _part_name,
)
from sepconv_cli.interchange.tflite_write import FlatModel, TfliteWriteError
from sepconv_cli.interchange.tflite_write_ops import OpWriter
from sepconv_cli.spec.layers import ModelSpec


@dataclass(frozen=True)
class TfliteExported:
    """The file's bytes, what it holds, and a note on its dtype (empty when float32)."""

    data: bytes
    operators: int
    weights: int  # values in its weight constants (FlatModel.weight_count)
    dtype_note: str = ""
    dtype: str = "float32"  # float32, or int8 (full-integer)


def draw_weights(op: Op, rng: np.random.Generator) -> dict[str, Any]:
    """Seeded weights for ``op`` in NumPy's layouts (:mod:`sepconv_cli.execution.kernels`)."""

    def uniform(shape: Sequence[int], fan_in: int) -> Any:
        bound = math.sqrt(3 / max(fan_in, 1))
        return rng.uniform(-bound, bound, tuple(shape)).astype(np.float32)

    if isinstance(op, Conv):
        fan_in = (op.in_channels // op.groups) * prod(op.kernel)
        if op.groups > 1 and op.groups == op.in_channels:  # depthwise: (*k, C, M)
            shape = (*op.kernel, op.in_channels, op.out_channels // op.in_channels)
        else:
            shape = (*op.kernel, op.in_channels // op.groups, op.out_channels)
        out = {"w": uniform(shape, fan_in)}
        return out | ({"b": uniform((op.out_channels,), fan_in)} if op.bias else {})
    if isinstance(op, BatchNorm):
        channels = op.in_shape[-1]
        scale = rng.uniform(0.5, 1.5, channels).astype(np.float32)
        return {"scale": scale, "shift": uniform((channels,), 10)}
    if isinstance(op, Dense):
        features = prod(op.in_shape)
        out = {"w": uniform((features, op.units), features)}
        return out | ({"b": uniform((op.units,), features)} if op.bias else {})
    if isinstance(op, SqueezeExcite):
        c, s = op.in_shape[-1], op.squeeze
        ones = (1,) * (len(op.in_shape) - 1)
        return {
            "squeeze_w": uniform((*ones, c, s), c),
            "squeeze_b": uniform((s,), c),
            "excite_w": uniform((*ones, s, c), s),
            "excite_b": uniform((c,), s),
        }
    if isinstance(op, LayerNorm):
        n = op.normalized
        return {"scale": rng.uniform(0.5, 1.5, n).astype(np.float32), "bias": uniform((n,), 10)}
    if isinstance(op, Scale) and op.params:
        return {"gate": rng.uniform(0.5, 1.5, op.params).astype(np.float32)}
    return {}


def write_row(
    w: OpWriter,
    row: Row,
    form: Form,
    inputs: Sequence[str],
    name: str,
    rng: np.random.Generator,
) -> str:
    """One instance of ``row`` in ``form`` reading ``inputs`` (the row's input, or the
    tensors an add or concat row merges), its tensors named after ``name``."""
    ops: tuple[Op, ...] = getattr(row.forms, form)
    where = f"{name} ({row.where})" if row.where else name
    try:
        if row.type in ("add", "concat"):
            out = _merge(w, row.type, inputs, name)
            return w.activation(row.activation, out, f"{name}/{row.activation}")
        activated = _activated_after(row, ops)
        roles = _inverted_residual_roles(ops) if row.type == "inverted_residual" else {}
        x, previous = inputs[0], ""
        for i, op in enumerate(ops):
            part = roles.get(i) or _part_name(op, previous)
            node = name if len(ops) == 1 else f"{name}/{part}"
            if isinstance(op, SqueezeExcite):
                x = w.squeeze_excite(op, x, draw_weights(op, rng), node, activations=True)
            elif isinstance(op, Scale) and op.params:
                x = w.write(op, x, draw_weights(op, rng), [], node)
            elif isinstance(op, Scale):
                raise ExportError(f"{where}: a scale operation has no TFLite form on its own")
            else:
                operands = [inputs[0]] if isinstance(op, Add) else []
                x = w.write(op, x, draw_weights(op, rng), operands, node)
            previous = part if isinstance(op, Conv) else previous
            function = activated.get(i)
            if function is not None:
                x = w.activation(function, x, f"{name}/{function}")
        return x
    except TfliteWriteError as exc:  # "<node>: what": the row's name and place instead
        text = str(exc)
        if text.startswith(name) and ": " in text:
            text = text.split(": ", 1)[1]
        raise ExportError(f"{where}: {text}") from None


def _merge(w: OpWriter, kind: str, inputs: Sequence[str], name: str) -> str:
    if kind == "concat":
        shapes = [w.m.shape(x) for x in inputs]
        out = (*shapes[0][:-1], sum(s[-1] for s in shapes))
        return w.m.op(
            "CONCATENATION",
            list(inputs),
            (f"{name}/concat", out),
            "ConcatenationOptions",
            Axis=len(out) - 1,
            FusedActivationFunction=0,
        )
    out_name = inputs[0]
    for other in inputs[1:]:
        out_name = w.binary("ADD", out_name, other, name)
    return out_name


class _TfliteWalker(_Walker):
    """The ONNX export's walk, writing TFLite operators (the row and the split)."""

    def __init__(self, model: Model, form: Form, writer: OpWriter, seed: int) -> None:
        self.rows = model.rows
        self.form = form
        self.writer = writer
        self.rng = np.random.default_rng(seed)
        self.pos = 0
        self.renames: list[tuple[str, str]] = []
        self.outputs: dict[int, list[str]] = {}
        # what a layer's `from` names: the walk's own bookkeeping (onnx_export._Walker)
        self.named: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.scopes: list[str] = []

    def tensor_row(
        self,
        row: Row,
        layer: Any,
        inputs: Sequence[str],
        shapes: Sequence[tuple[int, ...]] | None = None,
    ) -> str:
        """A tensor layer (reshape, transpose, slice, softmax, matmul): not written as TFLite
        operators yet, so named, never written as something else."""
        where = f"{self.node_name(row)} ({row.where})" if row.where else self.node_name(row)
        raise ExportError(f"{where}: a {row.type} layer has no TFLite form here yet")

    def emit(self, row: Row, inputs: Sequence[str]) -> str:
        out = write_row(self.writer, row, self.form, inputs, self.node_name(row), self.rng)
        self.outputs.setdefault(row.index, []).append(out)
        return out

    def split_channels(self, tensor: str, sizes: list[int], name: str) -> list[str]:
        m = self.writer.m
        full = m.shape(tensor)
        outs: list[str] = m.op_many(
            "SPLIT_V",
            [
                tensor,
                m.constant(f"{name}/split_sizes", np.asarray(sizes, np.int32), "int32"),
                m.constant(f"{name}/split_axis", np.int32(len(full) - 1), "int32"),
            ],
            [(f"{name}/split:{i}", (*full[:-1], size)) for i, size in enumerate(sizes)],
            "SplitVOptions",
            NumSplits=len(sizes),
        )
        return outs


def export_tflite(
    spec: ModelSpec,
    model: Model,
    form: Form = "as_specified",
    seed: int = 0,
    where: str = "",
    dtype: str = "float32",
) -> TfliteExported:
    """``model`` (built from ``spec``) as a ``.tflite`` file of ``form``, float32 or int8."""
    m = FlatModel()
    writer = OpWriter(m, model.batch)
    walker = _TfliteWalker(model, form, writer, seed)
    named = list(spec.inputs)
    if len(named) > 1:
        raise ExportError(
            f"{where or 'the model'}: {len(named)} named inputs: a TFLite file is written with "
            "one input here"
        )
    x = m.tensor("input", (model.batch, *model.input_shape))
    walker.named = {named[0][0] if named else "input": (x, model.input_shape)}
    out, _shape = walker.layers(spec.layers, (x, model.input_shape), "")
    if walker.pos != len(model.rows):  # the walk mirrors the builder: a bug if not
        raise AssertionError(f"export walked {walker.pos} of {len(model.rows)} rows")
    where = where or "the model"
    if dtype == "int8":
        return _int8(m, x, out, model, seed, where)
    data = m.build([x], [out], where)
    note = ""
    if model.dtype != "float32":
        note = f"dtype {model.dtype}: written as float32 (the TFLite writer writes float32)"
    return TfliteExported(data, len(m.ops), m.weight_count(), note)


def _int8(m: FlatModel, x: str, out: str, model: Model, seed: int, where: str) -> TfliteExported:
    """The float32 graph ``m`` calibrated on a seeded input and written full-integer int8."""
    from sepconv_cli.interchange.tflite_quant_calibrate import int8_file

    sample = np.random.default_rng(seed + 1).standard_normal(m.shape(x)).astype(np.float32)
    try:
        q = int8_file(m, [x], [out], {x: sample}, "float32", where)
    except TfliteWriteError as exc:
        raise ExportError(str(exc)) from None
    note = ""
    if q.float_ops:
        named = ", ".join(q.float_ops)
        note = f"{len(q.float_ops)} operator(s) with no int8 form here left in float32: {named}"
    return TfliteExported(q.data, q.operators, q.weights, note, "int8")
