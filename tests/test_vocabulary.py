"""One vocabulary (issue 23, item 4): a ratio is separable / standard and says so
(``Sep/std``), standard / separable is only ever said as ``N× fewer``, one multiplication
sign for people (``×``), percentages with the digits that show a change, never ``1.0×
more``; every file written says ``wrote FILE`` on stderr (not with ``-q``); the progress bar
does not hide for JSON; ``-o`` with an extension sepconv writes no format to is refused."""

from __future__ import annotations

import re
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli import console
from sepconv_cli.cli.app import app
from sepconv_cli.errors import UsageError
from sepconv_cli.output.formats import check_extension, choose_format, percent, times_fewer

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


# ------------------------------------------------------------------ words


@pytest.mark.parametrize(
    "ratio,words",
    [
        (Fraction(1, 20), "20.0× fewer"),
        (Fraction(53952, 1228800), "22.8× fewer"),
        (Fraction(3, 5), "1.7× fewer"),
        (Fraction(7, 10), "30.0% fewer"),
        (Fraction(68032, 67264), "1.1% more"),  # cost's activation bytes: was "1.0× more"
        (Fraction(1000001, 1000000), "0.0001% more"),
        (Fraction(1), "same"),
        (Fraction(3), "3.0× more"),
        (Fraction(0), "none"),
    ],
)
def test_times_fewer_never_hides_a_change(ratio: Fraction, words: str) -> None:
    assert times_fewer(ratio) == words
    assert not re.search(r"\b1\.0× (more|fewer)", words)


@pytest.mark.parametrize(
    "value,sign,text",
    [
        (0.0123, True, "+0.01%"),  # compare's "+1.04 K (+0.0%)" case
        (-0.0049, True, "-0.005%"),
        (12.345, False, "12.3%"),
        (0, True, "0.0%"),
        (1e-9, True, "+<0.000001%"),
    ],
)
def test_percent_shows_a_change(value: float, sign: bool, text: str) -> None:
    assert percent(value, sign=sign) == text


# ------------------------------------------------------------------ labels


def test_profile_markdown_says_the_ratio_direction_and_one_sign() -> None:
    code, out, _ = run("profile", "mobilenet_v2", "--no-time", "--format", "markdown")
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("| #"))
    assert "Sep/std MACs" in header and "MAC ratio" not in header
    assert "Input 224×224×3" in out
    assert "| block5[0..1] ×2 |" in out and "| 28×28×32 |" in out
    for line in out.splitlines():  # no line mixes an "x" product with a "×" one
        assert not (re.search(r"\d+x\d+", line) and "×" in line), line


def test_sweep_labels_say_sep_over_std_and_words_for_the_factor() -> None:
    code, out, _ = run("sweep", "--vary", "kernel=1,3,5")
    assert code == 0, out
    assert "Sep/std" in out and " Ratio " not in out and "Fewer" not in out
    assert "22.8× fewer" in out and "(same)" in out
    code, out, _ = run("sweep", "--vary", "kernel=1,3,5", "--format", "markdown")
    assert "| Sep/std |" in out and "| 8×8×256 |" in out


# ------------------------------------------------------------------ files


def test_every_file_written_says_so(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code, out, err = run("profile", "seed_example", "--no-time", "-o", str(report))
    assert code == 0 and out == ""
    assert f"sepconv: wrote {report}" in err
    schema = tmp_path / "s.json"  # schema has no -q: before a -q run sets it for the process
    code, _, err = run("schema", "-o", str(schema))
    assert code == 0 and f"sepconv: wrote {schema}" in err and schema.exists()
    code, _, err = run("profile", "seed_example", "--no-time", "-o", str(report), "-q")
    assert code == 0 and "wrote" not in err


@pytest.mark.parametrize("name", ["out.yaml", "out.html", "report.json.bak"])
def test_an_extension_sepconv_cannot_write_is_refused(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    code, _, err = run("profile", "seed_example", "--no-time", "-o", str(out))
    assert code == 2 and not out.exists()
    assert "sepconv cannot write" in err and ".txt for a table" in err


@pytest.mark.parametrize("name", ["out.txt", "out.log", "out", "OUT.JSON", "r.markdown"])
def test_text_and_format_extensions_are_written(name: str) -> None:
    choose_format(None, Path(name))  # does not raise


def test_schema_and_export_spec_names_are_checked(tmp_path: Path) -> None:
    code, _, err = run("schema", "-o", str(tmp_path / "s.yaml"))
    assert code == 2 and "cannot write a .yaml file" in err
    with pytest.raises(UsageError, match=r"use \.yaml or \.yml"):
        check_extension(Path("m.json"), (".yaml", ".yml", ""), "--output")


def test_the_progress_bar_does_not_hide_for_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bar's rule is the terminal and --quiet alone; profile no longer turns it off for
    JSON (it used to pass ``enabled=not chosen.for_programs``)."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(console.Messages, "quiet", False)
    assert console.ProgressBar("timing").enabled
    monkeypatch.setattr(console.Messages, "quiet", True)
    assert not console.ProgressBar("timing").enabled
    source = Path(console.__file__).with_name("profile.py").read_text()
    assert "for_programs" not in source
