"""Names are data: how a name read from a file is shown to a person.

A node, tensor, graph or layer name comes from a model file (ONNX, a YAML spec) that anyone
may have written, and holds any characters. Rule: every character Python's
``str.isprintable`` calls non-printable is shown as its escape, as ``repr`` writes it —
``\\n``, ``\\r``, ``\\t``, ``\\xNN`` (the other C0 and C1 controls, ESC and DEL),
``\\uNNNN`` and ``\\UNNNNNNNN`` (format characters such as the bidi overrides ``\\u202e`` and
zero-width joiners, the line and paragraph separators, spaces other than ``" "``,
surrogates, private-use and unassigned code points); every other character is itself. So a
shown name is one line that draws only its own characters: it cannot end a line, move the
cursor, recolour the terminal or reorder the text around it. A backslash stays itself, so
showing text twice changes nothing (``shown(shown(s)) == shown(s)``): a message may be shown
where it is built and again where it is printed. This is display, not quoting: JSON and CSV
keep the exact name (they quote it their own way), and export-spec's YAML quotes it
(``interchange/spec_writer``).

Markdown adds its own syntax: :func:`shown_in_markdown` also escapes what would end a table
cell or open an HTML tag. Rich markup is never interpreted in a name: the tables draw
:class:`rich.text.Text`, and the progress bar escapes its markup (``cli/console``).

This module is foundation, as ``errors`` and ``units``: every layer may import it, and it
imports no layer.
"""

from __future__ import annotations

from collections.abc import Container

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escaped(char: str) -> str:
    """One non-printable character as its escape (``repr``'s spelling)."""
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(text: str) -> str:
    """``text`` with every non-printable character escaped (the module's rule): one line,
    only the characters it names."""
    if text.isprintable():  # every name sepconv writes itself, and nearly every file's
        return text
    return "".join(c if c.isprintable() else escaped(c) for c in text)


def shown_in_markdown(text: str) -> str:
    """``text`` :func:`shown`, and safe in a markdown table cell or line: a backslash
    doubled and ``|`` escaped (GitHub's tables end a cell at an unescaped ``|``, and
    ``\\\\`` escapes the backslash itself), ``<`` written ``&lt;`` (no HTML tag opens)."""
    text = shown(text)
    if not any(c in text for c in "\\|<"):
        return text
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def unique_name(base: str, taken: Container[str], mark: str = "_") -> str:
    """``base``, else ``base{mark}2`` (with ``mark`` ``#``) or ``base{mark}1`` (``_``) and
    on, the first not in ``taken``: a graph writer's names for its nodes and tensors. The
    caller records it as taken."""
    first = 2 if mark == "#" else 1
    name, n = base, first - 1
    while name in taken:
        n += 1
        name = f"{base}{mark}{n}"
    return name
