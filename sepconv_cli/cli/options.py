"""Helpers shared by the command modules: consoles, report output, common options."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from sepconv_cli.counting.conventions import HELP_EPILOG
from sepconv_cli.output.files import write_atomic
from sepconv_cli.output.formats import FORMAT_NAMES

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 a budget or comparison gate failed, 2 bad input or usage, "
    "3 runtime failure (e.g. not enough memory), 130 interrupted."
)
# the commands without gates (sweep, spatial) never exit 1
EXIT_CODES_NO_GATES_HELP = (
    "Exit codes: 0 ok, 2 bad input or usage, 3 runtime failure (e.g. not enough memory), "
    "130 interrupted."
)
CONVENTIONS_HELP = HELP_EPILOG  # the counting rules, stated once in counting/conventions.py


def format_help(names: str, *, output: bool) -> str:
    """``--format``'s help for a command that writes ``names`` (and has ``--output`` or not)."""
    default = "from --output's extension (.json, .csv, .md), else table" if output else "table"
    return f"Report format: {names}. [default: {default}]"


def complete_format(incomplete: str) -> list[str]:
    return [name for name in FORMAT_NAMES if name.startswith(incomplete.lower())]


# --format is read as text and parsed by output.formats.choose_format: one clean message for
# a wrong name, and the format may come from --output's extension instead
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help=format_help("table, json, csv or markdown", output=True),
        autocompletion=complete_format,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the report to FILE (atomically: a failed run leaves FILE as it was).",
        dir_okay=False,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress or notes on stderr (errors and failed gates are still reported).",
    ),
]
# for the commands without gates (sweep, spatial, machine)
QuietNoGatesOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress or notes on stderr (errors still are)."),
]
MaxMacsOption = Annotated[
    str | None,
    typer.Option(
        "--max-macs",
        metavar="N",
        help="Budget: exit 1 if the MACs (as specified) exceed N (600M, 1.2G, 500K).",
    ),
]
MaxParamsOption = Annotated[
    str | None,
    typer.Option(
        "--max-params", metavar="N", help="Budget: exit 1 if the parameters exceed N (4.5M)."
    ),
]


# the layer flags shared by `cost`, `sweep` (and the interactive commands' vocabulary)
InputOption = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        metavar="SHAPE",
        help="Input shape, channels-last: 12x12x3 (2-D), 100x16 "
        "(1-D), 8x32x32x3 (3-D). [default: 12x12x3]",
    ),
]
KernelOption = Annotated[
    str | None,
    typer.Option(
        "--kernel", "-k", metavar="K", help="Kernel size: 5 for every dim, or 3x5. [default: 5]"
    ),
]
FiltersOption = Annotated[
    str | None,
    typer.Option(
        "--filters",
        "--out-channels",
        "-f",
        metavar="N",
        help="Output channels (filters). [default: 256]",
    ),
]
StrideOption = Annotated[
    str | None,
    typer.Option("--stride", "-s", metavar="S", help="Stride: 2, or one per dim 2x1. [default: 1]"),
]
PaddingOption = Annotated[
    str | None,
    typer.Option(
        "--padding",
        "-p",
        metavar="P",
        help="valid, same (TensorFlow's rule), an int, or per dim "
        "1x2 (symmetric). [default: valid]",
    ),
]
DilationOption = Annotated[
    str | None,
    typer.Option("--dilation", "-d", metavar="D", help="Dilation: 2, or one per dim. [default: 1]"),
]
GroupsOption = Annotated[
    str | None,
    typer.Option(
        "--groups",
        "-g",
        metavar="G",
        help="Groups of the conv as written (must divide both channel counts): its "
        "standard form is dense; groups = input channels make it depthwise. [default: 1]",
    ),
]
MultiplierOption = Annotated[
    str | None,
    typer.Option(
        "--depth-multiplier",
        "-m",
        metavar="M",
        help="Depth multiplier M of the separable form's depthwise conv. [default: 1]",
    ),
]
BiasOption = Annotated[
    bool | None,
    typer.Option(
        "--bias/--no-bias",
        help="Count a bias (standard conv and the pointwise conv). [default: no-bias]",
    ),
]
BatchOption = Annotated[
    str | None,
    typer.Option(
        "--batch", "-b", metavar="N", help="Batch size; multiplies activation counts. [default: 1]"
    ),
]
DtypeOption = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        metavar="TYPE",
        help="float32, float64, float16, bfloat16 or int8: bytes per value. [default: float32]",
    ),
]
TimeBudgetOption = Annotated[
    str | None,
    typer.Option(
        "--time-budget",
        metavar="SECONDS",
        help="Time spent measuring each layer (all its forms "
        "together): 1.5 (seconds), 2s or 300ms, at most 1 hour. More time, more repeats, "
        "steadier medians. [default: 1s]",
    ),
]
ThreadsOption = Annotated[
    str | None,
    typer.Option(
        "--threads",
        metavar="N",
        help="Threads while timing: BLAS threads, and the parts a "
        "large depthwise layer runs in at once. One by default: single-thread "
        "times are steady and comparable across machines, free of the thread wake-up delays "
        "that distort small layers on virtual machines. [default: 1]",
    ),
]
MaxMemoryOption = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help="Do not execute a layer whose buffers need more "
        "than SIZE (8G, 512MiB). [default: half the available RAM]",
    ),
]
MaxLatencyOption = Annotated[
    str | None,
    typer.Option(
        "--max-latency",
        metavar="TIME",
        help="Budget: exit 1 if the measured time of the model "
        "as specified exceeds TIME, with its unit (50ms, 0.2s). Needs timing.",
    ),
]


def timing_from_flags(
    enabled: bool,
    threads: str | None,
    time_budget: str | None,
    max_memory: str | None,
    *,
    off_hint: str = "add --time",
) -> Any:
    """TimingSettings when timing is on; None when off, refusing timing flags given without
    it (never silently ignored)."""
    from sepconv_cli.errors import UsageError

    if enabled:
        return timing_settings_from_flags(threads, time_budget, max_memory)
    for flag, value in (
        ("--threads", threads),
        ("--time-budget", time_budget),
        ("--max-memory", max_memory),
    ):
        if value is not None:
            raise UsageError(f"{flag}: only applies when timing ({off_hint})")
    return None


def timing_settings_from_flags(
    threads: str | None, time_budget: str | None, max_memory: str | None
) -> Any:
    """Validate the timing flags (each error names its flag) into TimingSettings.

    Without ``--threads`` the count is 1 where sepconv can set it, else the BLAS library's
    own count (see :func:`_pin_blas_threads`): the default never fails."""
    from sepconv_cli.errors import UsageError
    from sepconv_cli.execution.profiling import timing_settings
    from sepconv_cli.spec.fields import FieldError, flag_value, positive_int
    from sepconv_cli.units import parse_bytes, parse_seconds

    thread_count = 1  # see ThreadsOption: steady, comparable single-thread times by default
    if threads is not None:
        try:
            thread_count = positive_int(flag_value(threads), maximum=4096)
        except FieldError as exc:
            raise UsageError(f"--threads: {exc}") from None
    budget = None
    if time_budget is not None:
        # a bare number is seconds here (the metavar says SECONDS); --max-latency keeps
        # requiring a unit, as latencies are quoted in ms as often as in s
        budget = float(parse_seconds(time_budget, "--time-budget", bare_unit="s"))
        if budget <= 0:
            raise UsageError(f"--time-budget: must be more than 0 s, got {time_budget!r}")
        if budget > 3600:
            raise UsageError(f"--time-budget: at most 1 hour (3600 s), got {time_budget!r}")
    memory = parse_bytes(max_memory, "--max-memory") if max_memory is not None else None
    thread_count = _pin_blas_threads(thread_count, explicit=threads is not None)
    return timing_settings(threads=thread_count, budget_s=budget, max_memory=memory)


_BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def _pin_blas_threads(threads: int, *, explicit: bool) -> int:
    """The thread count timing will really run with.

    With threadpoolctl, ``timing.thread_limit()`` sets ``threads`` around each measurement.
    Without it, the BLAS libraries read the ``*_NUM_THREADS`` variables once, when NumPy
    loads them: set before that, they take effect. Once NumPy is loaded (``--plot``'s
    matplotlib loads it, for one) the count cannot change: an explicit ``--threads`` is
    refused, and the default times with the count BLAS has, reported as the run's thread
    count (and in a note), never pretending to be 1."""
    from sepconv_cli.errors import UsageError

    try:
        import threadpoolctl  # noqa: F401

        return threads
    except ImportError:
        pass
    if "numpy" not in sys.modules:
        for name in _BLAS_THREAD_VARIABLES:
            os.environ[name] = str(threads)
        return threads
    if explicit:
        raise UsageError(
            "--threads: NumPy is already loaded, so only threadpoolctl can set the BLAS "
            "thread count (pip install 'sepconv[threads]')"
        )
    in_effect = blas_threads_in_effect()
    if in_effect != threads:
        Messages.note(
            f"sepconv: note: timing with {in_effect} threads, not {threads}: NumPy was loaded "
            "before sepconv could set the BLAS thread count, and threadpoolctl is not "
            "installed (pip install 'sepconv[threads]' for steady single-thread times)"
        )
    return in_effect


def blas_threads_in_effect() -> int:
    """The thread count a BLAS library loaded without threadpoolctl uses: the first of its
    variables set to a positive integer when it loaded, else one per CPU this process may
    run on (OpenBLAS's and BLIS's rule; MKL counts physical cores, at most this)."""
    for name in _BLAS_THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _warn_if_busy() -> None:
    """Times taken while other programs hold the cores are slower and noisier: say so."""
    try:
        load = os.getloadavg()[0]
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return
    if load > cores - 0.25:  # a 1-minute average: our own last run counts too
        Messages.note(
            f"sepconv: note: this machine is busy (load {load:.1f} on {cores} "
            "cores); times will be slower and noisier than on an idle machine"
        )


class ProgressBar:
    """A Rich progress bar on stderr while timing, only when stderr is a terminal and the
    report is not JSON (scripts see nothing)."""

    def __init__(self, total_label: str, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty() and not Messages.quiet
        self.label = total_label
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> ProgressBar:
        _warn_if_busy()  # timing starts now: the input was valid
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self.progress.__enter__()
        return self

    def update(self, done: int, total: int, name: str) -> None:
        if self.progress is None:
            return
        if self.task is None:
            self.task = self.progress.add_task(self.label, total=total)
        description = f"{self.label}: {name}" if name else self.label
        self.progress.update(self.task, completed=done, description=description)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


class Messages:
    """stderr notes for people; silenced by --quiet. Reports never go here."""

    quiet = False

    @classmethod
    def note(cls, text: str) -> None:
        if not cls.quiet:
            print(_wrapped(text), file=sys.stderr)

    @staticmethod
    def always(text: str) -> None:
        print(_wrapped(text), file=sys.stderr)


def _wrapped(text: str) -> str:
    """On a terminal, ``text`` wrapped between words at its width (the terminal itself would
    break a word in two); piped, unchanged, one line per message for ``grep``."""
    if not sys.stderr.isatty():
        return text
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    return "\n".join(
        textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) or line
        for line in text.splitlines()
    )


def console(file: Any = None, *, stderr: bool = False, content: Any = None) -> Any:
    """A Rich console for a report or a note.

    On a terminal Rich reads the terminal's width and the tables fit it (columns are left
    out in a stated order, never cut: :mod:`sepconv_cli.output.fit`). Piped (a CI log, a
    file) nothing is left out: the width is ``COLUMNS`` when set, else the full width of
    ``content``, the renderable about to be printed (at least 80). No colour when piped;
    Rich also honours NO_COLOR."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if file is not None:
        width = content_width(content)  # a file is read later, at any width
    elif not stream.isatty():
        columns = os.environ.get("COLUMNS", "").strip()
        width = int(columns) if columns.isdigit() and int(columns) > 0 else None
        width = width or content_width(content)
    return Console(file=file, width=width, highlight=False, soft_wrap=False, stderr=stderr)


def content_width(content: Any, minimum: int = 80) -> int:
    """The width ``content`` takes when nothing constrains it: its widest table at full
    width, its longest line of text."""
    if content is None:
        return minimum
    from rich.console import Console

    measuring = Console(width=100_000, file=io.StringIO(), color_system=None)
    return max(minimum, measuring.measure(content).maximum)


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
        console(content=text_or_renderable).print(text_or_renderable)
        return
    buffer = io.StringIO()
    console(buffer, content=text_or_renderable).print(text_or_renderable)
    write_atomic(output, buffer.getvalue())


@dataclass(frozen=True)
class LayerFlags:
    """The layer flags a command was given, each passed by name (``LayerFlags(kernel=kernel,
    ...)``): a renamed command parameter is then a type error, never a flag silently dropped.
    Fields are in the order the flags are blamed in messages (the commands' parameter order).
    """

    input: str | None = None
    kernel: str | None = None
    filters: str | None = None
    stride: str | None = None
    padding: str | None = None
    dilation: str | None = None
    groups: str | None = None
    depth_multiplier: str | None = None
    bias: bool | None = None
    batch: str | None = None
    dtype: str | None = None
    name: str | None = None

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The flags the user gave: the layer's own (input, kernel, ..., bias, name) and
        those common to every layer (batch, dtype). Flags not given are left out."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        given = {k: v for k, v in values.items() if k not in _COMMON and v is not None}
        common = {k: values[k] for k in _COMMON if values[k] is not None}
        return given, common


# flags that apply to every layer of a --spec file, not to one layer
_COMMON = ("batch", "dtype")
