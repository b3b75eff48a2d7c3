"""Timing on LiteRT in int8 (issue 25, ``--runtime litert --dtype int8``): every operation's
one-form int8 ``.tflite`` runs on LiteRT and agrees with NumPy's float32 output within the
runner's tolerance (:func:`base.int8_tolerance`), a wrong zero point or scale in the file
fails that check, XNNPACK takes the int8 operators, and the record says int8.

The reference is NumPy's float32 kernels on the seeded input (never the code under test);
the int8 file is sepconv's TFLite writer's float graph, calibrated on LiteRT and quantized
by :mod:`sepconv_cli.interchange.tflite_quant`. No test asserts a speed. Every test skips
where LiteRT (``ai_edge_litert``) or the ``tflite`` schema package is not installed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("tflite")

from test_litert import CONV, LAYERS, POOLS, ROW_KINDS, ZERO, _forms  # tests/test_litert.py

from sepconv_cli.cli.app import app
from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Concat,
    Dense,
    LayerNorm,
    Op,
    Pool,
    Scale,
    Shuffle,
    SqueezeExcite,
)
from sepconv_cli.execution.kernels import check_executable, prepare_chain
from sepconv_cli.execution.runtimes.base import (
    INT8_STEPS_PER_OP,
    DisagreementError,
    int8_tolerance,
)
from sepconv_cli.execution.runtimes.registry import load_runtime
from sepconv_cli.execution.runtimes.timed import prepare_steps
from sepconv_cli.execution.timing import TimingSettings, time_forms
from sepconv_cli.interchange import tflite_write

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fresh_runtimes")  # tests/conftest.py


def _int8(ops: Sequence[Op], batch: int = 2) -> tuple[Any, Any, Any]:
    """The form on LiteRT in int8 and NumPy's float32 output on the same input and weights:
    (runner, LiteRT's dequantized output, NumPy's)."""
    rt = load_runtime("litert", "cpu", 1, None, "int8")
    check_executable(ops)
    chain = prepare_chain(ops, batch, "float32", np.random.default_rng(5))
    reference = chain.checked().copy()
    runner_ = prepare_steps(rt, ops, chain, range(len(ops)))
    return runner_, runner_.output(), reference


def _agrees_int8(ops: Sequence[Op], batch: int = 2) -> Any:
    """The int8 form within its own tolerance of NumPy's float32 output; its error in steps
    of the output's scale is also under INT8_STEPS_PER_OP · sqrt(rounding operations)."""
    runner_, result, reference = _int8(ops, batch)
    assert result.shape == reference.shape and result.dtype == np.float32
    q = runner_.quantized
    assert runner_.tolerance == int8_tolerance(q.output.scale, q.rounding_ops)
    worst = float(np.max(np.abs(result.astype(np.float64) - reference)))
    assert worst <= runner_.tolerance, (worst / q.output.scale, q.rounding_ops)
    # not vacuous: the output really is quantized, the error really is a few steps
    assert len(np.unique(result)) > 1 and worst > 0
    return runner_


@pytest.mark.parametrize("case", list(LAYERS))
def test_every_form_agrees_with_numpy_in_int8(case: str) -> None:
    forms, batch = _forms(LAYERS[case])
    for name in ("standard", "separable", "as_specified"):
        runner_ = _agrees_int8(getattr(forms, name), batch)
        assert runner_.float_ops == ()  # every conv has an int8 kernel


def test_every_row_kind_agrees_in_int8(tmp_path: Path) -> None:
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.presets import load_model

    path = tmp_path / "kinds.yaml"
    path.write_text(ROW_KINDS, encoding="utf-8")
    for row in build(load_model(path)).rows:
        for name in ("standard", "separable", "as_specified"):
            _agrees_int8(getattr(row.forms, name))


@pytest.mark.parametrize(
    "ops",
    [
        [CONV, BatchNorm((6, 6, 8))],  # folded, then quantized
        [BatchNorm((6, 6, 8))],  # alone: MUL and ADD by int8 constants
        [CONV, Add((6, 6, 8))],
        [CONV, Scale((6, 6, 8))],
        [CONV, Concat(((6, 6, 8), (6, 6, 3), (6, 6, 5)))],
        [LayerNorm((4, 5, 6), 6)],
        [LayerNorm((10,), 10, scale=False, bias=False)],
        [CONV, LayerNorm((6, 6, 8), 8), Scale((6, 6, 8), params=8)],
        [Shuffle((6, 6, 8), 2)],
        [SqueezeExcite((7, 7, 8), 2)],
        [SqueezeExcite((7, 8), 2)],
        [Pool((8, 8, 4), "avg", (8, 8), (8, 8), ZERO, global_=True), Dense((4,), 10)],
        [Dense((3, 3, 4), 10, bias=False)],
    ],
    ids=[
        "conv_bn",
        "bn",
        "residual",
        "gate",
        "concat",
        "ln",
        "ln_flat",
        "ln_chain",
        "shuffle",
        "se",
        "se_1d",
        "gap_fc",
        "fc",
    ],
)
def test_channel_ops_agree_in_int8(ops: list[Op]) -> None:
    _agrees_int8(ops)


@pytest.mark.parametrize("name", list(POOLS))
def test_every_pool_agrees_in_int8(name: str) -> None:
    _agrees_int8([POOLS[name]])


def test_a_3d_conv_runs_in_float32_and_is_named() -> None:
    """TFLite has no int8 CONV_3D: it runs in float32 between a DEQUANTIZE and a QUANTIZE,
    and the runner names it (never silently)."""
    forms, batch = _forms({"input": "5x6x7x4", "kernel": "3", "filters": "6", "padding": "1"})
    runner_ = _agrees_int8(forms.standard, batch)
    assert runner_.float_ops == ("op0/Conv3D (CONV_3D)",)
    names = [d["op_name"] for d in runner_.interpreter._get_ops_details()]
    assert names[:3] == ["DEQUANTIZE", "CONV_3D", "QUANTIZE"], names


def test_xnnpack_runs_the_int8_convolutions() -> None:
    """LiteRT's default resolver hands int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED to
    XNNPACK (one DELEGATE node covering them all); an int8 AVERAGE_POOL_2D it leaves to
    LiteRT's builtin kernel (ai-edge-litert 2.3.0), which the runner reports."""
    forms, batch = _forms(LAYERS["rect_kernel_bias_bn"])
    runner_ = _agrees_int8(forms.separable, batch)
    assert runner_.delegated() and runner_.builtin_ops() == ()
    runner_ = _agrees_int8(
        [Pool((8, 8, 4), "avg", (8, 8), (8, 8), ZERO, global_=True), Dense((4,), 10)]
    )
    assert runner_.builtin_ops() == ()  # MEAN and FULLY_CONNECTED both delegated
    runner_ = _agrees_int8([POOLS["avg_valid"]])
    assert runner_.builtin_ops() == ("op0/AvgPool (AVERAGE_POOL_2D)",)


def test_the_int8_file_is_int8_throughout() -> None:
    """Inputs and output int8 (a timed call is the int8 operators alone, no QUANTIZE or
    DEQUANTIZE), weights int8 per channel, biases int32."""
    runner_, _, _ = _int8([CONV, BatchNorm((6, 6, 8))])
    it = runner_.interpreter
    assert [d["dtype"] for d in it.get_input_details()] == [np.int8]
    assert it.get_output_details()[0]["dtype"] == np.int8
    ops = [d for d in it._get_ops_details() if d["op_name"] != "DELEGATE"]
    assert [d["op_name"] for d in ops] == ["CONV_2D"]
    details = {d["index"]: d for d in it.get_tensor_details()}
    weight, bias = (details[i] for i in ops[0]["inputs"][1:])
    assert weight["dtype"] == np.int8 and bias["dtype"] == np.int32
    assert weight["quantization_parameters"]["quantized_dimension"] == 0
    assert len(weight["quantization_parameters"]["scales"]) == 8  # per output channel


def _patched_quantization(monkeypatch: pytest.MonkeyPatch, name: str, change: Any) -> None:
    """The quantization the *file* records for tensor ``name`` changed by ``change``, while
    the quantizer's own bookkeeping (what the runner feeds and reads) stays true: the bug
    of a writer that records other parameters than it computes with."""
    real = tflite_write.FlatModel._tensor

    def written(b: Any, tfl: Any, t: Any) -> int:
        if t.name == name and t.quant is not None:
            t = tflite_write._Tensor(t.name, t.shape, t.dtype, t.buffer, change(t.quant))
        return int(real(b, tfl, t))

    monkeypatch.setattr(tflite_write.FlatModel, "_tensor", staticmethod(written))


@pytest.mark.parametrize(
    ("tensor", "change"),
    [
        # the input's zero point 32 steps off: every product of the conv shifted
        ("input", lambda q: tflite_write.Quantization(q.scales, (q.zero_points[0] + 32,))),
        # the output's scale a quarter too large (255 levels counted as 204)
        ("op0/Conv2D", lambda q: tflite_write.Quantization((q.scales[0] * 1.25,), q.zero_points)),
    ],
    ids=["zero_point", "scale"],
)
def test_a_wrong_zero_point_or_scale_fails_the_agreement_check(
    monkeypatch: pytest.MonkeyPatch, tensor: str, change: Any
) -> None:
    forms, batch = _forms({"input": "8x8x4", "kernel": "3", "filters": "4", "padding": "1"})
    runner_, result, reference = _int8(forms.standard, batch)
    worst = float(np.max(np.abs(result - reference)))
    assert worst <= runner_.tolerance  # right, it agrees
    _patched_quantization(monkeypatch, tensor, change)
    settings = TimingSettings(budget_s=0.01, runtime="litert")
    with pytest.raises(DisagreementError, match="form standard: litert's int8 output differs"):
        time_forms(forms, batch, "int8", settings)


def test_the_tolerance_is_the_stated_rule() -> None:
    """4 steps of the output scale for one rounding, times the square root of the count."""
    assert INT8_STEPS_PER_OP == 4.0
    assert int8_tolerance(0.5, 1) == 2.0 and int8_tolerance(0.5, 4) == 4.0


def test_cost_json_records_int8_on_litert() -> None:
    code_ = runner.invoke(
        app,
        [
            "cost",
            "-i",
            "8x8x8",
            "-k",
            "3",
            "-f",
            "8",
            "-p",
            "1",
            "--time",
            "--time-budget",
            "0.05s",
            "--runtime",
            "litert",
            "--dtype",
            "int8",
            "--format",
            "json",
        ],
    )
    assert code_.exit_code == 0, code_.stderr
    timing = json.loads(code_.stdout)["layers"][0]["timing"]
    record = timing["runtime"]
    assert (record["name"], record["provider"], record["dtype"]) == ("litert", "XNNPACK", "int8")
    assert record["quantization"].startswith("TFLite full-integer")
    assert timing["standard"]["median_s"] > 0
