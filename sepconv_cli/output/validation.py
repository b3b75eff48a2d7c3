"""The report of ``sepconv validate``: every problem found in the spec files, and its two
renderings (one problem a line, or JSON with each problem's file, line and column).

Problems are the messages the spec code wrote, located as ``file:line:column: message``
(``file: message`` when the file has no position to give).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sepconv_cli.names import shown

SCHEMA = "sepconv/validate/v1"

# DOTALL: a file's name, or a spec's text in a message, may hold a newline
_LOCATED = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<column>\d+): (?P<message>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Validation:
    """The files checked and every problem in them, in the order found."""

    files: Sequence[str]
    problems: Sequence[str]


def validation_text(result: Validation) -> str:
    """One problem a line (nothing when every file is valid), shown
    (:func:`sepconv_cli.names.shown`: a spec's own text in a message cannot start a line of
    its own); the JSON keeps each message exact."""
    return "".join(f"{shown(p)}\n" for p in result.problems)


def problem_dict(problem: str) -> dict[str, Any]:
    """A problem's location as fields; all None when the message carries no position."""
    match = _LOCATED.match(problem)
    if match is None:
        return {"file": None, "line": None, "column": None, "message": problem}
    return {
        "file": match["file"],
        "line": int(match["line"]),
        "column": int(match["column"]),
        "message": match["message"],
    }


def validation_json(result: Validation) -> str:
    doc = {
        "schema": SCHEMA,
        "valid": not result.problems,
        "files": list(result.files),
        "problems": [problem_dict(p) for p in result.problems],
    }
    return json.dumps(doc, indent=2) + "\n"
