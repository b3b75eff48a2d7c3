"""The operator test models of the ``onnx`` package, profiled by sepconv: a markdown table of
how many are counted, named, refused, and (the goal: none) internal errors (issue 22).

    python benchmarks/onnx_operator_models.py                 # every case of the installed onnx
    python benchmarks/onnx_operator_models.py --op Conv --op Einsum   # some op types only
    python benchmarks/onnx_operator_models.py --list refused  # also each case of a category
    python benchmarks/onnx_operator_models.py --json out.json # every outcome, for a script

The models are generated in memory from ``onnx.backend.test.case.node`` (the wheel does not
ship ``data/node/*/model.onnx``; these are the same models) and each is profiled in-process,
``sepconv profile FILE --format json -q`` through Typer's ``CliRunner``, from a temporary
directory. The categories are ``tests/onnx_operator_cases.py``'s; the test
``tests/test_onnx_operator_models.py`` holds sepconv to them. Exit status: 0 when no case is
an internal error or breaks the contract, 1 otherwise. Needs ``sepconv[onnx]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", action="append", default=[], help="only this op type (repeat)")
    parser.add_argument(
        "--list", action="append", default=[], metavar="CATEGORY", help="list every case of it"
    )
    parser.add_argument("--json", type=Path, help="write every outcome to this file")
    args = parser.parse_args(argv)
    try:
        import onnx_operator_cases as cases  # tests/onnx_operator_cases.py
    except ImportError as missing:
        print(f"needs sepconv[onnx]: {missing}", file=sys.stderr)
        return 2
    unknown = [c for c in args.list if c not in cases.CATEGORIES]
    if unknown:
        parser.error(f"--list: {unknown[0]!r} is none of {', '.join(cases.CATEGORIES)}")

    start = time.perf_counter()
    chosen = cases.operator_cases()
    generated = time.perf_counter() - start
    if args.op:
        chosen = tuple(c for c in chosen if c.op_type in args.op)
        if not chosen:
            parser.error(f"--op: no case of {', '.join(args.op)}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = cases.profile_all(chosen, Path(tmp))
    profiled = time.perf_counter() - start

    print(cases.markdown_table(outcomes))
    for category in args.list:
        print(f"\nEvery case {category}:\n")
        for o in outcomes:
            if o.category == category:
                print(f"- {o.op_type} `{o.name}` (exit {o.exit_code}): {o.detail}")
    slowest = sorted(outcomes, key=lambda o: o.seconds, reverse=True)[:5]
    print(
        f"\nTime: {generated:.1f} s to generate the models (onnx's reference outputs included), "
        f"{profiled:.1f} s to profile them, one process "
        f"({profiled / max(len(outcomes), 1) * 1000:.1f} ms a model); slowest: "
        + ", ".join(f"{o.name} {o.seconds * 1000:.0f} ms" for o in slowest)
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1) + "\n")
    bad = Counter(o.category for o in outcomes if o.category in (cases.INTERNAL, cases.BROKEN))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
