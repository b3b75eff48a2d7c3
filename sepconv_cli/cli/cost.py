"""``sepconv cost``: one convolution layer, standard form next to its separable form."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sepconv_cli.analysis.budgets import Measured, budget_failures, budgets
from sepconv_cli.cli.console import Messages, ProgressBar, emit
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import (
    CONVENTIONS_HELP,
    EXIT_CODES_HELP,
    ActivationOption,
    BatchNormOption,
    BatchOption,
    BiasOption,
    DeviceOption,
    DilationOption,
    DtypeOption,
    FiltersOption,
    FormatOption,
    GroupsOption,
    InputOption,
    InputShapeOption,
    InputValueOption,
    KernelOption,
    LayerFlags,
    LayoutOption,
    MaxLatencyOption,
    MaxMacsOption,
    MaxMemoryOption,
    MaxParamsOption,
    MaxPeakMemoryOption,
    MaxWeightsOption,
    MultiplierOption,
    OrtOptimizationOption,
    OutputOption,
    PaddingOption,
    QuietOption,
    RuntimeOption,
    StrideOption,
    ThreadsOption,
    TimeBudgetOption,
)
from sepconv_cli.cli.timing_flags import timing_from_flags
from sepconv_cli.counting.report import LayerReport, single_layer_report
from sepconv_cli.errors import EXIT_GATE, UsageError
from sepconv_cli.interchange.models import is_onnx
from sepconv_cli.interchange.onnx_inputs import InputValue, parse_input_shapes, parse_input_values
from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.formats import Format
from sepconv_cli.output.reports import COST, render_cost
from sepconv_cli.spec.flags import layers_from_flags_or_file, read_input_flag

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


@app.command(
    cls=SepconvCommand,
    short_help="One conv layer: standard vs depthwise-separable cost.",
    epilog=CONVENTIONS_HELP + "\n\n" + EXIT_CODES_HELP,
)
def cost(
    input: InputOption = None,
    layout: LayoutOption = None,
    kernel: KernelOption = None,
    filters: FiltersOption = None,
    stride: StrideOption = None,
    padding: PaddingOption = None,
    dilation: DilationOption = None,
    groups: GroupsOption = None,
    depth_multiplier: MultiplierOption = None,
    bias: BiasOption = None,
    batch_norm: BatchNormOption = None,
    activation: ActivationOption = None,
    batch: BatchOption = None,
    dtype: DtypeOption = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="TEXT", help="Label for the layer.")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            metavar="FILE.yaml",
            help="Read layers from YAML: one mapping or a list, each with its own "
            "input (keys as the flags: input, kernel, filters, stride, padding, "
            "dilation, groups, depth_multiplier, bias, batch_norm, activation, batch, "
            "dtype, name). An ONNX file (needs sepconv[onnx]): each of its convolutions.",
        ),
    ] = None,
    input_shape: InputShapeOption = None,
    input_value: InputValueOption = None,
    time: Annotated[
        bool,
        typer.Option(
            "--time/--no-time",
            help="Also execute both forms "
            "with NumPy (seeded random data) and report medians, spread and the "
            "measured speed-up.",
        ),
    ] = False,
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
    quiet: QuietOption = False,
) -> None:
    """One convolution layer: standard form next to its depthwise-separable form.

    With no flags it shows the classic example: a 12x12x3 input, 5x5 kernel and 256
    filters give 1,228,800 multiplications standard vs 53,952 separable.
    """
    Messages.quiet = quiet
    if output is not None:
        check_output_path(output, inputs=(spec,))
    chosen = COST.choose(format, output)
    gates = budgets(max_macs, max_params, max_latency, max_peak_memory, max_weights)
    if max_latency is not None and not time:
        raise UsageError("--max-latency: needs a measured time; add --time")
    settings = timing_from_flags(
        time,
        threads,
        time_budget,
        max_memory,
        off_hint="add --time",
        runtime=runtime,
        device=device,
        ort_optimization=ort_optimization,
    )
    given, common = LayerFlags(
        input=input,
        kernel=kernel,
        filters=filters,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        depth_multiplier=depth_multiplier,
        bias=bias,
        batch_norm=batch_norm,
        activation=activation,
        batch=batch,
        dtype=dtype,
        name=name,
    ).split()
    # the order --input was read in, as the JSON records it: a YAML spec is channels-last,
    # an ONNX file's shapes are its graph's own (None)
    input_layout: str | None = "nhwc"
    if spec is None:
        input_layout = read_input_flag(given, common, layout)
    elif layout is not None:
        raise UsageError("--layout: says how to read --input, which --spec replaces")
    shapes, values = parse_input_shapes(input_shape or []), parse_input_values(input_value or [])
    if spec is not None:
        from sepconv_cli.interchange.formats import refusal

        refused = refusal(str(spec))
        if refused is not None:
            raise UsageError(f"--spec: {refused}")
    if spec is not None and is_onnx(str(spec)):
        input_layout = None
        reports = onnx_conv_reports(spec, given, common, shapes, values)
    else:
        for flag, pinned in (("--input-shape", shapes), ("--input-value", values)):
            if pinned:
                raise UsageError(f"{flag}: only for an ONNX model (--spec model.onnx)")
        layers = layers_from_flags_or_file(spec, given, common)
        reports = [single_layer_report(layer, i) for i, layer in enumerate(layers)]
    if settings is not None:
        # imported here: counting alone (no --time) never loads the timing code
        from sepconv_cli.execution.profiling import time_report

        with ProgressBar("timing") as bar:
            reports = [
                time_report(lr, settings, progress=bar.update, index=i, total=len(reports))
                for i, lr in enumerate(reports)
            ]
    if chosen is Format.json:
        # the one report that records --layout: the registry's renderers take the layers alone
        from sepconv_cli.output.json import cost_json

        emit(cost_json(reports, input_layout=input_layout), output)
    else:
        emit(render_cost(reports, chosen), output)
    measured = [
        Measured(
            lr.as_specified.macs,
            lr.as_specified.params,
            _as_specified_seconds(lr),
            peak_bytes=lr.live_bytes[0],
            peak_at=lr.row.name,
            weight_bytes=lr.as_specified.weight_bytes,
            heaviest=lr.row.name,
        )
        for lr in reports
    ]
    failures = budget_failures(gates, measured)
    for failure in failures:
        Messages.always(f"sepconv: budget: {failure}")
    if failures:
        raise typer.Exit(EXIT_GATE)


def onnx_conv_reports(
    spec: Path,
    given: dict[str, Any],
    common: dict[str, Any],
    shapes: dict[str, Shape] | None = None,
    values: dict[str, InputValue] | None = None,
) -> list[LayerReport]:
    """``cost --spec model.onnx``: every convolution of the graph as a layer of its own,
    counted as ``profile`` counts it (the rows that hold a Conv node), in graph order;
    ``shapes`` and ``values``: ``--input-shape`` and ``--input-value``."""
    from dataclasses import replace

    from sepconv_cli.counting.ops import Conv
    from sepconv_cli.counting.report import layer_report
    from sepconv_cli.interchange.models import ModelOptions, load_model

    if given:
        flag = "--" + next(iter(given)).replace("_", "-")
        raise UsageError(f"{flag}: cannot be combined with --spec (put it in the file)")
    from sepconv_cli.interchange.torch_modules import is_torch_module

    if not spec.exists() and not is_torch_module(str(spec)):  # torchvision:NAME is no file
        raise UsageError(f"--spec: no such file: {spec}")
    batch = common.get("batch")
    options = ModelOptions(
        batch=None if batch is None else int(batch),
        input_shapes=shapes or {},
        input_values=values or {},
    )
    model, notes = load_model(str(spec), options, flag="--spec")
    for note in notes:
        Messages.note(note)
    dtype = str(common.get("dtype") or model.dtype)
    reports = [  # each on its own (its peak too: not its model's)
        layer_report(replace(row, live=None), model.batch, dtype)
        for row in model.rows
        if any(type(op) is Conv for op in row.forms.as_specified)
    ]
    if not reports:
        raise UsageError(f"--spec: {spec} has no Conv node to compare (try sepconv profile)")
    return reports


def _as_specified_seconds(layer: LayerReport) -> float | None:
    """The measured time of the layer as written, None when it was not timed."""
    if layer.timing is None:
        return None
    from sepconv_cli.execution.profiling import as_specified_seconds

    return as_specified_seconds(layer)
