"""Every table is readable at 80 and 120 columns: no number is cut, and a column left out
to fit is named in a note.

Each command is rendered through the CLI with ``COLUMNS`` set (the console honours it when
stdout is not a terminal), then checked against an independent source: the numbers of the
command's own ``--format json`` report, formatted here, must appear whole in the table; the
column headers of a wide rendering must each be in the narrow one or named in its note.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.execution import machine
from sepconv_cli.output.fit import Both, FitTable, drop, middle_ellipsis, narrow, shorten

runner = CliRunner()
WIDTHS = (80, 120)
WIDE = 400
NOTE = re.compile(r"Left out at (\d+) columns: (.*?)\. All shown at (\d+)\.")


def render(args: list[str], width: int | None, **env: str) -> str:
    environment: dict[str, str | None] = {"NO_COLOR": "1", "TERM": "dumb", **env}
    environment["COLUMNS"] = None if width is None else str(width)
    result = runner.invoke(app, args, env=environment)
    assert result.exit_code == 0, result.output
    out: str = result.stdout
    return out


def report(args: list[str], **env: str) -> Any:
    return json.loads(render([*args, "--format", "json"], WIDE, **env))


def whole(number: str, text: str) -> bool:
    """``number`` appears in ``text`` as a whole number (not part of a longer one)."""
    return re.search(rf"(?<![\d,.]){re.escape(number)}(?![\d,])", text) is not None


def assert_readable(out: str, width: int) -> None:
    """No line wider than the console, no … next to a digit (a cut number)."""
    for line in out.splitlines():
        assert len(line.rstrip()) <= width, (width, line)
        assert not re.search(r"\d…|…\d|[\d,.]+…", line), line


def header_line(out: str, after: int = 0) -> str:
    """The header row of the first table after line ``after``: the line above its rule."""
    lines = out.splitlines()
    for i in range(after + 1, len(lines)):
        if lines[i].strip().startswith("───"):
            return lines[i - 1]
    raise AssertionError("no table rule in:\n" + out)


def headers(line: str) -> list[str]:
    return [h for h in re.split(r"\s{2,}", line.strip()) if h]


def note_of(out: str) -> str:
    """What the fit note says is left out ("" when there is no note); a note longer than
    the console wraps, so the words are read across lines."""
    match = NOTE.search(" ".join(out.split()))
    return match.group(2) if match else ""


def assert_left_out_is_named(args: list[str], width: int, renamed: dict[str, str]) -> str:
    """Every header of the full table is in the narrow one or named in its note;
    ``renamed`` maps a header that narrows (rather than goes) to the note's words for it."""
    full = headers(header_line(render(args, WIDE)))
    out = render(args, width)
    shown = headers(header_line(out))
    note = note_of(out)
    for header in full:
        if header in shown:
            continue
        named = renamed.get(header, header)
        assert named in note, (width, header, note, out)
    if note:  # a note only when something is left out
        assert any(h not in shown for h in full), note
    return out


# ------------------------------------------------------------------ per command


@pytest.mark.parametrize("width", WIDTHS)
def test_cost_shows_every_exact_count_whole(width: int) -> None:
    args = ["cost"]
    out = assert_left_out_is_named(args, width, {"Separable / standard": "the × fewer text"})
    assert_readable(out, width)
    layer = report(args)["layers"][0]
    separable = layer["separable"]
    for form in (layer["standard"], separable, separable["depthwise"], separable["pointwise"]):
        for key in ("macs", "flops", "params", "weight_bytes", "activation_bytes"):
            assert whole(f"{form[key]:,}", out), (key, form[key])
    assert whole(f"{layer['ratio']['macs']:.4f}", out)
    # the worked example by hand: 1,228,800 standard vs 4,800 + 49,152 = 53,952 separable
    for number in ("1,228,800", "4,800", "49,152", "53,952"):
        assert whole(number, out)


def test_cost_narrows_in_the_stated_order() -> None:
    out = render(["cost"], 120)  # the full table is 105 columns
    assert "1,228,800 (1.23 M)" in out and "0.0439 (22.8× fewer)" in out
    assert note_of(out) == ""
    out = render(["cost"], 100)  # the ratio's "× fewer" goes first
    assert "1,228,800 (1.23 M)" in out and "22.8×" not in out
    assert note_of(out) == "the × fewer text"
    assert note_of(render(["cost"], 80)) == "the × fewer text; human units"


@pytest.mark.parametrize("width", WIDTHS)
def test_profile_keeps_repeats_and_names_dropped_columns(width: int) -> None:
    args = ["profile", "mobilenet_v1", "--no-time"]
    out = assert_left_out_is_named(args, width, {"MACs %": "the share bar"})
    assert_readable(out, width)
    assert "×" in headers(header_line(out))  # the repeat column stays while rows repeat
    doc = report(args)
    for layer in doc["layers"]:
        row = next(line for line in out.splitlines() if f" {layer['name']} " in line)
        if layer["repeat"] > 1:
            assert whole(str(layer["repeat"]), row.split(layer["name"], 1)[1]), row
        ratio = layer["ratio"]["macs"]
        assert ratio is None or whole(f"{ratio:.3f}", row), (ratio, row)
    totals = doc["totals"]["as_specified"]
    assert whole(f"{totals['macs']:,}", out) and whole(f"{totals['params']:,}", out)


def test_profile_at_80_leaves_out_the_parameter_columns_first() -> None:
    out = render(["profile", "mobilenet_v1", "--no-time"], 80)
    # the bar, Output, then the params went; Output came back once the params were out
    assert note_of(out) == "the share bar; Std params, Sep params"
    shown = headers(header_line(out))
    for kept in ("#", "Layer", "×", "Type", "Output", "Std MACs", "Sep MACs", "Sep/std"):
        assert kept in shown
    assert re.search(r" sep7\[0\.\.4\]\s+5\s", out)  # five layers in one row, visibly


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_shows_every_delta_whole(width: int) -> None:
    args = ["compare", "mobilenet_v1", "mobilenet_v2"]
    out = assert_left_out_is_named(args, width, {"Status": "status words"})
    assert_readable(out, width)
    doc = report(args)
    for metric in doc["metrics"]:
        percent = doc["totals"][metric]["percent"]
        assert f"({percent:+.1f}%)" in out, (metric, percent)
    for layer in doc["layers"]:
        changed = any(layer[m]["delta"] for m in doc["metrics"])
        if changed:
            assert re.search(rf"^\s*{re.escape(layer['name'])}\s", out, re.MULTILINE), layer
    assert "−" not in out  # one minus sign: ASCII, as the percent's


def test_compare_names_use_the_width_they_have(tmp_path: Path) -> None:
    long = "expanded_convolution_block_thirteen_depthwise"  # 45 characters
    for name, filters in (("base", 16), ("new", 32)):
        (tmp_path / f"{name}.yaml").write_text(
            f"name: {name}\ninput: [8, 8, 3]\nlayers:\n"
            f"  - {{type: conv, name: {long}, kernel: 3, filters: {filters}}}\n",
            encoding="utf-8",
        )
    args = ["compare", str(tmp_path / "base.yaml"), str(tmp_path / "new.yaml")]
    wide = render(args, 200)
    assert long in wide and "…" not in wide
    narrow_out = render(args, 60)
    assert long not in narrow_out
    assert "the middle of long names" in note_of(narrow_out)
    cut = next(line for line in narrow_out.splitlines() if "…" in line).split()[0]
    head, tail = cut.split("…")
    # the end (what tells rows apart) is kept longer than the start
    assert long.startswith(head) and long.endswith(tail) and 3 <= len(head) < len(tail)


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_shows_every_ratio_whole(width: int) -> None:
    args = ["sweep", "--vary", "filters=8..1024:x2"]
    out = assert_left_out_is_named(args, width, {})
    assert_readable(out, width)
    for point in report(args)["points"]:
        assert whole(f"{point['ratio']['macs']:.4f}", out), point["value"]


def test_sweep_legend_means_the_same_in_every_sweep() -> None:
    legend = "█ pointwise/standard   ░ depthwise/standard"
    filters = render(["sweep", "--vary", "filters=8,64"], 120)
    kernel = render(["sweep", "--vary", "kernel=3,7", "-i", "32x32x16"], 120)
    assert legend in filters and legend in kernel
    # filters: pointwise/standard = 1/25 of every bar (the floor), drawn first as █
    assert re.search(r"^\s*8 │█+░+ ", filters, re.MULTILINE)
    # kernel: depthwise/standard = 1/256 is the floor, drawn first, as ░
    assert re.search(r"^\s*3 │░+█+ ", kernel, re.MULTILINE)


@pytest.mark.parametrize("width", WIDTHS)
def test_spatial_shows_factors_and_costs_whole(width: int) -> None:
    out = render(["spatial", "sobel-x"], width)
    assert_readable(out, width)
    # Sobel-x = [1, 2, 1]ᵀ ⊗ [-1, 0, 1]: 9 mults and 8 adds per pixel in full, 6 and 4 as a pair
    assert "[1, 2, 1]" in out and "[-1, 0, 1]" in out
    full = next(line for line in out.splitlines() if line.strip().startswith("full 3×3"))
    assert full.split()[-4:] == ["0", "9", "8", "1.00×"]
    pair = next(line for line in out.splitlines() if "rank-1 pair 3+3" in line)
    assert pair.split()[-3:] == ["6", "4", "1.50×"]


@pytest.mark.parametrize("width", WIDTHS)
def test_machine_table_fits(width: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "measure_gemm", lambda **_: 1234.5)  # never measured here
    monkeypatch.setattr(machine, "measure_bandwidth", lambda **_: 67.8)
    out = render(["machine", "--refresh"], width, XDG_CACHE_HOME=str(tmp_path))
    assert_readable(out, width)
    assert "1,234.5 GFLOP/s" in out and "67.8 GB/s" in out
    assert "18.2 FLOPs/byte" in out  # 1234.5 / 67.8 = 18.21


def test_piped_output_without_columns_leaves_nothing_out() -> None:
    for args in (
        ["cost"],
        ["profile", "mobilenet_v1", "--no-time"],
        ["compare", "mobilenet_v1", "mobilenet_v2"],
    ):
        out = render(args, None)
        assert note_of(out) == "", args
        assert headers(header_line(out)) == headers(header_line(render(args, WIDE)))


# ------------------------------------------------------------------ the fitting itself


def _table() -> FitTable:
    table = FitTable(
        title="t",
        steps=(
            narrow("total", label="human units"),
            drop("a", "b"),
            drop("c"),
            shorten("name", 6),
        ),
    )
    table.add_column("name", "Name", justify="left", name=True)
    table.add_column("total", "Total")
    for key in ("a", "b", "c"):
        table.add_column(key, key.upper() * 6)
    table.add_row(
        "a_rather_long_layer_name",
        Both("1,228,800 (1.23 M)", "1,228,800"),
        "11",
        "22",
        Text("33", style="green"),
    )
    return table


def _print(table: FitTable, width: int) -> str:
    console = Console(width=width, color_system=None, file=io.StringIO())
    console.print(table)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return text


def test_fit_takes_the_steps_in_order_and_undoes_the_unneeded() -> None:
    table = _table()
    full = table.width()
    assert "1,228,800 (1.23 M)" in _print(table, full) and note_of(_print(table, full)) == ""
    out = _print(table, full - 1)  # the first step suffices
    assert note_of(out) == "human units" and "1,228,800 " in out and "AAAAAA" in out
    out = _print(table, 50)  # then A and B go together; C is not needed
    assert note_of(out) == "human units; AAAAAA, BBBBBB" and "CCCCCC" in out
    assert whole("1,228,800", out)
    out = _print(table, 30)  # at last the names lose their middle (never the numbers)
    assert note_of(out) == "human units; AAAAAA, BBBBBB; CCCCCC; the middle of long names"
    # the cut keeps more of the end, which tells rows apart (issue 23)
    assert "a_rat…_layer_name" in out and whole("1,228,800", out)
    assert f"All shown at {full}." in " ".join(out.split())


def test_fit_folds_numbers_rather_than_cut_them_past_the_last_step() -> None:
    out = _print(_table(), 12)
    body = out.split("Left out")[0]
    # names may be cut, numbers only fold: 1,228,800 over several lines, every digit kept
    name = "a_rather_long_layer_name"
    cuts = [line.split()[0].split("…") for line in body.splitlines() if "…" in line]
    assert cuts and all(name.startswith(a) and b and name.endswith(b) for a, b in cuts)
    folded = "".join(line[8:].strip() for line in body.splitlines()[4:])
    assert "1,228,800" in folded


def test_the_quick_width_agrees_with_rich() -> None:
    """``FitTable.width`` adds column widths; Rich measures the whole table: every layout of
    the profile table and of the toy table must give the same number."""
    from sepconv_cli.counting.network import build
    from sepconv_cli.counting.report import profile_report
    from sepconv_cli.output.fit import _Layout
    from sepconv_cli.output.profile_table import profile_table
    from sepconv_cli.spec.presets import resolve_model

    table = profile_table(profile_report(build(resolve_model("mobilenet_v1")))).table()
    for candidate in (table, _table()):
        for target in (200, 120, 100, 80, 60, 40, 20):
            layout = candidate.layout(target)
            assert candidate.width(layout) == candidate.measured_width(layout), target
        assert candidate.width(_Layout()) == candidate.measured_width(_Layout())


def test_middle_ellipsis_keeps_both_ends() -> None:
    assert middle_ellipsis("block_13_depthwise", 9) == "bloc…wise"
    assert middle_ellipsis("short", 9) == "short"
    assert len(middle_ellipsis("abcdefghij", 4)) == 4
