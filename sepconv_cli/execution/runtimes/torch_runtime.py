"""Timing on PyTorch: each form is a chain of ``torch.nn`` modules run under
``torch.inference_mode``.

Rules
-----
* Conv → ``nn.Conv{1,2,3}d`` (groups, stride, dilation, bias as counted); a symmetric pad is
  the conv's own ``padding``, an asymmetric one (TensorFlow's ``same`` at stride 2) a
  ``ConstantPad`` before it. BatchNorm → ``nn.BatchNorm{1,2,3}d`` in eval mode; Dense →
  ``Flatten`` + ``nn.Linear``; pooling → ``nn.MaxPool``/``nn.AvgPool`` (average over the
  real elements: ``count_include_pad=False``; symmetric pads only), ``AdaptiveAvgPool`` /
  ``AdaptiveMaxPool`` for global and adaptive pools. Squeeze-and-excite → adaptive average
  pool, two 1×1 ``nn.Conv`` with bias, and the multiply of the input by their result
  (without its activation and gate, as NumPy runs it); shuffle → view, transpose and a
  contiguous copy (torchvision's ``channel_shuffle``); a layer norm (an ONNX file's) →
  ``F.layer_norm`` over its trailing dims, on its tensor in the file's own layout.
* Operations that read a second tensor read NumPy's own, held on the device: an ``Add``
  adds the form's input when its residual is that input (an inverted residual's shortcut),
  else its residual; a ``Scale`` multiplies by its gate; a ``Concat`` is ``torch.cat`` of
  the chain's tensor and the other branches' outputs.
* The modules hold NumPy's own weights (converted by :mod:`.layouts`), so the agreement
  check compares one computation.
* Threads: ``torch.set_num_threads(--threads)`` (torch's own count when unset). On
  ``--device cuda`` the input lives on the GPU, every timed call ends with
  ``torch.cuda.synchronize()`` (a kernel launch returns before the kernel ends), and
  ``cudnn.benchmark`` is on: its algorithm search happens in the warm-up call, which is
  never timed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from sepconv_cli.execution.runtimes.base import RuntimeInfo, RuntimeUnsupportedError
from sepconv_cli.interchange.optional import require_torch

CONTEXT = "--runtime torch"

Step = Callable[[Any], Any]  # one operation: the tensor it reads → the tensor it makes


def _pad_layer(nn: Any, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Any:
    """``ConstantPad{n}d`` for per-side pads (F.pad's order: the last dim first)."""
    flat = [side for before, after in reversed(pads) for side in (before, after)]
    return getattr(nn, f"ConstantPad{len(pads)}d")(tuple(flat), value)


def _symmetric(pads: Sequence[tuple[int, int]]) -> bool:
    return all(before == after for before, after in pads)


class TorchRuntime:
    """PyTorch on the CPU or (``--device cuda``) a CUDA GPU."""

    def __init__(self, device: str, threads: int | None, dtype: str = "float32"):
        if dtype != "float32":
            # torch's own int8 CPU path (torch.ao.quantization, quantized tensors) is
            # deprecated for removal; its successor, torchao's pt2e flow, is another package
            raise RuntimeUnsupportedError(
                f"--runtime torch --dtype {dtype}: sepconv times torch in float32 only (torch's "
                "int8 path, torch.ao.quantization, is deprecated for removal); time int8 with "
                "--runtime onnxruntime or litert"
            )
        self.torch = torch = require_torch(CONTEXT)
        if device == "cuda" and not torch.cuda.is_available():
            raise UsageError(
                "--device cuda: torch sees no CUDA GPU on this machine "
                "(torch.cuda.is_available() is False)"
            )
        self.device = device
        if threads is not None:
            torch.set_num_threads(threads)
        if device == "cuda":
            torch.backends.cudnn.benchmark = True
        provider = "cuda" if device == "cuda" else "cpu"
        if device == "cuda":
            provider = f"cuda ({torch.cuda.get_device_name(0)})"
        self.info = RuntimeInfo(
            runtime="torch",
            version=str(torch.__version__),
            device=device,
            provider=provider,
            threads=int(torch.get_num_threads()),
        )

    def _tensor(self, values: Array) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(values, np.float32)).to(self.device)

    def _module(self, op: Op, w: dict[str, Array]) -> Any:
        nn = self.torch.nn
        param = self.torch.nn.Parameter
        if isinstance(op, Conv):
            rank = len(op.kernel)
            symmetric = _symmetric(op.pads)
            conv = getattr(nn, f"Conv{rank}d")(
                op.in_channels,
                op.out_channels,
                op.kernel,
                stride=op.stride,
                padding=tuple(b for b, _ in op.pads) if symmetric else 0,
                dilation=op.dilation,
                groups=op.groups,
                bias=op.bias,
            )
            conv.weight = param(self._tensor(layouts.conv_weight(op, w["w"])), False)
            if op.bias:
                conv.bias = param(self._tensor(w["b"]), False)
            return conv if symmetric else nn.Sequential(_pad_layer(nn, op.pads), conv)
        if isinstance(op, BatchNorm):
            rank = max(len(op.in_shape) - 1, 1)
            norm = getattr(nn, f"BatchNorm{rank}d")(op.in_shape[-1], eps=layouts.BN_EPSILON)
            params = layouts.batch_norm_params(w)
            norm.weight = param(self._tensor(params["scale"]), False)
            norm.bias = param(self._tensor(params["bias"]), False)
            norm.running_mean = self._tensor(params["mean"])
            norm.running_var = self._tensor(params["var"])
            return norm.eval()
        if isinstance(op, Dense):
            linear = nn.Linear(int(np.prod(op.in_shape)), op.units, bias=op.bias)
            linear.weight = param(self._tensor(layouts.dense_weight(op, w["w"])), False)
            if op.bias:
                linear.bias = param(self._tensor(w["b"]), False)
            return nn.Sequential(nn.Flatten(), linear) if len(op.in_shape) > 1 else linear
        if isinstance(op, Pool):
            return self._pool(op)
        # kernels.check_executable refused anything else before any runtime was asked
        raise TypeError(f"no torch form for {type(op).__name__}")

    def _pool(self, op: Pool) -> Any:
        nn = self.torch.nn
        rank = len(op.in_shape) - 1
        kind = "Avg" if op.kind == "avg" else "Max"
        if op.global_:
            return nn.Sequential(getattr(nn, f"Adaptive{kind}Pool{rank}d")(1), nn.Flatten())
        if op.output_size is not None:
            return getattr(nn, f"Adaptive{kind}Pool{rank}d")(tuple(op.output_size))
        before = tuple(b for b, _ in op.pads)
        if not _symmetric(op.pads) or any(
            2 * p > k for p, k in zip(before, op.kernel, strict=True)
        ):
            raise RuntimeUnsupportedError(
                f"{CONTEXT}: a pool padded {list(op.pads)} with a {op.kernel} window has no "
                "torch form (torch pads both sides alike, at most half the window)"
            )
        pool = getattr(nn, f"{kind}Pool{rank}d")
        extra = {"count_include_pad": False} if op.kind == "avg" else {}
        return pool(op.kernel, op.stride, before, ceil_mode=op.ceil_mode, **extra)

    def _squeeze_excite(self, op: SqueezeExcite, w: dict[str, Array]) -> Step:
        _, squeeze, excite, _ = op.parts  # the pool: an adaptive one here
        rank = len(op.in_shape) - 1
        average = getattr(self.torch.nn, f"AdaptiveAvgPool{rank}d")(1)
        down = self._module(squeeze, {"w": w["squeeze_w"], "b": w["squeeze_b"]})
        up = self._module(excite, {"w": w["excite_w"], "b": w["excite_b"]})
        return lambda y: y * up(down(average(y)))

    def _layer_norm(self, op: LayerNorm, w: dict[str, Array], channels_first: bool) -> Step:
        """``F.layer_norm`` over the trailing (channels-last) dims; on an NCHW tensor between
        the two permutes that bring the channels last and back (torchvision's
        ``LayerNorm2d``)."""
        dims = op.normalized_shape
        scale = self._tensor(w["scale"].reshape(dims)) if op.scale else None
        bias = self._tensor(w["bias"].reshape(dims)) if op.bias else None
        functional = self.torch.nn.functional
        rank = len(op.in_shape) + 1
        if not channels_first or rank <= 2:
            return lambda y: functional.layer_norm(y, dims, scale, bias, op.epsilon)
        last = (0, *range(2, rank), 1)
        first = (0, rank - 1, *range(1, rank - 1))

        def normalize(y: Any) -> Any:
            z = functional.layer_norm(y.permute(last), dims, scale, bias, op.epsilon)
            return z.permute(first)  # a view, as LayerNorm2d returns it

        return normalize

    def _step(
        self,
        op: Op,
        w: dict[str, Array],
        operands: dict[str, Array],
        x: Array,
        x_on: Any,
        channels_first: bool,
    ) -> Step:
        """``op`` as a function of the chain's tensor; ``x`` is the form's input (NumPy's)
        and ``x_on`` the same on the device."""
        torch = self.torch
        if isinstance(op, Add):
            residual = operands["residual"]
            r = x_on if residual is x else self._tensor(layouts.to_channels_first(residual))
            return lambda y: y + r
        if isinstance(op, Scale):
            gate = self._tensor(layouts.to_channels_first(operands["gate"]))
            return lambda y: y * gate
        if isinstance(op, Concat):
            others = [self._tensor(layouts.to_channels_first(v)) for v in operands.values()]
            return lambda y: torch.cat([y, *others], 1)
        if isinstance(op, Shuffle):
            groups = op.groups

            def shuffle(y: Any) -> Any:
                n, c, *spatial = y.shape
                grouped = y.view(n, groups, c // groups, *spatial).transpose(1, 2)
                return grouped.contiguous().view(n, c, *spatial)

            return shuffle
        if isinstance(op, SqueezeExcite):
            return self._squeeze_excite(op, w)
        if isinstance(op, LayerNorm):
            return self._layer_norm(op, w, channels_first)
        module: Step = self._module(op, w)
        return module

    def prepare(
        self,
        ops: Sequence[Op],
        x: Array,
        weights: Sequence[dict[str, Array]],
        operands: Sequence[dict[str, Array]],
    ) -> TorchRunner:
        with self.torch.inference_mode():
            x_on = self._tensor(layouts.to_runtime(x, ops))
            channels_first = not layouts.keeps_layout(ops)
            steps = [
                self._step(op, w, given, x, x_on, channels_first)
                for op, w, given in zip(ops, weights, operands, strict=True)
            ]
            return TorchRunner(self, steps, x_on, ops)


class TorchRunner:
    """A form's steps called in order on an input that stays on the device."""

    def __init__(self, runtime: TorchRuntime, steps: list[Step], x: Any, ops: Sequence[Op]):
        self.torch = runtime.torch
        self.cuda = runtime.device == "cuda"
        self.steps = steps
        self.ops = ops
        self.x = x
        self.out: Any = None
        self.tolerance: float | None = None
        self.float_ops: tuple[str, ...] = ()

    def __call__(self) -> None:
        with self.torch.inference_mode():
            y = self.x
            for step in self.steps:
                y = step(y)
            self.out = y
            if self.cuda:
                self.torch.cuda.synchronize()

    def output(self) -> Array:
        self()
        return layouts.from_runtime(self.out.cpu().numpy(), self.ops)
