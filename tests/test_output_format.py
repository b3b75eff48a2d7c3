"""``--output FILE`` picks the format from FILE's extension when ``--format`` is not given,
and refuses, naming both flags, when they disagree: never a table in a ``.json`` file."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.errors import UsageError
from sepconv_cli.output.formats import Format, choose_format

runner = CliRunner()

# every command with --output, with arguments that make it quick (no timing)
COMMANDS = {
    "cost": ["cost"],
    "profile": ["profile", "seed_example", "--no-time"],
    "compare": ["compare", "seed_example", "mobilenet_v1"],
    "sweep": ["sweep", "--vary", "filters=8,16"],
    "spatial": ["spatial", "sobel-x"],
}
WRITES_CSV = {"cost", "profile", "sweep", "spatial"}
RICH_TABLE = re.compile(r"[┏╭┌][━─]")  # the top-left corner of a Rich table's border


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "given,name,expected",
    [
        (None, None, Format.table),
        (None, "r.json", Format.json),
        (None, "r.JSON", Format.json),
        (None, "r.csv", Format.csv),
        (None, "r.md", Format.markdown),
        (None, "r.markdown", Format.markdown),
        (None, "r.txt", Format.table),
        (None, "report", Format.table),
        ("json", "r.txt", Format.json),
        ("markdown", "r", Format.markdown),
        ("JSON", "r.json", Format.json),
        ("csv", None, Format.csv),
    ],
)
def test_choose_format(given: str | None, name: str | None, expected: Format) -> None:
    assert choose_format(given, Path(name) if name else None) is expected


@pytest.mark.parametrize(
    "given,name", [("csv", "r.json"), ("table", "r.json"), ("json", "r.md"), ("markdown", "r.csv")]
)
def test_format_and_extension_that_disagree_are_refused(given: str, name: str) -> None:
    with pytest.raises(UsageError) as caught:
        choose_format(given, Path(name))
    message = str(caught.value)
    assert message.startswith(f"--format {given}: --output {name} names a ")
    assert "drop --format" in message


def _check_json(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), (dict, list))


def _check_csv(path: Path) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert len(rows) >= 2 and len(rows[0]) >= 2
    assert not RICH_TABLE.search(path.read_text())


def _check_markdown(path: Path) -> None:
    text = path.read_text()
    assert re.search(r"^\|\s*:?-{3,}", text, re.MULTILINE)  # a table's separator row
    assert not RICH_TABLE.search(text)


CHECKS = {".json": _check_json, ".csv": _check_csv, ".md": _check_markdown}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("suffix", [".json", ".csv", ".md"])
def test_output_extension_chooses_the_format(tmp_path: Path, command: str, suffix: str) -> None:
    if suffix == ".csv" and command not in WRITES_CSV:
        pytest.skip("compare writes no CSV: tested below")
    path = tmp_path / f"report{suffix}"
    code, out, err = run(*COMMANDS[command], "-o", str(path))
    assert code == 0, err
    assert out == ""
    CHECKS[suffix](path)


@pytest.mark.parametrize("command", COMMANDS)
def test_explicit_format_that_disagrees_writes_nothing(tmp_path: Path, command: str) -> None:
    path = tmp_path / "report.json"
    code, _, err = run(*COMMANDS[command], "-o", str(path), "--format", "markdown")
    assert code == 2 and not path.exists()
    assert err.startswith("sepconv: error: --format markdown: --output ")
    assert "names a json file" in err


def test_an_unknown_extension_gets_the_table_or_the_given_format(tmp_path: Path) -> None:
    table = tmp_path / "report.txt"
    code, _, err = run("cost", "-o", str(table))
    assert code == 0, err
    assert "Separable / standard" in table.read_text()  # the table's header
    with pytest.raises(json.JSONDecodeError):
        json.loads(table.read_text())
    given = tmp_path / "report.out"
    code, _, err = run("cost", "-o", str(given), "--format", "json")
    assert code == 0, err
    _check_json(given)


def test_compare_to_a_csv_file_names_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    code, _, err = run("compare", "seed_example", "mobilenet_v1", "-o", str(path))
    assert code == 2 and not path.exists()
    assert err.strip() == (
        f"sepconv: error: --output {path}: compare cannot write csv, only table, json or "
        "markdown (change the extension, or give --format)"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["presets", "--format", "csv"],
        ["validate", "layer_specs/seed_example.yaml", "--format", "json"],
    ],
)
def test_commands_without_output_still_take_format(args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 0, err
    assert out.strip()
    assert not RICH_TABLE.search(out)


def test_validate_refuses_a_format_it_lacks() -> None:
    code, _, err = run("validate", "layer_specs/seed_example.yaml", "--format", "csv")
    assert code == 2
    assert err.strip() == "sepconv: error: --format: validate supports table or json"
