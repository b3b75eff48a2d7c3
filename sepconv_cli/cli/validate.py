"""``sepconv validate FILE...``: check model specs without counting, every problem located."""

from __future__ import annotations

import shlex
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from sepconv_cli.cli.console import Messages, emit
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import complete_format, format_help
from sepconv_cli.errors import EXIT_USAGE, UsageError
from sepconv_cli.output.reports import VALIDATE, render_validation
from sepconv_cli.output.validation import Validation

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


# validate has no gates and no runtime failures: its own exit codes
VALIDATE_EXIT_CODES = (
    "Exit codes: 0 every file is valid, 2 a problem was found (each is listed) or bad usage, "
    "130 interrupted."
)


# Model files, by name: what the file is, and what to run instead of validate, which reads
# YAML specs only. `profile` reads ONNX, TFLite and Keras files (and a SavedModel) and checks
# them as it reads them; a frozen TensorFlow graph or a PyTorch checkpoint is converted to
# ONNX first. ``{path}`` is the file as given, ``{onnx}`` that name ending in .onnx, both
# quoted for a shell.
_PROFILE = "run `sepconv profile {path}` instead (it checks the file as it reads it)"
MODEL_FILES: dict[str, tuple[str, str]] = {
    ".onnx": ("an ONNX model", _PROFILE),
    ".tflite": ("a TensorFlow Lite model", _PROFILE),
    ".keras": ("a Keras model", _PROFILE),
    ".h5": ("a Keras model", _PROFILE),
    ".hdf5": ("a Keras model", _PROFILE),
}
"""The model files profile reads; the formats sepconv does not read at all, with how to
get one it does, are interchange/formats.py's (the same advice profile gives)."""
SAVED_MODEL = ("saved_model.pb", ("a TensorFlow SavedModel", _PROFILE))


def model_file_advice(path: Path) -> str | None:
    """The one-line refusal for a model file given to validate, or None for anything else.
    Decided by the name alone, before any file is read, so a mistyped model.onnx gets it
    too."""
    from sepconv_cli.interchange.formats import other_format

    known = SAVED_MODEL[1] if path.name == SAVED_MODEL[0] else MODEL_FILES.get(path.suffix.lower())
    if known is None:
        known = other_format(str(path))
    if known is None:
        return None
    kind, advice = known
    quoted = {"path": shlex.quote(str(path)), "onnx": shlex.quote(str(path.with_suffix(".onnx")))}
    return f"{path}: validate checks YAML specs, and this is {kind} file: {advice.format(**quoted)}"


@app.command(
    cls=SepconvCommand,
    short_help="Check model spec files; every problem as file:line:col.",
    epilog=VALIDATE_EXIT_CODES,
)
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", help="Model spec files (YAML)."),
    ],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help=format_help("table or json", output=False),
            autocompletion=complete_format,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No 'N files valid' note on stderr (problems are always reported).",
        ),
    ] = False,
) -> None:
    """Check model specs without counting: every problem as file:line:column: field: message."""
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.layers import SpecError, SpecErrors
    from sepconv_cli.spec.reader import load_yaml_or_error, model_from_document
    from sepconv_cli.spec.yaml_loader import load

    Messages.quiet = quiet
    chosen = VALIDATE.choose(format)
    for path in files:  # a model file is a usage error, before any file is read
        if (advice := model_file_advice(path)) is not None:
            raise UsageError(advice)
    problems: list[str] = []
    for path in files:
        try:
            spec = model_from_document(load_yaml_or_error(partial(load, path)))
            build(spec)
        except SpecErrors as exc:
            problems += exc.messages
        except (SpecError, UsageError) as exc:
            problems.append(str(exc))
    emit(render_validation(Validation([str(f) for f in files], problems), chosen), None)
    if problems:
        count = len(problems)
        Messages.always(
            f"sepconv: {count} problem{'s' if count > 1 else ''} in "
            f"{len(files)} file{'s' if len(files) > 1 else ''}"
        )
        raise typer.Exit(EXIT_USAGE)
    Messages.note(f"sepconv: {len(files)} file{'s' if len(files) > 1 else ''} valid")
