"""Feature pyramids (issue 21, item 5): ``resize`` counted as the ONNX reader counts a
``Resize``, and a graph whose joins are no tree of blocks (a concat of three depths, as
YOLO's SPPF and C2f make) written by ``export-spec`` with ``from``. Expected values are
hand arithmetic; the ONNX graphs are built here with ``onnx.helper``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def profile(*args: str) -> dict[str, Any]:
    done = runner.invoke(app, ["profile", *args, "--no-time", "--format", "json"])
    assert done.exit_code == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def macs_params(doc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    t = doc["totals"]
    return {f: (t[f]["macs"], t[f]["params"]) for f in ("as_specified", "standard", "separable")}


def test_resize_shapes_and_flops(tmp_path: Path) -> None:
    spec = tmp_path / "up.yaml"
    spec.write_text(
        "input: [4, 6, 2]\nlayers:\n"
        "  - {type: resize, name: near, scale: 2}\n"
        "  - {type: resize, name: lin, scale: [1, 2], interpolation: linear}\n"
        "  - {type: resize, name: cub, output_size: [10, 30], interpolation: cubic}\n"
    )
    doc = profile(str(spec))
    rows = {row["name"]: row for row in doc["layers"]}
    assert rows["near"]["output_shape"] == [8, 12, 2]
    assert rows["lin"]["output_shape"] == [8, 24, 2]
    assert rows["cub"]["output_shape"] == [10, 30, 2]
    assert macs_params(doc)["as_specified"] == (0, 0)
    # nearest: a copy; linear over 1 resized dim: 2·2 − 1 = 3 per value of 8·24·2 = 384;
    # cubic over 2 dims: 2·4² − 1 = 31 per value of 10·30·2 = 600
    flops = {r["name"]: r["as_specified"]["flops"] for r in doc["layers"]}
    assert flops == {"near": 0, "lin": 3 * 384, "cub": 31 * 600}


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("{type: resize}", "needs scale or output_size"),
        ("{type: resize, scale: 2, output_size: 4}", "not both"),
        ("{type: resize, scale: [1, 2, 3]}", "spatial dim"),
        ("{type: resize, scale: 2, interpolation: area}", "expected one of nearest"),
    ],
)
def test_bad_resize_names_the_field(tmp_path: Path, layer: str, message: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"input: [4, 6, 2]\nlayers:\n  - {layer}\n")
    done = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert done.exit_code == 2
    assert "bad.yaml:3:" in done.stderr and message in done.stderr


def _pyramid(path: Path) -> Path:
    """x → a (3×3, 3→4, stride 2) → b (3×3, 4→4) → c (3×3, 4→4), then Concat(a, b, c) →
    Resize ×2 → Add with a 1×1 (3→12) of the input: a concat of three depths and an add of
    the input's branch, which no tree of blocks holds."""
    onnx = pytest.importorskip("onnx")
    import numpy as np

    helper = onnx.helper

    def w(name: str, *shape: int) -> Any:
        return onnx.numpy_helper.from_array(np.zeros(shape, np.float32), name)

    inits = [w("wa", 4, 3, 3, 3), w("wb", 4, 4, 3, 3), w("wc", 4, 4, 3, 3), w("wl", 12, 3, 1, 1)]
    inits.append(onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"))
    same = {"pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", ["x", "wa"], ["a"], name="a", strides=[2, 2], **same),
        helper.make_node("Conv", ["a", "wb"], ["b"], name="b", **same),
        helper.make_node("Conv", ["b", "wc"], ["c"], name="c", **same),
        helper.make_node("Concat", ["a", "b", "c"], ["abc"], name="cat", axis=1),
        helper.make_node("Resize", ["abc", "", "scales"], ["up"], name="up", mode="nearest"),
        helper.make_node("Conv", ["x", "wl"], ["lat"], name="lateral"),
        helper.make_node("Add", ["up", "lat"], ["out"], name="sum"),
    ]
    graph = helper.make_graph(
        nodes,
        "pyramid",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, 12, 16, 16])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_pyramid_round_trips_with_from(tmp_path: Path) -> None:
    model = _pyramid(tmp_path / "pyramid.onnx")
    spec = tmp_path / "pyramid.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec)])
    assert done.exit_code == 0, done.stderr
    text = spec.read_text()
    assert "{type: concat, name: cat, from: [a, b, c]}" in text
    assert "type: resize, name: up, scale: 2" in text
    assert "{type: add, name: sum, from: [up, lateral]}" in text
    # a: 8·8·4·3·9 = 6,912; b, c: 8·8·4·4·9 = 9,216 each; lateral: 16·16·12·3 = 9,216
    # params 108 + 144 + 144 + 36 = 432
    expected = (6_912 + 9_216 * 2 + 9_216, 432)
    file_counts = macs_params(profile(str(model)))
    assert file_counts["as_specified"] == expected
    assert macs_params(profile(str(spec))) == file_counts  # every form
    compared = runner.invoke(app, ["compare", str(model), str(spec), "--format", "json"])
    assert compared.exit_code == 0, compared.stderr
    totals = json.loads(compared.stdout)["totals"]
    assert totals["macs"]["delta"] == 0 and totals["params"]["delta"] == 0


def test_the_spec_exports_and_profiles_the_same(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    spec = tmp_path / "fpn.yaml"
    spec.write_text(
        "inputs: {image: [16, 16, 3], side: [8, 8, 4]}\nlayers:\n"
        "  - {type: conv, name: c1, kernel: 3, filters: 4, stride: 2, padding: 1}\n"
        "  - {type: add, name: s, from: [c1, side]}\n"
        "  - {type: resize, name: up, scale: 2, interpolation: linear}\n"
        "  - {type: concat, name: cat, from: [up, image]}\n"
    )
    model = tmp_path / "fpn.onnx"
    assert runner.invoke(app, ["export", str(spec), "-o", str(model), "-q"]).exit_code == 0
    assert macs_params(profile(str(model))) == macs_params(profile(str(spec)))
    # c1: 8·8·4·3·9 = 6,912 MACs, 108 params
    assert macs_params(profile(str(spec)))["as_specified"] == (6_912, 108)
