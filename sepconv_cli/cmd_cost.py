"""``sepconv cost``: one convolution layer, standard form next to its separable form."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli import app
from .cli_common import (
    CONVENTIONS_HELP,
    EXIT_CODES_HELP,
    BatchOption,
    BiasOption,
    DilationOption,
    DtypeOption,
    FiltersOption,
    FormatOption,
    GroupsOption,
    InputOption,
    KernelOption,
    MaxLatencyOption,
    MaxMacsOption,
    MaxMemoryOption,
    MaxParamsOption,
    Messages,
    MultiplierOption,
    OutputOption,
    PaddingOption,
    ProgressBar,
    QuietOption,
    StrideOption,
    ThreadsOption,
    TimeBudgetOption,
    emit,
    timing_from_flags,
)
from .cost import ShapeError
from .errors import EXIT_GATE, UsageError
from .gates import budgets, report_failures
from .lowering import Width, lower
from .models import Row
from .output import check_output_path
from .profiling import as_specified_seconds
from .report import LayerReport, layer_report
from .serialize import Format
from .spec import LayerSpec

SEED = {"input": "12x12x3", "kernel": "5", "filters": "256"}
LAYER_FLAGS = ("input", "kernel", "filters", "stride", "padding", "dilation", "groups",
               "depth_multiplier", "name")


@app.command(epilog=CONVENTIONS_HELP + " " + EXIT_CODES_HELP)
def cost(
    input: InputOption = None,
    kernel: KernelOption = None,
    filters: FiltersOption = None,
    stride: StrideOption = None,
    padding: PaddingOption = None,
    dilation: DilationOption = None,
    groups: GroupsOption = None,
    depth_multiplier: MultiplierOption = None,
    bias: BiasOption = None,
    batch: BatchOption = None,
    dtype: DtypeOption = None,
    name: Annotated[str | None, typer.Option("--name", metavar="TEXT",
                                             help="Label for the layer.")] = None,
    spec: Annotated[Path | None, typer.Option("--spec", metavar="FILE.yaml",
                    help="Read layers from YAML: one mapping or a list, each with its own "
                    "input (keys as the flags: input, kernel, filters, stride, padding, "
                    "dilation, groups, depth_multiplier, bias, batch, dtype, name).")] = None,
    time: Annotated[bool, typer.Option("--time/--no-time", help="Also execute both forms "
                    "with NumPy (seeded random data) and report medians, spread and the "
                    "measured speed-up.")] = False,
    time_budget: TimeBudgetOption = None,
    threads: ThreadsOption = None,
    max_memory: MaxMemoryOption = None,
    format: FormatOption = Format.table,
    output: OutputOption = None,
    max_macs: MaxMacsOption = None,
    max_params: MaxParamsOption = None,
    max_latency: MaxLatencyOption = None,
    quiet: QuietOption = False,
) -> None:
    """One convolution layer: standard form next to its depthwise-separable form.

    With no flags it shows the classic example: a 12x12x3 input, 5x5 kernel and 256
    filters give 1,228,800 multiplications standard vs 53,952 separable.
    """
    Messages.quiet = quiet
    if output is not None:
        check_output_path(output)
    gates = budgets(max_macs, max_params, max_latency)
    if max_latency is not None and not time:
        raise UsageError("--max-latency: needs a measured time; add --time")
    settings = timing_from_flags(time, threads, time_budget, max_memory,
                                 off_hint="add --time")
    given, common = split_flags(locals())
    layers = cost_layers(spec, given, common)
    reports = [single_layer_report(layer, i) for i, layer in enumerate(layers)]
    if settings is not None:
        with ProgressBar("timing", enabled=format is not Format.json) as bar:
            reports = [time_report(lr, settings, progress=bar.update, index=i,
                                   total=len(reports)) for i, lr in enumerate(reports)]
    emit(render_cost(reports, format, layers[0].dtype or "float32"), output)
    measured = [(lr.as_specified.macs, lr.as_specified.params, as_specified_seconds(lr))
                for lr in reports]
    if report_failures(gates, measured):
        raise typer.Exit(EXIT_GATE)


def split_flags(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The flags the user gave, from a command's ``locals()``: the layer's own (kernel,
    filters, ..., bias) and those common to every layer (batch, dtype)."""
    given = {k: v for k, v in values.items()
             if k in (*LAYER_FLAGS, "bias") and v is not None}
    common = {k: values[k] for k in ("batch", "dtype") if values.get(k) is not None}
    return given, common


def cost_layers(spec: Path | None, given: dict[str, Any],
                common: dict[str, Any]) -> list[LayerSpec]:
    """The layers to cost: from ``--spec``, or from the flags over the seed example."""
    from .spec import cost_layers as spec_layers
    from .spec import layer_from_flags, load_yaml_or_error, replace_defaults
    from .yamlsafe import load

    if spec is not None:
        if given:
            flag = "--" + next(iter(given)).replace("_", "-")
            raise UsageError(f"{flag}: cannot be combined with --spec (put it in the file)")
        if not spec.exists():
            raise UsageError(f"--spec: no such file: {spec}")
        layers = spec_layers(load_yaml_or_error(lambda: load(spec)))
        overrides = layer_from_flags(common)
        return [replace_defaults(layer, overrides) for layer in layers]
    layer = layer_from_flags({**SEED, **given, **common})
    # remember which flags the user typed, so a shape error blames one of them
    typed = tuple((key, "--" + key.replace("_", "-")) for key in (*given, *common))
    return [replace(layer, field_where=typed)]


# the flags that shape the output, most likely culprit first, for "output would be empty"
_SHAPE_FLAGS = ("kernel", "dilation", "stride", "padding", "input")


def _blame(layer: LayerSpec, field: str) -> str:
    """The flag to name for a shape error: the field's own flag if the user typed it, else
    the first shape flag they typed, else the field's flag."""
    typed = dict(layer.field_where)
    if field in typed:
        return typed[field]
    if field in _SHAPE_FLAGS:
        for candidate in _SHAPE_FLAGS:
            if candidate in typed:
                return typed[candidate]
    return "--" + (field or "input").replace("_", "-")


def single_layer_report(layer: LayerSpec, index: int = 0) -> LayerReport:
    assert layer.input is not None
    try:
        forms = lower(layer, layer.input, Width())
    except ShapeError as exc:
        if layer.where == "flags":
            raise UsageError(f"{_blame(layer, exc.field)}: {exc}") from None
        raise UsageError(f"{layer.locate(exc.field)}: {exc}") from None
    name = layer.name or (f"layer_{index}" if index or layer.where != "flags" else "layer")
    row = Row(index, name, layer.type, layer.input, forms, 1, layer.where)
    return layer_report(row, layer.batch or 1, layer.dtype or "float32")


def time_report(layer: LayerReport, settings: Any = None, *,
                progress: Any = None, index: int = 0, total: int = 1) -> LayerReport:
    """``layer`` with its forms executed and timed. A layer too large for memory is a
    runtime failure here (exit 3): the user asked for this one layer's time."""
    from .profiling import time_layer, timing_settings

    if progress is not None:
        progress(index, total, layer.row.name)
    return time_layer(layer, settings or timing_settings())


def render_cost(reports: list[LayerReport], format: Format, dtype: str) -> Any:
    from . import serialize

    if format is Format.json:
        return serialize.cost_json(reports, dtype)
    if format is Format.csv:
        return serialize.layers_csv(reports)
    if format is Format.markdown:
        return serialize.cost_markdown(reports)
    from .render import cost_tables

    return cost_tables(reports)
