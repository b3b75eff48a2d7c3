"""``sepconv validate FILE...``: check model specs without counting, every problem located."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from sepconv_cli.cli.options import EXIT_CODES_HELP, FormatOption, Messages, QuietOption, emit
from sepconv_cli.errors import EXIT_USAGE, UsageError
from sepconv_cli.output.formats import Format
from sepconv_cli.output.reports import render_validation
from sepconv_cli.output.validation import Validation

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


@app.command(epilog=EXIT_CODES_HELP)
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Model spec files.")],
    format: FormatOption = Format.table,
    quiet: QuietOption = False,
) -> None:
    """Check model specs without counting: every problem as file:line:column: field: message."""
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.layers import SpecError, SpecErrors
    from sepconv_cli.spec.reader import load_yaml_or_error, model_from_document
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
    emit(render_validation(Validation([str(f) for f in files], problems), format), None)
    if problems:
        count = len(problems)
        Messages.always(
            f"sepconv: {count} problem{'s' if count > 1 else ''} in "
            f"{len(files)} file{'s' if len(files) > 1 else ''}"
        )
        raise typer.Exit(EXIT_USAGE)
    Messages.note(f"sepconv: {len(files)} file{'s' if len(files) > 1 else ''} valid")
