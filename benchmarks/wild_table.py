"""The wild corpus (tests/wild_corpus.py) as a markdown table: each real ONNX file, what
sepconv counts in it, what the independent references count, and what sepconv leaves out.

    python benchmarks/wild_table.py                    # obtain into a temporary directory
    python benchmarks/wild_table.py --corpus DIR       # obtain into DIR (kept), and write
                                                       # DIR/references.json
    python benchmarks/wild_table.py --full             # also the slow exports

Columns: sepconv's ``totals.as_specified`` MACs and params; the naive counter's
(tests/onnx_naive_counter.py); the exporting framework's own, where the file was exported
here (PyTorch's FlopCounterMode halved; Keras's layers), its params as the file holds them
once the exporter folded the batch-norms (``FrameworkReference.expected_file_params``, plus
the entry's explained ``framework_params_delta``);
``match`` compares sepconv with the naive counter (MACs, params); then sepconv's what-if
(every convolution standard, every one separable) and the node types sepconv did not count.
An entry whose source is missing here (no network, no torch, no tensorflow) is a row that
says why. With ``--corpus DIR``, ``SEPCONV_WILD_CORPUS=DIR pytest tests/test_wild_models.py``
then reads the files from DIR instead of obtaining them again.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import pytest
import wild_corpus  # tests/wild_corpus.py


def _m(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def measure(corpus: wild_corpus.Corpus, entry: wild_corpus.Entry, cwd: Path) -> dict[str, Any]:
    """One entry's row (and its record for references.json)."""
    row: dict[str, Any] = {
        "exporter": entry.exporter,
        "kind": entry.kind,
        "source": entry.source,
        "spec": list(entry.spec),
        "input_shapes": {name: list(dims) for name, dims in entry.input_shapes.items()},
        "input_values": dict(entry.input_values),
        "note": entry.note,
        "framework_params_delta": entry.framework_params_delta,
    }
    try:
        obtained = corpus.obtain(entry)
    except pytest.skip.Exception as skip:
        row["missing"] = str(skip.msg)
        return row
    except pytest.fail.Exception as failure:
        row["missing"] = f"FAILED: {failure.msg}"
        return row
    row["sha256"] = wild_corpus._sha256(obtained.path)
    row["versions"] = obtained.versions
    framework = obtained.framework
    row["framework"] = None if framework is None else framework.__dict__
    try:
        naive = wild_corpus.naive_reference(obtained)
        row["naive"] = {
            "macs": naive.macs,
            "params": naive.params,
            "weight_params": naive.weight_params,
            "elementwise_params": naive.elementwise_params,
            "bn_channels": naive.bn_channels,
            "macs_by_op": naive.macs_by_op(),
            "input_shapes": naive.input_shapes,
            "branches_taken": naive.branches_taken,
            "notes": naive.notes,
        }
        if framework is not None:
            row["framework_file_params"] = (
                framework.expected_file_params(naive.bn_channels) + entry.framework_params_delta
            )
    except Exception as error:  # the reference itself cannot count it: say so
        row["naive"] = {"error": f"{type(error).__name__}: {error}"}
    result = wild_corpus.run_sepconv(obtained, cwd)
    if result.report is None:
        row["sepconv_when_built"] = {"error": result.error}
    else:
        totals = result.totals
        uncounted = Counter(node["op_type"] for node in result.uncounted)
        row["sepconv_when_built"] = {
            "macs": totals["as_specified"]["macs"],
            "params": totals["as_specified"]["params"],
            "standard_macs": totals["standard"]["macs"],
            "separable_macs": totals["separable"]["macs"],
            "uncounted": dict(uncounted),
            "uncounted_nodes": result.uncounted,
        }
    return row


def table(rows: dict[str, dict[str, Any]]) -> str:
    head = (
        "| file | exporter | sepconv MACs | sepconv params | naive MACs | naive params "
        "| framework MACs | framework params (file) | match? | standard MACs | separable MACs "
        "| uncounted |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for name, row in rows.items():
        if "missing" in row:
            lines.append(f"| {name} | {row['exporter']} | {row['missing']} |")
            continue
        naive = row["naive"]
        mine = row["sepconv_when_built"]
        framework = row.get("framework")
        f_macs = None if framework is None else framework["macs"]
        f_params = row.get("framework_file_params")
        if "error" in mine:
            lines.append(
                f"| {name} | {row['exporter']} | error: {mine['error']} | | "
                f"{_m(naive.get('macs'))} | {_m(naive.get('params'))} | {_m(f_macs)} | "
                f"{_m(f_params)} | no | | | |"
            )
            continue
        match = naive.get("macs") == mine["macs"], naive.get("params") == mine["params"]
        verdict = {(True, True): "yes", (True, False): "MACs only", (False, True): "params only"}
        uncounted = ", ".join(f"{op}×{n}" for op, n in sorted(mine["uncounted"].items()))
        lines.append(
            f"| {name} | {row['exporter']} | {_m(mine['macs'])} | {_m(mine['params'])} | "
            f"{_m(naive.get('macs'))} | {_m(naive.get('params'))} | {_m(f_macs)} | "
            f"{_m(f_params)} | {verdict.get(match, 'no')} | {_m(mine['standard_macs'])} | "
            f"{_m(mine['separable_macs'])} | {uncounted or '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="obtain into (and read from) DIR")
    parser.add_argument("--full", action="store_true", help="also the slow exports")
    parser.add_argument("--only", default="", help="only the files whose name has this")
    args = parser.parse_args(argv)
    entries = [entry for entry in wild_corpus.ENTRIES if args.only in entry.name]
    with tempfile.TemporaryDirectory() as scratch:
        root = args.corpus or Path(scratch) / "corpus"
        corpus = wild_corpus.Corpus(
            root, ready=root, full=args.full, downloads=Path(scratch) / "downloads"
        )
        rows: dict[str, dict[str, Any]] = {}
        for entry in entries:
            print(f"{entry.name} …", file=sys.stderr, flush=True)
            rows[entry.name] = measure(corpus, entry, Path(scratch))
    if args.corpus is not None:
        path = args.corpus / wild_corpus.REFERENCES
        old: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
        files = {**old.get("files", {}), **rows}
        doc = {
            "about": (
                "Real ONNX files nobody on this project made, with references independent "
                "of sepconv: 'naive' is tests/onnx_naive_counter.py, 'framework' the "
                "exporting framework's own count of the exported model (PyTorch "
                "FlopCounterMode/2 and sum(numel); Keras layers and count_params), "
                "'framework_file_params' its params once batch-norms are folded as in the "
                "file (plus 'framework_params_delta', explained in 'note'). 'sepconv_when_built' "
                "is what sepconv said when this was written: a "
                "snapshot, never a reference. Built by benchmarks/wild_table.py --corpus."
            ),
            "versions": wild_corpus.versions(),
            "files": files,
        }
        path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
