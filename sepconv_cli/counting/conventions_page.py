"""``docs/conventions.md``, rendered from the rules of :mod:`sepconv_cli.counting.conventions`
(each rule's full statement, then every phrasing the outputs use, then the JSON object).

The page's own module, apart from the rules: ``python -m sepconv_cli.counting.conventions``
(that module's ``main``) writes it, and ``tests/test_docs.py`` fails when it is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sepconv_cli.counting.conventions import RULES, report_conventions


def markdown() -> str:
    """``docs/conventions.md``: every rule in full, with the words each output uses."""
    out = [
        "# Counting conventions",
        "",
        "<!-- Generated from sepconv_cli/counting/conventions.py by "
        "`python -m sepconv_cli.counting.conventions`: edit that module, not this file. -->",
        "",
        "How sepconv counts. These rules are stated once, in "
        "`sepconv_cli/counting/conventions.py`; the JSON `conventions` object, the `--help` "
        "text of `cost`, `profile` and `sweep`, the table footers and this page are all "
        "produced from it. The arithmetic is in `sepconv_cli/counting/ops.py` (one class per "
        "operation), `sepconv_cli/counting/lowering.py` (the forms of each layer type) and "
        "`sepconv_cli/counting/pairing.py` (a depthwise and the 1×1 it feeds as one "
        "convolution).",
        "",
    ]
    for rule in RULES:
        out += [f"## {rule.title}", "", rule.doc, ""]
        said = [
            (f"JSON `conventions.{rule.key}`", rule.json),
            ("`--help`", rule.help),
            ("Table footers", rule.footer),
            ("Shorter footers", rule.short),
        ]
        lines = [f"- {where}: {_quoted(text)}" for where, text in said if text]
        if rule.json and not rule.in_report_json:
            lines[0] += " (`sweep` JSON only)"
        out += [*lines, ""] if lines else []
    out += [
        "## The `conventions` object",
        "",
        "`sepconv cost --format json` and `sepconv profile --format json` carry the rules as "
        "`conventions`, with the value type of the report (`sepconv sweep` adds `ratio`). "
        "For the default `float32`:",
        "",
        "```json",
        json.dumps(report_conventions("float32", 4), indent=2),
        "```",
        "",
    ]
    return "\n".join(out)


def _quoted(text: str) -> str:
    return "`" + text + "`" if "`" not in text else '"' + text + '"'


def main(argv: list[str], default: Path) -> int:
    """Write the page to ``default`` (or the path given); ``--check`` only compares."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sepconv_cli.counting.conventions",
        description="Write docs/conventions.md from the conventions table.",
    )
    parser.add_argument("path", nargs="?", type=Path, help="where to write (docs/conventions.md)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    args = parser.parse_args(argv)
    path = args.path or default
    text = markdown()
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(
                f"{path} is stale: run python -m sepconv_cli.counting.conventions", file=sys.stderr
            )
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0
