"""The operator test models of the ``onnx`` package, profiled by sepconv in-process (issue 22).

The onnx wheel does not ship its generated ``data/node/*/model.onnx`` files, but it ships
their generator, ``onnx.backend.test.case.node``: :func:`operator_cases` builds every model
in memory (about 1,900, one per ``expect(...)`` call of the package, each operator's function
expansion included), :func:`profile_case` runs ``sepconv profile FILE --format json -q`` on
one through ``typer.testing.CliRunner`` and sorts the result into one of :data:`CATEGORIES`.
Used by ``tests/test_onnx_operator_models.py`` (the contract) and
``benchmarks/onnx_operator_models.py`` (the table); imports onnx, so import it after
``pytest.importorskip("onnx")``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import typer.testing
from onnx.backend.test.case.node import collect_testcases
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

COUNTED = "counted"
PARTLY = "counted, some named"
NAMED = "named"
REFUSED = "refused"
INTERNAL = "internal"
BROKEN = "broken contract"

CATEGORIES = (COUNTED, PARTLY, NAMED, REFUSED, INTERNAL, BROKEN)
"""Every outcome, in the table's order:

- ``counted``: exit 0, every node counted (``uncounted_nodes`` empty);
- ``counted, some named``: exit 0, and the JSON's ``uncounted_nodes`` names the nodes left out;
- ``named``: exit 2, one line saying the graph has nothing sepconv counts and naming its node
  types ("no node of this graph is one sepconv counts (node types: …)", "nothing to count:
  its 1 node(s) only move data or compute shapes (Cast)": :data:`NAMED_PREFIXES`);
- ``refused``: exit 2, one line naming another fault (an input with no shape, ...);
- ``internal``: exit 3 ("internal error"), any other exit code but 0, 1 and 2, a traceback, or
  an exception that is not an exit;
- ``broken contract``: an exit of 0 or 2 that breaks its promise: a refusal of more or less
  than one stderr line, JSON that does not parse or holds a negative count, or exit 1 (the
  gates' failure: no gate is given here).
"""

NAMED_PREFIXES = ("no node of this graph is one sepconv counts", "nothing to count:")
_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


@dataclass(frozen=True)
class OperatorCase:
    """One generated model: onnx's test name, the operator it tests, and the model."""

    name: str
    op_type: str
    model: onnx.ModelProto


@dataclass(frozen=True)
class Outcome:
    """What sepconv made of one case: the category, the exit code and one line saying why."""

    name: str
    op_type: str
    category: str
    exit_code: int
    detail: str
    seconds: float


def _op_type(model: onnx.ModelProto) -> str:
    node = model.graph.node[0]
    return f"{node.domain}:{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


@functools.cache
def operator_cases() -> tuple[OperatorCase, ...]:
    """Every node test case of the installed onnx, in onnx's order.

    A case ``test_x_expanded`` (or ``..._expanded_verN``) is the function body of the operator
    of ``test_x``: its op type is that operator's, not its first node's. Generating them takes
    several seconds (onnx computes each case's reference outputs with NumPy); cached.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow warnings from onnx's casts
        found = collect_testcases()
    models = [(case.name, case.model) for case in found if case.model is not None]
    single = {name: _op_type(model) for name, model in models if not _EXPANDED.search(name)}
    cases = []
    for name, model in models:
        base = _EXPANDED.sub("", name)
        op_type = single.get(base) or (_op_type(model) if model.graph.node else "?")
        cases.append(OperatorCase(name, op_type, model))
    return tuple(cases)


def negative_counts(report: Any, where: str = "") -> list[str]:
    """The JSON paths of every negative integer in a report (none is allowed)."""
    if isinstance(report, dict):
        return [p for k, v in report.items() for p in negative_counts(v, f"{where}.{k}")]
    if isinstance(report, list):
        return [p for i, v in enumerate(report) for p in negative_counts(v, f"{where}[{i}]")]
    if isinstance(report, int) and not isinstance(report, bool) and report < 0:
        return [f"{where} = {report}"]
    return []


def classify(
    exit_code: int, stdout: str, stderr: str, exception: BaseException | None, path: Path
) -> tuple[str, str]:
    """The category of one run, and its one-line detail (the file's path left out)."""
    lines = [line.replace(f"{path}: ", "") for line in stderr.strip().splitlines()]
    first = lines[0].removeprefix("sepconv: error: ") if lines else ""
    crashed = exception is not None and not isinstance(exception, SystemExit)
    if (
        exit_code not in (0, 1, 2)
        or crashed
        or "internal error" in stderr
        or "Traceback (most recent call last)" in stdout + stderr
    ):
        if crashed:
            first = f"{type(exception).__name__}: {exception}"
        first = first.removeprefix("internal error: ")
        return INTERNAL, re.sub(r" \(please report it;.*\)$", "", first)
    if exit_code == 1:
        return BROKEN, f"exit 1: {first}"
    if exit_code == 2:
        if len(lines) != 1:
            return BROKEN, f"exit 2 with {len(lines)} stderr lines: {' | '.join(lines)[:200]}"
        return (NAMED if first.startswith(NAMED_PREFIXES) else REFUSED), first
    try:
        report = json.loads(stdout)
    except ValueError as error:
        return BROKEN, f"exit 0, JSON does not parse: {error}"
    negative = negative_counts(report)
    if negative:
        return BROKEN, f"negative count: {', '.join(negative[:3])}"
    uncounted = report.get("uncounted_nodes") or []
    if uncounted:
        kinds = sorted({str(u.get("op_type")) for u in uncounted})
        return PARTLY, f"not counted: {', '.join(kinds)}"
    macs = report.get("totals", {}).get("as_specified", {}).get("macs")
    return COUNTED, f"{macs} MACs"


def profile_case(case: OperatorCase, directory: Path, runner: CliRunner) -> Outcome:
    """``sepconv profile`` on one case, written to ``directory`` (and removed after)."""
    path = directory / f"{case.name}.onnx"
    path.write_bytes(case.model.SerializeToString())
    start = time.perf_counter()
    try:
        done = runner.invoke(app, ["profile", str(path), "--format", "json", "-q"])
    finally:
        seconds = time.perf_counter() - start
        path.unlink()
    category, detail = classify(done.exit_code, done.stdout, done.stderr, done.exception, path)
    return Outcome(case.name, case.op_type, category, done.exit_code, detail, seconds)


@contextlib.contextmanager
def command_built_once() -> Iterator[None]:
    """Build Typer's Click command once for many invokes (as tests/conftest.py does)."""
    build = getattr(typer.testing, "_get_command", None)
    if build is None:  # Typer renamed its private hook: slower, not wrong
        yield
        return
    setattr(typer.testing, "_get_command", functools.cache(build))  # noqa: B010
    try:
        yield
    finally:
        setattr(typer.testing, "_get_command", build)  # noqa: B010


def profile_all(cases: Sequence[OperatorCase], directory: Path) -> list[Outcome]:
    """:func:`profile_case` for each case, in order."""
    runner = CliRunner()
    with command_built_once():
        return [profile_case(case, directory, runner) for case in cases]


def markdown_table(outcomes: Sequence[Outcome]) -> str:
    """The totals per category, then the op types of every refusal, internal error and
    broken contract (how many cases, and the first case's reason)."""
    total = Counter(o.category for o in outcomes)
    ops = {o.op_type for o in outcomes}
    out = [
        f"{len(outcomes)} operator test models of onnx {onnx.__version__} ({len(ops)} op types):",
        "",
        "| Outcome | Models | Op types |",
        "|---|---:|---:|",
    ]
    for category in CATEGORIES:
        kinds = {o.op_type for o in outcomes if o.category == category}
        out.append(f"| {category} | {total[category]:,} | {len(kinds)} |")
    out.append(f"| **total** | **{len(outcomes):,}** | **{len(ops)}** |")
    for category in (REFUSED, INTERNAL, BROKEN):
        chosen = [o for o in outcomes if o.category == category]
        if not chosen:
            continue
        by_op: dict[str, list[Outcome]] = {}
        for o in chosen:
            by_op.setdefault(o.op_type, []).append(o)
        out += ["", f"{category.capitalize()}, by op type:", ""]
        out += ["| Op type | Models | First case | Reason |", "|---|---:|---|---|"]
        for op, group in sorted(by_op.items()):
            reason = group[0].detail.replace("|", "\\|")
            out.append(f"| {op} | {len(group)} | `{group[0].name}` | {reason} |")
    return "\n".join(out)
