"""The documentation says what the program does.

* ``docs/conventions.md`` is generated from ``sepconv_cli/counting/conventions.py``; it must be
  current, and what it quotes (the JSON ``conventions`` object, the ``--help`` clauses, the
  table footers) must be what the commands print. The quotes are read from the markdown
  file and the outputs come from running the CLI, so a stale page or an output that stopped
  saying a rule both fail here.
* Every ``docs/*.md`` page the README links to exists, and every page can be reached from
  the README by following links (the README links ``docs/index.md``, which lists every page
  with one line each); links between pages land on a page and a heading that exist.
* ``docs/json.md`` lists every schema id the package writes, ``docs/exit-codes.md`` every
  exit code the CLI documents, ``docs/spec-format.md`` every spec key and layer type.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONVENTIONS_MD = DOCS / "conventions.md"

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return str(result.stdout)


def flat(text: str) -> str:
    """Whitespace collapsed: help and tables wrap lines wherever the terminal ends."""
    return " ".join(text.split())


def quoted(label: str) -> dict[str, str]:
    """``{key or title: text}`` of the conventions page's ``- LABEL: `text` `` lines, per
    section (the JSON lines carry the key in the label)."""
    out: dict[str, str] = {}
    section = ""
    for line in CONVENTIONS_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:]
        match = re.match(r"- (.+?): `(.*)`( \(.*\))?$", line)
        if match and match[1].startswith(label):
            key = match[1][len(label) :].strip(" `.") or section
            out[key] = match[2]
    return out


# ----------------------------------------------------------------------- conventions.md


def test_conventions_page_is_current() -> None:
    from sepconv_cli.counting import conventions

    assert CONVENTIONS_MD.read_text(encoding="utf-8") == conventions.markdown(), (
        "docs/conventions.md is stale: run python -m sepconv_cli.counting.conventions"
    )


def test_json_conventions_are_the_ones_the_page_shows() -> None:
    page = CONVENTIONS_MD.read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)\n```", page, re.S)
    assert block is not None, "docs/conventions.md has no JSON block"
    shown: dict[str, Any] = json.loads(block[1])
    printed = json.loads(run("cost", "--format", "json"))["conventions"]
    assert printed == shown
    # and the rule by rule lines quote the same strings
    per_rule = quoted("JSON `conventions")
    assert {k: v for k, v in per_rule.items() if k != "ratio"} == {
        k: v for k, v in printed.items() if k not in ("dtype", "itemsize")
    }
    profile = json.loads(run("profile", "seed_example", "--no-time", "--format", "json"))
    assert profile["conventions"] == shown
    sweep = json.loads(run("sweep", "--format", "json"))["conventions"]
    assert sweep == {**shown, "ratio": per_rule["ratio"]}


def test_every_assembled_text_is_what_a_command_prints() -> None:
    """The texts conventions.py assembles for each output are the ones printed today, so a
    command can take them from there (the sweep's own copies included)."""
    from sepconv_cli.counting import conventions as c

    cost_json = json.loads(run("cost", "--format", "json"))["conventions"]
    assert c.report_conventions("float32", 4) == cost_json
    sweep_json = json.loads(run("sweep", "--format", "json"))["conventions"]
    assert c.sweep_conventions("float32", 4) == sweep_json
    assert list(c.sweep_conventions("float32", 4)) == list(sweep_json)  # key order too
    assert flat(c.COST_FOOTER) in flat(run("cost"))
    profile = run("profile", "mobilenet_v1", "--no-time")
    assert flat(c.PROFILE_FORMS_FOOTER) in flat(profile)
    assert flat(c.PROFILE_COUNTS_FOOTER) in flat(profile)
    assert flat(c.SWEEP_FOOTER) in flat(run("sweep"))
    assert c.SWEEP_MARKDOWN_NOTE in run("sweep", "--format", "markdown")
    sweep_help = flat(run("sweep", "--help"))
    assert flat(c.SWEEP_HELP_PREFIX + c.HELP_EPILOG) in sweep_help
    for command in ("cost", "profile"):
        assert flat(c.HELP_EPILOG) in flat(run(command, "--help"))


@pytest.mark.parametrize("command", ["cost", "profile", "sweep"])
def test_help_states_every_help_clause_of_the_page(command: str) -> None:
    clauses = quoted("`--help`")
    assert len(clauses) >= 5
    text = flat(run(command, "--help"))
    for title, clause in clauses.items():
        if title == "Ratios" and command != "sweep":
            continue  # only the sweep explains its Ratio column in --help
        assert flat(clause) in text, (command, title)


def test_table_footers_say_what_the_page_quotes() -> None:
    footers = quoted("Table footers")
    shorter = quoted("Shorter footers")
    cost = flat(run("cost"))
    for title in ("MACs", "FLOPs", "The separable form of a convolution", "Bytes"):
        assert flat(footers[title]) in cost, title
    assert flat(footers["Shapes and the batch"]) in cost
    profile = flat(run("profile", "mobilenet_v1", "--no-time"))
    for title in ("The three forms of every layer", "Parameters", "Repeated layers"):
        assert flat(footers[title]) in profile, title
    assert flat(shorter["Ratios"]) in profile
    sweep = flat(run("sweep"))
    for text in (
        footers["Ratios"],
        footers["The theory ratio"],
        shorter["The separable form of a convolution"],
    ):
        assert flat(text) in sweep


def test_page_covers_the_rules_the_task_names() -> None:
    page = CONVENTIONS_MD.read_text(encoding="utf-8")
    for heading in (
        "## Average pooling",
        "## The three forms of every layer",
        "## 1×1 convolutions",
        "## Output size and padding",
    ):
        assert heading in page
    assert "unpadded" in page  # the average-pool divisor
    for form in ("as_specified", "standard", "separable"):
        assert f"`{form}`" in page


# ----------------------------------------------------------------------- links


def _links(path: Path) -> list[tuple[str, str]]:
    """(target file, anchor) of every relative markdown link to a .md page in ``path``."""
    text = path.read_text(encoding="utf-8")
    return [
        (m[1], m[2] or "")
        for m in re.finditer(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#([\w-]+))?\)", text)
    ]


def _anchors(path: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_every_docs_page_linked_from_the_readme_exists() -> None:
    linked = [target for target, _ in _links(ROOT / "README.md") if target.startswith("docs/")]
    assert linked, "the README links no docs/ page"
    for target in linked:
        assert (ROOT / target).is_file(), f"README links {target}, which does not exist"


def reachable(start: Path) -> set[Path]:
    """Every page reached from ``start`` by following relative links to .md pages."""
    seen: set[Path] = set()
    todo = [start.resolve()]
    while todo:
        page = todo.pop()
        if page in seen or not page.is_file():
            continue
        seen.add(page)
        todo += [(page.parent / target).resolve() for target, _ in _links(page)]
    return seen


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    found = reachable(ROOT / "README.md")
    for page in sorted(DOCS.glob("*.md")):
        assert page.resolve() in found, (
            f"no chain of links leads from the README to docs/{page.name}"
        )


def test_the_reachability_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("[index](docs/index.md)\n", encoding="utf-8")
    (tmp_path / "docs" / "index.md").write_text("[a](a.md)\n", encoding="utf-8")
    (tmp_path / "docs" / "a.md").write_text("[up](../README.md)\n", encoding="utf-8")
    (tmp_path / "docs" / "orphan.md").write_text("[a](a.md)\n", encoding="utf-8")
    found = reachable(tmp_path / "README.md")
    assert (tmp_path / "docs" / "a.md").resolve() in found
    assert (tmp_path / "docs" / "orphan.md").resolve() not in found


def test_the_readme_links_the_index_and_the_main_pages() -> None:
    linked = {target for target, _ in _links(ROOT / "README.md")}
    for page in ("index", "cli", "cost", "profile", "onnx", "timing", "scripting", "changelog"):
        assert f"docs/{page}.md" in linked, f"README does not link docs/{page}.md"


def test_the_index_lists_every_page_once_with_one_line() -> None:
    lines = (DOCS / "index.md").read_text(encoding="utf-8").splitlines()
    entries = [re.match(r"^- \[([\w.-]+\.md)\]\(([\w.-]+\.md)\): \S", line) for line in lines]
    listed = [m[2] for m in entries if m]
    assert all(m[1] == m[2] for m in entries if m), "an index entry's text is its page's name"
    assert len(listed) == len(set(listed)), "a page is listed twice"
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert set(listed) == pages, (sorted(pages - set(listed)), sorted(set(listed) - pages))


@pytest.mark.parametrize("source", ["README.md", *(f"docs/{p.name}" for p in DOCS.glob("*.md"))])
def test_links_between_pages_land_on_a_heading(source: str) -> None:
    path = ROOT / source
    for target, anchor in _links(path):
        page = (path.parent / target).resolve()
        assert page.is_file(), f"{source} links {target}, which does not exist"
        if anchor:
            assert anchor in _anchors(page), f"{source} links {target}#{anchor}: no such heading"


def test_no_file_cites_the_design_notes_that_are_not_in_the_repository() -> None:
    absent = "DESIGN" + ".md"  # spelled apart so that this file does not cite it either
    for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("*/**/*.py")]:
        if any(part.startswith(".") or "venv" in part for part in path.relative_to(ROOT).parts):
            continue
        assert absent not in path.read_text(encoding="utf-8", errors="replace"), path


# ----------------------------------------------------------------------- contracts pages


def test_json_page_lists_every_schema_the_package_writes() -> None:
    written = set()
    for path in (ROOT / "sepconv_cli").rglob("*.py"):
        written |= set(re.findall(r'"(sepconv/[a-z]+/v\d+)"', path.read_text(encoding="utf-8")))
    assert len(written) >= 7
    listed = set(re.findall(r"`(sepconv/[a-z]+/v\d+)`", (DOCS / "json.md").read_text()))
    assert written == listed


def test_exit_codes_page_matches_the_help() -> None:
    from sepconv_cli import errors

    help_text = flat(run("--help"))
    sentence = re.search(r"Exit codes: (.*? interrupted)\.", help_text)
    assert sentence is not None
    documented = {int(code) for code in re.findall(r"(\d+) [a-z]", sentence[1])}
    page = (DOCS / "exit-codes.md").read_text(encoding="utf-8")
    table = {int(code) for code in re.findall(r"^\| \*\*(\d+)\*\* \|", page, re.M)}
    assert table == documented == {0, 1, 2, 3, 130}
    for name in ("EXIT_GATE", "EXIT_USAGE", "EXIT_RUNTIME", "EXIT_INTERRUPTED"):
        assert getattr(errors, name) in table, name


def test_spec_format_page_names_every_key_and_type() -> None:
    from sepconv_cli.spec.layers import FIELDS, MODEL_KEYS, TYPES

    page = (DOCS / "spec-format.md").read_text(encoding="utf-8")
    for key in sorted(MODEL_KEYS | set(FIELDS) | set(TYPES) | {"layers", "shortcut", "type"}):
        assert f"`{key}`" in page, key
    type_table = page.split("| Type | Required |")[1].split("\n\n")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \|([^|]*)\|", type_table, re.M))
    assert set(rows) == set(TYPES)
    for kind, (required, _) in TYPES.items():
        assert set(re.findall(r"`(\w+)`", rows[kind])) == required, kind
