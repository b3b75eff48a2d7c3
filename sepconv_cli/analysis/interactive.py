"""The state machine of ``sepconv interactive``: one layer's flags, edited one command at a time.

No terminal I/O here: ``Session.handle(line)`` returns what to show, so the logic is tested
without a terminal and ``cmd_interactive.py`` only does the prompting and printing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from sepconv_cli.counting.report import LayerReport
from sepconv_cli.errors import SepconvError
from sepconv_cli.spec.flags import SEED_LAYER

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
}
ACTIONS = ("show", "time", "json", "reset", "help", "quit", "exit")

HELP = """Change one parameter at a time; the table refreshes after each change.
  input 224x224x32   kernel 3 (or 3x5)   filters 512   stride 2   padding same|valid|1
  dilation 2   groups 4   multiplier 2   bias on|off   batch 8   dtype float16
Other commands:
  show    print the table again          time    run both forms with NumPy and time them
  json    print the layer as JSON        reset   back to the 12x12x3, 5x5, 256-filter example
  help    this text                      quit    leave (also exit, Ctrl-D)
Line editing and history (up/down arrows) work as in your shell; Tab completes commands."""


@dataclass
class Reply:
    """What one command produces: a report to show, a message, or the end of the session."""

    report: LayerReport | None = None
    message: str = ""
    error: bool = False
    timed: bool = False
    json: bool = False
    done: bool = False


@dataclass
class Session:
    values: dict[str, Any] = field(default_factory=lambda: dict(SEED_LAYER))

    def report(self) -> LayerReport:
        """The current layer's report; raises SepconvError for an invalid combination."""
        from sepconv_cli.counting.report import single_layer_report
        from sepconv_cli.spec.flags import layer_from_flags

        return single_layer_report(layer_from_flags(self.values))

    def handle(self, line: str) -> Reply:
        try:
            words = shlex.split(line)
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
            self.values = dict(SEED_LAYER)
            return Reply(report=self.report(), message="reset to the worked example")
        if command in ("show", "json", "time"):
            if args:
                return Reply(message=f"{command} takes no value", error=True)
            return Reply(report=self.report(), timed=command == "time", json=command == "json")
        key = PARAMETERS.get(command)
        if key is None:
            return Reply(
                message=f"unknown command {words[0]!r}; type help for the list", error=True
            )
        if len(args) != 1:
            return Reply(
                message=f"usage: {command} VALUE (one value, e.g. {_EXAMPLES.get(key, '3')})",
                error=True,
            )
        return self.set(key, args[0])

    def set(self, key: str, raw: str) -> Reply:
        """Apply one change; an invalid one is refused and the layer stays as it was."""
        previous = dict(self.values)
        if key == "bias":
            lowered = raw.lower()
            if lowered not in ("on", "off", "true", "false", "yes", "no", "1", "0"):
                return Reply(message=f"bias: expected on or off, got {raw!r}", error=True)
            self.values["bias"] = lowered in ("on", "true", "yes", "1")
        else:
            self.values[key] = raw
        try:
            return Reply(report=self.report())
        except SepconvError as exc:
            self.values = previous
            message = str(exc).replace("--depth-multiplier", "multiplier").replace("--", "")
            return Reply(message=f"{message} (unchanged)", error=True)


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
}


def completions(text: str, state: int, line: str) -> str | None:
    """readline completer: command words first, then values for padding/dtype/bias."""
    words = line.split()
    if len(words) <= 1 and not line.endswith(" "):
        options = sorted({*PARAMETERS, *ACTIONS})
    else:
        key = PARAMETERS.get(words[0].lower(), "")
        options = {
            "padding": ["same", "valid"],
            "bias": ["on", "off"],
            "dtype": ["float32", "float64", "float16", "bfloat16", "int8"],
        }.get(key, [])
    matches = [o for o in options if o.startswith(text)]
    return matches[state] if state < len(matches) else None
