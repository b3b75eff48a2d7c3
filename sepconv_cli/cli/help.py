"""How ``--help`` reads: argument names without type labels, command summaries never cut,
and shell completion of preset and built-in kernel names.

Typer writes an argument as ``MODEL <str>`` in the help and ``{MODEL}`` in the usage line;
:class:`SepconvCommand` (every command's ``cls``) shows the metavar alone, as Click does
(``MODEL``, ``FILE...``, ``[NAME]`` when optional). The completion functions are passed as
``autocompletion=`` and read only file names, so pressing Tab never loads NumPy or a spec.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand

from sepconv_cli.cli.coercion import PlainArgument, plain_options


class _Argument(PlainArgument):
    """A Typer argument shown by its metavar only."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the metavar says what to write; "<str>" says nothing to a user

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.metavar or (self.name or "").upper()
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return [name if self.required else f"[{name}]"]


class SepconvCommand(TyperCommand):
    """A Typer command whose arguments read as ``MODEL`` in the usage line and help, and
    whose text values reach it without loading Pydantic (:mod:`sepconv_cli.cli.coercion`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                # same fields, other methods: no state to convert
                param.__class__ = _Argument

    def get_params(self, ctx: Any) -> list[Any]:
        # every option, --help included (Click makes it here, after __init__)
        params: list[Any] = plain_options(super().get_params(ctx))
        return params


def command_summary(command: Any) -> str:
    """The command's line in ``sepconv --help``: its ``short_help``, else the first sentence
    of its help, whole (the help formatter wraps it; nothing is cut with "...")."""
    summary: str = command.get_short_help_str(limit=10_000)
    return summary


def complete_model(incomplete: str) -> list[str]:
    """MODEL, BASE and NEW: the preset names that start with what was typed (file names are
    left to the shell, which completes them when nothing here matches)."""
    from sepconv_cli.spec.presets import preset_paths

    return [name for name in preset_paths() if name.startswith(incomplete)]


def complete_kernel(incomplete: str) -> list[str]:
    """spatial's KERNEL: the built-in names that start with what was typed (a sized one
    takes its size after a colon, ``gaussian:7``, which the user types)."""
    from sepconv_cli.analysis.spatial.catalogue import NAMES

    return [name for name in NAMES if name.startswith(incomplete.lower())]
