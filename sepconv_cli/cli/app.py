"""The ``sepconv`` root app: error handling, ``--version``, and the commands added in order.

With :mod:`sepconv_cli.cli.entry`, the only place that exits. Each command lives in its own
module of this package with its own Typer app, added here (:data:`COMMANDS`). A run of one
command imports and builds that command's module alone (:func:`main`); ``app``, the whole
CLI, is built when something asks for it (the root help, completion, an unknown name).
Exit codes: 0 ok · 1 a gate failed · 2 bad input or usage · 3 runtime failure ·
130 interrupted. stdout carries the report only; messages go to stderr.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from sepconv_cli import __version__
from sepconv_cli.cli.coercion import plain_options
from sepconv_cli.cli.help import command_summary
from sepconv_cli.cli.options import EXIT_CODES_HELP
from sepconv_cli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, SepconvError
from sepconv_cli.names import shown


class SepconvGroup(TyperGroup):
    """Turns every expected failure into one line on stderr and an exit code. Its own
    options (``--version``, completion) are coerced without Pydantic, as every command's
    are (:mod:`sepconv_cli.cli.coercion`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        # every option, --help and completion included (Typer and Click add them late)
        params: list[Any] = plain_options(super().get_params(ctx))
        return params

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        argv = list(args[0] if args else kwargs.get("args") or sys.argv[1:])
        try:
            code = super().main(*args, **kwargs)
        except SepconvError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            # the reader went away (``sepconv ... | head``): nothing left to report to
            sys.stderr = io.StringIO()
            sys.exit(0)
        except MemoryError:
            _fail("out of memory (lower --max-memory or the layer size)", EXIT_RUNTIME)
        except RecursionError:
            _fail("input nested too deeply", EXIT_USAGE)
        except Exception as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                # bare `sepconv`: the help, as `sepconv --help` prints it (nothing was wrong)
                print(exc.ctx.get_help())  # type: ignore[attr-defined]
                sys.exit(0)
            if _is_click_exception(exc):
                message = _flag_given_a_value(exc, argv, self) or _click_message(exc)
                _fail(message, getattr(exc, "exit_code", EXIT_USAGE))
            if type(exc).__name__ == "Abort":
                _fail("interrupted", EXIT_INTERRUPTED)
            if os.environ.get("SEPCONV_DEBUG"):
                raise
            # a bug, not bad input: say so in one line; SEPCONV_DEBUG=1 shows the traceback
            _fail(
                f"internal error: {type(exc).__name__}: {exc} (please report it; "
                "SEPCONV_DEBUG=1 shows the traceback)",
                EXIT_RUNTIME,
            )
        if code == EXIT_INTERRUPTED:  # Typer turned a Ctrl-C into exit 130 silently
            _fail("interrupted", EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of ``sepconv --help``, each summary whole (Typer cuts them at
        the formatter's width with "...", even in a wide terminal)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command_summary(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _is_click_exception(exc: Exception) -> bool:
    # Typer vendors click; duck-type its exceptions instead of importing a private module
    return hasattr(exc, "format_message") and hasattr(exc, "exit_code")


def _click_message(exc: Exception) -> str:
    message: str = exc.format_message()  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "sepconv"
    hint = f" (see '{command} --help')" if "help" not in message else ""
    return " ".join(message.split()) + hint


def _flag_given_a_value(exc: Exception, argv: list[str], root: TyperGroup) -> str | None:
    """``--bias yes`` (Click: "unexpected extra argument") and ``--bias=yes`` (Click:
    "does not take a value"): the mistake is a value given to a flag that takes none. Say
    so, naming the flag's spellings; None for any other error."""
    message = str(getattr(exc, "message", ""))
    if "unexpected extra argument" in message:
        extra = message.rpartition("(")[2].rstrip(")").split()
        if not extra or extra[0] not in argv[1:]:
            return None
        flag, value = argv[argv.index(extra[0], 1) - 1], extra[0]
    elif "does not take a value" in message:
        flag = message.split("'")[1] if message.count("'") >= 2 else ""
        given = next((a for a in argv if a.startswith(flag + "=")), flag + "=")
        value = given.partition("=")[2]
    else:
        return None
    command = root.commands.get(argv[0]) if argv else None
    for param in command.params if command is not None else ():
        names = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
        if flag in names and getattr(param, "is_flag", False):
            spellings = " or ".join(n for n in names if n.startswith("--")) or flag
            return f"{flag}: takes no value (write {spellings}, not {flag} {value})"
    return None


def _fail(message: str, code: int) -> NoReturn:
    """The one place an error is printed: one line, ``sepconv: error: MESSAGE``. The message
    is shown whole (:func:`sepconv_cli.names.shown`): a name from a file in it, or a
    library's multi-line text, has its newlines and escape sequences escaped, so no message
    forges a line of its own (``\\nsepconv: error: ...``) or recolours the terminal."""
    text = shown(message.strip()) or "failed"
    print(f"sepconv: error: {text}", file=sys.stderr)
    sys.exit(code)


COMMANDS: dict[str, tuple[str, ...]] = {
    "cost": ("cost",),
    "profile": ("profile", "presets"),
    "compare": ("compare",),
    "validate": ("validate",),
    "schema": ("schema",),
    "export": ("export",),
    "export_spec": ("export-spec",),
    "sweep": ("sweep",),
    "spatial": ("spatial",),
    "interactive": ("interactive",),
    "machine": ("machine",),
    "bench": ("bench",),
}
"""Each command module of this package (its own Typer app, added unnamed: its commands sit
at the top level) and the commands it defines, in the order of ``--help``
(tests/test_app_commands.py checks the names against the modules)."""

_MODULE_OF = {command: module for module, names in COMMANDS.items() for command in names}


def _version(value: bool) -> None:
    if value:
        print(f"sepconv {__version__}")
        raise typer.Exit()


def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """sepconv: what depthwise-separable convolution saves, counted exactly and measured."""


def root_app(modules: Iterable[str] = COMMANDS) -> typer.Typer:
    """The root app with the commands of ``modules`` (names of :data:`COMMANDS`), each module
    imported here."""
    root = typer.Typer(
        cls=SepconvGroup,
        name="sepconv",
        help="Convolution cost calculator and profiler: standard vs depthwise-separable "
        "multiplications, FLOPs, parameters and bytes, per layer and per model.\n\n"
        + EXIT_CODES_HELP,
        no_args_is_help=True,
        add_completion=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    root.callback()(_main)
    for module in modules:
        root.add_typer(importlib.import_module(f"sepconv_cli.cli.{module}").app)
    return root


app: typer.Typer
"""The whole CLI (every command): declared here, built by the module's ``__getattr__`` the
first time it is read, so that importing this module for :func:`main` imports no command."""


def _whole_app() -> typer.Typer:
    """``app``, built the first time it is needed and kept."""
    built: typer.Typer | None = globals().get("app")
    if built is None:
        built = globals()["app"] = root_app()
    return built


def __getattr__(name: str) -> Any:
    if name == "app":
        return _whole_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _app_for(argv: Sequence[str]) -> typer.Typer:
    """The app a run with ``argv`` needs: when its first word names a command (and no shell
    completion is asked for), the root with that command's module alone. Importing and
    building every command (a dozen modules, their dependencies, a Click command each) was a
    tenth of a second of every run."""
    module = _MODULE_OF.get(argv[0]) if argv else None
    if module is None or "_SEPCONV_COMPLETE" in os.environ:
        return _whole_app()
    return root_app((module,))


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(argv) if argv is not None else None
    command: Callable[..., Any] = typer.main.get_command(
        _app_for(args if args is not None else sys.argv[1:])
    )
    command(args=args, prog_name="sepconv")
