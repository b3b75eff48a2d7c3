"""Messages that help: each mistake a newcomer made (issue 12) gets a line that says what is
wrong and what to write instead, never a misleading suggestion."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.errors import UsageError
from sepconv_cli.spec.layers import did_you_mean
from sepconv_cli.units import parse_seconds

runner = CliRunner()
FAST = ["--time-budget", "0.05"]


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sepconv: error: "), err
    return lines[0]


# ------------------------------------------------------------------ shapes in another order
# (a note until issue 23; now an error, exit 2: tests/test_input_layout.py)


# ------------------------------------------------------------------ spec files


def test_a_model_file_given_to_cost_points_to_profile(tmp_path: Path) -> None:
    spec = tmp_path / "model.yaml"
    spec.write_text(
        "name: m\nsource: somewhere\ninput: [32, 32, 3]\n"
        "layers:\n  - type: conv\n    kernel: 3\n    filters: 8\n"
    )
    code, _, err = run("cost", "--spec", str(spec))
    line = one_error_line(err)
    assert code == 2
    assert f"{spec}:4:1: layers: this is a model file" in line
    assert f"use sepconv profile {spec}" in line
    assert "not a field" not in line


def test_an_unknown_activation_lists_the_functions(tmp_path: Path) -> None:
    spec = tmp_path / "act.yaml"
    spec.write_text("input: [12, 12, 3]\nkernel: 3\nfilters: 8\nactivation: swish\n")
    code, _, err = run("cost", "--spec", str(spec))
    line = one_error_line(err)
    assert code == 2 and f"{spec}:4:13: activation:" in line
    assert "expected one of none, relu, relu6" in line and "'swish'" in line


def test_a_framework_spelling_of_activation_names_the_key(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "input: [32, 32, 3]\nlayers:\n"
        "  - type: conv\n    kernel: 3\n    filters: 8\n    relu: true\n"
    )
    code, _, err = run("profile", str(spec), "--no-time")
    assert code == 2
    assert f"{spec}:6:5: layers[0].relu: write the activation as 'activation: <function>'" in err


@pytest.mark.parametrize(
    "text,position",
    [
        ("input: [12, 12, 3]\nkernel: 3\n\tfilters: 8\n", ":3:1:"),
        ("input: [32, 32, 3]\nlayers:\n  - type: conv\n\tkernel: 3\n", ":4:1:"),
    ],
)
def test_a_tab_in_the_indentation_is_named(tmp_path: Path, text: str, position: str) -> None:
    spec = tmp_path / "tab.yaml"
    spec.write_text(text)
    code, _, err = run("cost", "--spec", str(spec))
    line = one_error_line(err)
    assert code == 2
    assert f"{spec}{position}" in line
    assert "tab" in line and "not allowed in YAML indentation" in line


def test_validate_names_the_tab_too(tmp_path: Path) -> None:
    spec = tmp_path / "tab.yaml"
    spec.write_text("input: [32, 32, 3]\nlayers:\n  - type: conv\n\tkernel: 3\n")
    code, out, _ = run("validate", str(spec))
    assert code == 2 and f"{spec}:4:1:" in out and "tabs are not allowed" in out


# ------------------------------------------------------------------ did you mean


@pytest.mark.parametrize(
    "word,options,expected",
    [
        ("kernal", {"kernel", "filters", "dilation"}, " (did you mean 'kernel'?)"),
        ("kernel_size", {"kernel", "filters", "dilation"}, " (did you mean 'kernel'?)"),
        ("activation", {"kernel", "filters", "dilation"}, ""),  # 0.67 alike: no suggestion
        ("sobel", {"sobel-x", "sobel-y", "scharr-x"}, " (did you mean 'sobel-x' or 'sobel-y'?)"),
        ("padd", {"padding", "groups"}, " (did you mean 'padding'?)"),  # an abbreviation
        ("zzz", {"kernel"}, ""),
    ],
)
def test_did_you_mean(word: str, options: set[str], expected: str) -> None:
    assert did_you_mean(word, options) == expected


def test_spatial_sobel_suggests_both_sobels() -> None:
    code, _, err = run("spatial", "sobel")
    line = one_error_line(err)
    assert code == 2 and "did you mean 'sobel-x' or 'sobel-y'?" in line


# ------------------------------------------------------------------ flags


@pytest.mark.parametrize("value", ["yml", "yaml", "YAML"])
def test_format_yaml_is_one_clean_line(value: str) -> None:
    code, _, err = run("cost", "--format", value)
    line = one_error_line(err)
    assert code == 2
    assert line == (
        f"sepconv: error: --format: {value!r} is not a format; choose table, json, csv or "
        "markdown (there is no YAML format; json is valid YAML)"
    )


@pytest.mark.parametrize(
    "value,hint",
    [("jsn", "did you mean 'json'?"), ("md", "did you mean 'markdown'?"), ("xml", None)],
)
def test_format_typos(value: str, hint: str | None) -> None:
    code, _, err = run("profile", "mobilenet_v1", "--no-time", "--format", value)
    line = one_error_line(err)
    assert code == 2 and "Value error" not in line
    assert line.startswith(f"sepconv: error: --format: {value!r} is not a format; choose ")
    assert (hint in line) if hint else "did you mean" not in line


def test_format_is_case_insensitive() -> None:
    code, out, err = run("presets", "--format", "JSON")
    assert code == 0, err
    assert isinstance(json.loads(out), list)


@pytest.mark.parametrize(
    "text,seconds",
    [("1", Fraction(1)), ("0.5", Fraction(1, 2)), ("300ms", Fraction(3, 10)), ("2s", 2)],
)
def test_time_budget_takes_bare_seconds(text: str, seconds: Fraction) -> None:
    assert parse_seconds(text, "--time-budget", bare_unit="s") == seconds


def test_time_budget_bare_number_runs() -> None:
    from sepconv_cli.cli.timing_flags import timing_settings_from_flags

    assert timing_settings_from_flags(None, "2", None).budget_s == 2.0
    code, _, err = run("cost", "--time", *FAST, "--format", "json")
    assert code == 0, err


def test_max_latency_still_needs_a_unit() -> None:
    # a bare latency is ambiguous (50: ms or s?); the message shows both spellings
    with pytest.raises(UsageError, match=r"--max-latency: '50' needs a unit.*50ms or 50s"):
        parse_seconds("50", "--max-latency")
    code, _, err = run("cost", "--time", *FAST, "--max-latency", "50")
    assert code == 2 and "--max-latency: '50' needs a unit" in one_error_line(err)


@pytest.mark.parametrize("value", ["0s", "0", "0ms"])
def test_time_budget_zero_says_more_than_zero(value: str) -> None:
    code, _, err = run("cost", "--time", "--time-budget", value)
    line = one_error_line(err)
    assert code == 2
    assert line == f"sepconv: error: --time-budget: must be more than 0 s, got {value!r}"


def test_time_budget_above_an_hour() -> None:
    code, _, err = run("cost", "--time", "--time-budget", "2h")
    assert code == 2 and "--time-budget" in err
    code, _, err = run("cost", "--time", "--time-budget", "3601")
    assert code == 2 and "at most 1 hour" in one_error_line(err)


@pytest.mark.parametrize(
    "args,expected",
    [
        (["cost", "--bias", "yes"], "--bias: takes no value (write --bias or --no-bias, not "),
        (["cost", "--no-bias", "no"], "--no-bias: takes no value (write --bias or --no-bias"),
        (["cost", "--time", "yes"], "--time: takes no value (write --time or --no-time"),
        (["cost", "--bias=yes"], "--bias: takes no value (write --bias or --no-bias"),
        (["sweep", "--quiet", "1"], "--quiet: takes no value (write --quiet, not --quiet 1)"),
        (["spatial", "sobel-x", "--time", "no"], "--time: takes no value"),
    ],
)
def test_a_value_given_to_a_flag(args: list[str], expected: str) -> None:
    code, _, err = run(*args)
    line = one_error_line(err)
    assert code == 2 and expected in line
    assert "unexpected extra argument" not in line


def test_a_real_extra_argument_is_still_called_one() -> None:
    code, _, err = run("cost", "extra")
    assert code == 2 and "unexpected extra argument" in one_error_line(err)


def test_notes_wrap_between_words_on_a_terminal_and_stay_one_line_when_piped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import os
    import sys

    from sepconv_cli.cli.console import Messages

    text = "sepconv: note: " + "word " * 30  # 165 characters
    Messages.note(text)  # captured: not a terminal
    assert capsys.readouterr().err == text + "\n"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(
        "shutil.get_terminal_size", lambda fallback=(80, 24): os.terminal_size((40, 24))
    )
    Messages.note(text)
    lines = terminal.getvalue().splitlines()
    assert all(len(line) <= 40 for line in lines) and len(lines) == 5
    assert " ".join(lines).split() == text.split()  # no word broken, none lost
