"""Hostile ONNX files (issue 22), built with ``onnx.helper`` and raw bytes, and a bounded
runner that profiles them.

:data:`CASES` holds one :class:`Case` per fault: how to build the file, and what ONNX's
spec makes the right outcome: ``count`` (exit 0, every count non-negative, optionally an
exact MAC total), ``refuse`` (exit 2, one line naming the file and what ``mentions``
requires: the node, the attribute or the input at fault) or ``either`` (a sane count or a
one-line refusal; a file whose count the spec leaves open, or that may be refused as too
big). Every outcome is judged by :func:`problems`, shared with the fuzz test.

:class:`BoundedCli` runs ``sepconv`` in-process (Typer's ``CliRunner``, as the other
tests do) but inside a child Python held under ``RLIMIT_AS`` = 2 GiB, with a 30 s limit
per command: a decompression bomb can neither take the machine's memory nor hang the
suite, and it is reported as such. A ``MemoryError`` raised anywhere in the child (even one
the reader catches and carries on from) counts as asking for more than 2 GiB.

Run as ``python tests/hostile_onnx.py --serve`` it is that child. Imports nothing from
sepconv except in the child.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import re
import resource
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GIB = 1024**3
MEMORY_LIMIT = 2 * GIB
TIME_LIMIT_S = 30.0

Expect = Literal["count", "refuse", "either"]
# each entry must appear in the error line; a tuple entry: any one of its strings
Mention = str | tuple[str, ...]
Built = onnx.ModelProto | bytes


@dataclass(frozen=True)
class Case:
    """One hostile file: ``build`` makes it; ``files`` are written beside it (paths
    relative to the model's folder, ``../`` allowed: the folder is one level down)."""

    id: str
    build: Callable[[], Built]
    expect: Expect
    mentions: tuple[Mention, ...] = ()
    macs: int | None = None  # expect == "count": totals.as_specified.macs
    bomb: bool = False  # asks for a huge amount of work or memory if read naively
    files: Mapping[str, bytes] = field(default_factory=dict)
    why: str = ""


# --------------------------------------------------------------------------- builders

X = {"x": [1, 3, 16, 16]}
CONV_MACS = 8 * 3 * 3 * 3 * 14 * 14  # x 1x3x16x16, w 8x3x3x3, valid: 14x14x8 out


def weight(name: str, *shape: int) -> TensorProto:
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def floats(name: str, *values: float) -> TensorProto:
    return numpy_helper.from_array(np.array(values, np.float32), name)


def ints(name: str, *values: int) -> TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def scalar(name: str, value: int) -> TensorProto:
    """A rank-0 int64 tensor."""
    return numpy_helper.from_array(np.array(value, np.int64), name)


def declared(name: str, *dims: int) -> TensorProto:
    """A float tensor that declares ``dims`` and holds no data (as a hostile file may)."""
    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = TensorProto.FLOAT
    tensor.dims.extend(dims)
    return tensor


def external(tensor: TensorProto, location: str, offset: int | None = None) -> TensorProto:
    """``tensor`` with its data moved to ``location`` (which this does not write)."""
    tensor.ClearField("raw_data")
    tensor.ClearField("int64_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    if offset is not None:
        entry = tensor.external_data.add()
        entry.key, entry.value = "offset", str(offset)
        entry = tensor.external_data.add()
        entry.key, entry.value = "length", "16"
    return tensor


def node(
    op: str, inputs: Sequence[str], outputs: Sequence[str], name: str = "", **attrs: Any
) -> onnx.NodeProto:
    return helper.make_node(op, list(inputs), list(outputs), name=name or None, **attrs)


def conv(name: str = "/c/Conv", **attrs: Any) -> onnx.NodeProto:
    return node("Conv", ["x", "w"], ["y"], name, **attrs)


def model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Mapping[str, Sequence[int | str] | None] | None = None,
    outputs: Sequence[str] = ("y",),
    inits: Sequence[TensorProto] = (),
    *,
    opset: int = 17,
    ir: int | None = None,
    dtypes: Mapping[str, int] | None = None,
    domains: Sequence[tuple[str, int]] = (),
    default_domain: bool = True,
) -> onnx.ModelProto:
    """A model of ``nodes``: float inputs of the given dims (``dtypes`` overrides)."""
    dtypes = dtypes or {}
    graph = helper.make_graph(
        list(nodes),
        "g",
        [
            helper.make_tensor_value_info(n, dtypes.get(n, TensorProto.FLOAT), d)
            for n, d in (X if inputs is None else inputs).items()
        ],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        list(inits),
    )
    opsets = [helper.make_opsetid("", opset)] if default_domain else []
    opsets += [helper.make_opsetid(d, v) for d, v in domains]
    built = helper.make_model(graph, opset_imports=opsets)
    if ir is not None:
        built.ir_version = ir
    return built


def conv_model(*extra: onnx.NodeProto, out: str = "y", **attrs: Any) -> onnx.ModelProto:
    """x → Conv(w 8x3x3x3, ``attrs``) → y, then ``extra`` nodes (reading y) up to ``out``."""
    return model([conv(**attrs), *extra], X, [out], [weight("w", 8, 3, 3, 3)])


def conv_then(
    extra: Sequence[onnx.NodeProto], inits: Sequence[TensorProto] = (), out: str = "z"
) -> onnx.ModelProto:
    return model([conv(), *extra], X, [out], [weight("w", 8, 3, 3, 3), *inits])


def edited(built: onnx.ModelProto, edit: Callable[[onnx.ModelProto], object]) -> Built:
    edit(built)
    return built


def serialized(built: onnx.ModelProto) -> bytes:
    data: bytes = built.SerializeToString()
    return data


# ------------------------------------------------------------------------------ cases


def _dup_input(m: onnx.ModelProto) -> None:
    m.graph.input.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16]))


def _shadowing_input(m: onnx.ModelProto) -> None:
    m.graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [8, 3, 3, 3]))


def _no_shape(m: onnx.ModelProto) -> None:
    m.graph.input[0].type.tensor_type.ClearField("shape")


def _external_weight(location: str) -> Callable[[onnx.ModelProto], object]:
    return lambda m: external(m.graph.initializer[0], location)


def _sparse_weight() -> onnx.ModelProto:
    m = model([conv()], X, ["y"])
    values = numpy_helper.from_array(np.ones(4, np.float32), "w")
    indices = numpy_helper.from_array(np.array([0, 5, 17, 200], np.int64), "w_idx")
    m.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [8, 3, 3, 3]))
    return m


def _subgraph_case(op: str) -> onnx.ModelProto:
    """``op`` (If, Loop or Scan) whose body holds a Conv of stride 0 and a dangling input."""
    body_conv = node("Conv", ["y", "bw"], ["b_out"], "/body/Conv", strides=[0, 0])
    body_bad = node("Relu", ["nowhere"], ["b_more"], "/body/Relu")
    bw = weight("bw", 8, 8, 3, 3)
    if op == "If":
        branch = helper.make_graph(
            [body_conv, body_bad],
            "branch",
            [],
            [helper.make_tensor_value_info("b_out", TensorProto.FLOAT, None)],
            [bw],
        )
        sub = node("If", ["cond"], ["z"], "/if", then_branch=branch, else_branch=branch)
        return conv_then([sub], [numpy_helper.from_array(np.array(True), "cond")])
    if op == "Loop":
        body = helper.make_graph(
            [body_conv, body_bad, node("Identity", ["cond_in"], ["cond_out"], "/body/Id")],
            "body",
            [
                helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            ],
            [
                helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                helper.make_tensor_value_info("b_out", TensorProto.FLOAT, None),
            ],
            [bw],
        )
        loop = node("Loop", ["trip", "cond"], ["z"], "/loop", body=body)
        return conv_then(
            [loop], [scalar("trip", 3), numpy_helper.from_array(np.array(True), "cond")]
        )
    body = helper.make_graph(
        [body_conv, body_bad],
        "body",
        [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [8, 14, 14])],
        [helper.make_tensor_value_info("b_out", TensorProto.FLOAT, None)],
        [bw],
    )
    scan = node("Scan", ["y"], ["z"], "/scan", body=body, num_scan_inputs=1)
    return conv_then([scan])


def _attr(name: str, value: Any, attr_type: int | None = None) -> onnx.AttributeProto:
    return helper.make_attribute(name, value, attr_type=attr_type)


def _with_attr(built: onnx.ModelProto, index: int, attr: onnx.AttributeProto) -> Built:
    built.graph.node[index].attribute.append(attr)
    return built


def _gelu_consts() -> onnx.ModelProto:
    nodes = [
        node("Div", ["y", "sqrt2"], ["g1"], "/gelu/Div"),
        node("Erf", ["g1"], ["g2"], "/gelu/Erf"),
        node("Add", ["g2", "one"], ["g3"], "/gelu/Add"),
        node("Mul", ["y", "g3"], ["g4"], "/gelu/Mul"),
        node("Mul", ["g4", "half"], ["z"], "/gelu/Mul_1"),
    ]
    return conv_then(nodes, [floats("sqrt2", 1.4142135), floats("one", 1.0), floats("half", 0.5)])


TWO_CONV_MACS = CONV_MACS + 8 * 8 * 3 * 3 * 12 * 12


def two_convs(name: str) -> onnx.ModelProto:
    """x → Conv ``name`` → Conv "/tail/Conv" → z."""
    return model(
        [conv(name), node("Conv", ["y", "w2"], ["z"], "/tail/Conv")],
        X,
        ["z"],
        [weight("w", 8, 3, 3, 3), weight("w2", 8, 8, 3, 3)],
    )


PASSWD = "../../etc/passwd"
ESCAPE = "\x1b[31mRED\x1b[0m"


# hostile node names: each must reach tables, markdown and messages as data
NAMES = {
    "name_newline_and_ansi": f"/c{ESCAPE}\nsepconv: error: fake",
    "name_markdown_pipe": "/c|evil| 999 | 999 |\n| fake | row |",
    "name_rich_markup": "[bold red]/c[/bold red][link=http://x]y[/link]",
    "name_nul_and_controls": "/c\x00\x07\x08\r\t\x7f\u202e",
    "name_very_long": "/c" + "A" * 100_000,
}


def _cases() -> list[Case]:
    w8 = weight("w", 8, 3, 3, 3)
    cases: list[Case] = []

    def add(
        case_id: str,
        build: Callable[[], Built],
        expect: Expect,
        *mentions: Mention,
        **extra: Any,
    ) -> None:
        cases.append(Case(case_id, build, expect, tuple(mentions), **extra))

    # -- dims (a negative or empty weight / Constant dim: tests/test_onnx_hostile_dims.py)
    add(
        "input_negative_dim",
        lambda: model([conv()], {"x": [1, 3, -16, 16]}, ["y"], [w8]),
        "refuse",
        "-16",
        why="a negative dim of a graph input",
    )
    add(
        "input_zero_spatial_dim",
        lambda: model([conv()], {"x": [1, 3, 0, 16]}, ["y"], [w8]),
        "either",
    )
    add("input_zero_batch", lambda: model([conv()], {"x": [0, 3, 16, 16]}, ["y"], [w8]), "either")
    add(
        "input_zero_channels",
        lambda: model([conv()], {"x": [1, 0, 16, 16]}, ["y"], [weight("w", 8, 0, 3, 3)]),
        "either",
    )
    add(
        "constant_zero_dim",
        lambda: model(
            [node("Constant", [], ["w"], "/w/Constant", value=declared("v", 0, 3, 3, 3)), conv()],
            X,
            ["y"],
        ),
        "either",
    )
    add(
        "weight_huge_declared_dim",
        lambda: model([conv()], X, ["y"], [declared("w", 2**40, 3, 3, 3)]),
        "either",
        bomb=True,
    )
    add(
        "input_huge_dims",
        lambda: model([conv()], {"x": [1, 3, 2**40, 2**40]}, ["y"], [w8]),
        "either",
        bomb=True,
    )

    # -- Conv
    add(
        "conv_no_weight_input",
        lambda: model([node("Conv", ["x"], ["y"], "/c/Conv")]),
        "refuse",
        "/c/Conv",
    )
    add("conv_short_pads", lambda: conv_model(pads=[1, 1]), "refuse", "/c/Conv", "pad")
    add("conv_negative_pads", lambda: conv_model(pads=[-5, -5, -5, -5]), "refuse", "/c/Conv", "pad")
    add("conv_stride_0", lambda: conv_model(strides=[0, 0]), "refuse", "/c/Conv", "stride")
    add("conv_stride_negative", lambda: conv_model(strides=[-1, 1]), "refuse", "/c/Conv", "stride")
    add("conv_dilation_0", lambda: conv_model(dilations=[0, 0]), "refuse", "/c/Conv", "dilation")
    add(
        "conv_dilation_negative",
        lambda: conv_model(dilations=[-2, 1]),
        "refuse",
        "/c/Conv",
        "dilation",
    )
    add("conv_group_0", lambda: conv_model(group=0), "refuse", "/c/Conv", "group")
    add("conv_group_negative", lambda: conv_model(group=-1), "refuse", "/c/Conv", "group")
    add(
        "conv_group_not_dividing_channels",
        lambda: conv_model(group=2),
        "refuse",
        "/c/Conv",
        "group",
    )
    add(
        "conv_kernel_bigger_than_input",
        lambda: model([conv()], X, ["y"], [weight("w", 8, 3, 30, 30)]),
        "refuse",
        "/c/Conv",
    )
    add(
        "conv_weight_rank_mismatch",
        lambda: model([conv()], X, ["y"], [weight("w", 8, 3, 3)]),
        "refuse",
        "/c/Conv",
    )
    add(
        "conv_kernel_shape_disagrees",
        lambda: conv_model(kernel_shape=[5, 5]),
        "refuse",
        "/c/Conv",
        "kernel",
    )
    add(
        "conv_input_rank_2",
        lambda: model([conv()], {"x": [1, 3]}, ["y"], [w8]),
        "refuse",
        "/c/Conv",
    )
    add(
        "conv_auto_pad_unknown",
        lambda: conv_model(auto_pad="BOGUS"),
        "refuse",
        "/c/Conv",
        "auto_pad",
    )
    add(
        "conv_strides_wrong_type_floats",
        lambda: _with_attr(model([conv()], X, ["y"], [w8]), 0, _attr("strides", [1.0, 1.0])),
        "refuse",
        "/c/Conv",
        "strides",
    )
    add(
        "conv_group_wrong_type_string",
        lambda: _with_attr(model([conv()], X, ["y"], [w8]), 0, _attr("group", "2")),
        "refuse",
        "/c/Conv",
        "group",
    )
    add(
        "conv_zero_outputs",
        lambda: model(
            [node("Conv", ["x", "w"], [], "/c/Conv"), node("Relu", ["x"], ["y"], "/r")],
            X,
            ["y"],
            [w8],
        ),
        "refuse",
        "/c/Conv",
    )
    add(
        "conv_empty_string_bias",
        lambda: model([node("Conv", ["x", "w", ""], ["y"], "/c/Conv")], X, ["y"], [w8]),
        "count",
        macs=CONV_MACS,
        why="an empty name is an omitted optional input",
    )
    add(
        "conv_huge_stride",
        lambda: conv_model(strides=[2**40, 2**40]),
        "count",
        macs=8 * 3 * 3 * 3,
        why="valid: a 1x1 output",
    )
    add("conv_huge_pads", lambda: conv_model(pads=[2**40] * 4), "either", bomb=True)

    # -- ConvTranspose
    add(
        "convtranspose_negative_output",
        lambda: model(
            [node("ConvTranspose", ["x", "w"], ["y"], "/t", pads=[100, 100, 100, 100])],
            X,
            ["y"],
            [weight("w", 3, 8, 3, 3)],
        ),
        "refuse",
        "/t",
    )
    add(
        "convtranspose_negative_output_shape",
        lambda: model(
            [node("ConvTranspose", ["x", "w"], ["y"], "/t", output_shape=[-5, -5])],
            X,
            ["y"],
            [weight("w", 3, 8, 3, 3)],
        ),
        "refuse",
        "/t",
    )
    add(
        "convtranspose_stride_0",
        lambda: model(
            [node("ConvTranspose", ["x", "w"], ["y"], "/t", strides=[0, 0])],
            X,
            ["y"],
            [weight("w", 3, 8, 3, 3)],
        ),
        "refuse",
        "/t",
        "stride",
    )

    # -- pools
    add(
        "maxpool_no_kernel_shape",
        lambda: conv_then([node("MaxPool", ["y"], ["z"], "/p")]),
        "refuse",
        "/p",
        "kernel_shape",
    )
    add(
        "maxpool_kernel_0",
        lambda: conv_then([node("MaxPool", ["y"], ["z"], "/p", kernel_shape=[0, 0])]),
        "refuse",
        "/p",
        "kernel",
    )
    add(
        "maxpool_negative_pads",
        lambda: conv_then(
            [node("MaxPool", ["y"], ["z"], "/p", kernel_shape=[2, 2], pads=[-3, -3, -3, -3])]
        ),
        "refuse",
        "/p",
        "pad",
    )
    add(
        "avgpool_stride_0",
        lambda: conv_then(
            [node("AveragePool", ["y"], ["z"], "/p", kernel_shape=[2, 2], strides=[0, 0])]
        ),
        "refuse",
        "/p",
        "stride",
    )
    add(
        "maxpool_kernel_bigger_than_input",
        lambda: conv_then([node("MaxPool", ["y"], ["z"], "/p", kernel_shape=[30, 30])]),
        "refuse",
        "/p",
    )

    # -- tensor ops
    add(
        "transpose_perm_out_of_range",
        lambda: conv_then([node("Transpose", ["y"], ["z"], "/tr", perm=[0, 5, 1, 2])]),
        "refuse",
        "/tr",
        "perm",
    )
    add(
        "transpose_perm_duplicate",
        lambda: conv_then([node("Transpose", ["y"], ["z"], "/tr", perm=[0, 0, 1, 2])]),
        "refuse",
        "/tr",
        "perm",
    )
    add(
        "concat_axis_out_of_range",
        lambda: conv_then([node("Concat", ["y", "y"], ["z"], "/cat", axis=9)]),
        "refuse",
        "/cat",
        "axis",
    )
    add(
        "slice_step_0",
        lambda: conv_then(
            [node("Slice", ["y", "s", "e", "a", "st"], ["z"], "/sl")],
            [ints("s", 0), ints("e", 4), ints("a", 1), ints("st", 0)],
        ),
        "refuse",
        "/sl",
        "step",
    )
    add(
        "reshape_two_minus_one",
        lambda: conv_then([node("Reshape", ["y", "sh"], ["z"], "/r")], [ints("sh", -1, -1)]),
        "refuse",
        "/r",
    )
    add(
        "reshape_wrong_element_count",
        lambda: conv_then([node("Reshape", ["y", "sh"], ["z"], "/r")], [ints("sh", 5, 100)]),
        "refuse",
        "/r",
    )
    add(
        "flatten_axis_out_of_range",
        lambda: conv_then([node("Flatten", ["y"], ["z"], "/fl", axis=9)]),
        "refuse",
        "/fl",
        "axis",
    )
    add(
        "squeeze_axis_out_of_range",
        lambda: conv_then([node("Squeeze", ["y", "ax"], ["z"], "/sq")], [ints("ax", 9)]),
        "refuse",
        "/sq",
    )
    add(
        "gemm_inner_mismatch",
        lambda: model(
            [
                node("Flatten", ["x"], ["f"], "/fl"),
                node("Gemm", ["f", "fw"], ["o"], "/fc", transB=1),
            ],
            X,
            ["o"],
            [weight("fw", 10, 99)],
        ),
        "refuse",
        "/fc",
    )
    add(
        "gemm_weight_rank_3",
        lambda: model(
            [node("Flatten", ["x"], ["f"], "/fl"), node("Gemm", ["f", "fw"], ["o"], "/fc")],
            X,
            ["o"],
            [weight("fw", 768, 10, 2)],
        ),
        "refuse",
        "/fc",
    )
    add(
        "matmul_inner_mismatch",
        lambda: model([node("MatMul", ["x", "mw"], ["o"], "/mm")], X, ["o"], [weight("mw", 5, 7)]),
        "refuse",
        "/mm",
    )
    add(
        "split_sizes_wrong_sum",
        lambda: conv_then(
            [node("Split", ["y", "sp"], ["z", "z2"], "/split", axis=1)], [ints("sp", 1, 1)]
        ),
        "either",
    )
    add(
        "batchnorm_wrong_param_size",
        lambda: conv_then(
            [node("BatchNormalization", ["y", "s", "b", "m", "v"], ["z"], "/bn")],
            [
                floats("s", *[1.0] * 5),
                floats("b", *[0.0] * 5),
                floats("m", *[0.0] * 5),
                floats("v", *[1.0] * 5),
            ],
        ),
        "either",
    )
    add(
        "leakyrelu_alpha_wrong_type_ints",
        lambda: _with_attr(
            conv_then([node("LeakyRelu", ["y"], ["z"], "/lr")]), 1, _attr("alpha", [1, 2])
        ),
        "either",
        why="ints where a float is expected, on an attribute no count reads",
    )

    # -- graph structure
    add(
        "duplicate_output_names_one_graph",
        lambda: conv_model(node("Relu", ["y"], ["y"], "/relu")),
        "refuse",
        ("'y'", "/relu", "/c/Conv"),
    )
    add(
        "duplicate_output_two_convs",
        lambda: model([conv(), node("Conv", ["x", "w"], ["y"], "/c2/Conv")], X, ["y"], [w8]),
        "refuse",
        ("'y'", "/c2/Conv", "/c/Conv"),
    )
    add(
        "duplicate_graph_input_names",
        lambda: edited(model([conv()], X, ["y"], [w8]), _dup_input),
        "refuse",
        "'x'",
    )
    add(
        "duplicate_node_names",
        lambda: model(
            [conv(), node("Conv", ["y", "w2"], ["z"], "/c/Conv")],
            X,
            ["z"],
            [w8, weight("w2", 8, 8, 3, 3)],
        ),
        "count",
        macs=CONV_MACS + 8 * 8 * 9 * 12 * 12,
        why="a node's name is for diagnostics; it need not be unique",
    )
    add(
        "initializer_shadows_graph_input",
        lambda: edited(model([conv()], X, ["y"], [w8]), _shadowing_input),
        "count",
        macs=CONV_MACS,
        why="IR >= 4: an initializer is the default of a graph input of its name",
    )
    add("opset_99", lambda: model([conv()], X, ["y"], [w8], opset=99), "refuse", "99", "opset")
    add("ir_version_99", lambda: model([conv()], X, ["y"], [w8], ir=99), "refuse", "99")
    add(
        "no_default_domain_opset",
        lambda: model([conv()], X, ["y"], [w8], default_domain=False, domains=[("com.acme", 1)]),
        "either",
    )
    add(
        "custom_domain_conv",
        lambda: model(
            [helper.make_node("Conv", ["x", "w"], ["y"], name="/c/Conv", domain="com.acme")],
            X,
            ["y"],
            [w8],
            domains=[("com.acme", 1)],
        ),
        "refuse",
        "com.acme",
    )
    add(
        "only_uncounted_nodes",
        lambda: model(
            [node("Identity", ["x"], ["h"], "/id"), node("Dropout", ["h"], ["y"], "/do")]
        ),
        "refuse",
        ("Identity", "Dropout"),
        why="nothing counts: say which node types it holds",
    )
    add("only_an_activation", lambda: model([node("Relu", ["x"], ["y"], "/r")]), "either")
    add(
        "cycle",
        lambda: model(
            [node("Relu", ["z"], ["y"], "/a"), node("Conv", ["y", "w"], ["z"], "/c")],
            X,
            ["z"],
            [weight("w", 3, 3, 3, 3)],
        ),
        "refuse",
        ("/a", "/c"),
        "cycle",
    )
    add(
        "self_loop",
        lambda: model([conv(), node("Add", ["y", "s"], ["s"], "/self")], X, ["s"], [w8]),
        "refuse",
        "/self",
    )
    add(
        "unsorted_nodes",
        lambda: model([node("Relu", ["y"], ["z"], "/a"), conv()], X, ["z"], [w8]),
        "refuse",
        ("/a", "/c"),
        why="ONNX requires nodes in topological order",
    )
    add(
        "dangling_input",
        lambda: model([node("Conv", ["x", "nowhere"], ["y"], "/c")]),
        "refuse",
        "nowhere",
    )
    add("graph_output_never_written", lambda: model([conv()], X, ["y", "ghost"], [w8]), "either")
    add("graph_without_nodes", lambda: model([], X, ["x"]), "either")
    add(
        "empty_optional_input_clip",
        lambda: conv_then(
            [node("Clip", ["y", "", "hi"], ["z"], "/clip")],
            [numpy_helper.from_array(np.array(6.0, np.float32), "hi")],
        ),
        "count",
        macs=CONV_MACS,
    )

    # -- the file itself
    add("truncated_file", lambda: serialized(conv_model(strides=[1, 1]))[:50], "refuse")
    add("empty_file", lambda: b"", "refuse")
    add("random_bytes", lambda: random.Random(22).randbytes(300), "refuse")
    add("zero_bytes", lambda: bytes(100), "refuse")
    add("text_file", lambda: b"<html>404 Not Found</html>\n", "refuse")
    add(
        "truncated_in_initializer",
        lambda: serialized(model([conv()], X, ["y"], [weight("w", 64, 3, 7, 7)]))[:-1500],
        "refuse",
    )

    # -- external data
    add(
        "external_weight_missing",
        lambda: edited(
            model([conv()], X, ["y"], [weight("w", 8, 3, 3, 3)]), _external_weight("nope.bin")
        ),
        "either",
        why="only the weight's shape is needed, and the file records it",
    )
    add(
        "external_shape_constant_missing",
        lambda: conv_then(
            [node("Reshape", ["y", "sh"], ["z"], "/r")], [external(ints("sh", 1, -1), "nope.bin")]
        ),
        "refuse",
        ("nope.bin", "'sh'"),
    )
    add(
        "external_path_leaves_folder",
        lambda: conv_then(
            [node("Reshape", ["y", "sh"], ["z"], "/r")], [external(ints("sh", 1, -1), PASSWD)]
        ),
        "refuse",
        (PASSWD, "'sh'"),
    )
    add(
        "external_path_to_sibling_file",
        lambda: conv_then(
            [node("Reshape", ["y", "sh"], ["z"], "/r")],
            [external(ints("sh", 1, -1), "../secret.bin")],
        ),
        "refuse",
        ("../secret.bin", "'sh'"),
        files={"../secret.bin": np.array([1, -1], np.int64).tobytes()},
        why="a file outside the model's folder is never read, even when it exists",
    )
    add(
        "external_absolute_path",
        lambda: conv_then(
            [node("Reshape", ["y", "sh"], ["z"], "/r")],
            [external(ints("sh", 1, -1), "/etc/passwd")],
        ),
        "refuse",
        ("/etc/passwd", "'sh'"),
    )
    add(
        "external_offset_past_end",
        lambda: conv_then(
            [node("Reshape", ["y", "sh"], ["z"], "/r")],
            [external(ints("sh", 1, -1), "data.bin", offset=10**12)],
        ),
        "refuse",
        ("data.bin", "'sh'"),
        files={"data.bin": bytes(16)},
    )
    add(
        "external_weight_path_leaves_folder",
        lambda: edited(
            model([conv()], X, ["y"], [weight("w", 8, 3, 3, 3)]), _external_weight(PASSWD)
        ),
        "either",
    )

    # -- one-element constants (NumPy 2.4: float() of a [1]-shaped array)
    add(
        "div_by_1_element_constant",
        lambda: conv_then([node("Div", ["y", "d"], ["z"], "/div")], [floats("d", 2.0)]),
        "count",
        macs=CONV_MACS,
    )
    add(
        "clip_1_element_bounds",
        lambda: conv_then(
            [node("Clip", ["y", "lo", "hi"], ["z"], "/clip")],
            [floats("lo", 0.0), floats("hi", 6.0)],
        ),
        "count",
        macs=CONV_MACS,
    )
    add("gelu_1_element_constants", _gelu_consts, "count", macs=CONV_MACS)
    add(
        "hardsigmoid_written_out_1_element",
        lambda: conv_then(
            [
                node("Add", ["y", "three"], ["a"], "/hs/Add"),
                node("Clip", ["a", "lo", "hi"], ["c"], "/hs/Clip"),
                node("Div", ["c", "six"], ["z"], "/hs/Div"),
            ],
            [floats("three", 3.0), floats("lo", 0.0), floats("hi", 6.0), floats("six", 6.0)],
        ),
        "count",
        macs=CONV_MACS,
    )

    # -- bombs: a small file whose folding or shapes would be huge
    add(
        "constantofshape_bomb",
        lambda: conv_then(
            [node("ConstantOfShape", ["s"], ["c"], "/cos"), node("Add", ["y", "c"], ["z"], "/add")],
            [ints("s", 100000, 100000)],
        ),
        "either",
        bomb=True,
    )
    add(
        "constantofshape_reshape_target",
        lambda: conv_then(
            [
                node("ConstantOfShape", ["s"], ["t"], "/cos", value=ints("one", 1)),
                node("Reshape", ["y", "t"], ["z"], "/r"),
            ],
            [ints("s", 1_000_000_000)],
        ),
        "either",
        bomb=True,
    )
    add(
        "range_bomb",
        lambda: conv_then(
            [
                node("Range", ["a", "b", "d"], ["t"], "/rng"),
                node("Reshape", ["y", "t"], ["z"], "/r"),
            ],
            [scalar("a", 0), scalar("b", 2_000_000_000), scalar("d", 1)],
        ),
        "either",
        bomb=True,
    )
    add(
        "tile_bomb",
        lambda: conv_then(
            [node("Tile", ["s", "rep"], ["t"], "/tile"), node("Reshape", ["y", "t"], ["z"], "/r")],
            [ints("s", 1, 1), ints("rep", 1_000_000_000)],
        ),
        "either",
        bomb=True,
    )
    add(
        "expand_bomb",
        lambda: conv_then(
            [node("Expand", ["s", "rep"], ["t"], "/ex"), node("Reshape", ["y", "t"], ["z"], "/r")],
            [ints("s", 1), ints("rep", 100000, 100000)],
        ),
        "either",
        bomb=True,
    )
    add(
        "resize_bomb",
        lambda: conv_then(
            [node("Resize", ["y", "", "sc"], ["z"], "/rs")], [floats("sc", 1, 1, 1e6, 1e6)]
        ),
        "either",
        bomb=True,
    )
    add(
        "pad_bomb",
        lambda: conv_then(
            [node("Pad", ["y", "p"], ["z"], "/pad")],
            [ints("p", 0, 0, 2**40, 2**40, 0, 0, 2**40, 2**40)],
        ),
        "either",
        bomb=True,
    )

    # -- names are data (two convs, so the rows keep their own names)
    for case_id, name in NAMES.items():
        add(case_id, functools.partial(two_convs, name), "count", macs=TWO_CONV_MACS)
    add(
        "tensor_names_with_controls",
        lambda: model(
            [node("Conv", ["x\n\x1b[2J", "w\r"], ["y|\n"], "/c/Conv")],
            {"x\n\x1b[2J": [1, 3, 16, 16]},
            ["y|\n"],
            [weight("w\r", 8, 3, 3, 3)],
        ),
        "count",
        macs=CONV_MACS,
    )
    add(
        "refused_node_with_control_name",
        lambda: model([conv(f"/c\n{ESCAPE}evil", strides=[0, 0])], X, ["y"], [w8]),
        "refuse",
        "/c",
        "stride",
        why="the error names the node in one line, its controls escaped",
    )

    # -- input dtypes and shapes
    add(
        "string_input_unused",
        lambda: model(
            [conv()], {"x": [1, 3, 16, 16], "s": [2]}, ["y"], [w8], dtypes={"s": TensorProto.STRING}
        ),
        "count",
        macs=CONV_MACS,
    )
    for dtype_name, dtype in (
        ("bool", TensorProto.BOOL),
        ("int64", TensorProto.INT64),
        ("complex64", TensorProto.COMPLEX64),
        ("string", TensorProto.STRING),
    ):
        add(
            f"conv_on_{dtype_name}_input",
            functools.partial(model, [conv()], X, ["y"], [w8], dtypes={"x": dtype}),
            "either",
        )
    add("input_without_shape", lambda: edited(model([conv()], X, ["y"], [w8]), _no_shape), "either")
    add(
        "input_symbolic_dims",
        lambda: model([conv()], {"x": ["N", 3, "H", "W"]}, ["y"], [w8]),
        "either",
    )

    # -- rarer containers
    add("sparse_initializer_weight", _sparse_weight, "either")
    add("if_with_bad_branches", lambda: _subgraph_case("If"), "either")
    add("loop_with_bad_body", lambda: _subgraph_case("Loop"), "either")
    add("scan_with_bad_body", lambda: _subgraph_case("Scan"), "either")
    return cases


CASES: list[Case] = _cases()
BY_ID: dict[str, Case] = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"


def write_case(case: Case, folder: Path) -> Path:
    """Write ``case`` as ``folder/model/<id>.onnx`` (with its ``files``); return its path."""
    home = folder / "model"
    home.mkdir(parents=True, exist_ok=True)
    path = home / f"{case.id}.onnx"
    built = case.build()
    path.write_bytes(built if isinstance(built, bytes) else built.SerializeToString())
    for name, data in case.files.items():
        (home / name).write_bytes(data)
    return path


# ------------------------------------------------------------------- judging a run


@dataclass(frozen=True)
class Outcome:
    """What one ``sepconv`` command did in the bounded child."""

    exit_code: int | None  # None: no result (timed out, the child died)
    stdout: str = ""
    stderr: str = ""
    exception: str = ""  # a traceback, when an exception escaped the CLI
    memory_error: bool = False  # a MemoryError was raised (caught or not) under the limit
    timed_out: bool = False
    died: str = ""  # how the child ended, when it did

    def first_error_line(self) -> str:
        for line in self.stderr.splitlines():
            if line.strip():
                return line.strip()
        return ""

    def summary(self) -> str:
        if self.timed_out:
            return f"no result in {TIME_LIMIT_S:.0f} s"
        if self.died:
            return f"the process died ({self.died})"
        head = f"exit {self.exit_code}"
        if self.memory_error:
            head += ", asked for > 2 GiB (MemoryError)"
        if self.exception:
            head += f", exception: {self.exception.strip().splitlines()[-1]}"
        line = self.first_error_line()
        return f"{head}: {line[:200]}" if line else head


def numbers(value: object, where: str = "") -> Iterable[tuple[str, float]]:
    """Every number of a parsed JSON report, with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, f"{where}[{index}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield where, value


COUNT_KEY = re.compile(r"macs|flops|params|bytes|shape|repeat|batch", re.IGNORECASE)


def problems(outcome: Outcome, path: Path, *, json_report: bool = True) -> list[str]:
    """Why ``outcome`` is not a sane run on ``path``: exit 0 with non-negative counts, or
    exit 2 with one line ``sepconv: error: …`` naming the file. Empty when sane."""
    found: list[str] = []
    if outcome.timed_out or outcome.died:
        return [outcome.summary()]
    if outcome.memory_error:
        found.append(f"asked for more than 2 GiB ({outcome.summary()})")
    if outcome.exception or "Traceback (most recent call last)" in outcome.stderr:
        found.append(f"a traceback ({outcome.summary()})")
    if outcome.exit_code == 0:
        if json_report:
            try:
                report = json.loads(outcome.stdout)
            except ValueError as exc:
                return [*found, f"exit 0 but stdout is not JSON ({exc})"]
            for where, number in numbers(report):
                if not math.isfinite(number):
                    found.append(f"exit 0 with {where} = {number}")
                elif number < 0 and COUNT_KEY.search(where):
                    found.append(f"exit 0 with a negative count: {where} = {number}")
    elif outcome.exit_code == 2:
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        if len(lines) != 1:
            found.append(f"exit 2 with {len(lines)} stderr lines: {outcome.stderr[:300]!r}")
        elif not lines[0].startswith("sepconv: error: "):
            found.append(f"exit 2, stderr not 'sepconv: error: ...': {lines[0][:200]!r}")
        elif path.name not in lines[0]:
            found.append(f"exit 2 without naming the file: {lines[0][:200]!r}")
        if "\x1b" in outcome.stderr:
            found.append("exit 2 with a raw escape character in the message")
    else:
        found.append(outcome.summary())
    return found


def missing_mentions(line: str, mentions: Sequence[Mention]) -> list[str]:
    """The ``mentions`` that ``line`` lacks (case-insensitive; a tuple: any of them)."""
    folded = line.casefold()
    lacking = []
    for mention in mentions:
        options = (mention,) if isinstance(mention, str) else mention
        if not any(option.casefold() in folded for option in options):
            lacking.append(" or ".join(repr(option) for option in options))
    return lacking


def judge(case: Case, outcome: Outcome, path: Path) -> list[str]:
    """:func:`problems`, then what ``case`` expects."""
    found = problems(outcome, path)
    if found:
        return found
    if case.expect == "refuse" and outcome.exit_code != 2:
        found.append(f"expected a refusal (exit 2), got {outcome.summary()}")
    if case.expect == "count" and outcome.exit_code != 0:
        found.append(f"expected a count (exit 0), got {outcome.summary()}")
    if case.expect == "refuse" and outcome.exit_code == 2:
        lacking = missing_mentions(outcome.first_error_line(), case.mentions)
        if lacking:
            found.append(
                f"the refusal does not name {', '.join(lacking)}: "
                f"{outcome.first_error_line()[:200]}"
            )
    if case.expect == "count" and outcome.exit_code == 0 and case.macs is not None:
        macs = json.loads(outcome.stdout)["totals"]["as_specified"]["macs"]
        if macs != case.macs:
            found.append(f"counted {macs} MACs, expected {case.macs}")
    return found


# ------------------------------------------------------------- the bounded child


def _child_env(home: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    # one BLAS thread: each would reserve its own buffers out of the 2 GiB address space
    for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[key] = "1"
    env.pop("SEPCONV_DEBUG", None)
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    if home is not None:
        env["HOME"] = str(home)
        env["XDG_CACHE_HOME"] = str(home / ".cache")
        env["XDG_STATE_HOME"] = str(home / ".local" / "state")
    return env


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


class BoundedCli:
    """``sepconv`` commands run one at a time by a child Python held under 2 GiB of
    address space, each within :data:`TIME_LIMIT_S`; a child that hangs or dies is
    replaced for the next command."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_child_env(self.home),
                preexec_fn=limit_memory,
            )
        return self.process

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None

    def run(self, args: Sequence[str], timeout: float = TIME_LIMIT_S) -> Outcome:
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(list(args)).encode() + b"\n")
            process.stdin.flush()
        except BrokenPipeError:
            self.close()
            return Outcome(None, died="the child had ended")
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            self.close()
            return Outcome(None, timed_out=True)
        line = process.stdout.readline()
        if not line:
            code = process.wait()
            self.close()
            return Outcome(None, died=f"exit status {code}")
        reply = json.loads(line)
        outcome = Outcome(
            reply["exit"],
            reply["stdout"],
            reply["stderr"],
            reply["exception"],
            reply["memory_error"],
        )
        if outcome.memory_error or outcome.exception:
            self.close()  # a fresh child for the next command: nothing half-done carries on
        return outcome

    def profile(self, path: Path, *extra: str) -> Outcome:
        return self.run(["profile", str(path), "--format", "json", "-q", *extra])


def run_real_cli(args: Sequence[str], home: Path | None = None) -> Outcome:
    """``python -m sepconv_cli ARGS`` under the same limits (the real entry point)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sepconv_cli", *args],
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT_S,
            env=_child_env(home),
            preexec_fn=limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(None, timed_out=True)
    if done.returncode < 0:
        return Outcome(None, done.stdout, done.stderr, died=f"signal {-done.returncode}")
    return Outcome(done.returncode, done.stdout, done.stderr)


def serve() -> None:  # pragma: no cover - runs in the child
    """The child: read a JSON list of arguments per line, run them, answer one JSON line."""
    import traceback

    import typer.testing

    build = getattr(typer.testing, "_get_command", None)
    if build is not None:
        typer.testing._get_command = functools.cache(build)  # type: ignore[attr-defined]
    from sepconv_cli.cli.app import app

    answer = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # anything written to fd 1 directly cannot garble the answers
    memory_errors: list[str] = []

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "exception" and issubclass(arg[0], MemoryError):
            memory_errors.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")
        return local

    def watch(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_lines = False
        return local

    runner = typer.testing.CliRunner()
    for line in sys.stdin:
        args = json.loads(line)
        memory_errors.clear()
        sys.settrace(watch)
        threading.settrace(watch)
        try:
            result = runner.invoke(app, args)
        finally:
            sys.settrace(None)
            threading.settrace(None)
        exc = result.exception
        trace = ""
        if exc is not None and not isinstance(exc, SystemExit):
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        reply = {
            "exit": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "exception": trace,
            "memory_error": bool(memory_errors),
        }
        answer.write(json.dumps(reply) + "\n")
        answer.flush()


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--serve"]:
        serve()
