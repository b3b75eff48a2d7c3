"""Every operator test model of the ``onnx`` package is counted, named or refused, never an
internal error (issue 22).

The models are onnx's own node tests (``onnx.backend.test.case.node``, about 1,900 of the
installed onnx: one operator each, with its function expansion), generated in memory and
profiled in-process (tests/onnx_operator_cases.py); all of them, about 15 s on one core.
Each must end in exit 0 with JSON that parses and holds no negative count, or in exit 2 with
one stderr line; never exit 3, a traceback or an exception. ``benchmarks/onnx_operator_models.py``
prints the same outcomes as a table.

:data:`KNOWN_INTERNAL` lists the cases that are still internal errors, each with its cause:
while any is, the test is an expected failure (xfail) that names them; a case that is an
internal error and not in the list fails it, and so does one in the list that no longer is
(strict: remove it from the list).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx")

from onnx_operator_cases import (  # tests/onnx_operator_cases.py
    BROKEN,
    CATEGORIES,
    COUNTED,
    INTERNAL,
    NAMED,
    PARTLY,
    REFUSED,
    classify,
    operator_cases,
    profile_all,
)

KNOWN_INTERNAL: dict[str, str] = {}
"""Internal errors still to fix (case name → cause); remove each as it is fixed."""


def test_every_operator_model_is_counted_named_or_refused(tmp_path: Path) -> None:
    cases = operator_cases()
    assert len(cases) > 1000, f"onnx generated only {len(cases)} node test cases"
    outcomes = profile_all(cases, tmp_path)
    internal = {o.name: o for o in outcomes if o.category == INTERNAL}
    problems = [
        f"internal error: {o.op_type} {o.name}: {o.detail}"
        for o in internal.values()
        if o.name not in KNOWN_INTERNAL
    ]
    problems += [
        f"{o.category}: {o.op_type} {o.name}: {o.detail}" for o in outcomes if o.category == BROKEN
    ]
    problems += [
        f"no longer an internal error, remove it from KNOWN_INTERNAL: {name}"
        for name in sorted(set(KNOWN_INTERNAL) - set(internal))
    ]
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
    assert {o.category for o in outcomes} >= {COUNTED, NAMED}
    assert not list(tmp_path.iterdir())  # each model is removed once profiled
    if internal:
        causes = sorted({KNOWN_INTERNAL[name] for name in internal})
        pytest.xfail(
            f"{len(internal)} operator model(s) still an internal error: " + "; ".join(causes)
        )


_PATH = Path("/tmp/m.onnx")


@pytest.mark.parametrize(
    ("code", "stdout", "stderr", "exception", "category", "detail"),
    [
        (
            3,
            "",
            "sepconv: error: internal error: IndexError: list index out of range (please "
            "report it; SEPCONV_DEBUG=1 shows the traceback)\n",
            None,
            INTERNAL,
            "IndexError: list index out of range",
        ),
        (1, "", "", KeyError("w"), INTERNAL, "KeyError: 'w'"),
        (-9, "", "", None, INTERNAL, ""),
        (
            2,
            "",
            f"sepconv: error: {_PATH}: no node of this graph is one sepconv counts "
            "(node types: LRN)\n",
            SystemExit(2),
            NAMED,
            "no node of this graph is one sepconv counts (node types: LRN)",
        ),
        (
            2,
            "",
            f"sepconv: error: {_PATH}: nothing to count: its 1 node(s) only move data (Cast)\n",
            SystemExit(2),
            NAMED,
            "nothing to count: its 1 node(s) only move data (Cast)",
        ),
        (
            2,
            "",
            f"sepconv: error: {_PATH}: input 'x' has no shape\n",
            SystemExit(2),
            REFUSED,
            "input 'x' has no shape",
        ),
        (2, "", "sepconv: error: a\nand more\n", SystemExit(2), BROKEN, None),
        (2, "", "", SystemExit(2), BROKEN, None),
        (1, "", "sepconv: error: --max-macs\n", SystemExit(1), BROKEN, None),
        (0, "{", "", None, BROKEN, None),
        (0, json.dumps({"layers": [{"as_specified": {"macs": -3}}]}), "", None, BROKEN, None),
        (
            0,
            json.dumps({"uncounted_nodes": [{"op_type": "LRN"}], "totals": {}}),
            "",
            None,
            PARTLY,
            "not counted: LRN",
        ),
        (
            0,
            json.dumps({"uncounted_nodes": [], "totals": {"as_specified": {"macs": 6}}}),
            "",
            None,
            COUNTED,
            "6 MACs",
        ),
    ],
)
def test_each_outcome_is_sorted_into_its_category(
    code: int,
    stdout: str,
    stderr: str,
    exception: BaseException | None,
    category: str,
    detail: str | None,
) -> None:
    assert category in CATEGORIES
    found = classify(code, stdout, stderr, exception, _PATH)
    assert found[0] == category
    if detail is not None:
        assert found[1] == detail
