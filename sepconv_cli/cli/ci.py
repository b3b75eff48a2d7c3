"""Scripting commands for CI: ``compare``, ``validate`` and ``schema``."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from sepconv_cli.cli.options import (
    EXIT_CODES_HELP,
    FormatOption,
    Messages,
    OutputOption,
    QuietOption,
    emit,
)
from sepconv_cli.errors import EXIT_GATE, EXIT_USAGE, UsageError
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.serialize import Format

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()

_LOCATED = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<column>\d+): (?P<message>.*)$")


@app.command(
    epilog="BASE and NEW are each a JSON report (sepconv profile --format json), a "
    "model spec file or a preset name. " + EXIT_CODES_HELP
)
def compare(
    base: Annotated[str, typer.Argument(metavar="BASE", help="The reference model or report.")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The changed model or report.")],
    max_increase: Annotated[
        list[str] | None,
        typer.Option(
            "--max-increase",
            metavar="LIMIT",
            help="Gate: exit 1 when NEW's total grows by more than LIMIT: 5% (every metric) or "
            "macs=2%, params=1%, time=10% (repeatable).",
        ),
    ] = None,
    format: FormatOption = Format.table,
    output: OutputOption = None,
    quiet: QuietOption = False,
) -> None:
    """Per-layer and total deltas of MACs, params and (when both are timed) time."""
    from sepconv_cli.analysis.compare import compare as run_compare
    from sepconv_cli.analysis.compare import load_snapshot, parse_thresholds

    Messages.quiet = quiet
    if output is not None:
        check_output_path(output)
    if format is Format.csv:
        raise UsageError("--format: compare supports table, json and markdown")
    thresholds = parse_thresholds(max_increase or [])
    result = run_compare(load_snapshot(base), load_snapshot(new), thresholds)
    if result.base.model != result.new.model:
        Messages.note(
            f"sepconv: note: comparing different models ({result.base.model} vs "
            f"{result.new.model}); layers are matched by name, then position"
        )
    if (
        "time" in thresholds
        and "time" not in result.metrics
        and any("=" in t and t.split("=")[0].strip().lower() == "time" for t in max_increase or [])
    ):
        raise UsageError("--max-increase: time needs timing in both BASE and NEW JSON reports")
    if format is Format.json:
        from sepconv_cli.output.compare_formats import compare_json

        emit(compare_json(result), output)
    elif format is Format.markdown:
        from sepconv_cli.output.compare_formats import compare_markdown

        emit(compare_markdown(result), output)
    else:
        from sepconv_cli.output.tables import compare_table

        emit(compare_table(result), output)
    for failure in result.failures:
        Messages.always(f"sepconv: compare: {failure}")
    if result.failures:
        raise typer.Exit(EXIT_GATE)


@app.command(epilog=EXIT_CODES_HELP)
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Model spec files.")],
    format: FormatOption = Format.table,
    quiet: QuietOption = False,
) -> None:
    """Check model specs without counting: every problem as file:line:column: field: message."""
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.layers import (
        SpecError,
        SpecErrors,
        load_yaml_or_error,
        model_from_document,
    )
    from sepconv_cli.spec.yaml_loader import load

    Messages.quiet = quiet
    problems: list[str] = []
    for path in files:
        try:
            spec = model_from_document(load_yaml_or_error(partial(load, path)))
            build(spec)
        except SpecErrors as exc:
            problems += exc.messages
        except (SpecError, UsageError) as exc:
            problems.append(str(exc))
    if format is Format.json:
        records = []
        for problem in problems:
            match = _LOCATED.match(problem)
            records.append(
                {
                    "file": match["file"],
                    "line": int(match["line"]),
                    "column": int(match["column"]),
                    "message": match["message"],
                }
                if match
                else {"file": None, "line": None, "column": None, "message": problem}
            )
        emit(
            json.dumps(
                {
                    "schema": "sepconv/validate/v1",
                    "valid": not problems,
                    "files": [str(f) for f in files],
                    "problems": records,
                },
                indent=2,
            )
            + "\n",
            None,
        )
    elif format is Format.table:
        emit("".join(f"{p}\n" for p in problems), None)
    else:
        raise UsageError("--format: validate supports table and json")
    if problems:
        count = len(problems)
        Messages.always(
            f"sepconv: {count} problem{'s' if count > 1 else ''} in "
            f"{len(files)} file{'s' if len(files) > 1 else ''}"
        )
        raise typer.Exit(EXIT_USAGE)
    Messages.note(f"sepconv: {len(files)} file{'s' if len(files) > 1 else ''} valid")


@app.command()
def schema(output: OutputOption = None) -> None:
    """Print the JSON Schema of the model spec format (for editors and CI checks).

    Editor completion and checking: save it (sepconv schema -o sepconv.schema.json) and start
    a spec with '# yaml-language-server: $schema=./sepconv.schema.json'.
    """
    from sepconv_cli.spec.schema import schema_json

    emit(schema_json(), output)
