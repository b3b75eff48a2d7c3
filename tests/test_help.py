"""How the help reads: bare ``sepconv``, whole command summaries, metavars without type
labels, help text that applies to its command, and shell completion of names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.cli.help import complete_kernel, complete_model

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    "cost",
    "profile",
    "presets",
    "compare",
    "validate",
    "schema",
    "export",
    "export-spec",
    "sweep",
    "spatial",
    "interactive",
    "machine",
    "bench",
)


def run(*args: str, columns: int = 80) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": str(columns)})
    return result.exit_code, result.stdout, result.stderr


def test_bare_sepconv_prints_the_help_like_dash_dash_help() -> None:
    code, out, err = run()
    help_code, help_out, _ = run("--help")
    assert (code, err) == (0, "")
    assert out == help_out and help_code == 0
    assert out.startswith("Usage: sepconv [OPTIONS] COMMAND [ARGS]...")


def _commands_section(text: str) -> dict[str, str]:
    """``sepconv --help``'s command list: name -> its summary, continuation lines joined."""
    section = text.split("\nCommands:\n", 1)[1]
    rows: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        match = re.match(r"^  (\S+)\s{2,}(.*)$", line)
        if match:
            name = match.group(1)
            rows[name] = match.group(2).strip()
        elif line.strip() and name:
            rows[name] += " " + line.strip()
    return rows


@pytest.mark.parametrize("columns", [80, 200])
def test_command_summaries_are_never_cut(columns: int) -> None:
    code, out, _ = run("--help", columns=columns)
    assert code == 0
    rows = _commands_section(out)
    assert tuple(rows) == COMMANDS
    for name, summary in rows.items():
        assert not summary.endswith("..."), (name, summary)
        assert summary.endswith((".", ")")), (name, summary)  # a whole sentence
    # the summaries written for the list, whole, each on one line at 80 columns
    assert rows["cost"] == "One conv layer: standard vs depthwise-separable cost."
    assert rows["spatial"] == "Spatially separable kernels: rank, factors, cost per pixel."


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_metavars_not_type_names(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    for leak in ("<str>", "<list", "<Path>", "<int>", "<table|", "{"):
        assert leak not in out, (command, leak)


@pytest.mark.parametrize(
    "command,usage,argument",
    [
        ("profile", "Usage: sepconv profile [OPTIONS] MODEL\n", "  MODEL  A model spec"),
        ("compare", "Usage: sepconv compare [OPTIONS] BASE NEW\n", "  BASE  The reference"),
        ("validate", "Usage: sepconv validate [OPTIONS] FILE...\n", "  FILE...  Model spec"),
        ("spatial", "Usage: sepconv spatial [OPTIONS] KERNEL\n", "  KERNEL  Built-ins:"),
    ],
)
def test_arguments_read_as_in_click(command: str, usage: str, argument: str) -> None:
    _, out, _ = run(command, "--help")
    assert out.startswith(usage)
    assert argument in out


def _option_help(text: str, flag: str) -> str:
    """One option's help text from ``--help``, its lines joined."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(flag))
    out = [lines[start]]
    for line in lines[start + 1 :]:
        if re.match(r"^\s+-", line) or not line.strip():
            break
        out.append(line)
    return " ".join(part.strip() for part in out)


def test_machine_threads_help_is_about_the_measurement() -> None:
    _, out, _ = run("machine", "--help")
    text = _option_help(out, "--threads")
    assert "GEMM" in text and "depthwise" not in text


def test_validate_help_does_not_promise_gates_or_formats_it_lacks() -> None:
    _, out, _ = run("validate", "--help")
    assert "gate" not in out and "budget" not in out
    assert "table or json" in _option_help(out, "--format")
    assert "csv" not in out


@pytest.mark.parametrize("command", ["sweep", "spatial", "machine"])
def test_commands_without_gates_do_not_mention_them(command: str) -> None:
    _, out, _ = run(command, "--help")
    assert "gate" not in out


def test_time_budget_help_says_a_bare_number_is_seconds() -> None:
    _, out, _ = run("cost", "--help")
    text = _option_help(out, "--time-budget")
    assert "(seconds)" in text


# ------------------------------------------------------------------ completion


def test_model_completion_offers_the_preset_files() -> None:
    # the preset names are the YAML files shipped in layer_specs/ (read here, independently)
    shipped = sorted(p.stem for p in (ROOT / "layer_specs").glob("*.yaml"))
    assert sorted(complete_model("")) == shipped
    assert complete_model("mobilenet_v") == [
        "mobilenet_v1",
        "mobilenet_v2",
        "mobilenet_v3_large",
        "mobilenet_v3_small",
    ]
    assert complete_model("mobilenet_v3_s") == ["mobilenet_v3_small"]
    assert complete_model("nothing-like-it") == []


def test_kernel_completion_offers_every_close_built_in() -> None:
    assert complete_kernel("sobel") == ["sobel-x", "sobel-y"]
    assert complete_kernel("lap") == ["laplacian", "laplacian-8"]
    assert {"gaussian", "prewitt-x", "prewitt-y", "emboss"} <= set(complete_kernel(""))


@pytest.mark.parametrize(
    "words,cword,expected",
    [
        ("sepconv spatial sob", "2", ["sobel-x", "sobel-y"]),
        ("sepconv profile mobilenet_v3", "2", ["mobilenet_v3_large", "mobilenet_v3_small"]),
        ("sepconv compare mobilenet_v1 x", "3", ["xception"]),
        ("sepconv cost --format j", "3", ["json"]),
    ],
)
def test_bash_completion_end_to_end(words: str, cword: str, expected: list[str]) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "_SEPCONV_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": cword,
    }
    result = subprocess.run(
        [sys.executable, "-c", "from sepconv_cli.cli.app import main; main()"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.stdout.split() == expected, result.stderr
