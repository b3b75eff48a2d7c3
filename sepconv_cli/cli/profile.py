"""``sepconv profile`` (a whole network) and ``sepconv presets`` (the built-in models)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from sepconv_cli.analysis.budgets import Measured, budget_failures, budgets
from sepconv_cli.cli.console import Messages, ProgressBar, emit
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import (
    CONVENTIONS_HELP,
    EXIT_CODES_HELP,
    DeviceOption,
    FormatOption,
    InputShapeOption,
    InputValueOption,
    MaxLatencyOption,
    MaxMacsOption,
    MaxMemoryOption,
    MaxParamsOption,
    MaxPeakMemoryOption,
    MaxWeightsOption,
    ModelArgument,
    OrtOptimizationOption,
    OutputOption,
    QuietOption,
    RuntimeOption,
    ThreadsOption,
    TimeBudgetOption,
    WidthMultiplierOption,
    complete_format,
    format_help,
    parse_flag,
    parse_width,
)
from sepconv_cli.cli.timing_flags import timing_from_flags
from sepconv_cli.counting.report import profile_report
from sepconv_cli.errors import EXIT_GATE, UsageError
from sepconv_cli.interchange.models import ModelOptions, is_onnx, load_model
from sepconv_cli.interchange.onnx_inputs import parse_input_shapes, parse_input_values
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.reports import PRESETS, PROFILE, render_presets, render_profile
from sepconv_cli.output.subset import every_row
from sepconv_cli.spec.fields import DTYPES, choice, per_dim, positive_int

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


@app.command(
    cls=SepconvCommand,
    short_help="A whole model, layer by layer: counted, and timed by default.",
    epilog=CONVENTIONS_HELP + "\n\n" + EXIT_CODES_HELP,
)
def profile(
    model: ModelArgument,
    width_multiplier: WidthMultiplierOption = None,
    resolution: Annotated[
        str | None,
        typer.Option(
            "--resolution",
            "-r",
            metavar="R",
            help="Input spatial size: 160 for every dim, or 160x128.",
        ),
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option("--batch", "-b", metavar="N", help="Batch size (overrides the spec's)."),
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(
            "--dtype",
            metavar="TYPE",
            help="float32, float64, float16, bfloat16 or int8: bytes per value of the weights "
            "and activations (overrides the spec's or the file's). int8 is timed with "
            "--runtime onnxruntime or litert, beside float32 in the same run.",
        ),
    ] = None,
    time: Annotated[
        bool | None,
        typer.Option(
            "--time/--no-time",
            help="Execute every layer's "
            "standard and separable forms (with NumPy, or --runtime) and time them (--no-time: "
            "count only, instantly). Default: timed, except an ONNX model (counted unless "
            "--time).",
            show_default=False,
        ),
    ] = None,
    time_budget: TimeBudgetOption = None,
    threads: ThreadsOption = None,
    runtime: RuntimeOption = None,
    device: DeviceOption = None,
    ort_optimization: OrtOptimizationOption = None,
    max_memory: MaxMemoryOption = None,
    format: FormatOption = None,
    output: OutputOption = None,
    max_macs: MaxMacsOption = None,
    max_params: MaxParamsOption = None,
    max_latency: MaxLatencyOption = None,
    max_peak_memory: MaxPeakMemoryOption = None,
    max_weights: MaxWeightsOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Also draw per-layer MACs of both forms and, when "
            "timed, a roofline chart (.png, .svg or .pdf). Needs matplotlib: pip install "
            "'sepconv[plot]'.",
            dir_okay=False,
        ),
    ] = None,
    input_shape: InputShapeOption = None,
    input_value: InputValueOption = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="ONNX models: exit 2 when any node is not counted (the totals would be a "
            "lower bound).",
        ),
    ] = False,
    all_nodes: Annotated[
        bool,
        typer.Option(
            "--all-nodes",
            help="ONNX models: also show the nodes that cost nothing (reshapes, transposes, "
            "identities, shape arithmetic), hidden by default.",
        ),
    ] = False,
    whole_model: Annotated[
        bool,
        typer.Option(
            "--whole-model",
            help="With --runtime onnxruntime: also run the whole model end to end as one ONNX "
            "Runtime session in each form (as specified, standard, separable) and show its "
            "time beside the sum of the layers' (an ONNX file: its own graph as specified). "
            "With --runtime litert: the same as one LiteRT Interpreter per form, a spec's "
            "forms written as .tflite files (a .tflite file: the file as given).",
        ),
    ] = False,
    quiet: QuietOption = False,
    all_rows: Annotated[
        bool,
        typer.Option(
            "--all",
            help="List every layer in the table even in a terminal (a model with more rows "
            "than fit shows its largest layers there; files and pipes get every row).",
        ),
    ] = False,
) -> None:
    """A whole network, layer by layer: both forms, ratios, totals and (by default) timed
    NumPy executions against this machine's roofline."""
    Messages.quiet = quiet
    if output is not None:
        check_output_path(output, inputs=(model,))
    chosen = PROFILE.choose(format, output)
    gates = budgets(max_macs, max_params, max_latency, max_peak_memory, max_weights)
    value_type = parse_flag(dtype, "--dtype", choice(DTYPES))
    onnx_model = is_onnx(model)
    time_defaulted = time is None  # a file's untimed default is noted; --no-time is not
    time = not onnx_model if time is None else time
    if max_latency is not None and not time:
        raise UsageError("--max-latency: needs a measured time; drop --no-time")
    if whole_model and runtime not in ("onnxruntime", "litert"):
        raise UsageError(
            "--whole-model: runs the model on ONNX Runtime or LiteRT; add --runtime "
            "onnxruntime (or --runtime litert for a .tflite file, a spec or a preset)"
        )
    tflite_file = model.lower().endswith(".tflite")
    if whole_model and runtime == "litert" and onnx_model and not tflite_file:
        raise UsageError(
            "--whole-model --runtime litert: runs a .tflite file, or a spec or preset written "
            "as one; an ONNX model runs whole with --runtime onnxruntime"
        )
    if whole_model and runtime == "onnxruntime" and tflite_file:
        raise UsageError(
            "--whole-model: a TensorFlow Lite file runs whole on LiteRT, not ONNX Runtime; "
            "use --runtime litert"
        )
    if whole_model and not time and not onnx_model:
        raise UsageError(
            "--whole-model: times the whole graph beside the sum of the timed layers; "
            "drop --no-time"
        )
    # before --plot's check imports matplotlib, which loads NumPy: the BLAS thread count
    # can still be set then, with or without threadpoolctl
    # an ONNX file's layers are timed only with --time; its whole graph is, with the same
    # settings
    settings = timing_from_flags(
        time or whole_model,
        threads,
        time_budget,
        max_memory,
        off_hint="drop --no-time",
        runtime=runtime,
        device=device,
        ort_optimization=ort_optimization,
    )
    if plot is not None:
        from sepconv_cli.output.plot import check_plot_path

        check_output_path(plot, "--plot", inputs=(model,), others=[("--output", output)])
        check_plot_path(plot)
    options = ModelOptions(
        width_multiplier=None if width_multiplier is None else parse_width(width_multiplier),
        resolution=parse_flag(resolution, "--resolution", per_dim),
        batch=parse_flag(batch, "--batch", positive_int),
        input_shapes=parse_input_shapes(input_shape or []),
        input_values=parse_input_values(input_value or []),
        all_nodes=all_nodes,
    )
    built, notes = load_model(model, options)
    if value_type is not None:
        built = replace(built, dtype=value_type, weight_dtype="")  # --dtype: every value
    for note in notes:
        Messages.note(note)
    if onnx_model and time_defaulted:
        timed = "; --whole-model times its whole graph" if whole_model else ""
        Messages.note(
            f"sepconv: note: {model}: a model file's layers are counted, not timed, unless "
            f"--time{timed}"
        )
    if strict and built.uncounted:
        kinds = ", ".join(sorted({u.op_type for u in built.uncounted}))
        raise UsageError(
            f"--strict: {model}: {len(built.uncounted)} node(s) of type(s) {kinds} not counted"
        )
    report = profile_report(built)
    whole_settings, settings = settings, settings if time else None
    if settings is not None:
        from sepconv_cli.execution.machine import machine_info
        from sepconv_cli.execution.profiling import timed_profile

        with ProgressBar(f"timing {built.name}") as bar:
            bar.update(0, len(report.layers), "measuring this machine's ceilings")
            machine = machine_info(threads=settings.threads).as_dict()
            report = timed_profile(report, settings, bar.update, machine)
        for layer in report.layers:
            if layer.note:
                Messages.note(f"sepconv: {layer.row.name}: {layer.note}")
    whole = None
    if whole_model:
        from sepconv_cli.analysis.whole_model import whole_model as run_whole

        with ProgressBar(f"timing {built.name} whole") as bar:
            whole = run_whole(
                model,
                built,
                whole_settings,
                options.input_shapes,
                lambda f: bar.update(0, 1, f),
                options.input_values,
            )
        if report.timing is not None:
            t = report.timing
            sums = {"as_specified": t.as_specified_s, "standard": t.standard_s}
            # the most the sum of rows can be: the consistency check compares the whole
            # graph's fastest run with it (execution/certainty.py)
            slowest: dict[str, float | None] = {
                form: sum(
                    lr.timing.part(form).max_s  # a repeated row's timing is already scaled
                    for lr in report.layers
                    if lr.timing is not None
                )
                for form in ("standard", "separable")
            }
            whole = whole.with_sums(
                {**sums, "separable": t.separable_s}, t.layers_not_timed, slowest
            )
    from sepconv_cli.output.whole_graph import with_whole_graph

    rendered = render_profile(report, chosen)
    rendered = every_row(rendered) if all_rows else rendered
    emit(with_whole_graph(rendered, chosen, whole), output)
    if plot is not None:
        from sepconv_cli.output.plot import write_plot

        write_plot(report, report.machine or None, plot)  # says "wrote" itself
    totals = report.totals.as_specified
    latency = report.timing.as_specified_s if report.timing is not None else None
    heaviest = max(report.layers, key=lambda lr: lr.as_specified.weight_bytes, default=None)
    peak = report.totals.peaks[0]
    measured = Measured(
        totals.macs,
        totals.params,
        latency,
        peak_bytes=peak.bytes,
        peak_at=peak.row,
        weight_bytes=totals.weight_bytes,
        heaviest=heaviest.row.name if heaviest is not None else "",
        whole=True,
    )
    failures = budget_failures(gates, [measured])
    for failure in failures:
        Messages.always(f"sepconv: budget: {failure}")
    if failures:
        raise typer.Exit(EXIT_GATE)


@app.command(
    cls=SepconvCommand, short_help="List the built-in models (use by name: sepconv profile NAME)."
)
def presets(
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help=format_help("table, json, csv or markdown", output=False),
            autocompletion=complete_format,
        ),
    ] = None,
) -> None:
    """List the built-in model specs (usable by name: sepconv profile mobilenet_v1)."""
    from sepconv_cli.spec.presets import list_presets

    chosen = PRESETS.choose(format)
    emit(render_presets(list_presets(), chosen), None)
