"""``sepconv export-spec MODEL.onnx``: an ONNX model written out as a YAML model spec.

Rules: the text comes from :mod:`~sepconv_cli.interchange.spec_writer` (a PyTorch module,
Keras or TFLite file from the ONNX graph it is converted to). A whole spec (no part left
unexpressed) is then checked by :mod:`~sepconv_cli.interchange.spec_check` against the
file as ``profile`` counts it, before anything is written: a difference is exit 3 and the
output file is left as it was (the write is atomic and comes last).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sepconv_cli.cli.console import Messages, emit
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import InputShapeOption, InputValueOption

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


@app.command(
    "export-spec",
    cls=SepconvCommand,
    short_help="Write an ONNX model as a YAML model spec (to edit and compare).",
)
def export_spec(
    model: Annotated[
        Path,
        typer.Argument(metavar="MODEL", help="The ONNX model file (.onnx).", dir_okay=False),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the spec to FILE (atomically: a failed run leaves FILE as it was). "
            "Default: stdout.",
            dir_okay=False,
        ),
    ] = None,
    input_shape: InputShapeOption = None,
    input_value: InputValueOption = None,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="Write the spec even when the graph has parts it cannot express: each is a "
            "'# NOT EXPRESSED' comment at its place, and the first is named at the top and "
            "in the 'partial:' key (profile then warns that the counts are a lower bound). "
            "Without it such a graph is an error (exit 2) naming that node.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No notes on stderr (the parts not expressed are still reported).",
        ),
    ] = False,
) -> None:
    """Write an ONNX model as a sepconv YAML model spec that profile, compare and validate
    read: Conv (with its BatchNormalization and activation), pools, Gemm/MatMul, residual
    adds, concatenated and split branches, channel shuffles and squeeze-and-excite.

    A graph with a part the spec cannot express (an op it does not model, a graph that is
    neither a residual nor branches) is an error (exit 2) naming the first such node; with
    --partial it is written with each part named in a '# NOT EXPRESSED' comment at its
    place and on stderr, one line per kind, and the file still loads. A whole spec is read
    back before it is written: its total MACs and params in all three forms must be the
    file's, else (a sepconv bug) exit 3, naming the form and the first differing row, and
    nothing is written. Needs the onnx package (pip install 'sepconv[onnx]').
    """
    from sepconv_cli.errors import UsageError
    from sepconv_cli.interchange.converted import converted_spec
    from sepconv_cli.interchange.models import ModelOptions, converted_file
    from sepconv_cli.interchange.onnx_inputs import parse_input_shapes, parse_input_values
    from sepconv_cli.interchange.spec_check import check_round_trip
    from sepconv_cli.interchange.spec_writer import export_spec as write
    from sepconv_cli.interchange.torch_modules import is_torch_module
    from sepconv_cli.output.files import check_output_path
    from sepconv_cli.output.formats import TEXT_EXTENSIONS, check_extension

    Messages.quiet = quiet
    shapes = parse_input_shapes(input_shape or [])
    values = parse_input_values(input_value or [])
    from sepconv_cli.interchange.formats import refusal

    refused = refusal(str(model))
    if refused is not None:
        raise UsageError(refused)
    if not model.is_file() and not is_torch_module(str(model)):
        raise UsageError(f"MODEL: no such file: {model}")
    if output is not None:
        check_output_path(output, inputs=(model,))  # before the work, as every command
        check_extension(output, (".yaml", ".yml", *TEXT_EXTENSIONS), "--output")  # YAML text
    # a PyTorch module or Keras file: written from its ONNX export, as the user would
    with converted_file(str(model), ModelOptions(input_shapes=shapes)) as made:
        if made is None:
            text, input_notes, not_expressed = write(model, shapes, values, partial=partial)
        else:
            text, input_notes, not_expressed = converted_spec(made, values, partial)
        if not not_expressed:  # the safety net: the spec counts what the file counts
            check_round_trip(text, _file_model(model, made, shapes, values), str(model))
    for line in input_notes:
        Messages.note(line)
    for line in not_expressed:
        Messages.always(f"sepconv: warning: {line}")
    emit(text, output)


def _file_model(model: Path, made: Any, shapes: Any, values: Any) -> Any:
    """The file's model as ``profile MODEL`` counts it: the ONNX reader's, of the file or of
    the ONNX graph it was converted to (the same graph the spec was written from)."""
    if made is not None:
        from sepconv_cli.interchange.converted import read_converted

        return read_converted(made, input_values=values)[0]
    from sepconv_cli.interchange.onnx_model import read_onnx

    return read_onnx(model, shapes, input_values=values)[0]
