"""The README and docs/ say everything the CLI takes, and the README's examples print what
the commands print.

* Every option and argument of every command (read from the Click command Typer builds, so
  a new option counts the moment it exists) is listed in that command's section of
  ``docs/cli.md``, and that page lists no option the command does not have. ``cost`` and
  ``profile`` also list every option in their README flag tables.
* Every ``sepconv …`` command line shown in README.md and docs/ names a real command and
  real options.
* Every README example (a ```` ```text ```` block starting with ``$ sepconv``) is re-run in an
  80-column terminal and compared with what the block shows, unless it is marked
  ``<!-- output varies: REASON -->``; see ``tests/readme_examples.py`` for the rules.
  ``python tests/update_readme.py`` (or ``pytest tests/test_readme.py --update-readme``)
  rewrites the shown outputs from the real ones.
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
CLI_MD = ROOT / "docs" / "cli.md"
HELP = {"-h", "--help"}

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
def test_the_readme_flag_tables_list_every_option(name: str) -> None:
    table = sections(README.read_text(encoding="utf-8"), "### ")[f"`sepconv {name}` flags"]
    table = table.split("\n\n")[1]  # the table itself, not the prose after it
    real = names(commands()[name])
    missing = real - table_names(table)
    assert not missing, f"README's `sepconv {name}` flags table leaves out {sorted(missing)}"
    assert not table_names(table) - real, f"README's `sepconv {name}` table: unknown flags"


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


@pytest.mark.parametrize(
    "page", ["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
)
def test_every_command_line_shown_is_real(page: str) -> None:
    known = commands()
    lines = shown_command_lines((ROOT / page).read_text(encoding="utf-8"))
    if page == "README.md":
        assert len(lines) > 30
    problems = [f"{line!r}: {why}" for line in lines if (why := check_command_line(line, known))]
    assert not problems, f"{page}: " + "; ".join(problems)


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


def examples() -> list[rx.Example]:
    return rx.parse(README.read_text(encoding="utf-8"))


def test_update_readme(request: pytest.FixtureRequest) -> None:
    """``--update-readme``: rewrite the README's example outputs before they are compared."""
    if not request.config.getoption("--update-readme"):
        pytest.skip("only with --update-readme")
    changed = rx.update(README)
    print("rewrote:", *changed or ["nothing"], sep="\n  ")


def test_the_readme_has_compared_and_exempt_examples() -> None:
    found = examples()
    assert sum(1 for e in found if not e.varies) >= 4
    for example in found:
        if example.varies is not None:
            assert example.varies.strip(), f"{example.title}: say why its output varies"


def _diff(shown: list[str], real: list[str]) -> str:
    lines = difflib.unified_diff(shown, real, "README", "real output", lineterm="", n=1)
    return "\n".join(lines)


@needs_pty
@pytest.mark.parametrize(
    "index",
    [i for i, e in enumerate(examples()) if not e.varies],
    ids=[str(e.title)[2:60] for e in examples() if not e.varies],
)
def test_readme_example_prints_what_it_shows(index: int) -> None:
    example = examples()[index]  # read now: --update-readme may have rewritten the file
    real = rx.run_example(example)
    for command, output in zip(example.commands, real, strict=True):
        shown = rx.normalise(command.output)
        assert shown == output, (
            f"README.md:{command.first + 1}: {command.line!r} prints something else now "
            "(python tests/update_readme.py rewrites the README's outputs):\n"
            + _diff(shown, output)
        )


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


def type_table(text: str) -> dict[str, dict[str, str | None]]:
    """``{type: {key: default or None}}`` of a ``| Type | Required | Optional …`` table; a
    default is the ``(…)`` right after a key, ``(defaults as for `conv`)`` names none."""
    table = text.split("| Type | Required | Optional")[1].split("\n\n")[0]
    out: dict[str, dict[str, str | None]] = {}
    for kind, required, optional in re.findall(r"^\| `(\w+)` \|([^|]*)\|([^|]*)\|", table, re.M):
        keys: dict[str, str | None] = dict.fromkeys(re.findall(r"`(\w+)`", required))
        for key, default in re.findall(r"`(\w+)`(?: \(([^)]*)\))?", optional):
            keys[key] = default.strip("*") if default and "as for" not in default else None
        out[kind] = keys
    return out


def test_the_readme_spec_table_agrees_with_the_code_and_the_spec_page() -> None:
    from sepconv_cli.spec.layers import TYPES

    readme = type_table(README.read_text(encoding="utf-8"))
    page = type_table((ROOT / "docs" / "spec-format.md").read_text(encoding="utf-8"))
    assert set(readme) == set(TYPES)
    for kind, (required, optional) in TYPES.items():
        assert set(readme[kind]) == set(required) | set(optional), kind
        for key, default in readme[kind].items():
            other = page[kind].get(key)
            if default is not None and other is not None:
                same = re.split("[:; ]", default)[0] == re.split("[:; ]", other)[0]
                assert same, (kind, key, default, other)
    assert "[docs/spec-format.md](docs/spec-format.md)" in README.read_text(encoding="utf-8")
