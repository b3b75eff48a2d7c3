"""Peak activation memory of model files (issue 26, item 4): an independent liveness walk,
written here from the rule of docs/conventions.md ("Peak activation memory") and none of
sepconv's code, over the ONNX files ``sepconv export`` writes for every preset, must give
the peak ``sepconv profile FILE`` reports, and the one the preset's spec gives in the form
exported.

The walk reads only the file: its nodes in order, onnx's own shape inference for every
tensor's size. A tensor is computed when it comes from the graph input; a node is a step
holding its computed inputs and outputs, except views (Reshape, Flatten, Identity, Split,
Squeeze, Unsqueeze, Dropout, Slice: the input's tensor) and what works in place on a
tensor a step wrote and nothing else reads (a BatchNormalization, an activation function,
arithmetic with a constant, and an activation written out over several nodes: x·σ(x), the
five-node GELU).
"""

from __future__ import annotations

import json
from fractions import Fraction
from math import prod
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.spec.presets import preset_paths

onnx = pytest.importorskip("onnx")

runner = CliRunner()

VIEWS = {"Reshape", "Flatten", "Identity", "Split", "Squeeze", "Unsqueeze", "Dropout", "Slice"}
ONE_VALUE_EACH = {
    "BatchNormalization",
    "Relu",
    "Clip",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "LeakyRelu",
    "Tanh",
    "Gelu",
    "Softmax",
    "PRelu",
}
ARITHMETIC = {"Add", "Sub", "Mul", "Div"}
GELU_OPS = {"Div", "Erf", "Add", "Mul"}


def shapes_of(model: Any) -> dict[str, tuple[int, ...]]:
    """Every tensor's dims by onnx's shape inference, on a copy without weight values."""
    graph = model.graph
    weights = [
        onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
        for t in graph.initializer
        if t.data_type != onnx.TensorProto.INT64
    ]
    kept = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT64]
    values = [*graph.input, *weights]
    copy = onnx.helper.make_graph(list(graph.node), "g", values, list(graph.output), kept)
    inferred = onnx.shape_inference.infer_shapes(
        onnx.helper.make_model(copy, opset_imports=list(model.opset_import)), strict_mode=True
    )
    out = {}
    for v in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        out[v.name] = tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
    return out


def peak_of_file(path: Path, itemsize: int = 4) -> int:
    """The most activation bytes alive at once in the file, by the rule (see the module)."""
    model = onnx.load(str(path))
    graph = model.graph
    nodes = list(graph.node)
    shapes = shapes_of(model)
    constants = {t.name for t in graph.initializer}
    inputs = [v.name for v in graph.input if v.name not in constants]
    outputs = {v.name for v in graph.output}
    computed = set(inputs)
    for node in nodes:
        if any(t in computed for t in node.input):
            computed.update(t for t in node.output if t)
    readers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for t in node.input:
            if t in computed:
                readers.setdefault(t, []).append(i)
    for t in outputs:
        readers.setdefault(t, []).append(-1)

    # written-out activations, found before the walk: node position -> the tensor x read
    written_out: dict[int, str] = {}
    for x in computed:
        around = readers.get(x, [])
        if len(around) != 2 or -1 in around:
            continue
        a, b = (nodes[i] for i in around)
        kinds = {a.op_type, b.op_type}
        if kinds in ({"Sigmoid", "Mul"}, {"HardSigmoid", "Mul"}):  # x · σ(x)
            gate, mul = (a, b) if a.op_type != "Mul" else (b, a)
            if set(mul.input) == {x, gate.output[0]}:
                written_out.update({around[0]: x, around[1]: x})
            continue
        # GELU: the nodes reachable from x through Div, Erf, Add, Mul whose other inputs are
        # constants, with one Erf and one tensor leaving them
        group, frontier = set(around), list(around)
        while frontier:
            node = nodes[frontier.pop()]
            for t in node.output:
                for j in readers.get(t, []):
                    if j < 0 or j in group or nodes[j].op_type not in GELU_OPS:
                        continue
                    made = {o for k in group for o in nodes[k].output}
                    if all(u in made or u == x or u not in computed for u in nodes[j].input):
                        group.add(j)
                        frontier.append(j)
        if any(nodes[k].op_type not in GELU_OPS for k in group):
            continue
        made = {o for k in group for o in nodes[k].output}
        leaving = {t for t in made if any(j < 0 or j not in group for j in readers.get(t, []))}
        if len(leaving) == 1 and sum(nodes[k].op_type == "Erf" for k in group) == 1:
            written_out.update(dict.fromkeys(group, x))

    size: list[int] = []
    start: list[int] = []
    end: list[int] = []
    stepped: list[bool] = []
    tensor_of: dict[str, int] = {}
    viewed: dict[str, str] = {}
    steps = 0

    def new(name: str, at: int, by_step: bool) -> None:
        tensor_of[name] = len(size)
        size.append(prod(shapes[name]))
        start.append(at)
        end.append(at)
        stepped.append(by_step)

    def only_reader(name: str, count: int = 1) -> bool:
        while True:
            if len(readers.get(name, [])) != count:
                return False
            if name not in viewed:
                return True
            name, count = viewed[name], 1

    for name in inputs:
        new(name, 0, False)
    for i, node in enumerate(nodes):
        ins = [t for t in node.input if t in computed]
        outs = [t for t in node.output if t in computed]
        if not ins:
            continue
        first = tensor_of[ins[0]]
        same = node.op_type in VIEWS
        if i in written_out:
            x = written_out[i]
            same = stepped[tensor_of[x]] and only_reader(x, 2)
        elif len(ins) == 1 and stepped[first] and only_reader(ins[0]):
            if node.op_type in ONE_VALUE_EACH:
                same = True
            elif node.op_type in ARITHMETIC and len(node.input) == 2:
                same = True  # the other operand is a constant
        if same:
            for t in outs:
                tensor_of[t] = first
                viewed[t] = ins[0]
            continue
        for t in ins:
            end[tensor_of[t]] = steps
        for t in outs:
            new(t, steps, True)
        steps += 1
    for t in outputs:
        end[tensor_of[t]] = steps - 1
    alive = [0] * steps
    for k in range(len(size)):
        for s in range(start[k], max(end[k], start[k]) + 1):
            if s < steps:
                alive[s] += size[k]
    return max(alive) * itemsize


# RegNet's grouped convs keep 8 channels a group, which no narrower width keeps whole
QUARTER_WIDTH = {"regnet_y_400mf": "1"}


def exported(tmp_path: Path, preset: str, *args: str) -> Path:
    path = tmp_path / f"{preset}.onnx"
    result = runner.invoke(app, ["export", preset, "-o", str(path), "-q", *args])
    assert result.exit_code == 0, result.stderr
    return path


def profiled(model: str | Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(
        app, ["profile", str(model), "--no-time", "--format", "json", "-q", *args]
    )
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def peak(doc: dict[str, Any], form: str) -> int:
    value: int = doc["totals"][form]["peak_activation_bytes"]
    return value


@pytest.mark.parametrize("preset", sorted(preset_paths()))
def test_every_presets_file_walked_independently_gives_profiles_peak(
    tmp_path: Path, preset: str
) -> None:
    path = exported(tmp_path, preset)
    walked = peak_of_file(path)
    file_doc = profiled(path)
    assert peak(file_doc, "as_specified") == walked
    assert peak(profiled(preset), "as_specified") == walked


@pytest.mark.parametrize("form", ["standard", "separable"])
@pytest.mark.parametrize("preset", sorted(preset_paths()))
def test_every_form_exported_walks_to_the_forms_peak(
    tmp_path: Path, preset: str, form: str
) -> None:
    """The standard and separable forms, exported as files of their own (at a quarter of
    the width, a sixteenth of the weights to write), walk to the peak the preset's profile
    gives that form."""
    width = QUARTER_WIDTH.get(preset, "0.25")
    path = exported(tmp_path, preset, "--form", form, "-a", width)
    walked = peak_of_file(path)
    assert peak(profiled(preset, "-a", width), form) == walked


def test_a_forms_change_to_a_files_convolutions(tmp_path: Path) -> None:
    """profile's standard and separable figures of one file (its convolutions changed in
    place) are those of the files the forms export to."""
    (tmp_path / "written").mkdir()
    written = exported(tmp_path / "written", "mobilenet_v2", "-a", "0.5", "-r", "96")
    doc = profiled(written)
    for form in ("standard", "separable"):
        (tmp_path / form).mkdir()
        other = exported(tmp_path / form, "mobilenet_v2", "--form", form, "-a", "0.5", "-r", "96")
        assert peak(doc, form) == peak_of_file(other), form
    # and by hand: at width 0.5 and 96×96 (channels rounded to 8), block2 expands
    # 48·48·8 (18,432) to 48·48·48 (110,592) and its depthwise (stride 2) holds 110,592 +
    # 24·24·48 (27,648) = 138,240 elements; its standard form 18,432 + 110,592 = 129,024
    assert peak(doc, "as_specified") == 138_240 * 4 == peak(doc, "separable")
    assert peak(doc, "standard") == 129_024 * 4
    assert Fraction(peak(doc, "separable"), peak(doc, "standard")) > 1
