"""``sepconv schema``: the JSON Schema of the model spec format."""

from __future__ import annotations

import typer

from sepconv_cli.cli.console import emit
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import OutputOption

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


@app.command(cls=SepconvCommand, short_help="Print the JSON Schema of the model spec format.")
def schema(output: OutputOption = None) -> None:
    """Print the JSON Schema of the model spec format (for editors and CI checks).

    Editor completion and checking: save it (sepconv schema -o sepconv.schema.json) and start
    a spec with '# yaml-language-server: $schema=./sepconv.schema.json'.
    """
    from sepconv_cli.output.formats import TEXT_EXTENSIONS, check_extension
    from sepconv_cli.spec.schema import schema_json

    if output is not None:  # JSON only: a .yaml name would promise another format
        check_extension(output, (".json", *TEXT_EXTENSIONS), "--output")
    emit(schema_json(), output)
