"""`sepconv compare` pairs rows by name and structure, not position (issue 23, item 2): an
insertion is one added row, a changed kernel one changed row, a model against its own
export-spec (a preset against its export) no changed row at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.analysis.compare_align import align, diff_opcodes, is_positional
from sepconv_cli.analysis.compare_rows import LayerValues, pair_rows, unroll

runner = CliRunner()


def compare_json(base: str, new: str) -> dict[str, Any]:
    done = runner.invoke(app(), ["compare", base, new, "--format", "json", "-q"])
    assert done.exit_code == 0, done.output
    return dict(json.loads(done.stdout))


def app() -> Any:
    from sepconv_cli.cli.app import app as sepconv

    return sepconv


def changed(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries the table lists: added, removed, or with a count that moved."""
    return [
        layer
        for layer in doc["layers"]
        if layer["status"] != "matched" or any(layer[m]["delta"] for m in doc["metrics"])
    ]


# four unnamed 3x3 convs, 8 -> 8 channels at 16x16 ('same' padding): names conv_0 ... conv_3,
# which only number the layers, so an insertion renames every layer after it
CONV = "  - {type: conv, kernel: 3, filters: 8, padding: same}\n"


def spec(tmp_path: Path, name: str, layers: list[str]) -> str:
    path = tmp_path / name
    path.write_text("name: t\ninput: [16, 16, 8]\nlayers:\n" + "".join(layers))
    return str(path)


def test_an_insertion_in_the_middle_is_one_added_row(tmp_path: Path) -> None:
    base = spec(tmp_path, "base.yaml", [CONV] * 4)
    middle = "  - {type: depthwise, kernel: 3, padding: same}\n"
    new = spec(tmp_path, "new.yaml", [CONV, CONV, middle, CONV, CONV])
    doc = compare_json(base, new)
    rows = changed(doc)
    assert [row["status"] for row in rows] == ["added"]
    # a 3x3 depthwise over 16x16x8: 16*16*8*9 multiply-adds; by position, conv_2 would
    # have paired with it and every later layer with its predecessor
    assert rows[0]["macs"]["delta"] == 16 * 16 * 8 * 9
    assert len(doc["layers"]) == 5
    assert doc["totals"]["macs"]["delta"] == 16 * 16 * 8 * 9


def test_a_deletion_is_one_removed_row(tmp_path: Path) -> None:
    base = spec(tmp_path, "base.yaml", [CONV] * 4)
    new = spec(tmp_path, "new.yaml", [CONV] * 3)
    rows = changed(compare_json(base, new))
    assert [row["status"] for row in rows] == ["removed"]
    assert rows[0]["macs"]["delta"] == -(16 * 16 * 8 * 8 * 9)


def test_a_changed_kernel_is_one_changed_row(tmp_path: Path) -> None:
    base = spec(tmp_path, "base.yaml", [CONV] * 4)
    five = "  - {type: conv, kernel: 5, filters: 8, padding: same}\n"
    new = spec(tmp_path, "new.yaml", [CONV, five, CONV, CONV])
    rows = changed(compare_json(base, new))
    assert [(row["status"], row["name"]) for row in rows] == [("matched", "conv_1")]
    # 16*16 outputs of 8 channels, each 8 inputs times 25 instead of 9 taps
    assert rows[0]["macs"]["delta"] == 16 * 16 * 8 * 8 * (25 - 9)


def test_an_insertion_between_named_layers_keeps_names_paired(tmp_path: Path) -> None:
    named = [
        f"  - {{type: conv, name: c{k}, kernel: 3, filters: 8, padding: same}}\n" for k in range(4)
    ]
    extra = "  - {type: conv, name: extra, kernel: 1, filters: 8}\n"
    base = spec(tmp_path, "base.yaml", named)
    new = spec(tmp_path, "new.yaml", [*named[:2], extra, *named[2:]])
    rows = changed(compare_json(base, new))
    assert [(row["status"], row["name"]) for row in rows] == [("added", "extra")]
    assert rows[0]["macs"]["delta"] == 16 * 16 * 8 * 8  # a 1x1 conv, 8 -> 8


def row(name: str, type: str, macs: int, params: int, shapes: tuple[int, int]) -> LayerValues:
    return LayerValues(name, type, macs, params, None, 1, (7, 7, shapes[0]), (7, 7, shapes[1]))


def test_a_squeeze_excite_is_four_rows_of_a_file_and_one_of_a_spec() -> None:
    """pool, conv, conv, mul (the file) sum to the spec's one squeeze_excite row: one entry,
    unchanged; the rows around it pair one to one."""
    before = row("dw", "depthwise", 4410, 90, (10, 10))
    after = row("pwl", "pointwise", 1960, 44, (10, 4))
    file_rows = (
        before,
        LayerValues("se.pool", "global_pool", 0, 0, None, 1, (7, 7, 10), (10,)),
        LayerValues("se.reduce", "pointwise", 20, 22, None, 1, (1, 1, 10), (1, 1, 2)),
        LayerValues("se.expand", "pointwise", 20, 30, None, 1, (1, 1, 2), (1, 1, 10)),
        LayerValues("se.mul", "mul", 0, 0, None, 1, (7, 7, 10), (7, 7, 10)),
        after,
    )
    spec_rows = (before, row("se", "squeeze_excite", 40, 52, (10, 10)), after)
    for base, new in ((file_rows, spec_rows), (spec_rows, file_rows)):
        changes = pair_rows(base, new)
        assert [c.name for c in changes] == ["dw", "se", "pwl"]
        assert all(c.status == "matched" and not c.delta("macs").absolute for c in changes)
        assert not any(c.delta("params").absolute for c in changes)
        group = changes[1]
        rows = group.base_rows if len(group.base_rows) > 1 else group.new_rows
        assert rows == ("se.pool", "se.reduce", "se.expand", "se.mul")


def test_a_group_of_rows_against_a_row_that_counts_otherwise_is_not_a_group() -> None:
    """Two rows whose sum is not the one row's count: no group, the rows pair by kind."""
    base = (row("a", "conv", 100, 10, (4, 4)),)
    new = (row("a1", "conv", 60, 6, (4, 4)), row("a2", "conv", 30, 3, (4, 4)))
    changes = pair_rows(base, new)
    assert sorted(c.status for c in changes) == ["added", "matched"]


def test_a_folded_repeat_meets_its_copies_written_out() -> None:
    folded = (
        LayerValues("b[0..1]/x", "conv", 10, 4, None, 2, (4, 4, 2), (4, 4, 2)),
        LayerValues("b[0..1]/y", "pointwise", 6, 2, None, 2, (4, 4, 2), (4, 4, 2)),
    )
    # the same block written out, its rows named otherwise: copy by copy, x then y
    written = tuple(
        LayerValues(f"u{k}{part}", type, macs, params, None, 1, (4, 4, 2), (4, 4, 2))
        for k in range(2)
        for part, type, macs, params in (("x", "conv", 5, 2), ("y", "pointwise", 3, 1))
    )
    changes = pair_rows(folded, written)
    assert len(changes) == 4 and all(c.status == "matched" for c in changes)
    assert not any(c.delta("macs").absolute or c.delta("params").absolute for c in changes)
    # against itself the block folds back: one entry per row, not per copy
    assert [c.name for c in pair_rows(folded, folded)] == ["b[0..1]/x", "b[0..1]/y"]


def test_unroll_names_each_copy_as_the_spec_would() -> None:
    outer = LayerValues("s[0..1]/b[3..4]/x", "conv", 8, 4, None, 4)
    names = [values.name for values, _, _ in unroll([(outer, 0)])]
    assert names == ["s[0]/b[3]/x", "s[0]/b[4]/x", "s[1]/b[3]/x", "s[1]/b[4]/x"]
    odd = LayerValues("x", "conv", 7, 3, None, 2)  # no range in the name; 7 MACs over 2
    copies = [values for values, _, _ in unroll([(odd, 0)])]
    assert [(c.name, c.macs, c.params) for c in copies] == [("x[0]", 4, 2), ("x[1]", 3, 1)]


def test_positional_names_never_pair() -> None:
    assert is_positional("conv_3") and is_positional("block/residual_2.add")
    assert is_positional("depthwise_1+pointwise_2")
    assert not is_positional("conv1") and not is_positional("conv2d_5")
    assert not is_positional("blocks.2.0.conv_pw")


def test_diff_is_a_longest_common_subsequence() -> None:
    """Where SequenceMatcher would grab the longest contiguous run, the LCS keeps the most
    items equal: 3 here (a, b, c), the interleaved x rows deleted."""
    ops = diff_opcodes("axbxcx", "abc")
    equal = sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag == "equal")
    assert equal == 3 and {tag for tag, *_ in ops} == {"equal", "delete"}
    pairs = align([row(n, "conv", 1, 1, (1, 1)) for n in "pq"], [])
    assert [(p.base, p.new) for p in pairs] == [((0,), ()), ((1,), ())]


@pytest.mark.parametrize("preset_side", ["file", "spec"])
def test_a_preset_its_export_and_its_export_spec_show_no_change(
    tmp_path: Path, preset_side: str
) -> None:
    pytest.importorskip("onnx")
    model, back = tmp_path / "mv2.onnx", tmp_path / "back.yaml"
    for args in (
        ["export", "mobilenet_v2", "-o", str(model), "-q"],
        ["export-spec", str(model), "-o", str(back), "-q"],
    ):
        done = runner.invoke(app(), args)
        assert done.exit_code == 0, done.output
    other = str(model) if preset_side == "file" else str(back)
    for base, new in (
        (str(model), str(back)),
        (str(back), str(model)),
        ("mobilenet_v2", other),
    ):
        doc = compare_json(base, new)
        assert changed(doc) == [], (base, new, changed(doc)[:3])
        assert doc["totals"]["macs"]["delta"] == 0
    # the preset's inverted_residual block3 is the file's expand, depthwise+project and add
    doc = compare_json("mobilenet_v2", str(model))
    block3 = next(layer for layer in doc["layers"] if layer["name"] == "block3")
    assert block3["base_rows"] == ["block3"] and len(block3["new_rows"]) == 3


def test_an_insertion_and_a_changed_kernel_are_two_rows(tmp_path: Path) -> None:
    """Unnamed layers, one inserted and a later one changed: of the alignments with the most
    equal rows, the one that pairs the changed conv with a conv wins (not a removed conv
    and two added rows)."""
    base = spec(tmp_path, "base.yaml", [CONV] * 3)
    middle = "  - {type: depthwise, kernel: 3, padding: same}\n"
    five = "  - {type: conv, kernel: 5, filters: 8, padding: same}\n"
    new = spec(tmp_path, "new.yaml", [CONV, middle, CONV, five])
    rows = changed(compare_json(base, new))
    assert [(row["status"], row["base_rows"]) for row in rows] == [
        ("added", []),
        ("matched", ["conv_2"]),
    ]
    assert rows[1]["macs"]["delta"] == 16 * 16 * 8 * 8 * (25 - 9)


def test_rows_written_in_another_order_pair_as_moved() -> None:
    """A DAG's two heads written in the other order (p, q against q', p'): rows of one
    signature pair across the model, each with its own (step 5), none added or removed."""
    p = row("head.p", "conv", 900, 30, (4, 8))
    q = row("head.q", "conv", 500, 20, (4, 6))
    p2 = row("renamed.p", "conv", 900, 30, (4, 8))
    q2 = row("renamed.q", "conv", 500, 20, (4, 6))
    pairs = align([p, q], [q2, p2])
    assert sorted((pr.base, pr.new) for pr in pairs) == [((0,), (1,)), ((1,), (0,))]


def test_a_row_paired_by_kind_with_other_counts_is_re_paired_by_signature() -> None:
    """Step 4 may pair two convs of other counts (a → b') leaving b and a' alone: when b
    has the signature of b' and a' of a, the pairs become a → a' and b → b'."""
    a = row("x.1", "conv", 125, 16, (4, 8))
    b = row("x.2", "conv", 31, 65, (4, 8))
    a2 = row("y.1", "conv", 125, 16, (4, 8))
    b2 = row("y.2", "conv", 31, 65, (4, 8))
    pairs = align([a, b], [b2, a2])
    matched = {(pr.base, pr.new) for pr in pairs if pr.base and pr.new}
    assert matched == {((0,), (1,)), ((1,), (0,))}


def test_costless_rows_one_side_has_are_counted_not_listed(tmp_path: Path) -> None:
    """Elementwise rows of no MACs or params that only one model has (a file's written-out
    hard-swish) are one line under the table, listed with --all."""
    pytest.importorskip("onnx")
    base = spec(tmp_path, "base.yaml", [CONV, "  - {type: elementwise, operation: add}\n", CONV])
    new = spec(tmp_path, "new.yaml", [CONV, CONV])
    done = runner.invoke(app(), ["compare", base, new, "-q"])
    assert done.exit_code == 0, done.output
    assert "1 removed and 0 added rows of 0 MACs and 0 Params not listed" in done.stdout
    assert "removed" not in done.stdout.split("Total")[0]
    listed = runner.invoke(app(), ["compare", base, new, "-q", "--all"])
    assert "removed" in listed.stdout.split("Total")[0]


def test_one_operation_said_two_ways_pairs_by_cost() -> None:
    """A file's MatMul on windows stacked in the batch and a spec's pointwise on tokens:
    other types and shapes, the same MACs and params (step 6): one row, unchanged. Rows
    of no cost never pair so."""
    matmul = LayerValues("attn.qkv.matmul", "matmul", 4096, 192, None, 1, (4, 16, 8), (4, 16, 24))
    pointwise = LayerValues("attn.qkv", "pointwise", 4096, 192, None, 1, (8, 8, 8), (8, 8, 24))
    free_a = LayerValues("a.add", "elementwise", 0, 0, None, 1, (8,), (8,))
    free_b = LayerValues("b.view", "reshape", 0, 0, None, 1, (6,), (6,))
    pairs = align([matmul, free_a], [free_b, pointwise])
    matched = [(pr.base, pr.new) for pr in pairs if pr.base and pr.new]
    assert matched == [((0,), (1,))]
    assert sorted((pr.base, pr.new) for pr in pairs if not (pr.base and pr.new)) == [
        ((), (0,)),
        ((1,), ()),
    ]
