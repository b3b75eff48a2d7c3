"""Issue 22's hostile corpus (tests/hostile_onnx.py): every file ends in a sane count (exit
0, no negative count) or one line naming the file (exit 2) — never exit 3, a traceback,
more than 2 GiB or 30 s. Where ONNX's spec makes the file invalid, the line names the node
or the field at fault.

Each command runs in a child Python under a 2 GiB address-space limit
(:class:`hostile_onnx.BoundedCli`), so a decompression bomb fails its case instead of
taking the machine. Cases that fail today are ``xfail(strict=True)`` with what happens
now: once the reader is fixed the mark turns into a failure and is removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("onnx")

import yaml
from hostile_onnx import (  # tests/hostile_onnx.py
    CASES,
    NAMES,
    BoundedCli,
    Case,
    judge,
    model,
    node,
    problems,
    run_real_cli,
    weight,
    write_case,
)

# case id → what happens today (one line); the lead's queue: remove each when it passes
FAILING_TODAY: dict[str, str] = {}


def _params(cases: list[Case]) -> list[object]:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=FAILING_TODAY[case.id])]
            if case.id in FAILING_TODAY
            else [],
        )
        for case in cases
    ]


@pytest.fixture(scope="module")
def cli(private_home: Path) -> Iterator[BoundedCli]:
    runner = BoundedCli(private_home)
    yield runner
    runner.close()


@pytest.mark.parametrize("case", _params(CASES))
def test_a_hostile_file_is_counted_sanely_or_refused_in_one_line(
    case: Case, cli: BoundedCli, tmp_path: Path
) -> None:
    path = write_case(case, tmp_path)
    outcome = cli.profile(path)
    found = judge(case, outcome, path)
    assert not found, f"{case.id} ({case.expect}): " + "; ".join(found)


BOMBS = [case for case in CASES if case.bomb]
# the bombs whose count is huge but valid: their table is where a count's size shows
HUGE_COUNTS = ["input_huge_dims", "weight_huge_declared_dim", "conv_huge_pads", "pad_bomb"]
# through the real entry point: one of each kind (a fold, a huge count), the rest in-process
REAL_ENTRY = ["range_bomb", "input_huge_dims"]
# bomb id → what its table does today, where that fails
FAILING_TABLE_TODAY: dict[str, str] = {}
# bomb id → what the real entry point does today, where that fails
FAILING_ENTRY_TODAY: dict[str, str] = {}


def _bomb_params(failing: dict[str, str], ids: list[str]) -> list[object]:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=failing[case.id])]
            if case.id in failing
            else [],
        )
        for case in BOMBS
        if case.id in ids
    ]


@pytest.mark.parametrize("case", _bomb_params(FAILING_TABLE_TODAY, HUGE_COUNTS))
def test_a_bomb_renders_as_a_table_within_the_bounds(
    case: Case, cli: BoundedCli, tmp_path: Path
) -> None:
    """The share bar and the human units of a huge count allocate nothing in its size."""
    path = write_case(case, tmp_path)
    outcome = cli.run(["profile", str(path), "--format", "table", "-q"])
    found = problems(outcome, path, json_report=False)
    assert not found, "; ".join(found)


@pytest.mark.parametrize("case", _bomb_params(FAILING_ENTRY_TODAY, REAL_ENTRY))
def test_a_bomb_through_the_real_entry_point_stays_within_the_bounds(
    case: Case, private_home: Path, tmp_path: Path
) -> None:
    """``python -m sepconv_cli`` itself under 2 GiB and 30 s: exit 0 or 2, never 3 or a
    kill."""
    path = write_case(case, tmp_path)
    outcome = run_real_cli(["profile", str(path), "--format", "json", "-q"], private_home)
    found = problems(outcome, path)
    assert not found, "; ".join(found)


# name case id × format → what happens today, where that fails
FAILING_NAMES_TODAY: dict[tuple[str, str], str] = {}
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@pytest.mark.parametrize(
    ("case_id", "fmt"),
    [
        pytest.param(
            case_id,
            fmt,
            id=f"{case_id}-{fmt}",
            marks=[pytest.mark.xfail(strict=True, reason=FAILING_NAMES_TODAY[case_id, fmt])]
            if (case_id, fmt) in FAILING_NAMES_TODAY
            else [],
        )
        for case_id in NAMES
        for fmt in ("table", "markdown", "csv")
    ],
)
def test_a_hostile_name_is_data_in_every_format(
    case_id: str, fmt: str, cli: BoundedCli, tmp_path: Path
) -> None:
    """A node name holding escapes, newlines, markdown pipes or Rich markup is shown as
    text: no escape reaches the output, no line of it looks like an error, and a markdown
    table keeps its columns."""
    case = next(case for case in CASES if case.id == case_id)
    path = write_case(case, tmp_path)
    outcome = cli.run(["profile", str(path), "--format", fmt, "-q"])
    found = problems(outcome, path, json_report=False)
    assert not found, "; ".join(found)
    assert outcome.exit_code == 0, outcome.summary()
    text = outcome.stdout
    assert "\x1b" not in text, "a raw escape character in the output"
    assert not [line for line in text.splitlines() if line.startswith("sepconv:")]
    if fmt == "markdown":
        rows = [line for line in text.splitlines() if line.startswith("|")]
        widths = {len(UNESCAPED_PIPE.findall(line)) for line in rows}
        assert len(widths) == 1, f"table rows of different widths: {rows}"
        lines = text.splitlines()
        first = lines.index(rows[0])
        assert lines[first : first + len(rows)] == rows, "a row broken across lines"
    if fmt == "table" and case_id == "name_rich_markup":
        assert "[bold red]" in text, "Rich markup in a name was parsed, not shown"


FAILING_EXPORT_TODAY = ""  # what export-spec does today with a name's newline, if it fails


@pytest.mark.xfail(bool(FAILING_EXPORT_TODAY), strict=True, reason=FAILING_EXPORT_TODAY or "passes")
def test_export_spec_cannot_gain_a_layer_through_a_name(cli: BoundedCli, tmp_path: Path) -> None:
    """A name whose newline would end export-spec's ``# NOT EXPRESSED`` comment must not
    write a layer the file does not hold: the spec counts what the file counts (or the
    export is one line, exit 2)."""
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "injected.onnx"
    hostile = "/h\n- {name: evil, input: [224, 224, 3], kernel: 7, filters: 99999}\n#"
    built = model(
        [node("Conv", ["x", "w"], ["y"], "/c/Conv"), node("Hardmax", ["y"], ["z"], hostile)],
        outputs=["z"],
        inits=[weight("w", 8, 3, 3, 3)],
    )
    path.write_bytes(built.SerializeToString())
    spec = tmp_path / "injected.yaml"
    done = cli.run(["export-spec", str(path), "-o", str(spec), "--partial", "-q"])
    assert done.exit_code in (0, 2), done.summary()
    if done.exit_code == 2:
        assert not problems(done, path, json_report=False)
        return
    text = spec.read_text()
    # the name may be quoted as data (the `partial:` string), never be a layer or a key
    loaded = yaml.safe_load(text)
    assert "99999" not in str(loaded["layers"]), f"the name wrote a layer:\n{text}"
    assert set(loaded) <= {"name", "source", "partial", "input", "inputs", "layers"}, text
    counted = cli.run(["profile", str(spec), "--format", "json", "-q"])
    assert counted.exit_code == 0, counted.summary()
    original = cli.profile(path)
    assert original.exit_code == 0, original.summary()
    import json

    def macs(report: str) -> int:
        value: int = json.loads(report)["totals"]["as_specified"]["macs"]
        return value

    assert macs(counted.stdout) <= macs(original.stdout)
