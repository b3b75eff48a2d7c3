"""Several named inputs and ``from`` (issue 21, item 5): a spec with ``inputs:``, layers that
read a named layer or input, and the one-line errors for an unknown name, a cycle and a
layer that reads the wrong number of tensors. Expected counts are hand arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def profile(spec: Path) -> dict[str, Any]:
    done = runner.invoke(app, ["profile", str(spec), "--no-time", "--format", "json"])
    assert done.exit_code == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def forms(doc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    totals = doc["totals"]
    return {f: (totals[f]["macs"], totals[f]["params"]) for f in ("as_specified", "standard")}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    return path


TWO_INPUTS = """\
name: two
inputs: {image: [8, 8, 3], side: [8, 8, 5]}
layers:
  - {type: pointwise, name: a, filters: 4}
  - {type: pointwise, name: b, filters: 4, from: side}
  - {type: add, name: sum, from: [a, b]}
  - {type: concat, name: cat, from: [sum, image, side]}
"""


def test_two_inputs_each_read_by_name(tmp_path: Path) -> None:
    doc = profile(write(tmp_path, TWO_INPUTS))
    # a: 8·8·3·4 = 768 MACs, 12 params; b: 8·8·5·4 = 1,280 MACs, 20 params; the add and
    # the concat (4 + 3 + 5 = 12 channels) none
    assert forms(doc)["as_specified"] == (768 + 1280, 12 + 20)
    rows = {row["name"]: row for row in doc["layers"]}
    assert rows["cat"]["output_shape"] == [8, 8, 12]


def test_one_input_is_named_input(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "input: [4, 4, 2]\nlayers:\n  - {type: pointwise, name: p, filters: 3}\n"
        "  - {type: concat, from: [p, input]}\n",
    )
    doc = profile(spec)
    assert doc["layers"][-1]["output_shape"] == [4, 4, 5]  # 3 + 2 channels


def test_a_block_layer_is_read_by_its_row_name(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "input: [4, 4, 2]\nlayers:\n"
        "  - type: residual\n    name: res\n    layers:\n"
        "      - {type: pointwise, name: p, filters: 2}\n"
        "  - {type: pointwise, name: q, filters: 7, from: res.p}\n",
    )
    doc = profile(spec)
    # res.p 16·2·2 = 64 MACs; q reads res.p (4×4×2): 16·2·7 = 224
    assert forms(doc)["as_specified"][0] == 64 + 224


@pytest.mark.parametrize(
    ("layers", "where", "message"),
    [
        ("  - {type: pointwise, filters: 2, from: nope}\n", ":4:", "'nope' names no earlier"),
        (  # a cycle: a reads b, made after it
            "  - {type: pointwise, name: a, filters: 2, from: b}\n"
            "  - {type: pointwise, name: b, filters: 2}\n",
            ":4:",
            "'b' names no earlier layer",
        ),
        (  # a layer reading itself
            "  - {type: pointwise, name: a, filters: 2, from: a}\n",
            ":4:",
            "'a' names no earlier layer",
        ),
        (
            "  - {type: pointwise, name: a, filters: 2, stride: 2}\n"
            "  - {type: concat, from: [a, input]}\n",
            ":5:",
            "equal spatial sizes",
        ),
        (
            "  - {type: pointwise, name: a, filters: 2}\n"
            "  - {type: pointwise, name: b, filters: 3}\n"
            "  - {type: add, from: [a, b]}\n",
            ":6:",
            "add needs equal shapes",
        ),
    ],
)
def test_bad_sources_are_one_line_at_the_from(
    tmp_path: Path, layers: str, where: str, message: str
) -> None:
    spec = write(tmp_path, "name: bad\ninput: [4, 4, 2]\nlayers:\n" + layers)
    done = runner.invoke(app, ["profile", str(spec), "--no-time"])
    assert done.exit_code == 2
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert f"model.yaml{where}" in line and ".from:" in line and message in line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: [4, 4, 2]\nlayers:\n  - {type: concat, from: [input]}\n", "two or more"),
        ("input: [4, 4, 2]\nlayers:\n  - {type: pointwise, filters: 2, from: []}\n", "empty"),
        ("input: [4, 4, 2]\nlayers:\n  - {type: pointwise, filters: 2, from: [a, a]}\n", "twice"),
        (
            "input: [4, 4, 2]\nlayers:\n  - {type: pointwise, filters: 2, from: [a, b]}\n",
            "one tensor",
        ),
        (
            "inputs: {a: [4, 4]}\ninput: [4, 4, 2]\nlayers:\n  - {type: add, from: [a, b]}\n",
            "not both",
        ),
        ("inputs: []\nlayers:\n  - {type: add, from: [a, b]}\n", "mapping of input names"),
        ("inputs: {a: [4]}\nlayers:\n  - {type: add, from: [a, b]}\n", "input 'a'"),
    ],
)
def test_validate_names_the_field(tmp_path: Path, text: str, message: str) -> None:
    done = runner.invoke(app, ["validate", str(write(tmp_path, text))])
    assert done.exit_code == 2
    assert message in done.stdout + done.stderr
    assert "model.yaml:" in done.stdout + done.stderr


def test_a_depthwise_read_elsewhere_is_not_paired(tmp_path: Path) -> None:
    """The depthwise's output also feeds a concat: it does not feed the 1×1 alone, so its
    standard form is its own dense 3×3 (as the ONNX reader has it), not the pair's."""
    spec = write(
        tmp_path,
        "input: [6, 6, 4]\nlayers:\n"
        "  - {type: depthwise, name: dw, kernel: 3, padding: same}\n"
        "  - {type: pointwise, name: pw, filters: 8}\n"
        "  - {type: concat, from: [pw, dw]}\n",
    )
    doc = profile(spec)
    # standard: dw as a dense 3×3 4→4 (36·4·4·9 = 5,184) + pw (36·4·8 = 1,152)
    assert forms(doc)["standard"][0] == 5184 + 1152
    assert [row["name"] for row in doc["layers"]][:2] == ["dw", "pw"]


def test_schema_lists_the_new_keys() -> None:
    done = runner.invoke(app, ["schema"])
    assert done.exit_code == 0
    schema = json.loads(done.stdout)
    assert "inputs" in schema["properties"]
    defs = schema["$defs"]
    assert "from" in defs["conv"]["properties"]
    for kind in ("concat", "add", "lstm", "gru", "rnn", "resize"):
        assert kind in defs
    assert defs["lstm"]["required"] == ["hidden", "type"] or set(defs["lstm"]["required"]) == {
        "type",
        "hidden",
    }
