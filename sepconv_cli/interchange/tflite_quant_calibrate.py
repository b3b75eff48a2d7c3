"""Calibrating a float32 TFLite graph on LiteRT and writing its int8 form
(:mod:`tflite_quant`'s rules): what ``sepconv export --dtype int8 -o model.tflite`` and
``--runtime litert --dtype int8`` share.

Rules
-----
* Calibration is one run of the float32 file on the given input (NumPy's seeded input when
  timing, a seeded normal one when exporting), in LiteRT's ``Interpreter`` with
  ``experimental_preserve_all_tensors=True`` (LiteRT's builtin kernels, no delegate, every
  intermediate tensor kept): each computed tensor's range is its smallest and largest value
  there, as TensorFlow's converter takes them from its representative dataset.
* LiteRT (``ai_edge_litert``) is imported only here, when a file is quantized; missing, it is
  one line naming what to install.
* LiteRT's C++ logging writes to file descriptor 2 (``INFO: Created TensorFlow Lite XNNPACK
  delegate for CPU.``): :func:`quiet_stderr` points it at /dev/null while an interpreter is
  made, so sepconv's stderr holds its own lines only.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import numpy as np

from sepconv_cli.interchange.optional import require
from sepconv_cli.interchange.tflite_quant import Affine, Io, Range, quantize
from sepconv_cli.interchange.tflite_write import FlatModel


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null (LiteRT's C++ logging writes there)."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def calibrate(data: bytes, feeds: Mapping[str, Any], where: str) -> dict[int, Range]:
    """Each computed tensor's (min, max) over one run of the float32 file ``data`` on
    ``feeds`` (graph input name → values), by tensor index."""
    require("ai_edge_litert", where)
    interpreter_class = import_module("ai_edge_litert.interpreter").Interpreter
    with quiet_stderr(), warnings.catch_warnings():
        # LiteRT warns that keeping every tensor is for debugging: here it is the point
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        it = interpreter_class(
            model_content=data, num_threads=1, experimental_preserve_all_tensors=True
        )
        it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.ascontiguousarray(feeds[d["name"]], np.float32))
    it.invoke()
    ranges: dict[int, Range] = {}
    for d in it.get_tensor_details():
        try:
            values = it.get_tensor(d["index"])
        except ValueError:  # a tensor LiteRT holds no data for (an optional input)
            continue
        if values.size and values.dtype == np.float32:
            ranges[int(d["index"])] = (float(values.min()), float(values.max()))
    return ranges


@dataclass(frozen=True)
class Int8File:
    """An int8 ``.tflite`` file and what feeding, reading and checking it needs."""

    data: bytes
    inputs: dict[str, Affine]  # int8 graph input → its parameters (io int8; else empty)
    output: Affine  # the (first) output's int8 parameters
    rounding_ops: int  # operations that round (tflite_quant's rules)
    float_ops: tuple[str, ...]  # "name (OPERATOR)" of each operator left in float32
    operators: int
    weights: int


def int8_file(
    model: FlatModel,
    inputs: list[str],
    outputs: list[str],
    feeds: Mapping[str, Any],
    io: Io,
    where: str,
) -> Int8File:
    """``model`` (float32) calibrated on ``feeds`` and written as a full-integer int8 file."""
    ranges = calibrate(model.build(inputs, outputs, where), feeds, where)
    q = quantize(model, inputs, outputs, ranges, io, where)
    data = q.model.build(q.inputs, q.outputs, where)
    return Int8File(
        data=data,
        inputs=q.input_params,
        output=q.output_params[0],
        rounding_ops=q.rounding_ops,
        float_ops=tuple(q.float_ops),
        operators=len(q.model.ops),
        weights=q.model.weight_count(),
    )
