"""Option values reach the commands as Typer's own coercion gives them, without Pydantic.

The expected values come from Typer itself: each case is coerced by the parameter's own
Typer runtime param (Pydantic) and by sepconv's plain path, and the two must agree.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.core import TyperOption

from sepconv_cli.cli.coercion import PlainOption, plain_options
from sepconv_cli.cli.help import SepconvCommand

ROOT = Path(__file__).resolve().parent.parent


def _command() -> Any:
    app = typer.Typer()

    @app.command(cls=SepconvCommand)
    def run(
        name: Annotated[str, typer.Argument()],
        text: Annotated[str | None, typer.Option("--text")] = None,
        vary: Annotated[list[str] | None, typer.Option("--vary")] = None,
        path: Annotated[Path | None, typer.Option("--path")] = None,
        out: Annotated[Path | None, typer.Option("--out", dir_okay=False)] = None,
        flag: Annotated[bool | None, typer.Option("--flag/--no-flag")] = None,
    ) -> None:
        """A command with one parameter of each kind sepconv uses."""

    return typer.main.get_command(app)


def _params(command: Any) -> dict[str, Any]:
    ctx = command.make_context("run", ["x"])
    return {p.name: p for p in command.get_params(ctx)}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("name", "mobilenet_v1"),
        ("text", "json"),
        ("text", ""),
        ("text", None),
        ("vary", ("kernel=1..3", "filters=8..16:8")),
        ("vary", None),
        ("path", "out.json"),
        ("path", ""),
        ("path", "~/a b"),
        ("path", None),
        ("out", "out.json"),
        ("out", str(ROOT)),  # a directory where a file is wanted: Typer's error
        ("flag", None),
    ],
)
def test_plain_coercion_equals_typers(name: str, value: Any) -> None:
    command = _command()
    param = _params(command)[name]
    assert type(param) is not TyperOption  # SepconvCommand gave it the plain coercion
    ctx = command.make_context("run", ["x"])
    ours = _outcome(lambda: param.get_runtime_param().coerce(value, param=param, ctx=ctx))
    typers = _outcome(
        lambda: super(type(param), param).get_runtime_param().coerce(value, param=param, ctx=ctx)
    )
    assert ours == typers
    assert type(ours) is type(typers)


def _outcome(coerce: Callable[[], Any]) -> Any:
    """The coerced value, or the error's type and message."""
    try:
        return coerce()
    except Exception as exc:
        return (type(exc), str(exc))


def test_help_option_is_plain_too() -> None:
    params = _params(_command())
    assert type(params["help"]) is PlainOption


def test_plain_options_leaves_other_classes() -> None:
    class Custom(TyperOption):
        pass

    command = _command()
    option = _params(command)["text"]
    option.__class__ = Custom
    assert plain_options([option]) == [option]
    assert type(option) is Custom


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "mobilenet_v1", "--no-time", "--format", "json"],
        ["sweep", "--vary", "kernel=1..3", "--vary", "filters=8..16:8", "--format", "csv"],
        ["cost", "--format", "json"],
    ],
)
def test_commands_do_not_import_pydantic(argv: list[str]) -> None:
    assert _pydantic_modules_after(argv) == "[]"


def test_an_output_file_does_not_import_pydantic(tmp_path: Path) -> None:
    out = tmp_path / "report.txt"
    argv = ["profile", "mobilenet_v1", "--no-time", "--output", str(out)]
    assert _pydantic_modules_after(argv) == "[]"
    assert out.read_text(encoding="utf-8").startswith("MobileNetV1: input 224×224×3")


def _pydantic_modules_after(argv: list[str]) -> str:
    """The Pydantic modules a process has imported after running ``sepconv ARGV``."""
    script = (
        "import sys\n"
        "from sepconv_cli.cli.app import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stderr.strip().splitlines()[-1]


def test_an_argument_falls_back_to_typer() -> None:
    """A value the plain path does not take (a number for a ``str`` argument) goes to
    Typer's coercion, which makes it a string."""
    command = _command()
    param = _params(command)["name"]
    ctx = command.make_context("run", ["x"])
    assert param.get_runtime_param().coerce(7, param=param, ctx=ctx) == "7"
