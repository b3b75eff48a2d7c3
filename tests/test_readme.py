"""The README and docs/ say everything the CLI takes, and their examples print what the
commands print.

* Every option and argument of every command (read from the Click command Typer builds, so
  a new option counts the moment it exists) is listed in that command's section of
  ``docs/cli.md``, and that page lists no option the command does not have. ``cost`` and
  ``profile`` also list every option in the flag tables of ``docs/cost.md`` and
  ``docs/profile.md``.
* Every ``sepconv …`` command line shown in README.md and docs/ names a real command and
  real options.
* Every example of README.md and of every ``docs/*.md`` page (a ```` ```text ```` block
  starting with ``$ sepconv``) is re-run in an 80-column terminal and compared with what the
  block shows, unless it is marked ``<!-- output varies: REASON -->``; see
  ``tests/readme_examples.py`` for the rules. ``python tests/update_readme.py`` (or
  ``pytest tests/test_readme.py --update-readme``) rewrites the shown outputs from the real
  ones.
* The README is a front page: at most :data:`README_MAX_LINES` lines, every example of it
  run; the rest lives in docs/.
"""

from __future__ import annotations

import difflib
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import readme_examples as rx  # tests/readme_examples.py: pytest puts tests/ on the path
import typer

from sepconv_cli.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CLI_MD = DOCS / "cli.md"
HELP = {"-h", "--help"}
README_MAX_LINES = 300  # issue 23: a newcomer finds the five commands they need

needs_pty = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def commands() -> dict[str, Any]:
    """``{name: Click command}`` of every command, ``""`` for the root ``sepconv``."""
    root: Any = typer.main.get_command(app)
    return {"": root, **root.commands}


def names(command: Any) -> set[str]:
    """Every spelling a user can type: each option's flags (``--bias`` and ``--no-bias``)
    and each argument's metavar (``MODEL``)."""
    out: set[str] = set()
    for param in command.params:
        if param.param_type_name == "argument":
            out.add(param.metavar or param.name.upper())
        else:
            out.update(param.opts, param.secondary_opts)
    return out


def table_names(text: str) -> set[str]:
    """Flags and argument names in the first cell of every markdown table row of ``text``
    (``| `-i`, `--input SHAPE` | …`` → ``-i``, ``--input``)."""
    out: set[str] = set()
    for row in re.findall(r"^\|([^|\n]*)\|", text, re.M):
        for code in re.findall(r"`([^`]+)`", row):
            words = code.split()  # `--bias / --no-bias`, `--input SHAPE`, `FILE...`
            out.update(word for word in words if re.fullmatch(r"--?[a-zA-Z][\w-]*", word))
            if re.fullmatch(r"[A-Z][A-Z_]*(\.\.\.)?", words[0]):
                out.add(words[0])
    return out


def sections(text: str, level: str) -> dict[str, str]:
    """``{heading: body}`` of the headings of one level (``"## "``)."""
    parts = re.split(rf"^{level}(.*)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


# ----------------------------------------------------------------------- options


def cli_sections() -> dict[str, str]:
    """docs/cli.md's sections by command name (``""`` for ``## `sepconv` ``)."""
    out = {}
    for heading, body in sections(CLI_MD.read_text(encoding="utf-8"), "## ").items():
        match = re.fullmatch(r"`sepconv ?([\w-]*)`", heading)
        if match:
            out[match[1]] = body
    return out


def test_every_command_has_a_section_in_the_reference() -> None:
    assert set(cli_sections()) == set(commands())


@pytest.mark.parametrize("name", sorted(commands()))
def test_the_reference_lists_every_option_of_each_command(name: str) -> None:
    real = names(commands()[name])
    listed = table_names(cli_sections()[name])
    missing = real - listed
    assert not missing, f"docs/cli.md, `sepconv {name}`: not documented: {sorted(missing)}"
    unknown = listed - real - HELP
    assert not unknown, f"docs/cli.md, `sepconv {name}`: no such option: {sorted(unknown)}"


@pytest.mark.parametrize("name", ["cost", "profile"])
def test_the_command_pages_flag_tables_list_every_option(name: str) -> None:
    page = f"docs/{name}.md"
    table = sections((ROOT / page).read_text(encoding="utf-8"), "## ")[f"`sepconv {name}` flags"]
    table = table.split("\n\n")[1]  # the table itself, not the prose after it
    real = names(commands()[name])
    missing = real - table_names(table)
    assert not missing, f"{page}'s `sepconv {name}` flags table leaves out {sorted(missing)}"
    assert not table_names(table) - real, f"{page}'s `sepconv {name}` table: unknown flags"


# ----------------------------------------------------------------------- command lines


def shown_command_lines(text: str) -> list[str]:
    """Every ``sepconv …`` command the page shows: lines of code blocks (``$`` prompts
    included) and inline code spans."""
    found: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            if line.startswith("sepconv "):
                found.append(line)
    without_blocks = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    found += [m for m in re.findall(r"`(sepconv [^`]+)`", without_blocks)]
    return found


def check_command_line(line: str, known: dict[str, Any]) -> str | None:
    """Why ``line`` names no real command or option, or None."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        words = line.split()
    for i, word in enumerate(words):  # the command ends at a pipe, redirection or list
        if word in {"|", "||", "&&", ";", ">", ">>", "2>"} or word.startswith(("|", ">")):
            words = words[:i]
            break
    rest = words[1:]
    if rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        if name.isupper() or name in {"...", "…"}:
            return None  # a placeholder: `sepconv COMMAND --help`
        if name not in known:
            return f"no command {name!r}"
    else:
        name = ""
    valid = names(known[name]) | HELP
    for word in rest:
        flag = word.split("=")[0]
        if flag.startswith("-") and not re.fullmatch(r"-\d[\d.]*", flag) and flag not in valid:
            return f"`sepconv {name}` has no option {flag}"
    return None


PAGES = [rx.page_name(path) for path in rx.pages()]


@pytest.mark.parametrize("page", PAGES)
def test_every_command_line_shown_is_real(page: str) -> None:
    known = commands()
    lines = shown_command_lines((ROOT / page).read_text(encoding="utf-8"))
    if page == "README.md":
        assert len(lines) >= 10
    problems = [f"{line!r}: {why}" for line in lines if (why := check_command_line(line, known))]
    assert not problems, f"{page}: " + "; ".join(problems)


def test_the_pages_show_many_command_lines() -> None:
    """The check above has something to check: the README and docs/ show commands."""
    shown = [shown_command_lines((ROOT / page).read_text(encoding="utf-8")) for page in PAGES]
    assert sum(map(len, shown)) > 100


def test_the_command_line_check_catches_what_it_should() -> None:
    known = commands()
    assert check_command_line("sepconv cost -k 3 --bias | jq .", known) is None
    assert check_command_line("sepconv --install-completion", known) is None
    assert check_command_line("sepconv costs", known) == "no command 'costs'"
    assert (
        check_command_line("sepconv cost --vary k=3", known)
        == "`sepconv cost` has no option --vary"
    )
    assert check_command_line("sepconv sweep --vary=k=3 > out.txt", known) is None


# ----------------------------------------------------------------------- examples


def compared() -> list[Any]:
    """A test case per example whose output is compared: (page, index on that page), with
    the command as its id. A page that cannot be parsed (a malformed example) is one case,
    index -1, that fails naming the problem, so one page does not stop the others' tests."""
    cases: list[Any] = []
    for path in rx.pages():
        page = rx.page_name(path)
        try:
            found = rx.read(path)
        except rx.ExampleError as exc:
            cases.append(pytest.param(page, -1, id=f"{page}:unreadable ({exc})"[:80]))
            continue
        cases += [
            pytest.param(page, index, id=f"{page}:{example.title[2:60]}")
            for index, example in enumerate(found)
            if not example.varies
        ]
    return cases


@pytest.mark.parametrize("page", PAGES)
def test_every_page_holds_examples_that_can_run(page: str) -> None:
    """Every ``$ sepconv`` block of every page is a runnable example (plain arguments, only
    ``sepconv`` commands, closed code blocks): the message says what to change."""
    rx.read(ROOT / page)


def test_update_readme(request: pytest.FixtureRequest) -> None:
    """``--update-readme``: rewrite every page's example outputs before they are compared."""
    if not request.config.getoption("--update-readme"):
        pytest.skip("only with --update-readme")
    changed = [f"{rx.page_name(path)}: {title}" for path in rx.pages() for title in rx.update(path)]
    print("rewrote:", *changed or ["nothing"], sep="\n  ")


def test_the_pages_have_compared_and_exempt_examples() -> None:
    found = []
    for path in rx.pages():
        try:
            found += rx.read(path)
        except rx.ExampleError:
            continue  # test_every_page_holds_examples_that_can_run names it
    readme = [e for e in found if e.page == "README.md"]
    assert sum(1 for e in readme if not e.varies) >= 4
    docs = [e for e in found if e.page != "README.md"]
    assert sum(1 for e in docs if not e.varies) >= 8
    assert len({e.page for e in docs}) >= 8  # the examples moved with their sections
    for example in found:
        if example.varies is not None:
            assert example.varies.strip(), f"{example.page}: {example.title}: say why it varies"


def test_the_readme_is_a_front_page() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; a front page has at most {README_MAX_LINES}: "
        "move a section to a docs/ page and link it"
    )
    assert "pip install . && sepconv cost" in text  # the two set-up commands
    assert "pip install '.[test]' && pytest" in text
    assert "(docs/index.md)" in text
    # every example it shows runs: none is a shown-only console block
    assert not re.search(r"^```console\n\$ sepconv", text, re.M)
    titles = [e.title for e in rx.read(README)]
    assert len(titles) >= 5, titles


def _diff(shown: list[str], real: list[str], page: str) -> str:
    lines = difflib.unified_diff(shown, real, page, "real output", lineterm="", n=1)
    return "\n".join(lines)


@needs_pty
@pytest.mark.parametrize(("page", "index"), compared())
def test_example_prints_what_it_shows(page: str, index: int) -> None:
    example = rx.read(ROOT / page)[index]  # read now: --update-readme may have rewritten it
    real = rx.run_example(example)
    for command, output in zip(example.commands, real, strict=True):
        shown = rx.normalise(command.output)
        assert shown == output, (
            f"{page}:{command.first + 1}: {command.line!r} prints something else now "
            "(python tests/update_readme.py rewrites the shown outputs):\n"
            + _diff(shown, output, page)
        )


def test_a_pages_files_are_its_own() -> None:
    """A ``file:`` block serves the examples of its own page, wherever they are on it, and
    no other page's."""
    with_file = (
        "```text\n$ sepconv validate a.yaml\n```\n\n"
        "<!-- file: a.yaml -->\n```yaml\ninput: [8, 8, 3]\n```\n"
    )
    without = "```text\n$ sepconv validate a.yaml\n```\n"
    (first,) = rx.parse(with_file, "docs/one.md")
    (second,) = rx.parse(without, "docs/two.md")
    assert first.files == {"a.yaml": "input: [8, 8, 3]\n"} and first.page == "docs/one.md"
    assert second.files == {} and second.page == "docs/two.md"
    with pytest.raises(rx.ExampleError, match=r"^docs/two\.md:3: "):
        rx.parse("text\n```text\n$ sepconv cost | head\n```\n", "docs/two.md")


@needs_pty
def test_update_rewrites_only_the_outputs(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    before = "\n".join(
        [
            "# Demo",
            "",
            "<!-- file: bad.yaml -->",
            "```yaml",
            "input: [8, 8, 3]",
            "layers:",
            "  - {type: conv, kernel: 3, filter: 8}",
            "```",
            "",
            "```text",
            "$ sepconv cost --kernel 0",
            "stale output",
            "$ sepconv validate bad.yaml",
            "```",
            "",
            "<!-- output varies: timed -->",
            "```text",
            "$ sepconv cost --kernel 0",
            "left alone",
            "```",
            "trailing text  ",
            "",
        ]
    )
    page.write_text(before, encoding="utf-8")
    assert rx.update(page) == ["$ sepconv cost --kernel 0"]
    after = page.read_text(encoding="utf-8")
    head, tail = before.split("stale output\n"), after.split("\n$ sepconv validate bad.yaml\n")
    assert after.startswith(head[0])  # everything above the first output as it was
    assert tail[0] == head[0] + "sepconv: error: --kernel: expected an integer >= 1, got 0"
    validate_output, rest = tail[1].split("\n```\n", 1)
    assert validate_output.startswith("bad.yaml:3:")  # the file block was written and read
    assert "layers[0].filter" in validate_output
    assert rest == before.split("$ sepconv validate bad.yaml\n```\n", 1)[1]  # the rest too
    assert rx.update(page) == []  # a second run changes nothing
    assert rx.update(page, include_varying=True) == ["$ sepconv cost --kernel 0"]
    assert "left alone" not in page.read_text(encoding="utf-8")


def test_an_example_with_a_pipe_is_refused() -> None:
    with pytest.raises(rx.ExampleError, match="plain arguments only"):
        rx.parse("```text\n$ sepconv cost --format json | jq .\n```\n")


# ----------------------------------------------------------------------- spec reference


def test_the_spec_page_type_table_names_every_key_of_every_type() -> None:
    """docs/spec-format.md's table of layer types (the README's copy moved there) lists
    exactly the keys each type takes, required and optional."""
    from sepconv_cli.spec.layers import TYPES

    page = (DOCS / "spec-format.md").read_text(encoding="utf-8")
    table = page.split("| Type | Required | Optional")[1].split("\n\n")[0]
    rows = re.findall(r"^\| `(\w+)` \|([^|]*)\|([^|]*)\|", table, re.M)
    assert {kind for kind, _, _ in rows} == set(TYPES)
    for kind, required, optional in rows:
        keys = set(re.findall(r"`(\w+)`", required + optional)) - {"conv"}  # "as for `conv`"
        assert keys == TYPES[kind][0] | TYPES[kind][1], kind
    assert "[docs/spec-format.md](docs/spec-format.md)" in README.read_text(encoding="utf-8")
