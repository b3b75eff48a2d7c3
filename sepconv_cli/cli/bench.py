"""``sepconv bench MODEL --runtime numpy,onnxruntime,torch``: one model's layers timed on
several runtimes, in one table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sepconv_cli.cli.console import Messages, ProgressBar, emit
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import (
    EXIT_CODES_HELP,
    DeviceOption,
    FormatOption,
    InputShapeOption,
    InputValueOption,
    MaxMemoryOption,
    ModelArgument,
    OrtOptimizationOption,
    OutputOption,
    QuietOption,
    ResolutionOption,
    ThreadsOption,
    TimeBudgetOption,
    parse_flag,
)
from sepconv_cli.errors import UsageError
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.reports import BENCH, render_bench
from sepconv_cli.spec.fields import per_dim, positive_int

# this command's own Typer app; cli/app.py adds it to the root app
app = typer.Typer()


@app.command(
    cls=SepconvCommand,
    short_help="A model timed on NumPy, ONNX Runtime, PyTorch and LiteRT, layer by layer.",
    epilog=EXIT_CODES_HELP,
)
def bench(
    model: ModelArgument,
    runtime: Annotated[
        str | None,
        typer.Option(
            "--runtime",
            metavar="NAMES",
            help="Comma-separated runtimes, in the order to show them: numpy, onnxruntime, "
            "torch, litert. [default: numpy and every other one installed]",
        ),
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(
            "--dtype",
            metavar="TYPES",
            help="Comma-separated number formats to time on each runtime: float32, int8 "
            "(each form quantized by the runtime's own tools; a runtime timed in int8 gives "
            "its float32 times from the same run). A runtime without int8 (numpy, torch) "
            "says so in its column. [default: the model's, float32]",
        ),
    ] = None,
    resolution: ResolutionOption = None,
    input_shape: InputShapeOption = None,
    input_value: InputValueOption = None,
    batch: Annotated[
        str | None,
        typer.Option("--batch", "-b", metavar="N", help="Batch size (overrides the spec's)."),
    ] = None,
    time_budget: TimeBudgetOption = None,
    threads: ThreadsOption = None,
    device: DeviceOption = None,
    ort_optimization: OrtOptimizationOption = None,
    max_memory: MaxMemoryOption = None,
    format: FormatOption = None,
    output: OutputOption = None,
    whole_model: Annotated[
        bool,
        typer.Option(
            "--whole-model/--no-whole-model",
            help="With onnxruntime among the runtimes: also run each form of the model end to "
            "end as one ONNX Runtime session, beside the sum of its layers. [default: on]",
            show_default=False,
        ),
    ] = True,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Also draw each runtime's measured speed-up next to the MAC ratio, per "
            "layer (.png, .svg or .pdf). Needs matplotlib: pip install 'sepconv[plot]'.",
            dir_okay=False,
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Each layer's standard and separable medians on every runtime named, the measured
    speed-up next to the MAC ratio, and each layer's share of the time next to its share of
    the MACs (docs/runtimes.md)."""
    from dataclasses import replace

    from sepconv_cli.analysis.bench import bench as run_bench
    from sepconv_cli.analysis.bench import parse_dtypes, parse_runtimes
    from sepconv_cli.cli.timing_flags import timing_settings_from_flags, with_runtime

    Messages.quiet = quiet
    if output is not None:
        check_output_path(output, inputs=(model,))
    chosen = BENCH.choose(format, output)
    names = parse_runtimes(runtime, _installed)
    dtypes = parse_dtypes(dtype, "float32")
    if ort_optimization is not None and "onnxruntime" not in names:
        raise UsageError("--ort-optimization: only applies with --runtime onnxruntime")
    if device == "cuda" and names == ["numpy"]:
        raise UsageError("--device cuda: NumPy runs on the CPU; add onnxruntime or torch")
    if plot is not None:  # checks only: matplotlib is not imported (it would load NumPy)
        from sepconv_cli.output.plot import check_plot_path

        check_output_path(plot, "--plot", inputs=(model,), others=[("--output", output)])
        check_plot_path(plot)
    settings = timing_settings_from_flags(threads, time_budget, max_memory, note="numpy" in names)
    for name in names:  # each checked and loaded now: exit 2 before any timing
        if name != "numpy":
            optimization = ort_optimization if name == "onnxruntime" else None
            settings = with_runtime(settings, name, device, optimization, threads)
    settings = replace(settings, runtime="numpy", ort_optimization=ort_optimization)
    from sepconv_cli.counting.report import profile_report
    from sepconv_cli.interchange.models import ModelOptions, load_model
    from sepconv_cli.interchange.onnx_inputs import parse_input_shapes, parse_input_values

    options = ModelOptions(
        resolution=parse_flag(resolution, "--resolution", per_dim),
        batch=parse_flag(batch, "--batch", positive_int),
        input_shapes=parse_input_shapes(input_shape or []),
        input_values=parse_input_values(input_value or []),
    )
    built, notes = load_model(model, options)
    for note in notes:
        Messages.note(note)
    with ProgressBar(f"timing {built.name}") as bar:
        whole_ref = model if whole_model else None
        report = run_bench(
            profile_report(built),
            names,
            settings,
            bar.update,
            whole_ref,
            options.input_shapes,
            options.input_values,
            dtypes,
        )
    emit(render_bench(report, chosen), output)
    if plot is not None:
        from sepconv_cli.output.bench_plot import write_bench_plot

        write_bench_plot(report, plot)


# the packages each runtime imports (litert: LiteRT itself, and the schema it is written with)
_PACKAGES = {"litert": ("ai_edge_litert", "tflite")}


def _installed(name: str) -> bool:
    from importlib.util import find_spec

    return all(find_spec(package) is not None for package in _PACKAGES.get(name, (name,)))
