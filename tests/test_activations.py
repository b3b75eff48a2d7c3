"""Activation functions: accepted on every layer, no MACs or params, their FLOPs counted
apart (sepconv's stated per-element convention) so the fvcore-compatible totals do not move.

Per-element FLOPs are the operations of each formula, counted by hand here: relu max(x, 0)
1; relu6 min(max(x, 0), 6) 2; hardsigmoid min(max(x + 3, 0), 6) / 6 4; hardswish
x·hardsigmoid(x) 5; sigmoid 1 / (1 + exp(-x)) 4; silu x·sigmoid(x) 5; gelu
x/2·(1 + erf(x/√2)) 5; tanh 1 (a primitive, as exp and erf are); leaky_relu max(x, a·x) 2;
softmax exp(x - max) / sum 5 (compare into the max, subtract, exp, add into the sum, divide).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_models import profile, write
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

PER_ELEMENT = {
    "none": 0,
    "relu": 1,
    "relu6": 2,
    "hardsigmoid": 4,
    "hardswish": 5,
    "sigmoid": 4,
    "silu": 5,
    "gelu": 5,
    "tanh": 1,
    "leaky_relu": 2,
    "softmax": 5,
}
FORMS = ("as_specified", "standard", "separable")


def model(tmp_path: Path, layers: str, input_shape: str = "[16, 16, 8]") -> dict[str, Any]:
    return profile(write(tmp_path, f"name: t\ninput: {input_shape}\nlayers:\n{layers}"))


def without_activation_keys(doc: dict[str, Any]) -> dict[str, Any]:
    for row in doc["layers"]:
        del row["activation"], row["activation_function_flops"]
    del doc["totals"]["activation_function_flops"]
    return doc


@pytest.mark.parametrize("function", sorted(PER_ELEMENT))
def test_flops_per_element_and_unchanged_totals(tmp_path: Path, function: str) -> None:
    plain = model(tmp_path, "  - {type: conv, kernel: 3, filters: 4, padding: same}\n")
    acted = model(
        tmp_path,
        f"  - {{type: conv, kernel: 3, filters: 4, padding: same, activation: {function}}}\n",
    )
    row = acted["layers"][0]
    assert row["activation"] == (None if function == "none" else function)
    assert row["activation_function_flops"] == PER_ELEMENT[function] * 16 * 16 * 4
    assert acted["totals"]["activation_function_flops"] == row["activation_function_flops"]
    # MACs, FLOPs, params and bytes of every form are those of the layer without it
    assert without_activation_keys(acted) == without_activation_keys(plain)


def test_every_layer_type_takes_one(tmp_path: Path) -> None:
    doc = model(
        tmp_path,
        "  - {type: pointwise, filters: 8, activation: relu}\n"
        "  - {type: separable, kernel: 3, filters: 8, padding: same, activation: relu6}\n"
        "  - {type: depthwise, kernel: 3, padding: same, activation: silu}\n"
        "  - type: residual\n    activation: relu\n"
        "    layers: [{type: conv, kernel: 3, filters: 8, padding: 1}]\n"
        "  - {type: pool, kernel: 2, activation: sigmoid}\n"
        "  - {type: global_pool, activation: hardswish}\n"
        "  - {type: dense, units: 10, activation: gelu}\n",
    )
    got = {row["name"]: row["activation_function_flops"] for row in doc["layers"]}
    elements = 16 * 16 * 8
    assert got == {
        "pointwise_0": elements,
        "separable_1": 2 * elements,  # after the pointwise only (Keras SeparableConv2D)
        "depthwise_2": 5 * elements,
        "residual_3.conv_0": 0,
        "residual_3.add": elements,  # ResNet: the activation follows the add
        "pool_4": 4 * 8 * 8 * 8,
        "global_pool_5": 5 * 8,
        "dense_6": 5 * 10,
    }
    assert doc["totals"]["activation_function_flops"] == sum(got.values())


def test_inverted_residual_activates_expansion_and_depthwise(tmp_path: Path) -> None:
    doc = model(
        tmp_path,
        "  - {type: inverted_residual, expansion: 6, filters: 8, stride: 2, activation: relu6}\n",
    )
    # expand 16×16×48, depthwise stride 2 → 8×8×48, linear projection; relu6 is 2 per element
    assert doc["layers"][0]["activation_function_flops"] == 2 * (16 * 16 * 48 + 8 * 8 * 48)


def test_repeats_and_batch_multiply(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input: [8, 8, 4]\nbatch: 3\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 4, padding: 1, repeat: 5, activation: relu}\n",
    )
    doc = profile(path)
    assert len(doc["layers"]) == 1 and doc["layers"][0]["repeat"] == 5
    assert doc["totals"]["activation_function_flops"] == 5 * 3 * 8 * 8 * 4


def test_vgg16_relus(tmp_path: Path) -> None:
    body = "".join(
        f"  - {{type: conv, kernel: 3, filters: {c}, repeat: {n}}}\n  - {{type: pool, kernel: 2}}\n"
        for c, n in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
    )
    body += "  - {type: dense, units: 4096}\n  - {type: dense, units: 4096}\n"
    body += "  - {type: dense, units: 1000, activation: none}\n"
    path = write(
        tmp_path,
        "input: [224, 224, 3]\n"
        "defaults: {conv: {padding: 1, bias: true, activation: relu}, "
        "dense: {activation: relu}}\nlayers:\n" + body,
    )
    # the outputs of the 13 convs and the first two linear layers, one FLOP each
    relus = (
        224 * 224 * 64 * 2
        + 112 * 112 * 128 * 2
        + 56 * 56 * 256 * 3
        + 28 * 28 * 512 * 3
        + 14 * 14 * 512 * 3
        + 4096 * 2
    )
    assert profile(path)["totals"]["activation_function_flops"] == relus == 13_555_712


def test_cost_spec_and_table_line(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "input: [12, 12, 3]\nkernel: 3\nfilters: 8\nactivation: hardswish\n",
        "layer.yaml",
    )
    runner = CliRunner()
    result = runner.invoke(app, ["cost", "--spec", str(spec), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    layer = json.loads(result.stdout)["layers"][0]
    assert layer["activation_function_flops"] == 5 * 10 * 10 * 8
    assert "activations" in json.loads(result.stdout)["conventions"]
    table = runner.invoke(app, ["cost", "--spec", str(spec)], env={"COLUMNS": "100"})
    assert "Activations (hardswish): 4,000 FLOPs" in table.stdout
