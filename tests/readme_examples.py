"""The documentation's terminal examples: find them, run them for real, compare or rewrite
them.

An *example* is a fenced ```` ```text ```` block of README.md or of a ``docs/*.md`` page
(:func:`pages`) whose first line starts with ``$ sepconv``. Each ``$ sepconv …`` line is a
command; the lines after it, up to the next ``$`` line or the end of the block, are what that
command printed. A block that cannot run here (its file comes from elsewhere: a model
exported from PyTorch) is a ```` ```console ```` block instead: shown, never run. Rules:

* Each command runs as ``python -m sepconv_cli ARGS`` from this checkout, in a pseudo-terminal
  of :data:`WIDTH` columns (what a user at an 80-column terminal sees: the width decides
  which columns a table shows), with stdout and stderr on that terminal as a user sees them,
  colour codes removed, ``NO_COLOR=1``, an empty private ``HOME`` and a scratch working
  directory. Trailing spaces and trailing blank lines are not compared.
* HTML comments on the lines just above a block's opening fence (invisible on GitHub) steer it:

  - ``<!-- output varies: REASON -->``: the output is not compared (timed or
    machine-specific output). ``python tests/update_readme.py --all`` still rewrites it.
  - ``<!-- width: N -->``: run this block at N columns instead of :data:`WIDTH`.
  - ``<!-- file: NAME -->`` above any fenced block (``yaml``, ``csv``, …): the block's text is
    written to NAME in the scratch directory before any command runs, so an example can read
    a file its page shows. Files belong to their page: every example of a page sees every
    file block of that page, and no other page's.

* The commands of one block run in order in one scratch directory, so a command can read
  what an earlier one wrote (``sepconv export … -o model.onnx`` then ``sepconv profile
  model.onnx``).

* A command line may use only plain arguments: no pipes, redirections or shell variables
  (those belong in a ```` ```bash ```` block, which is not run).

:func:`update` rewrites the outputs in place from the real commands (``python
tests/update_readme.py``; ``pytest tests/test_readme.py --update-readme``); only the output
lines change, every other byte of the page stays as it was.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
WIDTH = 80  # columns of the terminal the examples are shown at
HEIGHT = 50
TIMEOUT_S = 120.0  # per command; a timed MobileNet profile takes about 10 s

_FENCE = re.compile(r"^(`{3,})(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*([\w -]+?)\s*:\s*(.*?)\s*-->\s*$")
# a CSI sequence (colours, cursor moves: its parameters and final letter captured), an OSC
# sequence (titles, links), another escape, a control character, or a run of plain text
_TOKEN = re.compile(
    r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]|([\r\n\b])"
    r"|([^\x1b\r\n\b]+)"
)
_SHELL = set("|&;<>$`\\")


class ExampleError(Exception):
    """A page holds an example this module cannot run as written."""


def pages() -> list[Path]:
    """Every page whose examples are run: README.md, then ``docs/*.md`` by name."""
    return [README, *sorted(DOCS.glob("*.md"))]


def page_name(path: Path) -> str:
    """``path`` as the messages name it: relative to the checkout where it lies in it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


@dataclass
class Command:
    line: str  # the ``$ sepconv …`` line as written
    args: list[str]  # the arguments after ``sepconv``
    output: list[str]  # the lines shown after it
    first: int  # 0-based line number of ``line`` in its page


@dataclass
class Example:
    start: int  # 0-based line of the opening fence
    end: int  # 0-based line of the closing fence
    commands: list[Command]
    width: int = WIDTH
    varies: str | None = None  # the reason its output is not compared
    files: dict[str, str] = field(default_factory=dict)  # set by parse(): its page's files
    page: str = "README.md"  # the page it is on, as messages name it

    @property
    def title(self) -> str:
        return self.commands[0].line


def _markers(lines: list[str], fence: int) -> dict[str, str]:
    """The ``<!-- key: value -->`` comments directly above line ``fence``."""
    found: dict[str, str] = {}
    i = fence - 1
    while i >= 0 and (match := _MARKER.match(lines[i].strip())):
        found.setdefault(match[1].lower(), match[2])
        i -= 1
    return found


def _arguments(line: str, where: str) -> list[str]:
    text = line[2:].strip()
    if any(ch in _SHELL for ch in text.split("#")[0]):
        raise ExampleError(
            f"{where}: {line!r}: an example runs plain arguments only (no pipes, "
            "redirections or variables); show it in a ```bash block instead"
        )
    words = shlex.split(text, comments=True)
    if not words or words[0] != "sepconv":
        raise ExampleError(f"{where}: {line!r}: an example command is `sepconv …`")
    return words[1:]


def parse(text: str, page: str = "README.md") -> list[Example]:
    """Every example of one page's text, in order, each knowing every ``file:`` block of
    that page; ``page`` names it in messages."""
    lines = text.split("\n")
    examples: list[Example] = []
    files: dict[str, str] = {}
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, language = opening[1], opening[2]
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != fence:
            end += 1
        if end == len(lines):
            raise ExampleError(f"{page}:{i + 1}: a code block is never closed")
        body = lines[i + 1 : end]
        markers = _markers(lines, i)
        if "file" in markers:
            files[markers["file"]] = "\n".join(body) + "\n"
        if language == "text" and body and body[0].startswith("$ sepconv"):
            commands: list[Command] = []
            for offset, line in enumerate(body):
                number = i + 1 + offset
                if line.startswith("$ "):
                    where = f"{page}:{number + 1}"
                    commands.append(Command(line, _arguments(line, where), [], number))
                else:
                    commands[-1].output.append(line)
            width = int(markers.get("width", WIDTH))
            varies = markers.get("output varies")
            examples.append(Example(i, end, commands, width, varies, page=page))
        i = end + 1
    for example in examples:
        example.files = files
    return examples


def normalise(lines: list[str]) -> list[str]:
    """What is compared: trailing spaces and trailing blank lines dropped."""
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def _environment(home: Path, width: int) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "COLUMNS": str(width),
        "LINES": str(HEIGHT),
        "TERM": "xterm-256color",
        "NO_COLOR": "1",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUTF8": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return env


def run_in_terminal(args: list[str], cwd: Path, home: Path, width: int) -> list[str]:
    """``python -m sepconv_cli ARGS`` on a pseudo-terminal ``width`` columns wide: the lines
    a user sees (stdout and stderr interleaved, escape codes removed)."""
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, width, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "sepconv_cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=_environment(home, width),
        close_fds=True,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                process.kill()
                raise ExampleError(f"`sepconv {shlex.join(args)}` ran over {TIMEOUT_S:.0f} s")
            ready, _, _ = select.select([controller], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(controller)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    text = text.replace(str(home), "~")  # the scratch HOME, as a user's home reads
    return normalise(screen(text))


def screen(text: str) -> list[str]:
    """The lines a terminal shows after ``text``: what a progress display drew and then
    erased (cursor up, erase line, carriage return) is gone, as on the user's screen; colours
    and other escapes are dropped. Lines are not wrapped at the terminal width (a long
    message stays one line, as it would in a file)."""
    lines: list[list[str]] = [[]]
    row = col = 0
    for match in _TOKEN.finditer(text):
        params, final, control, plain = match[1], match[2], match[3], match[4]
        if plain:
            line = lines[row]
            line.extend(" " * (col - len(line)))
            line[col : col + len(plain)] = list(plain)
            col += len(plain)
        elif control == "\n":
            row += 1
            col = 0  # the pseudo-terminal turns \n into \r\n
            if row == len(lines):
                lines.append([])
        elif control == "\r":
            col = 0
        elif control == "\b":
            col = max(0, col - 1)
        elif final:
            numbers = [int(n) if n.isdigit() else 0 for n in (params or "").split(";")]
            n = numbers[0] if numbers else 0
            if final == "A":  # cursor up
                row = max(0, row - max(n, 1))
            elif final == "B":  # cursor down
                row += max(n, 1)
                lines.extend([] for _ in range(row + 1 - len(lines)))
            elif final == "C":
                col += max(n, 1)
            elif final == "D":
                col = max(0, col - max(n, 1))
            elif final == "G":  # cursor to column n
                col = max(n, 1) - 1
            elif final == "K":  # erase in line: 0 to the end, 1 to the cursor, 2 all
                line = lines[row]
                if n == 0:
                    del line[col:]
                elif n == 1:
                    line[: col + 1] = [" "] * min(len(line), col + 1)
                else:
                    line.clear()
            elif final == "J" and n == 0:  # erase below
                del lines[row][col:]
                del lines[row + 1 :]
    return ["".join(line) for line in lines]


def run_example(example: Example) -> list[list[str]]:
    """The real output of each command of ``example``, in order."""
    with tempfile.TemporaryDirectory(prefix="sepconv-readme-") as scratch:
        work, home = Path(scratch) / "work", Path(scratch) / "home"
        for folder in (work, home / ".cache", home / ".local" / "state"):
            folder.mkdir(parents=True)
        for name, content in example.files.items():
            (work / name).write_text(content, encoding="utf-8")
        return [run_in_terminal(c.args, work, home, example.width) for c in example.commands]


def render(example: Example, outputs: list[list[str]]) -> list[str]:
    """The block's new body: each command line as written, then its real output."""
    body: list[str] = []
    for command, output in zip(example.commands, outputs, strict=True):
        body.append(command.line)
        body.extend(output)
    return body


def read(path: Path) -> list[Example]:
    """The examples of the page at ``path``."""
    return parse(path.read_text(encoding="utf-8"), page_name(path))


def update(
    path: Path = README, *, include_varying: bool = False, only: str | None = None
) -> list[str]:
    """Rewrite the outputs of ``path``'s examples from the real commands; return the first
    command line of every example that changed. Examples marked ``output varies`` are left
    alone unless ``include_varying``; with ``only``, just the examples whose first command
    line contains that text. Every command runs before the file is written, and the file is
    replaced in one step, so a failure leaves the page as it was."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    changed: list[str] = []
    # bottom up, so that a block's new length does not move the blocks above it
    for example in reversed(parse(text, page_name(path))):
        if (example.varies and not include_varying) or (only and only not in example.title):
            continue
        body = lines[example.start + 1 : example.end]
        new = render(example, run_example(example))
        if normalise(body) != normalise(new):
            changed.append(example.title)
            lines[example.start + 1 : example.end] = new
    if changed:
        temporary = path.with_name(f".{path.name}.updating")
        temporary.write_text("\n".join(lines), encoding="utf-8")
        temporary.replace(path)
    return list(reversed(changed))
