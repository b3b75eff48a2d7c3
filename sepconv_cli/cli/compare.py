"""``sepconv compare BASE NEW``: per-layer and total deltas, with an optional growth gate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sepconv_cli.cli.console import Messages, emit
from sepconv_cli.cli.help import SepconvCommand, complete_model
from sepconv_cli.cli.options import (
    EXIT_CODES_HELP,
    InputShapeOption,
    InputValueOption,
    OutputOption,
    QuietOption,
    complete_format,
    format_help,
)
from sepconv_cli.errors import EXIT_GATE, UsageError
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.graph_notes import uncounted_text
from sepconv_cli.output.reports import COMPARE, render_compare
from sepconv_cli.output.subset import every_row

if TYPE_CHECKING:
    from sepconv_cli.interchange.models import ModelOptions

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


@app.command(
    cls=SepconvCommand,
    short_help="Per-layer and total deltas between two models or reports.",
    epilog="BASE and NEW are each a JSON report (sepconv profile --format json), a "
    "model spec file, an ONNX file or a preset name.\n\n" + EXIT_CODES_HELP,
)
def compare(
    base: Annotated[
        str,
        typer.Argument(
            metavar="BASE",
            help="The reference model or report.",
            autocompletion=complete_model,
        ),
    ],
    new: Annotated[
        str,
        typer.Argument(
            metavar="NEW", help="The changed model or report.", autocompletion=complete_model
        ),
    ],
    max_increase: Annotated[
        list[str] | None,
        typer.Option(
            "--max-increase",
            metavar="LIMIT",
            help="Gate: exit 1 when NEW's total grows by more than LIMIT: 5% (every metric) or "
            "macs=2%, params=1%, time=10% (repeatable).",
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help=format_help("table, json or markdown", output=True),
            autocompletion=complete_format,
        ),
    ] = None,
    allow_mixed_runtimes: Annotated[
        bool,
        typer.Option(
            "--allow-mixed-runtimes",
            help="Compare times measured on different runtimes or devices (--runtime, "
            "--device); refused by default, as the difference would be the runtime's.",
        ),
    ] = False,
    input_shape: InputShapeOption = None,
    input_value: InputValueOption = None,
    output: OutputOption = None,
    quiet: QuietOption = False,
    all_rows: Annotated[
        bool,
        typer.Option(
            "--all",
            help="List every changed layer in the table even in a terminal (more than fit "
            "show the largest changes there; files and pipes get every row).",
        ),
    ] = False,
) -> None:
    """Per-layer and total deltas of MACs, params and (when both are timed) time."""
    from sepconv_cli.analysis.compare import compare as run_compare
    from sepconv_cli.analysis.compare import load_snapshot, mixed_runtimes, parse_thresholds

    Messages.quiet = quiet
    if output is not None:
        check_output_path(output, inputs=(base, new))
    chosen = COMPARE.choose(format, output)
    thresholds = parse_thresholds(max_increase or [])
    options = _model_options(base, new, input_shape or [], input_value or [])
    before, after = load_snapshot(base, options), load_snapshot(new, options)
    for side in (before, after):  # what reading a model file said, as profile says it
        for note in side.notes:
            Messages.note(note)
        if side.uncounted:
            Messages.note(f"sepconv: note: {side.label}: {uncounted_text(side.uncounted)}")
    result = run_compare(before, after, thresholds, allow_mixed_runtimes=allow_mixed_runtimes)
    if (mixed := mixed_runtimes(before, after)) is not None:
        Messages.note(f"sepconv: note: {mixed}: time deltas include the runtime's difference")
    changed = any(
        c.status != "matched" or any(c.delta(m).absolute for m in result.metrics)
        for c in result.changes
    )
    if result.base.model != result.new.model and changed:
        # differently named models whose every row pairs unchanged (a file and its
        # export-spec, a preset and its export) are the same model: no note
        Messages.note(
            f"sepconv: note: comparing different models ({result.base.model} vs "
            f"{result.new.model}); rows are paired by name, then by structure"
        )
    if "time" in thresholds.named and "time" not in result.metrics:
        raise UsageError("--max-increase: time needs timing in both BASE and NEW JSON reports")
    rendered = render_compare(result, chosen)
    emit(every_row(rendered) if all_rows else rendered, output)
    for failure in result.failures:
        Messages.always(f"sepconv: compare: {failure}")
    if result.failures:
        raise typer.Exit(EXIT_GATE)


def _model_options(base: str, new: str, shapes: list[str], values: list[str]) -> ModelOptions:
    """``--input-shape`` and ``--input-value``, for the ONNX files among BASE and NEW (a
    JSON report or a spec has no inputs to pin)."""
    from sepconv_cli.interchange.models import ModelOptions, is_onnx
    from sepconv_cli.interchange.onnx_inputs import parse_input_shapes, parse_input_values

    options = ModelOptions(
        input_shapes=parse_input_shapes(shapes), input_values=parse_input_values(values)
    )
    if not (is_onnx(base) or is_onnx(new)):
        for flag, given in (("--input-shape", shapes), ("--input-value", values)):
            if given:
                raise UsageError(f"{flag}: only for ONNX models (neither BASE nor NEW is one)")
    return options
