"""The ``sepconv`` command line: parses flags, calls the core, renders, picks the exit code.

The only module that exits. Exit codes: 0 ok · 1 a gate failed · 2 bad input or usage ·
3 runtime failure · 130 interrupted. stdout carries the report only; messages go to stderr.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from . import __version__
from .cost import ShapeError
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, SepconvError, UsageError
from .fields import FieldError, flag_value
from .fields import number as field_number
from .fields import per_dim as field_per_dim
from .lowering import Width, lower
from .models import Row, build
from .output import check_output_path, write_atomic
from .report import LayerReport, layer_report, profile_report
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


class SepconvGroup(TyperGroup):
    """Turns every expected failure into one line on stderr and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except SepconvError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            # the reader went away (``sepconv ... | head``): not our error to report
            sys.stderr = io.StringIO()
            sys.exit(0)
        except Exception as exc:
            if _is_click_exception(exc):
                _fail(_click_message(exc), getattr(exc, "exit_code", EXIT_USAGE))
            if type(exc).__name__ == "Abort":
                _fail("interrupted", EXIT_INTERRUPTED)
            raise
        sys.exit(code if isinstance(code, int) else 0)


def _is_click_exception(exc: Exception) -> bool:
    return hasattr(exc, "format_message") and hasattr(exc, "exit_code")


def _click_message(exc: Exception) -> str:
    message: str = exc.format_message()  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "sepconv"
    hint = f" (see '{command} --help')" if "help" not in message else ""
    return " ".join(message.split()) + hint


def _fail(message: str, code: int) -> NoReturn:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"sepconv: error: {first}", file=sys.stderr)
    sys.exit(code)


app = typer.Typer(
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


def _version(value: bool) -> None:
    if value:
        print(f"sepconv {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version,
                                          is_eager=True, help="Print the version and exit.")
                       ] = False,
) -> None:
    """sepconv: what depthwise-separable convolution saves, counted exactly and measured."""


# --------------------------------------------------------------------------- output helpers


def _console(file: Any = None, *, width: int | None = None) -> Any:
    from rich.console import Console

    if file is None and not sys.stdout.isatty():
        width = width or max(int(os.environ.get("COLUMNS", "0") or 0), 120)
    return Console(file=file, width=width, highlight=False, soft_wrap=False)


def _emit(text_or_renderable: Any, output: Path | None) -> None:
    """Print the report to stdout, or write it atomically to ``--output``."""
    if isinstance(text_or_renderable, str):
        if output is None:
            sys.stdout.write(text_or_renderable)
            sys.stdout.flush()
        else:
            write_atomic(output, text_or_renderable)
        return
    if output is None:
        _console().print(text_or_renderable)
        return
    buffer = io.StringIO()
    _console(buffer, width=140).print(text_or_renderable)
    write_atomic(output, buffer.getvalue())


def _message(text: str) -> None:
    print(text, file=sys.stderr)


# --------------------------------------------------------------------------- sepconv cost

SEED = {"input": "12x12x3", "kernel": "5", "filters": "256"}
LAYER_FLAGS = ("input", "kernel", "filters", "stride", "padding", "dilation", "groups",
               "depth_multiplier", "name")

FormatOption = Annotated[Format, typer.Option("--format", help="Report format.",
                                              case_sensitive=False)]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write the report to FILE (atomically) instead of stdout.",
    dir_okay=False)]


@app.command(epilog=CONVENTIONS_HELP + " " + EXIT_CODES_HELP)
def cost(
    input: Annotated[str | None, typer.Option("--input", "-i", metavar="SHAPE",
                     help="Input shape, channels-last: 12x12x3 (2-D), 100x16 (1-D), "
                     "8x32x32x3 (3-D). [default: 12x12x3]")] = None,
    kernel: Annotated[str | None, typer.Option("--kernel", "-k", metavar="K",
                      help="Kernel size: 5 for every dim, or 3x5. [default: 5]")] = None,
    filters: Annotated[str | None, typer.Option("--filters", "--out-channels", "-f",
                       metavar="N", help="Output channels (filters). [default: 256]")] = None,
    stride: Annotated[str | None, typer.Option("--stride", "-s", metavar="S",
                      help="Stride: 2, or one per dim 2x1. [default: 1]")] = None,
    padding: Annotated[str | None, typer.Option("--padding", "-p", metavar="P",
                       help="valid, same (TensorFlow's rule), an int, or per dim 1x2 "
                       "(symmetric). [default: valid]")] = None,
    dilation: Annotated[str | None, typer.Option("--dilation", "-d", metavar="D",
                        help="Dilation: 2, or one per dim. [default: 1]")] = None,
    groups: Annotated[str | None, typer.Option("--groups", "-g", metavar="G",
                      help="Groups of the standard conv (must divide both channel counts). "
                      "[default: 1]")] = None,
    depth_multiplier: Annotated[str | None, typer.Option("--depth-multiplier", "-m",
                                metavar="M", help="Depth multiplier M of the separable form's "
                                "depthwise conv. [default: 1]")] = None,
    bias: Annotated[bool | None, typer.Option("--bias/--no-bias", help="Count a bias "
                    "(standard conv and the pointwise conv). [default: no-bias]")] = None,
    batch: Annotated[str | None, typer.Option("--batch", "-b", metavar="N",
                     help="Batch size; multiplies activation counts. [default: 1]")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", metavar="TYPE",
                     help="float32, float64, float16, bfloat16 or int8: bytes per value. "
                     "[default: float32]")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Label for the layer.")] = None,
    spec: Annotated[Path | None, typer.Option("--spec", metavar="FILE.yaml",
                    help="Read layers from YAML: one mapping or a list, each with its own "
                    "input (keys as the flags: input, kernel, filters, stride, padding, "
                    "dilation, groups, depth_multiplier, bias, batch, dtype, name).")] = None,
    format: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """One convolution layer: standard form next to its depthwise-separable form.

    With no flags it shows the classic example: a 12x12x3 input, 5x5 kernel and 256
    filters give 1,228,800 multiplications standard vs 53,952 separable.
    """
    if output is not None:
        check_output_path(output)
    given = {k: v for k, v in locals().items() if k in LAYER_FLAGS and v is not None}
    if bias is not None:
        given["bias"] = bias
    common: dict[str, Any] = {}
    if batch is not None:
        common["batch"] = batch
    if dtype is not None:
        common["dtype"] = dtype
    layers = _cost_layers(spec, given, common)
    reports = [_single_layer_report(layer) for layer in layers]
    dtype_used = layers[0].dtype or "float32"
    _emit(_render_cost(reports, format, dtype_used), output)


def _cost_layers(spec: Path | None, given: dict[str, Any], common: dict[str, Any]) -> list[Any]:
    from .spec import cost_layers, layer_from_flags, load_yaml_or_error, replace_defaults
    from .yamlsafe import load

    if spec is not None:
        if given:
            flag = "--" + next(iter(given)).replace("_", "-")
            raise UsageError(f"{flag}: cannot be combined with --spec (put it in the file)")
        layers = cost_layers(load_yaml_or_error(lambda: load(spec)))
        overrides = layer_from_flags(common)
        return [replace_defaults(layer, overrides) for layer in layers]
    values = {**SEED, **given, **common}
    return [layer_from_flags(values)]


def _single_layer_report(layer: Any) -> LayerReport:
    assert layer.input is not None
    try:
        forms = lower(layer, layer.input, Width())
    except ShapeError as exc:
        field = exc.field or "input"
        if layer.where == "flags":
            flag = "--" + field.replace("_", "-")
            raise UsageError(f"{flag}: {exc}") from None
        raise UsageError(f"{layer.where}: {exc}") from None
    name = layer.name or ("layer" if layer.where == "flags" else layer.where.split(": ")[-1]
                          or "layer")
    row = Row(0, name, layer.type, layer.input, forms, 1, layer.where)
    return layer_report(row, layer.batch or 1, layer.dtype or "float32")


def _render_cost(reports: list[LayerReport], format: Format, dtype: str) -> Any:
    from . import serialize

    if format is Format.json:
        return serialize.cost_json(reports, dtype)
    if format is Format.csv:
        return serialize.layers_csv(reports)
    if format is Format.markdown:
        return serialize.cost_markdown(reports)
    from rich.console import Group
    from rich.text import Text

    from .render import cost_table

    parts: list[Any] = []
    for i, report in enumerate(reports):
        if i:
            parts.append(Text(""))
        parts.append(cost_table(report))
    return Group(*parts)


# --------------------------------------------------------------------------- sepconv profile


def _parse_width(value: str | None) -> Fraction:
    if value is None:
        return Fraction(1)
    try:
        return Fraction(str(field_number(flag_value(value), maximum=100)))
    except FieldError as exc:
        raise UsageError(f"--width-multiplier: {exc}") from None


def _parse_resolution(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return field_per_dim(flag_value(value))
    except FieldError as exc:
        raise UsageError(f"--resolution: {exc}") from None


def _parse_batch(value: str | None) -> int | None:
    if value is None:
        return None
    from .fields import positive_int

    try:
        return positive_int(flag_value(value))
    except FieldError as exc:
        raise UsageError(f"--batch: {exc}") from None


@app.command(epilog=CONVENTIONS_HELP + " " + EXIT_CODES_HELP)
def profile(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A model spec (YAML file) or a "
                     "preset name: see 'sepconv presets'.")],
    width_multiplier: Annotated[str | None, typer.Option("--width-multiplier", "-a",
                                metavar="ALPHA", help="Scale every layer's filters by ALPHA "
                                "with the model's channel rounding (MobileNet's α).")] = None,
    resolution: Annotated[str | None, typer.Option("--resolution", "-r", metavar="R",
                          help="Input spatial size: 160 for every dim, or 160x128.")] = None,
    batch: Annotated[str | None, typer.Option("--batch", "-b", metavar="N",
                     help="Batch size (overrides the spec's).")] = None,
    time: Annotated[bool, typer.Option("--time/--no-time", help="Time NumPy executions of "
                    "every layer. Timing is not available in this version: --time fails "
                    "with exit 2, --no-time counts only.")] = False,
    format: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """A whole network, layer by layer: both forms, ratios and totals."""
    if output is not None:
        check_output_path(output)
    if time:
        raise UsageError("--time: timed execution is not implemented yet; use --no-time")
    from .presets import resolve_model

    spec = resolve_model(model)
    built = build(spec, width_multiplier=_parse_width(width_multiplier),
                  resolution=_parse_resolution(resolution), batch=_parse_batch(batch))
    report = profile_report(built)
    from . import serialize

    rendered: Any
    if format is Format.json:
        rendered = serialize.profile_json(report)
    elif format is Format.csv:
        rendered = serialize.layers_csv(report.layers)
    elif format is Format.markdown:
        rendered = serialize.profile_markdown(report)
    else:
        from .render import profile_table

        rendered = profile_table(report)
    _emit(rendered, output)


# --------------------------------------------------------------------------- sepconv presets


@app.command()
def presets(format: FormatOption = Format.table) -> None:
    """List the built-in model specs (usable by name: sepconv profile mobilenet_v1)."""
    import json

    from .presets import list_presets

    items = list_presets()
    if format is Format.json:
        _emit(json.dumps([{"name": p.name, "description": p.description, "path": str(p.path)}
                          for p in items], indent=2) + "\n", None)
    elif format is Format.csv:
        _emit("name,description,path\n" + "".join(
            f'{p.name},"{p.description}",{p.path}\n' for p in items), None)
    elif format is Format.markdown:
        _emit("| Preset | Description |\n|:---|:---|\n" + "".join(
            f"| `{p.name}` | {p.description} |\n" for p in items), None)
    else:
        from rich.table import Table

        table = Table(title="Built-in models (sepconv profile NAME)", title_justify="left")
        table.add_column("Name")
        table.add_column("Description")
        for p in items:
            table.add_row(p.name, p.description)
        _emit(table, None)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    command: Callable[..., Any] = typer.main.get_command(app)
    command(args=list(argv) if argv is not None else None, prog_name="sepconv")
