"""Helpers shared by the command modules: consoles, report output, common options."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .output import write_atomic
from .serialize import Format

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 a budget or comparison gate failed, 2 bad input or usage, "
    "3 runtime failure (e.g. not enough memory), 130 interrupted."
)
CONVENTIONS_HELP = (
    "Shapes are channels-last (12x12x3 = 12×12 spatial, 3 channels); --batch multiplies "
    "activation counts. MACs = multiply-accumulates (bias is not a MAC); FLOPs = 2·MACs "
    "(+1 per output with bias). The separable form is depthwise k×k (multiplier M, same "
    "stride/padding/dilation) then pointwise 1×1; for M = 1 and groups = 1 its MAC ratio is "
    "exactly 1/Cout + 1/prod(k)."
)

FormatOption = Annotated[Format, typer.Option("--format", help="Report format.",
                                              case_sensitive=False)]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE",
    help="Write the report to FILE (atomically: a failed run leaves FILE as it was).",
    dir_okay=False)]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q",
                                           help="No progress or notes on stderr (errors and "
                                           "failed gates are still reported).")]
MaxMacsOption = Annotated[str | None, typer.Option(
    "--max-macs", metavar="N", help="Budget: exit 1 if the MACs (as specified) exceed N "
    "(600M, 1.2G, 500K).")]
MaxParamsOption = Annotated[str | None, typer.Option(
    "--max-params", metavar="N", help="Budget: exit 1 if the parameters exceed N (4.5M).")]


class Messages:
    """stderr notes for people; silenced by --quiet. Reports never go here."""

    quiet = False

    @classmethod
    def note(cls, text: str) -> None:
        if not cls.quiet:
            print(text, file=sys.stderr)

    @staticmethod
    def always(text: str) -> None:
        print(text, file=sys.stderr)


def console(file: Any = None, *, width: int | None = None, stderr: bool = False) -> Any:
    """A Rich console. Piped output gets a fixed width (COLUMNS, at least 120) and no colour;
    Rich also honours NO_COLOR."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if file is None and not stream.isatty():
        width = width or max(int(os.environ.get("COLUMNS", "0") or 0), 120)
    return Console(file=file, width=width, highlight=False, soft_wrap=False, stderr=stderr)


def emit(text_or_renderable: Any, output: Path | None) -> None:
    """Print the report to stdout, or write it atomically to ``--output``."""
    if isinstance(text_or_renderable, str):
        if output is None:
            sys.stdout.write(text_or_renderable)
            sys.stdout.flush()
        else:
            write_atomic(output, text_or_renderable)
        return
    if output is None:
        console().print(text_or_renderable)
        return
    buffer = io.StringIO()
    console(buffer, width=140).print(text_or_renderable)
    write_atomic(output, buffer.getvalue())
