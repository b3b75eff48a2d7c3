"""Names are data (issue 22, item 4): a node, layer or model name from a file is shown to a
person escaped, and written exactly where a program reads it.

A model file is untrusted: its names may hold a newline and a YAML line
(``\\n- type: standard``), a carriage return, ANSI escape sequences, Unicode's bidi override,
Rich markup, markdown's ``|``. Expected here, from the formats' own rules rather than from
sepconv's code:

- ``export-spec`` writes a spec that YAML reads back as exactly the model's layers, with
  their exact names, ``--partial`` comments included; profiling it counts what the model
  counts (3×3 conv 3→4 on 8×8: 6·6·4·27 = 3,888 MACs; 1×1 conv 4→5: 6·6·5·4 = 720).
- The table, markdown and stderr hold no control character: every line is printable
  (``str.isprintable``), the table has as many lines as the same model with plain names,
  and every markdown table row has as many cells as its header, split as GitHub splits
  them (a ``|`` ends a cell unless escaped; a backslash escapes the next character).
- JSON and CSV keep the exact name (``json.loads``, ``csv.reader``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.names import shown, shown_in_markdown

runner = CliRunner()

PAYLOADS = {
    "yaml-layer": "\n- type: standard\n  filters: 99999",
    "carriage-return": "x\ry",
    "ansi": "\x1b[31mred\x1b[0m",
    "comment": "# not a comment",
    "colon": "key: value",
    "single-quote": "it's",
    "double-quote": 'say "hi"',
    "rich-markup": "[bold red]x[/] [/oops]",
    "pipe": "a | b",
    "bidi": "abc\u202edef",
    "fake-error": "\nsepconv: error: fake",
    "tab-and-nul": "a\tb\x00c\x7f\x85\u2028",
    "backslash": "a\\|b\\",
}
ALL = "".join(PAYLOADS.values())


def invoke(argv: list[str]) -> Any:
    result = runner.invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "internal error" not in result.stderr, result.stderr
    return result


def printable_lines(text: str) -> bool:
    """Every line of ``text`` holds printable characters only (no ESC, CR, bidi, ...)."""
    return all(line.isprintable() for line in text.split("\n"))


def gfm_cells(row: str) -> list[str]:
    """A markdown table row's cells as GitHub's table extension splits them: a backslash
    escapes the next character, an unescaped ``|`` ends a cell."""
    cells, current, i = [], "", 0
    body = row.strip()
    body = body[1:] if body.startswith("|") else body
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            current += body[i : i + 2]
            i += 2
            continue
        if body[i] == "|":
            cells.append(current)
            current = ""
        else:
            current += body[i]
        i += 1
    if current.strip():
        cells.append(current)
    return cells


def assert_markdown_tables_whole(text: str) -> None:
    """Printable lines, and each table's rows (a run of lines starting with ``|``) as many
    cells as its header."""
    assert printable_lines(text), text
    tables: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    assert tables[0], text
    for rows in filter(None, tables):
        width = len(gfm_cells(rows[0]))
        for row in rows:
            assert len(gfm_cells(row)) == width, row


# ------------------------------------------------------------------ the function itself


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("conv1", "conv1"),
        ("a\nb", "a\\nb"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x1b[31m", "\\x1b[31m"),
        ("\x00\x7f\x85", "\\x00\\x7f\\x85"),
        ("abc\u202edef", "abc\\u202edef"),
        ("\u2028\u200d\ufeff", "\\u2028\\u200d\\ufeff"),
        ("\U000e0001", "\\U000e0001"),
        ("é×中 [b]", "é×中 [b]"),
        ("a\\nb", "a\\nb"),  # a backslash is itself: the shown text is the same
    ],
)
def test_shown_escapes_what_is_not_printable(text: str, expected: str) -> None:
    assert shown(text) == expected


@given(st.text())
def test_shown_is_one_printable_line_and_idempotent(text: str) -> None:
    once = shown(text)
    assert once.isprintable()
    assert shown(once) == once
    if text.isprintable():
        assert once == text


@given(st.text())
def test_a_markdown_cell_never_splits(text: str) -> None:
    cell = shown_in_markdown(text)
    assert cell.isprintable() and "<" not in cell
    assert len(gfm_cells(f"| {cell} | x |")) == 2


def test_the_progress_bar_reads_a_name_as_text() -> None:
    """Rich's progress column reads markup: a name's ``[/oops]`` was an error there."""
    from rich.text import Text

    from sepconv_cli.cli.console import _markup

    name = PAYLOADS["rich-markup"] + PAYLOADS["ansi"]
    assert Text.from_markup(_markup(name)).plain == shown(name)


def test_csv_quotes_a_carriage_return() -> None:
    """Python's writer (3.11) leaves ``a\\rb`` bare with ``\\n`` line endings; readers split
    it into two rows."""
    from sepconv_cli.output.csv import csv_text

    rows = [["a\rb", 1], ['c,"d"\ne', 2], ["plain", 3]]
    text = csv_text(["name", "n"], rows)
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["name", "n"],
        *([str(v) for v in row] for row in rows),
    ]
    assert text.endswith("plain,3\n") and "\r\n" not in text.replace('\r"', "")


# ------------------------------------------------------------------ ONNX files


def hostile_model(path: Path, names: list[str], *, erf: bool = False) -> Path:
    """x 1×3×8×8 → Conv 3×3 (4 filters, names[0]) → Relu (names[1]) → Conv 1×1 (5 filters,
    names[2]) [→ Hardmax (names[3]), which the spec has no layer for]. The graph is named
    ``names[0]`` too. Skips the test where onnx is not installed."""
    onnx = pytest.importorskip("onnx")
    from onnx_graphs import node, weight  # tests/onnx_graphs.py

    helper, tp = onnx.helper, onnx.TensorProto
    nodes = [
        node("Conv", ["x", "w1"], ["t"], names[0]),
        node("Relu", ["t"], ["u"], names[1]),
        node("Conv", ["u", "w2"], ["y"], names[2]),
    ]
    if erf:
        nodes.append(node("Hardmax", ["y"], ["z"], names[3]))
    graph = helper.make_graph(
        nodes,
        names[0],
        [helper.make_tensor_value_info("x", tp.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("z" if erf else "y", tp.FLOAT, ["n", "c", "h", "w"])],
        [weight("w1", 4, 3, 3, 3), weight("w2", 5, 4, 1, 1)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def names_with(payload: str) -> list[str]:
    return [f"conv{payload}", f"relu{payload}", f"pw{payload}", f"erf{payload}"]


@pytest.mark.parametrize("partial", [False, True], ids=["whole", "partial"])
@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_export_spec_writes_exactly_the_models_layers(
    payload: str, partial: bool, tmp_path: Path
) -> None:
    names = names_with(payload)
    model = hostile_model(tmp_path / "m.onnx", names, erf=partial)
    out = tmp_path / "m.yaml"
    done = invoke(["export-spec", str(model), "-o", str(out), *(["--partial"] if partial else [])])
    assert done.exit_code == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    assert printable_lines(text), text
    spec = yaml.safe_load(text)
    assert [(layer["type"], layer["filters"]) for layer in spec["layers"]] == [
        ("conv", 4),
        ("pointwise", 5),
    ]
    assert [layer["name"] for layer in spec["layers"]] == [names[0], names[2]]
    assert spec["layers"][0]["activation"] == "relu"
    if partial:  # the Hardmax is one comment line, named, and stderr's warning one line
        comments = [line for line in text.split("\n") if "# NOT EXPRESSED:" in line]
        assert len(comments) == 1 and comments[0].lstrip().startswith("# NOT EXPRESSED")
        assert shown(names[3]) in comments[0]
    assert all(line.startswith("sepconv: ") for line in done.stderr.splitlines()), done.stderr
    assert printable_lines(done.stderr)
    counted = invoke(["profile", str(out), "--no-time", "--format", "json"])
    assert counted.exit_code == 0, counted.stderr
    totals = json.loads(counted.stdout)["totals"]["as_specified"]
    assert (totals["macs"], totals["params"]) == (3888 + 720, 108 + 20)
    checked = invoke(["validate", str(out)])
    assert checked.exit_code == 0, checked.stdout + checked.stderr


def test_every_payload_in_one_name(tmp_path: Path) -> None:
    """All of them at once, in every node and the graph's name."""
    names = names_with(ALL)
    model = hostile_model(tmp_path / "m.onnx", names, erf=True)
    done = invoke(["export-spec", str(model), "--partial"])
    assert done.exit_code == 0, done.stderr
    spec = yaml.safe_load(done.stdout)
    assert [layer["name"] for layer in spec["layers"]] == [names[0], names[2]]
    assert printable_lines(done.stdout) and printable_lines(done.stderr)


@pytest.mark.parametrize("payload", [*PAYLOADS.values(), ALL], ids=[*PAYLOADS, "all"])
def test_profile_shows_names_escaped_and_writes_them_exactly(
    payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = names_with(payload)
    model = hostile_model(tmp_path / "m.onnx", names)
    plain = hostile_model(tmp_path / "plain.onnx", names_with(""))

    for columns in ("80", "400"):  # names cut in the middle to fit, and whole
        monkeypatch.setenv("COLUMNS", columns)
        table = invoke(["profile", str(model)])
        assert table.exit_code == 0, table.stderr
        assert "\x1b" not in table.stdout and printable_lines(table.stdout), table.stdout
        assert printable_lines(table.stderr)
    # at full width: the same lines as plain names (no name starts a line), the name whole,
    # its Rich markup shown, not applied
    same = invoke(["profile", str(plain)])
    assert len(table.stdout.split("\n")) == len(same.stdout.split("\n")), table.stdout
    assert shown(names[0]) in table.stdout

    markdown = invoke(["profile", str(model), "--format", "markdown"])
    assert markdown.exit_code == 0, markdown.stderr
    assert_markdown_tables_whole(markdown.stdout)

    data = json.loads(invoke(["profile", str(model), "--format", "json"]).stdout)
    assert [layer["name"] for layer in data["layers"]] == [names[0], names[2]]

    rows = list(
        csv.DictReader(
            io.StringIO(invoke(["profile", str(model), "--format", "csv"]).stdout, newline="")
        )
    )
    assert [row["name"] for row in rows] == [names[0], names[2]]


# ------------------------------------------------------------------ YAML specs and messages

SPEC_NAME = "blk" + ALL


def spec_file(path: Path, filters: int = 8) -> Path:
    """A model spec of two layers, the model and its first layer named :data:`SPEC_NAME`."""
    name = json.dumps(SPEC_NAME)  # JSON's quoting is YAML's double-quoted scalar
    path.write_text(
        f"name: {name}\ninput: [12, 12, 3]\nlayers:\n"
        f"  - {{type: conv, kernel: 3, filters: {filters}, name: {name}}}\n"
        f"  - {{type: conv, kernel: 1, filters: 4, name: tail}}\n",
        encoding="utf-8",
    )
    return path


def layer_file(path: Path) -> Path:
    """``cost --spec``'s list of layers, the first named :data:`SPEC_NAME`."""
    name = json.dumps(SPEC_NAME)
    path.write_text(
        f"- {{input: [12, 12, 3], kernel: 3, filters: 8, name: {name}}}\n", encoding="utf-8"
    )
    return path


def test_spec_names_in_every_human_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # a title of a long name is not wrapped
    spec = spec_file(tmp_path / "a.yaml")
    other = spec_file(tmp_path / "b.yaml", filters=16)
    for argv in (
        ["profile", str(spec), "--no-time"],
        ["cost", "--spec", str(layer_file(tmp_path / "layers.yaml"))],
        ["compare", str(spec), str(other)],
    ):
        done = invoke(argv)
        assert done.exit_code == 0, done.stderr
        assert "\x1b" not in done.stdout and printable_lines(done.stdout), done.stdout
        assert shown(SPEC_NAME) in done.stdout
        markdown = invoke([*argv, "--format", "markdown"])
        assert markdown.exit_code == 0, markdown.stderr
        assert_markdown_tables_whole(markdown.stdout)


def test_bench_names_escaped(tmp_path: Path) -> None:
    spec = spec_file(tmp_path / "a.yaml")
    for fmt in ("table", "markdown"):
        done = invoke(["bench", str(spec), "--time-budget", "20ms", "--format", fmt])
        assert done.exit_code == 0, done.stderr
        assert printable_lines(done.stdout), done.stdout
        if fmt == "markdown":
            assert_markdown_tables_whole(done.stdout)


def test_a_chart_draws_a_name_with_dollars(tmp_path: Path) -> None:
    """matplotlib reads the text between two ``$`` as math: ``a$\\frac{$b`` was an internal
    error after the report was written."""
    pytest.importorskip("matplotlib")
    spec = tmp_path / "s.yaml"
    layer = '{type: conv, kernel: 3, filters: 8, name: "a$\\\\frac{$b"}'  # YAML: a$\frac{$b
    spec.write_text(f"input: [12, 12, 3]\nlayers:\n  - {layer}\n")
    done = invoke(["profile", str(spec), "--no-time", "-q", "--plot", str(tmp_path / "p.png")])
    assert done.exit_code == 0, done.stderr
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")


def test_an_error_message_is_one_line(tmp_path: Path) -> None:
    """``_fail`` prints every error: a name in the message cannot add a line of its own."""
    hostile = str(tmp_path / "no\nsepconv: error: fake\x1b[2J\u202e.yaml")
    done = invoke(["profile", hostile, "--no-time"])
    assert done.exit_code == 2
    lines = done.stderr.split("\n")
    assert len(lines) == 2 and lines[1] == "", done.stderr
    assert lines[0].startswith("sepconv: error: ") and lines[0].isprintable()
    assert "\\nsepconv: error: fake\\x1b[2J\\u202e" in lines[0]


def test_validate_shows_a_problem_on_one_line(tmp_path: Path) -> None:
    """A problem names its file, whose name may hold a newline: one line in the text, the
    exact name in the JSON."""
    spec = tmp_path / "b\x1b[31m\nsepconv: fake.yaml"
    spec.write_text("input: [12, 12, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 0}\n")
    done = invoke(["validate", str(spec)])
    assert done.exit_code == 2
    assert done.stdout.count("\n") == 1 and printable_lines(done.stdout), done.stdout
    assert done.stdout.startswith(shown(str(spec)) + ":3:")
    data = json.loads(invoke(["validate", str(spec), "--format", "json"]).stdout)
    assert [p["file"] for p in data["problems"]] == [str(spec)]
