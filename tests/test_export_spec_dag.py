"""``export-spec``'s DAG walk and its safety net (issue 21, item 5), on hand-made ONNX graphs:
an add of a tensor with itself, joins of tensors from outside one fork, attention between
two inputs, a depthwise whose 1×1 the file does not pair with it, a tensor shape inference
leaves without a shape, and a written spec that does not count what the file counts (exit
3, the output file untouched).

Every expected count is worked out by hand in the test's docstring: a k×k conv of C → F
channels on an H×W map is H·W·F·C·k² MACs and F·C·k² weights; its separable form a
depthwise (H·W·C·k², C·k²) plus a 1×1 (H·W·C·F, C·F); a 1×1 conv has one form; a MatMul of
computed (M, K) by (K, N) tensors is M·N·K MACs and no parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from onnx_graphs import ints, node, weight
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

pytest.importorskip("onnx")
runner = CliRunner()


def forms(*args: str) -> dict[str, tuple[int, int]]:
    """``profile``'s total (MACs, params) in each form."""
    done = runner.invoke(app, ["profile", *args, "--no-time", "--format", "json"])
    assert done.exit_code == 0, done.stderr
    totals = json.loads(done.stdout)["totals"]
    return {
        f: (totals[f]["macs"], totals[f]["params"])
        for f in ("as_specified", "standard", "separable")
    }


def exported(model: Path, tmp_path: Path, *flags: str) -> str:
    spec = tmp_path / "spec.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec), *flags])
    assert done.exit_code == 0, done.stderr
    return spec.read_text()


def round_trip(model: Path, tmp_path: Path, expected: dict[str, tuple[int, int]]) -> str:
    """The file and the spec export-spec writes of it both count ``expected``."""
    text = exported(model, tmp_path)
    assert "NOT EXPRESSED" not in text
    assert forms(str(model)) == expected
    assert forms(str(tmp_path / "spec.yaml")) == expected
    return text


def conv(name: str, x: str, y: str, cout: int, cin: int, k: int, group: int = 1) -> list[Any]:
    """A bias-free k×k conv (same padding) and its weight."""
    pad = k // 2
    op = node("Conv", [x, f"{name}.w"], [y], name, pads=[pad] * 4, group=group)
    return [op, weight(f"{name}.w", cout, cin // group, k, k)]


def graph(
    path: Path, parts: list[Any], inputs: dict[str, Any], outputs: list[str], rank: int = 4
) -> Path:
    """A model of ``parts`` (nodes and initializers), its outputs of ``rank`` unknown dims."""
    onnx = pytest.importorskip("onnx")
    helper, floats = onnx.helper, onnx.TensorProto.FLOAT
    made = helper.make_graph(
        [p for p in parts if hasattr(p, "op_type")],
        path.stem,
        [helper.make_tensor_value_info(n, floats, d) for n, d in inputs.items()],
        [helper.make_tensor_value_info(n, floats, [f"d{i}" for i in range(rank)]) for n in outputs],
        [p for p in parts if not hasattr(p, "op_type")],
    )
    onnx.save(helper.make_model(made, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_an_add_of_a_tensor_with_itself(tmp_path: Path) -> None:
    """x (4×8×8) → a 3×3 conv to 8 → c + c → a 1×1 conv to 2. NASNet adds a tensor to
    itself; the spec's ``add`` may not name one tensor twice, so it is a ``branches`` block
    of two empty branches merged by add.

    As specified and standard: 8·8·8·4·9 = 18,432 + 8·8·2·8 = 1,024 → 19,456 MACs;
    4·8·9 = 288 + 16 = 304 params. Separable: the 3×3 as a depthwise 8·8·4·9 = 2,304 and a
    1×1 8·8·4·8 = 2,048, with the last 1,024: 5,376 MACs; 36 + 32 + 16 = 84 params."""
    parts = [
        *conv("c3", "x", "c", 8, 4, 3),
        node("Add", ["c", "c"], ["s"], "twice"),
        *conv("head", "s", "y", 2, 8, 1),
    ]
    model = graph(tmp_path / "twice.onnx", parts, {"x": [1, 4, 8, 8]}, ["y"])
    text = round_trip(
        model,
        tmp_path,
        {"as_specified": (19_456, 304), "standard": (19_456, 304), "separable": (5_376, 84)},
    )
    assert "merge: add" in text
    assert "branches:" in text


def test_joins_of_tensors_from_outside_one_fork(tmp_path: Path) -> None:
    """a = conv(x), b = conv(a), p = a + b, q = b + p → a 1×1 conv: b's readers (p and q)
    never meet again among themselves, so the tree of blocks fails and the DAG walk writes
    flat ``add`` layers naming their inputs.

    As specified and standard: 8·8·8·4·9 = 18,432 + 8·8·8·8·9 = 36,864 + 8·8·2·8 = 1,024 →
    56,320 MACs; 288 + 576 + 16 = 880 params. Separable: (2,304 + 2,048) + (4,608 + 4,096)
    + 1,024 = 14,080 MACs; (36 + 32) + (72 + 64) + 16 = 220 params."""
    parts = [
        *conv("a", "x", "ta", 8, 4, 3),
        *conv("b", "ta", "tb", 8, 8, 3),
        node("Add", ["ta", "tb"], ["p"], "p"),
        node("Add", ["tb", "p"], ["q"], "q"),
        *conv("head", "q", "y", 2, 8, 1),
    ]
    model = graph(tmp_path / "cross.onnx", parts, {"x": [1, 4, 8, 8]}, ["y"])
    text = round_trip(
        model,
        tmp_path,
        {"as_specified": (56_320, 880), "standard": (56_320, 880), "separable": (14_080, 220)},
    )
    assert "{type: add, name: q, from: [b, p]}" in text


def test_attention_between_two_inputs(tmp_path: Path) -> None:
    """Two inputs (8×4×4 each), a 1×1 conv on each, made tokens (Reshape to 8×16), then
    softmax(ta · tbᵀ) · tb: the MatMuls of computed tensors are ``branches`` blocks of
    ``merge: matmul``, each reading what it joins.

    Each 1×1 conv: 4·4·8·8 = 1,024 MACs, 64 params. ta · tbᵀ: (8, 16) by (16, 8) = 8·8·16 =
    1,024 MACs; p · tb: (8, 8) by (8, 16) = 8·16·8 = 1,024 MACs. 4,096 MACs and 128 params
    in every form (1×1 convs and products have one form)."""
    parts = [
        *conv("qa", "xa", "a", 8, 8, 1),
        *conv("qb", "xb", "b", 8, 8, 1),
        ints("tokens", 1, 8, 16),
        node("Reshape", ["a", "tokens"], ["ta"], "ta"),
        node("Reshape", ["b", "tokens"], ["tb"], "tb"),
        node("Transpose", ["tb"], ["kb"], "kb", perm=[0, 2, 1]),
        node("MatMul", ["ta", "kb"], ["s"], "scores"),
        node("Softmax", ["s"], ["p"], "softmax", axis=-1),
        node("MatMul", ["p", "tb"], ["y"], "mix"),
    ]
    inputs = {"xa": [1, 8, 4, 4], "xb": [1, 8, 4, 4]}
    model = graph(tmp_path / "attention.onnx", parts, inputs, ["y"], rank=3)
    text = round_trip(
        model,
        tmp_path,
        {"as_specified": (4_096, 128), "standard": (4_096, 128), "separable": (4_096, 128)},
    )
    assert text.count("merge: matmul") == 2


def test_a_depthwise_the_file_does_not_pair_stays_two_rows(tmp_path: Path) -> None:
    """Two branches the file interleaves: dw1, dw2, pw1, pw2 in node order, each depthwise
    3×3 on 8 channels feeding its own 1×1 to 8, concatenated. The profile reader pairs a
    depthwise with the 1×1 whose row comes right after its own, so none here; the spec
    names each depthwise in its 1×1's ``from`` to keep them two rows too.

    As specified: per branch 8·8·8·9 = 4,608 + 8·8·8·8 = 4,096; 8,704 each, 17,408 in all;
    params 2·(72 + 64) = 272. Standard (the depthwise dense, unpaired): per branch
    8·8·8·8·9 = 36,864 + 4,096 = 40,960, 81,920 in all; params 2·(576 + 64) = 1,280.
    Separable (a depthwise is its own): as specified, 17,408 and 272."""
    parts = [
        *conv("dw1", "x", "d1", 8, 8, 3, group=8),
        *conv("dw2", "x", "d2", 8, 8, 3, group=8),
        *conv("pw1", "d1", "p1", 8, 8, 1),
        *conv("pw2", "d2", "p2", 8, 8, 1),
        node("Concat", ["p1", "p2"], ["y"], "cat", axis=1),
    ]
    model = graph(tmp_path / "interleaved.onnx", parts, {"x": [1, 8, 8, 8]}, ["y"])
    text = round_trip(
        model,
        tmp_path,
        {
            "as_specified": (17_408, 272),
            "standard": (81_920, 1_280),
            "separable": (17_408, 272),
        },
    )
    assert "from: dw1" in text


def test_the_safety_net_refuses_a_spec_that_counts_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The x + x graph, its written spec's last conv given 3 filters instead of 2 (a bug
    planted in the writer): export-spec reads the spec back, finds 8·8·3·8 = 1,536 MACs
    where the file's row has 1,024 (19,968 in all against 19,456), exits 3 naming the form,
    both totals and that row, and leaves the output file as it was."""
    from sepconv_cli.interchange import spec_writer

    parts = [
        *conv("c3", "x", "c", 8, 4, 3),
        node("Add", ["c", "c"], ["s"], "twice"),
        *conv("head", "s", "y", 2, 8, 1),
    ]
    model = graph(tmp_path / "twice.onnx", parts, {"x": [1, 4, 8, 8]}, ["y"])
    real = spec_writer.export_spec

    def planted(*args: Any, **kwargs: Any) -> tuple[str, list[str], list[str]]:
        text, notes, missing = real(*args, **kwargs)
        assert "filters: 2" in text
        return text.replace("filters: 2", "filters: 3"), notes, missing

    monkeypatch.setattr(spec_writer, "export_spec", planted)
    target = tmp_path / "spec.yaml"
    target.write_text("what the user had\n")
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(target)])
    assert done.exit_code == 3
    line = done.stderr.strip()
    assert "\n" not in line
    assert "as specified, the written spec counts 19,968 MACs, the file 19,456" in line
    assert "spec row 'head': 1,536 MACs, 24 params" in line
    assert target.read_text() == "what the user had\n"


def test_the_safety_net_refuses_a_spec_that_does_not_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A written spec the reader refuses (a ``from`` naming no layer, planted) is the same
    bug: exit 3, one line, nothing written."""
    from sepconv_cli.interchange import spec_writer

    parts = [*conv("c3", "x", "y", 8, 4, 3)]
    model = graph(tmp_path / "one.onnx", parts, {"x": [1, 4, 8, 8]}, ["y"])
    real = spec_writer.export_spec

    def planted(*args: Any, **kwargs: Any) -> tuple[str, list[str], list[str]]:
        text, notes, missing = real(*args, **kwargs)
        return text.replace("name: c3,", "name: c3, from: nowhere,"), notes, missing

    monkeypatch.setattr(spec_writer, "export_spec", planted)
    target = tmp_path / "spec.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(target)])
    assert done.exit_code == 3
    assert "the spec export-spec wrote does not load" in done.stderr
    assert "nowhere" in done.stderr
    assert not target.exists()


def test_a_tensor_without_a_shape_names_its_node(tmp_path: Path) -> None:
    """A Reshape to a shape computed from a ``RandomUniformLike`` (whose values shape
    inference cannot follow), read on by a conv: the refusal names the Reshape that makes
    the tensor without a shape (exit 2), not the tensor alone."""
    parts = [
        *conv("c3", "x", "c", 8, 4, 3),
        node("Shape", ["c"], ["dims"], "dims"),
        node("RandomUniformLike", ["dims"], ["noise"], "noise", dtype=7),
        node("Reshape", ["c", "noise"], ["r"], "reshape"),
        *conv("head", "r", "y", 2, 8, 1),
    ]
    model = graph(tmp_path / "unknown.onnx", parts, {"x": [1, 4, 8, 8]}, ["y"])
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(tmp_path / "s.yaml")])
    assert done.exit_code == 2
    assert "the spec cannot express 'reshape' (Reshape): shape inference left its " in done.stderr
    assert "'r' without a shape" in done.stderr
