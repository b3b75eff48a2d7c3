"""Command-line values handed to the commands without loading Pydantic when nothing needs it.

Typer (0.2x) coerces every parameter value it processes through a Pydantic ``TypeAdapter``,
built on first use, and the first one imports Pydantic: about 0.1 s of every ``sepconv``
run, a tenth of counting a 10,000-layer model. sepconv's options are nearly all text that
its own validators parse (``str`` / ``str | None``, ``--vary``'s ``list[str]``), so that
coercion has nothing to do. :class:`PlainOption` and :class:`PlainArgument` answer these
cases themselves, with exactly what Typer's coercion returns for them:

* no value (an option left out): ``None``, or ``()`` for a multi-value parameter (Typer's
  ``RuntimeParam.coerce`` does the same before it reaches Pydantic);
* a ``str`` parameter given a ``str``: the string itself;
* a ``list[str]`` parameter given strings: a list of them;
* a ``Path`` parameter given text (``--output``, ``--plot``): Typer's own path checks on
  ``Path(text)``, the value its Pydantic step would hand them.

Every other case (an int, a parser, a custom Click type) goes to Typer's own coercion
unchanged. tests/test_cli_coercion.py checks each case against Typer's own result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.core import TyperArgument, TyperOption


class _Coercion:
    """The object Typer's ``process_value`` asks to ``coerce`` a value (duck-typed like its
    ``RuntimeParam``): the plain cases here, the rest by Typer's runtime param, built only
    when one is needed."""

    __slots__ = ("fallback",)

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback  # () -> Typer's RuntimeParam for the parameter

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        descriptor = param.type_descriptor
        info = descriptor.parameter_info
        if info.parser is None and getattr(info, "click_type", None) is None:
            annotation = descriptor.annotation
            if annotation is str and type(value) is str:
                return value
            if (
                annotation == list[str]
                and type(value) in (tuple, list)
                and all(type(item) is str for item in value)
            ):
                return list(value)
            if annotation is Path and info.path_type is None and type(value) is str:
                checked = _typer_path_checks(value, param, ctx)
                if checked is not None:
                    return checked
        return self.fallback().coerce(value, param=param, ctx=ctx)


def _typer_path_checks(value: str, param: Any, ctx: Any) -> Any:
    """A ``Path`` parameter's text through Typer's own path checks (``exists``,
    ``dir_okay``, ``resolve_path`` ...), given the ``Path(text)`` that its Pydantic step
    makes of the text; None when this Typer has no such function (then Typer coerces)."""
    try:
        from typer._param_types import coerce_cli_path
    except ImportError:  # another Typer: its own coercion, whatever it costs
        return None
    info = param.type_descriptor.parameter_info
    return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)


# One method on each class rather than a mixin: a mixin base, even slot-free, makes the
# class's layout differ from Typer's for ``__class__`` assignment (SepconvCommand swaps the
# class of the parameters Typer built).
class PlainOption(TyperOption):
    """A Typer option whose plain values skip Pydantic (:class:`_Coercion`)."""

    def get_runtime_param(self) -> Any:
        return _Coercion(super().get_runtime_param)


class PlainArgument(TyperArgument):
    """A Typer argument whose plain values skip Pydantic (:class:`_Coercion`)."""

    def get_runtime_param(self) -> Any:
        return _Coercion(super().get_runtime_param)


def plain_options(params: list[Any]) -> list[Any]:
    """``params``, each plain Typer option among them given :class:`PlainOption`'s coercion
    (same fields, one method more: there is no state to convert)."""
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = PlainOption
    return params
