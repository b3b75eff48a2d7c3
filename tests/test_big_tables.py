"""Tables for big models: the terminal shows the largest rows and says what it left out;
``--all``, files and pipes show every row; the lean drawing of long tables is Rich's text.

Expected values are hand arithmetic on specs built here: a 1-channel-in/out count is
``H·W·Cin·Cout·kh·kw`` MACs for a dense conv with 'same' padding.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
import readme_examples
from rich.console import Console
from rich.text import Text

from sepconv_cli.counting.network import build
from sepconv_cli.counting.report import profile_report
from sepconv_cli.output import fit
from sepconv_cli.output.fit import Both, FitTable, drop, narrow, shorten
from sepconv_cli.output.profile_table import profile_table
from sepconv_cli.output.subset import MIN_ROWS, largest, rows_that_fit
from sepconv_cli.spec.presets import list_presets, resolve_model

ROOT = Path(__file__).resolve().parent.parent

# 30 dense convs on 64×64×8 → 8 channels, 'same' padding: kernel 7 at these rows, kernel 5
# at those, kernel 3 elsewhere; each row its own dilation, so no two rows are identical
SEVENS = (3, 7, 11, 19, 25)
FIVES = (5, 13, 21, 27, 29)
UNIT = 64 * 64 * 8 * 8  # MACs of one kernel tap: 262,144


def _kernel(i: int) -> int:
    return 7 if i in SEVENS else 5 if i in FIVES else 3


def _distinct_spec(path: Path) -> Path:
    lines = ["name: distinct", "input: [64, 64, 8]", "defaults: {padding: same}", "layers:"]
    for i in range(30):
        lines.append(
            f"  - {{type: conv, name: l{i}, kernel: {_kernel(i)}, filters: 8, dilation: {i + 1}}}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def _alternating_spec(path: Path, rows: int) -> Path:
    """``rows`` layers alternating conv and separable 3×3, 8×8×4 → 4: two kinds of layer."""
    lines = ["name: alternating", "input: [8, 8, 4]", "defaults: {padding: same}", "layers:"]
    for i in range(rows):
        kind = "conv" if i % 2 == 0 else "separable"
        lines.append(f"  - {{type: {kind}, name: l{i}, kernel: 3, filters: 4}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _terminal(
    args: list[str], tmp_path: Path, height: int, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """What an 80-column terminal of ``height`` lines shows for ``sepconv ARGS``."""
    monkeypatch.setattr(readme_examples, "HEIGHT", height)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return readme_examples.run_in_terminal(args, tmp_path, home, 80)


def _shown(lines: list[str]) -> list[int]:
    """The row numbers of the layer rows printed."""
    return [int(m[1]) for line in lines if (m := re.match(r"^\s*(\d+)\s+l\d", line))]


def _piped(args: list[str], cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=120,
    )
    return result.stdout


def test_a_short_terminal_shows_the_largest_rows_and_names_what_it_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _distinct_spec(tmp_path / "distinct.yaml")
    lines = _terminal(["profile", str(spec), "--no-time"], tmp_path, 24, monkeypatch)
    text = "\n".join(lines)
    # a 24-line terminal fits fewer than MIN_ROWS beside the footer: the ten largest rows
    assert MIN_ROWS == 10
    assert _shown(lines) == sorted(SEVENS + FIVES)
    left_out = 20 * 9 * UNIT  # twenty 3×3 rows
    total = (5 * 49 + 5 * 25 + 20 * 9) * UNIT
    note = " ".join(text.split())
    assert "30 rows shown as 10: the largest by MACs as specified, in model order." in note
    assert f"Left out: 20 rows with {left_out / total:.1%} of the MACs ({left_out:,})." in note
    assert "32.7%" in note and "47,185,920" in note  # the same numbers, written out
    assert "--all lists them all" in note
    assert "identical layers" not in note  # no two rows alike here
    # the totals cover the whole model
    assert f"As specified : {total:,} MACs" in text
    assert total == 144_179_200


def test_all_shows_every_row_in_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _distinct_spec(tmp_path / "distinct.yaml")
    lines = _terminal(["profile", str(spec), "--no-time", "--all"], tmp_path, 24, monkeypatch)
    assert _shown(lines) == list(range(30))
    assert "rows shown as" not in "\n".join(lines)


def test_a_tall_terminal_shows_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _distinct_spec(tmp_path / "distinct.yaml")
    lines = _terminal(["profile", str(spec), "--no-time"], tmp_path, 70, monkeypatch)
    assert _shown(lines) == list(range(30))


def test_a_pipe_and_a_file_get_every_row(tmp_path: Path) -> None:
    spec = _alternating_spec(tmp_path / "alt.yaml", 300)
    piped = _piped(["profile", str(spec), "--no-time"], tmp_path)
    assert _shown(piped.splitlines()) == list(range(300))
    assert "rows shown as" not in piped
    _piped(["profile", str(spec), "--no-time", "-o", "out.txt"], tmp_path)
    written = (tmp_path / "out.txt").read_text()
    assert written == piped


def test_identical_layers_share_a_row_in_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _alternating_spec(tmp_path / "alt.yaml", 300)
    lines = _terminal(["profile", str(spec), "--no-time"], tmp_path, 40, monkeypatch)
    rows = [line.split() for line in lines if re.match(r"^\s*\d+\s+l\d", line)]
    # 150 convs (8·8·4·4·9 = 9,216 MACs each) and 150 separables in one row each
    assert [r[:5] for r in rows] == [
        ["0", "l0", "…", "l298", "150"],
        ["1", "l1", "…", "l299", "150"],
    ]
    assert "1.38 M" in " ".join(rows[0])  # 150 × 9,216 = 1,382,400
    note = " ".join(" ".join(lines).split())
    assert "300 rows shown as 2" in note and "identical layers share a row" in note
    assert "Left out: " not in note  # the two rows hold every layer


def test_the_subset_rule() -> None:
    assert rows_that_fit(24, 20) == MIN_ROWS
    assert rows_that_fit(100, 20) == 80
    assert rows_that_fit(10_000, 20) == 200
    rows = [5, 1, 9, 9, 2, 7]
    subset = largest(rows, 3, weight=lambda r: r)
    assert [u.members for u in subset.units] == [(9,), (9,), (7,)]  # model order
    assert (subset.left_out_rows, subset.left_out_weight) == (3, 8)
    grouped = largest(rows, 2, weight=lambda r: r, key=lambda r: r % 2)
    # odd rows 5+1+9+9+7 = 31 and even rows 2: both groups, the odd one first
    assert [(u.members, u.weight) for u in grouped.units] == [((5, 1, 9, 9, 7), 31), ((2,), 2)]


def _render(renderable: object, width: int, colour: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system="truecolor" if colour else None,
        force_terminal=colour,
        highlight=False,
    )
    console.print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "colour"])
@pytest.mark.parametrize("width", [200, 120, 80, 60])
def test_the_lean_drawing_is_richs_text_for_every_preset(
    width: int, colour: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte for byte, colour codes included (a terminal with --all draws it lean)."""
    for preset in list_presets():
        report = profile_report(build(resolve_model(preset.name)))
        whole = replace(profile_table(report), show_all=True)  # a terminal would cut it
        monkeypatch.setattr(fit, "LEAN_ROWS", 10**9)
        by_rich = _render(whole, width, colour)
        monkeypatch.setattr(fit, "LEAN_ROWS", 0)
        again = replace(profile_table(report), show_all=True)
        assert _render(again, width, colour) == by_rich, (preset.name, width)


def test_the_lean_drawing_of_a_long_model_is_richs_text(tmp_path: Path) -> None:
    spec = _alternating_spec(tmp_path / "alt.yaml", 260)
    report = profile_report(build(resolve_model(str(spec)), width_multiplier=Fraction(1)))
    table = profile_table(report).table()
    assert len(table.rows) > fit.LEAN_ROWS
    for width in (160, 80):
        layout = table.layout(width)
        lean = table._lean(_console(width), _console(width).options, layout)
        assert lean is not None
        assert _render(lean, width) == _render(table.table(layout), width)


def _console(width: int) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None)


@pytest.mark.parametrize("compact", [True, False])
def test_the_lean_drawing_follows_richs_padding_and_justification(
    compact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def toy() -> FitTable:
        table = FitTable(
            title="toy",
            compact=compact,
            steps=(narrow("status", label="status words"), drop("extra"), shorten("name", 4)),
        )
        table.add_column("name", "Name", justify="left", name=True)
        table.add_column("status", "Status", justify="center", narrow_header="")
        table.add_column("n", "N", min_width=6)
        table.add_column("extra", "Extra")
        for i in range(12):
            table.add_row(
                f"layer_{i}_with_a_long_name",
                Both("matched" if i % 2 else "added", "" if i % 2 else "+"),
                Text(f"{i * 1234:,}", style="green"),
                "[b]x[/b] :smile:",  # not markup, not an emoji code: plain text
                end_section=i == 10,
            )
        return table

    for width in (120, 50, 30, 24):
        monkeypatch.setattr(fit, "LEAN_ROWS", 10**9)
        by_rich = _render(toy(), width)
        monkeypatch.setattr(fit, "LEAN_ROWS", 0)
        assert _render(toy(), width) == by_rich, width
        if width == 120:
            assert "[b]x[/b] :smile:" in by_rich


def test_compare_in_a_short_terminal_shows_the_largest_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every kernel grows by 2: Δ MACs = ((k + 2)² - k²)·UNIT = 32, 24 and 16 UNIT for the
    7×7, 5×5 and 3×3 rows."""
    base = _distinct_spec(tmp_path / "base.yaml")
    new = tmp_path / "new.yaml"
    grown = re.sub(r"kernel: (\d)", lambda m: f"kernel: {int(m[1]) + 2}", base.read_text())
    new.write_text(grown)
    lines = _terminal(["compare", str(base), str(new)], tmp_path, 24, monkeypatch)
    note = " ".join(" ".join(lines).split())
    shown_count = int(re.search(r"30 changed rows shown as (\d+):", note)[1])  # type: ignore[index]
    assert MIN_ROWS <= shown_count < 30
    names = _changed_rows(lines)
    threes = [i for i in range(30) if i not in SEVENS + FIVES]
    extra = shown_count - 10  # after the ten largest, the earliest 3×3 rows (a tie)
    assert names == sorted(SEVENS + FIVES + tuple(threes[:extra]))
    left = (20 - extra) * 16
    assert f"Left out: {20 - extra} rows with {left / 600:.1%} of the change in MACs" in note
    everything = _terminal(["compare", str(base), str(new), "--all"], tmp_path, 24, monkeypatch)
    assert _changed_rows(everything) == list(range(30))


def _changed_rows(lines: list[str]) -> list[int]:
    """The layer numbers of compare's rows (``l7`` → 7)."""
    return [int(m[1]) for line in lines if (m := re.match(r"^\s*l(\d+)\s", line))]
