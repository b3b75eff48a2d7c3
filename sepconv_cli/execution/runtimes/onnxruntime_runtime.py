"""Timing on ONNX Runtime: each form is a one-form ONNX graph run by an InferenceSession.

Rules
-----
* The graph is built with the export's own emitters (:mod:`sepconv_cli.interchange.
  onnx_build`: opset 17, NCHW, the same Conv/BatchNormalization/Gemm/pool nodes ``sepconv
  export`` writes), its weights as initializers, as a deployed model holds them. The
  initializers are NumPy's own weights (converted by :mod:`.layouts`), so the agreement
  check compares one computation. An operation that reads a second tensor reads NumPy's
  own: an ``Add`` adds the graph's input when its residual is the form's input (an inverted
  residual's shortcut), a ``Concat`` joins the other branches' outputs and a ``Scale``
  multiplies by its gate, each a further graph input bound once, as the input is. A layer
  norm (an ONNX file's) is ``LayerNormalization`` over its trailing dims, on its tensor in
  the file's own layout (:func:`.layouts.keeps_layout`).
* Session: ``intra_op_num_threads`` = ``--threads`` (ORT's own choice when unset),
  ``inter_op_num_threads`` 1, sequential execution; graph optimization level from
  ``--ort-optimization`` (``disable|basic|extended|all``), else ORT's default (``all``,
  which on x86 wraps convolutions in NCHWc reorders: part of what a deployed model pays).
* I/O binding (:mod:`.ort_binding`, one code path for CPU and GPU): the inputs are bound
  once and the output bound to a buffer allocated once on the session's device, so a timed
  call is ``run_with_iobinding`` and nothing else: no copies, no allocation of the result,
  no Python dict of feeds.
* Files: importing onnxruntime (1.2x and later on Linux) writes a device id and a telemetry
  database to ``$XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime`` (else under
  ``~/.cache``). ``ORT_DISABLE_TELEMETRY=1``, which ORT reads when it is imported, stops
  both: :func:`import_onnxruntime` sets it before the import unless the environment already
  sets it (a user's own choice, ``0`` included, stands), so sepconv's runs write nothing to
  the user's HOME. An onnxruntime some other code imported first has already written them.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.buffers import Array
from sepconv_cli.execution.runtimes import layouts
from sepconv_cli.execution.runtimes.base import (
    INT8,
    ORT_OPTIMIZATION,
    RuntimeInfo,
    int8_tolerance,
)
from sepconv_cli.execution.runtimes.ort_binding import bind_once
from sepconv_cli.execution.runtimes.ort_int8 import (
    QuantizedForm,
    channels_last,
    float_operations,
    quantize_form,
    scheme,
)
from sepconv_cli.interchange.onnx_build import (
    GraphBuilder,
    emit_batch_norm,
    emit_conv,
    emit_dense,
    emit_layer_norm,
    emit_pool,
    emit_shuffle,
    emit_squeeze_excite,
    nchw,
)
from sepconv_cli.interchange.optional import require

CONTEXT = "--runtime onnxruntime"
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass
class _GivenWeights(GraphBuilder):
    """A GraphBuilder whose weights are given (by initializer name), not drawn."""

    given: dict[str, Array] = field(default_factory=dict)

    def weight(self, name: str, shape: Sequence[int], fan_in: int) -> str:
        return self._given(name, shape)

    def uniform(self, name: str, shape: Sequence[int], low: float, high: float) -> str:
        return self._given(name, shape)

    def _given(self, name: str, shape: Sequence[int]) -> str:
        values = self.given[name]
        assert values.shape == tuple(shape), (name, values.shape, shape)
        return self.constant(name, values.astype(self.np_dtype, copy=False))


def _initializers(ops: Sequence[Op], weights: Sequence[dict[str, Array]]) -> dict[str, Array]:
    """NumPy's weights, converted, under the names the emitters give node ``op{i}``'s."""
    out: dict[str, Array] = {}
    for i, (op, w) in enumerate(zip(ops, weights, strict=True)):
        name = f"op{i}"
        if isinstance(op, SqueezeExcite):
            _, squeeze, excite, _ = op.parts
            for part, conv in (("squeeze", squeeze), ("excite", excite)):
                out[f"{name}/{part}.weight"] = layouts.conv_weight(conv, w[f"{part}_w"])
                out[f"{name}/{part}.bias"] = np.asarray(w[f"{part}_b"])
            continue
        if isinstance(op, Conv):
            out[f"{name}.weight"] = layouts.conv_weight(op, w["w"])
        elif isinstance(op, Dense):
            out[f"{name}.weight"] = layouts.dense_weight(op, w["w"])
        elif isinstance(op, BatchNorm):
            for key, values in layouts.batch_norm_params(w).items():
                out[f"{name}.{key}"] = values
        elif isinstance(op, LayerNorm):
            dims = op.normalized_shape
            for key in ("scale", "bias"):
                if key in w:
                    out[f"{name}.{key}"] = np.ascontiguousarray(w[key]).reshape(dims)
            continue
        if "b" in w:
            out[f"{name}.bias"] = np.asarray(w["b"])
    return out


def form_model(
    ops: Sequence[Op],
    weights: Sequence[dict[str, Array]],
    operands: Sequence[dict[str, Array]],
    x: Array,
) -> tuple[Any, dict[str, Array]]:
    """The ONNX model of a linear sequence of ``ops`` (input ``input``, output ``output``,
    node ``i`` named ``op{i}``) with NumPy's weights as its initializers, and the further
    inputs it reads (name → NumPy's channels-last array): an operation's ``operands``, except
    an add's residual that is the form's input ``x`` itself, which reads ``input``."""
    batch = x.shape[0]
    g = _GivenWeights(batch=batch, given=_initializers(ops, weights))
    g.used.update({"input", "output"})
    extra: dict[str, Array] = {}

    def operand(i: int, key: str, values: Array) -> str:
        if key == "residual" and values is x:
            return "input"
        extra[f"op{i}.{key}"] = values
        return f"op{i}.{key}"

    y = "input"
    for i, (op, given) in enumerate(zip(ops, operands, strict=True)):
        name = f"op{i}"
        if isinstance(op, Conv):
            y = emit_conv(g, op, y, name)
        elif isinstance(op, BatchNorm):
            y = emit_batch_norm(g, op, y, name)
        elif isinstance(op, Dense):
            y = emit_dense(g, op, y, name)
        elif isinstance(op, Pool):
            y = emit_pool(g, op, y, name, name)
        elif isinstance(op, Add):
            y = g.node("Add", [y, operand(i, "residual", given["residual"])], name)
        elif isinstance(op, Scale):
            y = g.node("Mul", [y, operand(i, "gate", given["gate"])], name)
        elif isinstance(op, Concat):
            others = [operand(i, key, values) for key, values in given.items()]
            y = g.node("Concat", [y, *others], name, axis=1)
        elif isinstance(op, SqueezeExcite):
            y = emit_squeeze_excite(g, op, y, name, activations=False)
        elif isinstance(op, Shuffle):
            y = emit_shuffle(g, op, y, name)
        elif isinstance(op, LayerNorm):
            y = emit_layer_norm(g, op, y, name, channels_first=not layouts.keeps_layout(ops))
        else:  # kernels.check_executable refused it already
            raise TypeError(f"no ONNX Runtime form for {type(op).__name__}")
    g.used.update(extra)
    g.nodes.append(g.onnx.helper.make_node("Identity", [y], ["output"], name="output"))
    first = layouts.to_runtime(x, ops).shape
    inputs = [g.value_info("input", first)]
    inputs += [g.value_info(n, layouts.to_channels_first(v).shape) for n, v in extra.items()]
    outputs = [g.value_info("output", _runtime_shape(ops, batch))]
    return g.model(inputs, outputs, "form"), extra


def _runtime_shape(ops: Sequence[Op], batch: int) -> tuple[int, ...]:
    """The form's output shape as the runtime holds it (NCHW, or a layer norm's own)."""
    out = ops[-1].out_shape
    return (batch, *out) if layouts.keeps_layout(ops) else nchw(out, batch)


class OrtRunner:
    """One form in one InferenceSession, inputs and output bound once
    (:mod:`.ort_binding`). An int8 form's session reads and writes int8: ``quantized``
    says how its output is dequantized for the agreement check."""

    def __init__(
        self,
        runtime: OrtRuntime,
        model: bytes,
        ops: Sequence[Op],
        inputs: dict[str, Array],
        out_shape: tuple[int, ...],
        quantized: QuantizedForm | None = None,
        channels_last: bool = False,
    ):
        """``inputs`` are in the runtime's layout already (:func:`layouts.to_runtime`), or
        channels-last (``channels_last``: an int8 form's graph reads NumPy's layout)."""
        ort = runtime.ort
        options = runtime.session_options()
        self.ops = ops
        self.quantized = quantized
        self.channels_last = channels_last
        self.tolerance: float | None = None
        self.float_ops: tuple[str, ...] = ()
        if quantized is None:
            session = ort.InferenceSession(model, options, providers=[runtime.provider])
            output = ("output", out_shape, np.float32)
        else:
            session, float_ops = _int8_session(runtime, model, options)
            self.float_ops = tuple(_by_role(name, ops) for name in float_ops)
            self.tolerance = int8_tolerance(
                quantized.output.scale, quantized.quantized_ops, quantized.weight_bits
            )
            output = (quantized.output_name, out_shape, quantized.output.dtype)
        self.bound = bind_once(ort, session, runtime.device, inputs, [output])

    def __call__(self) -> None:
        self.bound()

    def output(self) -> Array:
        self()
        result = self.bound.first_output()
        if self.quantized is not None:
            result = self.quantized.output.dequantize(result)
        return result if self.channels_last else layouts.from_runtime(result, self.ops)


def _by_role(name: str, ops: Sequence[Op]) -> str:
    """``op3/squeeze (Conv)`` → ``squeeze_excite/squeeze (Conv)``: the graph's node names
    (``op{i}``, the form's i-th operation) as the operations' roles, which a user reads."""
    found = re.match(r"op(\d+)", name)
    if found is None or int(found.group(1)) >= len(ops):
        return name
    return ops[int(found.group(1))].role + name[found.end() :]


def _int8_session(runtime: OrtRuntime, model: bytes, options: Any) -> tuple[Any, tuple[str, ...]]:
    """An int8 form's session, and the operations ORT runs in it in float32: read from the
    graph it optimized (written to a temporary folder, :func:`ort_int8.float_operations`)."""
    onnx = require("onnx", CONTEXT)

    # ORT warns that a graph optimized at the "all" level is specific to this machine: it
    # is read back once, here, on this machine, and never kept
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="sepconv-int8-") as folder:
        optimized = Path(folder, "optimized.onnx")
        options.optimized_model_filepath = str(optimized)
        session = runtime.ort.InferenceSession(model, options, providers=[runtime.provider])
        float_ops = float_operations(onnx.load(str(optimized)))
    return session, float_ops


# read by onnxruntime when it is imported: "1" keeps its device id and telemetry database
# out of the user's cache directory (docs/runtimes.md#files-onnx-runtime-writes)
ORT_TELEMETRY_VARIABLE = "ORT_DISABLE_TELEMETRY"


def import_onnxruntime() -> Any:
    """The onnxruntime module, imported with its telemetry off unless the environment says
    otherwise (the rule above); a missing package is exit 2 with its install line."""
    os.environ.setdefault(ORT_TELEMETRY_VARIABLE, "1")
    return require("onnxruntime", CONTEXT)


class OrtRuntime:
    """ONNX Runtime on the CPU or (``--device cuda``) the CUDA execution provider."""

    def __init__(
        self, device: str, threads: int | None, optimization: str | None, dtype: str = "float32"
    ):
        self.dtype = dtype
        self.ort = import_onnxruntime()
        require("onnx", CONTEXT)  # the graphs are built with onnx.helper
        self.device = device
        self.provider = PROVIDERS[device]
        if self.provider not in self.ort.get_available_providers():
            raise UsageError(
                f"--device {device}: this onnxruntime has no {self.provider} (available: "
                f"{', '.join(self.ort.get_available_providers())}); a GPU needs the "
                "onnxruntime-gpu package and a CUDA device"
            )
        self.threads = threads
        self.optimization = optimization
        self.info = RuntimeInfo(
            runtime="onnxruntime",
            version=str(self.ort.__version__),
            device=device,
            provider=self.provider,
            threads=threads,
            optimization=optimization or "all",
            dtype=dtype,
            quantization=scheme() if dtype == INT8 else None,
        )

    def session_options(self) -> Any:
        options = self.ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        if self.optimization is not None:
            level = ORT_OPTIMIZATION[self.optimization]
            options.graph_optimization_level = getattr(self.ort.GraphOptimizationLevel, level)
        return options

    def prepare(
        self,
        ops: Sequence[Op],
        x: Array,
        weights: Sequence[dict[str, Array]],
        operands: Sequence[dict[str, Array]],
    ) -> OrtRunner:
        model, extra = form_model(ops, weights, operands, x)
        inputs = {"input": layouts.to_runtime(x, ops)}
        inputs.update({k: layouts.to_channels_first(v) for k, v in extra.items()})
        shape = _runtime_shape(ops, x.shape[0])
        if self.dtype != INT8:
            return OrtRunner(self, model.SerializeToString(), ops, inputs, shape)
        quantized = quantize_form(model, inputs)
        if layouts.keeps_layout(ops):
            feeds = {name: quantized.inputs[name].quantize(v) for name, v in inputs.items()}
            return OrtRunner(self, quantized.model, ops, feeds, shape, quantized)
        # NumPy's own channels-last arrays, read so by the graph (ort_int8.channels_last)
        given = {"input": x, **extra}
        feeds = {name: quantized.inputs[name].quantize(v) for name, v in given.items()}
        shape = (x.shape[0], *ops[-1].out_shape)
        return OrtRunner(self, channels_last(quantized).model, ops, feeds, shape, quantized, True)
