"""``sepconv profile`` (a whole network) and ``sepconv presets`` (the built-in models)."""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from typing import Annotated, Any

import typer

from .cli import app
from .cli_common import (
    CONVENTIONS_HELP,
    EXIT_CODES_HELP,
    FormatOption,
    MaxMacsOption,
    MaxParamsOption,
    Messages,
    OutputOption,
    QuietOption,
    emit,
)
from .errors import EXIT_GATE, UsageError
from .fields import FieldError, flag_value, number, per_dim, positive_int
from .gates import budgets, report_failures
from .models import build
from .output import check_output_path
from .report import ProfileReport, profile_report
from .serialize import Format


def parse_flag(value: str | None, flag: str, validator: Callable[[Any], Any]) -> Any:
    """Validate one flag value (None when the flag was not given); errors name the flag."""
    if value is None:
        return None
    try:
        return validator(flag_value(value))
    except FieldError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def parse_width(value: str | None) -> Fraction:
    width = parse_flag(value, "--width-multiplier", lambda v: number(v, maximum=100))
    return Fraction(1) if width is None else Fraction(str(width))


@app.command(epilog=CONVENTIONS_HELP + " " + EXIT_CODES_HELP)
def profile(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A model spec (YAML file) or a "
                     "preset name: see 'sepconv presets'.")],
    width_multiplier: Annotated[str | None, typer.Option(
        "--width-multiplier", "-a", metavar="ALPHA",
        help="Scale every layer's filters by ALPHA with the model's channel rounding "
        "(MobileNet's width multiplier).")] = None,
    resolution: Annotated[str | None, typer.Option(
        "--resolution", "-r", metavar="R",
        help="Input spatial size: 160 for every dim, or 160x128.")] = None,
    batch: Annotated[str | None, typer.Option("--batch", "-b", metavar="N",
                     help="Batch size (overrides the spec's).")] = None,
    time: Annotated[bool, typer.Option("--time/--no-time", help="Time NumPy executions of "
                    "every layer. Not available in this version: --time fails with exit 2; "
                    "--no-time counts only.")] = False,
    format: FormatOption = Format.table,
    output: OutputOption = None,
    max_macs: MaxMacsOption = None,
    max_params: MaxParamsOption = None,
    quiet: QuietOption = False,
) -> None:
    """A whole network, layer by layer: both forms, ratios and totals."""
    Messages.quiet = quiet
    if output is not None:
        check_output_path(output)
    gates = budgets(max_macs, max_params, None)
    if time:
        raise UsageError("--time: timed execution is not implemented yet; use --no-time")
    from .presets import resolve_model

    spec = resolve_model(model)
    built = build(spec, width_multiplier=parse_width(width_multiplier),
                  resolution=parse_flag(resolution, "--resolution", per_dim),
                  batch=parse_flag(batch, "--batch", positive_int))
    report = profile_report(built)
    emit(render_profile(report, format), output)
    totals = report.totals.as_specified
    if report_failures(gates, [(totals.macs, totals.params, None)]):
        raise typer.Exit(EXIT_GATE)


def render_profile(report: ProfileReport, format: Format) -> Any:
    from . import serialize

    if format is Format.json:
        return serialize.profile_json(report)
    if format is Format.csv:
        return serialize.layers_csv(report.layers)
    if format is Format.markdown:
        return serialize.profile_markdown(report)
    from .render import profile_table

    return profile_table(report)


@app.command()
def presets(format: FormatOption = Format.table) -> None:
    """List the built-in model specs (usable by name: sepconv profile mobilenet_v1)."""
    from .presets import list_presets

    items = list_presets()
    if format is Format.json:
        emit(json.dumps([{"name": p.name, "description": p.description, "path": str(p.path)}
                         for p in items], indent=2) + "\n", None)
    elif format is Format.csv:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", "description", "path"])
        writer.writerows([p.name, p.description, str(p.path)] for p in items)
        emit(buffer.getvalue(), None)
    elif format is Format.markdown:
        emit("| Preset | Description |\n|:---|:---|\n" + "".join(
            f"| `{p.name}` | {p.description} |\n" for p in items), None)
    else:
        from .render import presets_table

        emit(presets_table([(p.name, p.description) for p in items]), None)
