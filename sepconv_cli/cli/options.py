"""The options the commands share: their Typer declarations, help texts and completion, and
the layer flags a command was given (:class:`LayerFlags`).

Consoles and report output are :mod:`sepconv_cli.cli.console`; the timing flags read into
settings, :mod:`sepconv_cli.cli.timing_flags`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

import typer

from sepconv_cli.cli.help import complete_model
from sepconv_cli.counting.conventions import HELP_EPILOG
from sepconv_cli.errors import UsageError
from sepconv_cli.output.formats import FORMAT_NAMES
from sepconv_cli.spec.fields import FieldError, flag_value, number

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 a budget or comparison gate failed, 2 bad input or usage, "
    "3 runtime failure (e.g. not enough memory), 130 interrupted."
)
# the commands without gates (sweep, spatial) never exit 1
EXIT_CODES_NO_GATES_HELP = (
    "Exit codes: 0 ok, 2 bad input or usage, 3 runtime failure (e.g. not enough memory), "
    "130 interrupted."
)
CONVENTIONS_HELP = HELP_EPILOG  # the counting rules, stated once in counting/conventions.py


def format_help(names: str, *, output: bool) -> str:
    """``--format``'s help for a command that writes ``names`` (and has ``--output`` or not)."""
    default = "from --output's extension (.json, .csv, .md), else table" if output else "table"
    return f"Report format: {names}. [default: {default}]"


def complete_format(incomplete: str) -> list[str]:
    return [name for name in FORMAT_NAMES if name.startswith(incomplete.lower())]


# --format is read as text and parsed by output.formats.choose_format: one clean message for
# a wrong name, and the format may come from --output's extension instead
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help=format_help("table, json, csv or markdown", output=True),
        autocompletion=complete_format,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the report to FILE (atomically: a failed run leaves FILE as it was).",
        dir_okay=False,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress or notes on stderr (errors and failed gates are still reported).",
    ),
]
# for the commands without gates (sweep, spatial, machine)
QuietNoGatesOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress or notes on stderr (errors still are)."),
]
MaxMacsOption = Annotated[
    str | None,
    typer.Option(
        "--max-macs",
        metavar="N",
        help="Budget: exit 1 if the MACs (as specified) exceed N (600M, 1.2G, 500K).",
    ),
]
MaxParamsOption = Annotated[
    str | None,
    typer.Option(
        "--max-params", metavar="N", help="Budget: exit 1 if the parameters exceed N (4.5M)."
    ),
]

MaxPeakMemoryOption = Annotated[
    str | None,
    typer.Option(
        "--max-peak-memory",
        metavar="SIZE",
        help="Budget: exit 1 if the peak activation memory as specified (the most activation "
        "bytes alive at once, at --dtype) exceeds SIZE (256K, 320KiB, 2MB; bare K/M/G are "
        "binary).",
    ),
]
MaxWeightsOption = Annotated[
    str | None,
    typer.Option(
        "--max-weights",
        metavar="SIZE",
        help="Budget: exit 1 if the weight bytes as specified (parameters at --dtype) "
        "exceed SIZE (1M, 4MB).",
    ),
]

# the layer flags shared by `cost`, `sweep` (and the interactive commands' vocabulary)
InputOption = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        metavar="SHAPE",
        help="Input shape, channels-last: 12x12x3 (2-D), 100x16 "
        "(1-D), 8x32x32x3 (3-D); in PyTorch's order with --layout nchw. A shape that most "
        "likely means another order (3x224x224, 1x3x224x224, 224x224) is refused unless "
        "--layout says which. [default: 12x12x3]",
    ),
]
LayoutOption = Annotated[
    str | None,
    typer.Option(
        "--layout",
        metavar="ORDER",
        help="The order of --input: nhwc (channels last: 224x224x3) or nchw (PyTorch's: "
        "3x224x224 or 1x3x224x224, the batch first in a 4- or 5-number shape). Either one "
        "turns off the check for a shape meant in the other order. [default: nhwc]",
    ),
]
KernelOption = Annotated[
    str | None,
    typer.Option(
        "--kernel", "-k", metavar="K", help="Kernel size: 5 for every dim, or 3x5. [default: 5]"
    ),
]
FiltersOption = Annotated[
    str | None,
    typer.Option(
        "--filters",
        "--out-channels",
        "-f",
        metavar="N",
        help="Output channels (filters). [default: 256]",
    ),
]
StrideOption = Annotated[
    str | None,
    typer.Option("--stride", "-s", metavar="S", help="Stride: 2, or one per dim 2x1. [default: 1]"),
]
PaddingOption = Annotated[
    str | None,
    typer.Option(
        "--padding",
        "-p",
        metavar="P",
        help="valid, same (TensorFlow's rule), an int, per dim 1x2 (symmetric), or "
        "per side before:after per dim 0:1x0:1. [default: valid]",
    ),
]
DilationOption = Annotated[
    str | None,
    typer.Option("--dilation", "-d", metavar="D", help="Dilation: 2, or one per dim. [default: 1]"),
]
GroupsOption = Annotated[
    str | None,
    typer.Option(
        "--groups",
        "-g",
        metavar="G",
        help="Groups of the conv as written (must divide both channel counts): its "
        "standard form is dense; groups = input channels make it depthwise. [default: 1]",
    ),
]
MultiplierOption = Annotated[
    str | None,
    typer.Option(
        "--depth-multiplier",
        "-m",
        metavar="M",
        help="Depth multiplier M of the separable form's depthwise conv. [default: 1]",
    ),
]
# a spec file or a preset (bench, export; profile and compare also take ONNX files and
# reports, and say so in their own help)
SpecModelArgument = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="A model spec (YAML file) or a preset name: see 'sepconv presets'.",
        autocompletion=complete_model,
    ),
]
ModelArgument = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="A model spec (YAML file), a preset name (see 'sepconv presets'), or a model "
        "file: ONNX (model.onnx: needs sepconv[onnx]), TensorFlow Lite (model.tflite: "
        "sepconv[tflite]), a PyTorch module (torchvision:NAME, timm:NAME, model.py:build: "
        "needs torch) or a Keras file (model.keras, .h5: needs tensorflow and tf2onnx).",
        autocompletion=complete_model,
    ),
]
WidthMultiplierOption = Annotated[
    str | None,
    typer.Option(
        "--width-multiplier",
        "-a",
        metavar="ALPHA",
        help="Scale every layer's filters by ALPHA with the model's channel rounding "
        "(MobileNet's width multiplier).",
    ),
]
InputShapeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input-shape",
        metavar="NAME=DIMS",
        help="Model files: an input's shape, batch first (input=1x3x224x224; without a name, "
        "the model's only input: 1x3x224x224), for symbolic or unknown dims or a PyTorch "
        "module's input (repeatable). A symbolic batch alone defaults to 1.",
    ),
]
InputValueOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input-value",
        metavar="NAME=V",
        help="ONNX models: the value of a scalar or 1-D input (sr=16000; a list: "
        "scales=1,1,2,2), which pins its shape too (repeatable). An If the value decides "
        "is counted as the branch it takes.",
    ),
]
ResolutionOption = Annotated[
    str | None,
    typer.Option("--resolution", "-r", metavar="R", help="Input spatial size: 160, or 160x128."),
]
BiasOption = Annotated[
    bool | None,
    typer.Option(
        "--bias/--no-bias",
        help="Count a bias (standard conv and the pointwise conv). [default: no-bias]",
    ),
]
ActivationOption = Annotated[
    str | None,
    typer.Option(
        "--activation",
        metavar="NAME",
        help="Activation after the layer (none, relu, relu6, hardsigmoid, hardswish, "
        "sigmoid, silu, gelu, tanh, leaky_relu, softmax): no MACs; its FLOPs are reported "
        "apart. "
        "[default: none]",
    ),
]
BatchNormOption = Annotated[
    bool | None,
    typer.Option(
        "--batch-norm/--no-batch-norm",
        help="A batch-norm after each conv: 2 params per channel, 2 FLOPs per "
        "element. [default: no-batch-norm]",
    ),
]
BatchOption = Annotated[
    str | None,
    typer.Option(
        "--batch", "-b", metavar="N", help="Batch size; multiplies activation counts. [default: 1]"
    ),
]
DtypeOption = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        metavar="TYPE",
        help="float32, float64, float16, bfloat16 or int8: bytes per value. int8 is timed "
        "with --runtime onnxruntime or litert, beside float32 in the same run. "
        "[default: float32]",
    ),
]
TimeBudgetOption = Annotated[
    str | None,
    typer.Option(
        "--time-budget",
        metavar="SECONDS",
        help="Time spent measuring each layer (all its forms "
        "together): 1.5 (seconds), 2s or 300ms, at most 1 hour. More time, more repeats, "
        "steadier medians. [default: 1s]",
    ),
]
ThreadsOption = Annotated[
    str | None,
    typer.Option(
        "--threads",
        metavar="N",
        help="Threads while timing: BLAS threads, and the parts a "
        "large depthwise layer runs in at once. One by default: single-thread "
        "times are steady and comparable across machines, free of the thread wake-up delays "
        "that distort small layers on virtual machines. [default: 1]",
    ),
]
RuntimeOption = Annotated[
    str | None,
    typer.Option(
        "--runtime",
        metavar="NAME",
        help="What runs the forms when timing: numpy (sepconv's own kernels), onnxruntime "
        "(an InferenceSession per form, weights as initializers; pip install "
        "'sepconv[ort]'), torch (nn modules under inference_mode; torch is never "
        "installed by sepconv) or litert (LiteRT's Interpreter per form over a one-form "
        ".tflite, XNNPACK as LiteRT applies it; pip install 'sepconv[litert]'). Each form "
        "must first agree with NumPy's output on the same data (docs/runtimes.md). "
        "[default: numpy]",
    ),
]
DeviceOption = Annotated[
    str | None,
    typer.Option(
        "--device",
        metavar="DEVICE",
        help="Where --runtime onnxruntime or torch runs: cpu, or cuda (ORT's CUDA "
        "execution provider with I/O binding; torch with CUDA synchronization). Exit 2 "
        "without a GPU; litert runs on the CPU only. [default: cpu]",
    ),
]
OrtOptimizationOption = Annotated[
    str | None,
    typer.Option(
        "--ort-optimization",
        metavar="LEVEL",
        help="ONNX Runtime's graph optimization level with --runtime onnxruntime: "
        "disable, basic, extended or all. [default: all, ORT's own]",
    ),
]
MaxMemoryOption = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help="Do not execute a layer whose buffers need more "
        "than SIZE (8G, 512MiB). [default: half the available RAM]",
    ),
]
MaxLatencyOption = Annotated[
    str | None,
    typer.Option(
        "--max-latency",
        metavar="TIME",
        help="Budget: exit 1 if the measured time of the model "
        "as specified exceeds TIME, with its unit (50ms, 0.2s). Needs timing.",
    ),
]


@dataclass(frozen=True)
class LayerFlags:
    """The layer flags a command was given, each passed by name (``LayerFlags(kernel=kernel,
    ...)``): a renamed command parameter is then a type error, never a flag silently dropped.
    Fields are in the order the flags are blamed in messages (the commands' parameter order).
    """

    input: str | None = None
    kernel: str | None = None
    filters: str | None = None
    stride: str | None = None
    padding: str | None = None
    dilation: str | None = None
    groups: str | None = None
    depth_multiplier: str | None = None
    bias: bool | None = None
    batch_norm: bool | None = None
    activation: str | None = None
    batch: str | None = None
    dtype: str | None = None
    name: str | None = None

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The flags the user gave: the layer's own (input, kernel, ..., bias, name) and
        those common to every layer (batch, dtype). Flags not given are left out."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        given = {k: v for k, v in values.items() if k not in _COMMON and v is not None}
        common = {k: values[k] for k in _COMMON if values[k] is not None}
        return given, common


# flags that apply to every layer of a --spec file, not to one layer
_COMMON = ("batch", "dtype")


def parse_flag(value: str | None, flag: str, validator: Callable[[Any], Any]) -> Any:
    """One flag's value through the spec validator the YAML key uses (None when the flag was
    not given); a bad value is a usage error that names the flag."""
    if value is None:
        return None
    try:
        return validator(flag_value(value))
    except FieldError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def parse_width(value: str | None) -> Fraction:
    """``--width-multiplier``: a positive number up to 100, exact (1 when not given)."""
    width = parse_flag(value, "--width-multiplier", lambda v: number(v, maximum=100))
    return Fraction(1) if width is None else Fraction(str(width))
