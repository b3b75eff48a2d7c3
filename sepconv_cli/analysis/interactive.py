"""The state machine of ``sepconv interactive``: one layer's flags, edited one command at a time.

No terminal I/O here: ``Session.handle(line)`` returns what to show, so the logic is tested
without a terminal and ``cmd_interactive.py`` only does the prompting and printing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from sepconv_cli.counting.report import LayerReport
from sepconv_cli.errors import SepconvError
from sepconv_cli.execution.records import Part
from sepconv_cli.spec.flags import SEED_LAYER
from sepconv_cli.units import fmt_seconds, shape_cell

# command word -> flag key (aliases included)
PARAMETERS: dict[str, str] = {
    "input": "input",
    "shape": "input",
    "kernel": "kernel",
    "k": "kernel",
    "filters": "filters",
    "out": "filters",
    "out_channels": "filters",
    "stride": "stride",
    "s": "stride",
    "padding": "padding",
    "pad": "padding",
    "dilation": "dilation",
    "groups": "groups",
    "multiplier": "depth_multiplier",
    "depth_multiplier": "depth_multiplier",
    "m": "depth_multiplier",
    "batch": "batch",
    "dtype": "dtype",
    "bias": "bias",
    "batch_norm": "batch_norm",
    "bn": "batch_norm",
    "activation": "activation",
    "act": "activation",
}
# on/off keys and the words that turn them on or off
SWITCHES = ("bias", "batch_norm")
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")
ACTIONS = ("table", "show", "time", "json", "layout", "reset", "help", "quit", "exit")

HELP = """Change one parameter at a time, as key value or key=value:
  input 224x224x32   kernel 3 (or 3x5)   filters 512   stride 2
  padding same|valid|1|0:1x0:1 (per side)   dilation 2   groups 4
  multiplier 2   bias on|off   batch_norm on|off   activation relu6
  batch 8   dtype float16
Each change prints what changed and the new totals with their difference.
Other commands:
  table   the full cost table (also show)
  time    run both forms with NumPy and time them; time onnxruntime (or
          time torch, time numpy) times on that runtime from then on
  json    print the layer as JSON
  layout  how input shapes read: nchw (PyTorch's 3x224x224, 1x3x224x224),
          nhwc (as written), auto (channels-last; a likely mix-up refused)
  reset   back to the worked example (12x12x3 input, 5x5 kernel, 256 filters)
  help    this text
  quit    leave (also exit, Ctrl-D)
Ctrl-C clears the line being typed. Line editing and history (up/down arrows)
work as in your shell; Tab completes commands."""

# what a key is before the session sets it (the flags' defaults), to show "stride 1 → 2"
DEFAULT_TEXT: dict[str, str] = {
    "stride": "1",
    "padding": "valid",
    "dilation": "1",
    "groups": "1",
    "depth_multiplier": "1",
    "bias": "off",
    "batch_norm": "off",
    "activation": "none",
    "batch": "1",
    "dtype": "float32",
}
# how a key is written in messages (the command word a user types)
KEY_WORDS: dict[str, str] = {"depth_multiplier": "multiplier"}

Timer = Callable[[LayerReport], LayerReport]
Ceilings = Callable[[], dict[str, Any]]


@dataclass
class Reply:
    """What one command produces: a report to show (the full table), a message, or the end
    of the session. ``warning`` messages are advice, not refusals."""

    report: LayerReport | None = None
    message: str = ""
    error: bool = False
    warning: bool = False
    timed: bool = False
    json: bool = False
    done: bool = False


def _default_timer(
    report: LayerReport, runtime: str = "numpy", threads: int | None = None
) -> LayerReport:
    from sepconv_cli.execution.profiling import time_report, timing_settings

    settings = timing_settings(threads=threads)
    if runtime != "numpy":  # one thread, as cost --runtime times by default
        from sepconv_cli.execution.runtimes.registry import load_runtime

        settings = replace(settings, runtime=runtime, threads=1)
        load_runtime(runtime, settings.device, settings.threads, None)
    return time_report(report, settings)


def _default_ceilings() -> dict[str, Any]:
    from sepconv_cli.execution.machine import machine_info

    return machine_info().as_dict()


def split_key_value(words: list[str]) -> list[str]:
    """``kernel=3``, ``kernel= 3`` and ``kernel = 3`` read as ``kernel 3``.

    >>> split_key_value(["kernel=3"]), split_key_value(["kernel", "=", "3"])
    (['kernel', '3'], ['kernel', '3'])
    """
    if not words:
        return words
    head, eq, tail = words[0].partition("=")
    out = [head, *([tail] if tail else []), *words[1:]] if eq and head else list(words)
    if len(out) > 1 and out[1].startswith("="):
        out[1:2] = [out[1][1:]] if out[1] != "=" else []
    return out


@dataclass
class Session:
    """One layer's flags. ``timer`` and ``ceilings`` run the ``time`` command (NumPy
    timing and this machine's measured ceilings by default; tests pass fakes)."""

    values: dict[str, Any] = field(default_factory=lambda: dict(SEED_LAYER))
    timer: Timer | None = None
    ceilings: Ceilings | None = None
    runtime: str = "numpy"  # what ``time`` runs the forms on (``time onnxruntime`` sets it)
    # NumPy's BLAS threads while timing (cli/interactive.py pins 1, as cost does by default);
    # None leaves the BLAS library's own count
    threads: int | None = None
    # how an ``input`` typed here reads (``layout nchw``): None as cost without --layout
    # (channels-last, a shape most likely meant another way refused); the value stored is
    # channels-last text either way, so the layer's flags stay what cost would take
    layout: str | None = None

    def report(self) -> LayerReport:
        """The current layer's report; raises SepconvError for an invalid combination."""
        from sepconv_cli.counting.report import single_layer_report
        from sepconv_cli.spec.flags import layer_from_flags

        return single_layer_report(layer_from_flags(self.values))

    def handle(self, line: str) -> Reply:
        try:
            words = split_key_value(shlex.split(line))
        except ValueError as exc:
            return Reply(message=f"cannot read that line: {exc}", error=True)
        if not words:
            return Reply()
        command, args = words[0].lower().replace("-", "_"), words[1:]
        if command in ("quit", "exit", "q"):
            return Reply(done=True)
        if command in ("help", "?", "h"):
            return Reply(message=HELP)
        if command == "reset":
            return self.apply(dict(SEED_LAYER), note="reset to the worked example")
        if command == "layout":
            return self.set_layout(args)
        if command == "time" and args:
            return self.time_on(args)
        if command in ("show", "table", "json", "time"):
            if args:
                return Reply(message=f"{command} takes no value", error=True)
            if command == "time":
                return self.time()
            return Reply(report=self.report(), json=command == "json")
        key = PARAMETERS.get(command)
        if key is None:
            elsewhere = not_one_convolution(command)
            if elsewhere is not None:
                return Reply(message=elsewhere, error=True)
            from sepconv_cli.spec.layers import did_you_mean

            hint = did_you_mean(command, {*PARAMETERS, *ACTIONS})
            return Reply(
                message=f"unknown command {words[0]!r}{hint}; type help for the list",
                error=True,
            )
        if len(args) != 1:
            return Reply(
                message=f"usage: {command} VALUE (one value, e.g. {_EXAMPLES.get(key, '3')})",
                error=True,
            )
        return self.set(key, args[0])

    def set_layout(self, args: list[str]) -> Reply:
        """``layout nchw|nhwc|auto``: how later ``input`` values read (cost's ``--layout``)."""
        choice = args[0].lower() if len(args) == 1 else ""
        if choice not in ("nchw", "nhwc", "auto"):
            return Reply(message="usage: layout nchw|nhwc|auto", error=True)
        self.layout = None if choice == "auto" else choice
        reading = {
            "nchw": "in PyTorch's order (3x224x224, or 1x3x224x224 with the batch)",
            "nhwc": "channels-last, as written",
            "auto": "channels-last; a shape most likely meant another way is refused",
        }[choice]
        return Reply(message=f"input shapes now read {reading}")

    def set(self, key: str, raw: str) -> Reply:
        """Apply one change; an invalid one is refused and the layer stays as it was. An
        ``input`` is read in the session's :attr:`layout` and kept channels-last."""
        values = dict(self.values)
        if key == "input":
            from sepconv_cli.spec.fields import FieldError, flag_value, read_input

            try:
                reading = read_input(flag_value(raw), self.layout)  # type: ignore[arg-type]
            except FieldError as exc:
                message = str(exc).replace("--layout", "layout")
                return Reply(message=f"input: {message} (unchanged)", error=True)
            values["input"] = "x".join(map(str, reading.shape))
            if reading.batch is not None:
                values["batch"] = str(reading.batch)
            return self.apply(values)
        if key in SWITCHES:
            lowered = raw.lower()
            if lowered not in (*_ON, *_OFF):
                word = KEY_WORDS.get(key, key)
                return Reply(message=f"{word}: expected on or off, got {raw!r}", error=True)
            values[key] = lowered in _ON
        else:
            values[key] = raw
        return self.apply(values)

    def apply(self, values: dict[str, Any], note: str = "") -> Reply:
        """Make ``values`` the layer; the reply shows what changed and the new totals."""
        previous, before = self.values, self.report()
        self.values = values
        try:
            after = self.report()
        except SepconvError as exc:
            self.values = previous
            message = str(exc).replace("--depth-multiplier", "multiplier").replace("--", "")
            return Reply(message=f"{message} (unchanged)", error=True)
        changes = [
            (KEY_WORDS.get(k, k), _shown(k, previous), _shown(k, values))
            for k in dict.fromkeys([*previous, *values])
            if _shown(k, previous) != _shown(k, values)
        ]
        if not changes:
            return Reply(message=note or "nothing changed")
        summary = change_summary(changes, before, after)
        return Reply(message=f"{note}\n{summary}" if note else summary)

    def time(self) -> Reply:
        """Both forms timed; a layer too small to time meaningfully gets its medians and
        the reason instead of a speed-up (see :mod:`sepconv_cli.execution.overhead`)."""
        from sepconv_cli.execution.overhead import too_small_to_time

        try:
            timer = self.timer or partial(
                _default_timer, runtime=self.runtime, threads=self.threads
            )
            timed = timer(self.report())
            if timed.timing is not None:  # the checks every timed row gets (certainty.py)
                from sepconv_cli.execution.certainty import checked

                timed = replace(timed, timing=checked(timed.timing))
        except SepconvError as exc:
            return Reply(message=f"cannot time this layer: {exc}", error=True)
        verdict = too_small_to_time(timed, (self.ceilings or _default_ceilings)())
        if verdict is not None:
            # the same checks as every timed table (execution/certainty.py): the medians
            # alone would not say that they rest on one run, or that a part outran its whole
            from sepconv_cli.execution.certainty import layer_lines

            doubts = layer_lines(timed.timing, timed.row.repeat) if timed.timing else []
            message = "\n".join([medians_line(timed), verdict, *doubts])
            return Reply(message=message, warning=True, timed=True)
        return Reply(report=timed, timed=True)

    def time_on(self, args: list[str]) -> Reply:
        """``time RUNTIME``: time on that runtime, and keep it for the next ``time``."""
        from sepconv_cli.execution.runtimes.base import RUNTIMES

        if len(args) != 1 or args[0] not in RUNTIMES:
            return Reply(message=f"usage: time [{'|'.join(RUNTIMES)}]", error=True)
        previous, self.runtime = self.runtime, args[0]
        reply = self.time()
        if reply.error:
            self.runtime = previous
        return reply


def not_one_convolution(word: str) -> str | None:
    """What to say when ``word`` is a spec key or layer type that is not one convolution's
    (``se_ratio``, ``output_size``, ``merge``, ``depthwise``...): where it belongs and how to
    use it, instead of "unknown command". ``None`` for a word the spec format does not have.

    >>> not_one_convolution("ceil_mode").startswith("ceil_mode is a key of pool layers;")
    True
    """
    from sepconv_cli.spec.layers import COMMON_KEYS, FIELDS, TYPES

    if word in TYPES:
        return (
            f"{word} is a layer type; this session edits one convolution (groups = input "
            "channels make it depthwise, kernel 1 pointwise): write other layers in a spec "
            "file and run sepconv profile FILE"
        )
    owners = [kind for kind, (required, optional) in TYPES.items() if word in required | optional]
    if word in COMMON_KEYS or "conv" in owners:
        where = "the layers of a spec file"
    elif owners:
        where = f"{', '.join(owners)} layers"
    elif word in FIELDS:
        where = "a spec file"
    else:
        return None
    return (
        f"{word} is a key of {where}; this session edits one convolution: write the layer "
        "in a spec file and run sepconv profile FILE"
    )


def _shown(key: str, values: dict[str, Any]) -> str:
    """A key's value as a user would type it, its default when the session has not set it."""
    if key not in values:
        return DEFAULT_TEXT.get(key, "-")
    value = values[key]
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _delta(old: int, new: int) -> str:
    """``(-537,600)``, ``(+25,548)``: the sign always written, the ASCII minus of every
    other delta sepconv prints (compare, sweep), so one table never mixes two signs."""
    diff = new - old
    return f"(+{diff:,})" if diff > 0 else f"(-{-diff:,})"


def change_summary(
    changes: list[tuple[str, str, str]], before: LayerReport, after: LayerReport
) -> str:
    """What changed (``kernel 5 → 3 · output 8×8×256 → 10×10×256``), then each total as
    ``old → new (delta)``, or ``(unchanged)``, and the MAC ratio. Plain text."""
    fields = [f"{name} {old} → {new}" for name, old, new in changes]
    old_shape, new_shape = shape_cell(before.row.output_shape), shape_cell(after.row.output_shape)
    if old_shape != new_shape:
        fields.append(f"output {old_shape} → {new_shape}")
    lines = [" · ".join(fields)]
    totals = [
        ("standard MACs", before.standard.macs, after.standard.macs),
        ("separable MACs", before.separable.total.macs, after.separable.total.macs),
        ("standard params", before.standard.params, after.standard.params),
        ("separable params", before.separable.total.params, after.separable.total.params),
    ]
    if before.row.forms.as_specified_apart or after.row.forms.as_specified_apart:
        # a grouped conv as written is neither form (docs/conventions.md): show it too
        totals[:0] = [
            ("as specified MACs", before.as_specified.macs, after.as_specified.macs),
            ("as specified params", before.as_specified.params, after.as_specified.params),
        ]
    if before.activation_function_flops or after.activation_function_flops:
        # kept apart from the MACs and FLOPs (docs/conventions.md): the same in every form
        totals.append(
            (
                "activation FLOPs",
                before.activation_function_flops,
                after.activation_function_flops,
            )
        )
    was = max(len(f"{old:,}") for _, old, _ in totals)
    now = max((len(f"{new:,}") for _, old, new in totals if old != new), default=0)
    label = max(len(name) for name, _, _ in totals)
    for name, old, new in totals:
        if old == new:
            lines.append(f"  {name:<{label}}  {new:>{was},}  (unchanged)")
        else:
            lines.append(f"  {name:<{label}}  {old:>{was},} → {new:>{now},}  {_delta(old, new)}")
    old_ratio, new_ratio = before.ratio_macs, after.ratio_macs
    if old_ratio is not None and new_ratio is not None:
        ratio = (
            f"{float(new_ratio):.4f} (unchanged)"
            if old_ratio == new_ratio
            else f"{float(old_ratio):.4f} → {float(new_ratio):.4f}"
        )
        lines.append(f"  separable / standard MACs: {ratio}")
    lines.append("  (table prints the full table)")
    return "\n".join(lines)


def medians_line(layer: LayerReport) -> str:
    """``Measured (NumPy, medians): standard 6.4 µs, separable 9.9 µs (depthwise …)``."""
    from sepconv_cli.execution.certainty import MIN_RUNS, runs_text
    from sepconv_cli.execution.runtimes.base import runtime_label

    timing = layer.timing
    if timing is None:
        return "not timed"

    def cell(name: Part) -> str:
        # a median resting on fewer than MIN_RUNS samples says how many (certainty.py)
        part = timing.part(name)
        few = f" [{runs_text(part.runs)}]" if 0 < part.runs < MIN_RUNS else ""
        mark = " !" if name in timing.inconsistent else ""
        return f"{fmt_seconds(part.median_s)}{few}{mark}"

    parts = [
        f"{name} {cell(name)}" for name in ("depthwise", "pointwise") if timing.part(name).runs
    ]
    inner = f" ({' + '.join(parts)})" if parts else ""
    return (
        f"Measured ({runtime_label(timing.runtime)}, medians): standard "
        f"{cell('standard')}, separable {cell('separable')}{inner}."
    )


_EXAMPLES = {
    "input": "224x224x32",
    "kernel": "3",
    "filters": "512",
    "stride": "2",
    "padding": "same",
    "dilation": "2",
    "groups": "4",
    "depth_multiplier": "2",
    "batch": "8",
    "dtype": "float16",
    "bias": "on",
    "batch_norm": "on",
    "activation": "relu6",
}


def completions(text: str, state: int, line: str) -> str | None:
    """readline completer: command words first, then values for padding/dtype/bias."""
    words = line.split()
    if len(words) <= 1 and not line.endswith(" "):
        options = sorted({*PARAMETERS, *ACTIONS})
    else:
        key = PARAMETERS.get(words[0].lower(), "")
        from sepconv_cli.spec.fields import ACTIVATIONS

        options = {
            "padding": ["same", "valid"],
            "bias": ["on", "off"],
            "batch_norm": ["on", "off"],
            "activation": list(ACTIVATIONS),
            "dtype": ["float32", "float64", "float16", "bfloat16", "int8"],
        }.get(key, [])
    matches = [o for o in options if o.startswith(text)]
    return matches[state] if state < len(matches) else None
