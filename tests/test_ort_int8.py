"""int8 timing on ONNX Runtime (issue 25 item 1): every form quantized by ORT's own
quantizer agrees with NumPy's float32 result within the stated tolerance, a hand-computed
int8 layer equals ORT's int8 output, the tolerance can fail, operations without an int8
kernel are named, and int8 is shown and recorded beside float32 from the same run.

The expected values come from hand arithmetic (the quantization formulas ORT's
documentation states, worked by hand below) and from NumPy's float32 kernels; no test
asserts a speed. Every test skips where onnxruntime is not installed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from test_runtimes import LAYERS  # tests/test_runtimes.py: the layer kinds every runtime runs

from sepconv_cli.analysis.bench import parse_dtypes
from sepconv_cli.cli.app import app
from sepconv_cli.counting.ops import Add, Concat, Conv, LayerNorm, Op, Scale
from sepconv_cli.counting.report import single_layer_report
from sepconv_cli.errors import UsageError
from sepconv_cli.execution.kernels import check_executable, prepare_chain
from sepconv_cli.execution.runtimes import ort_int8
from sepconv_cli.execution.runtimes.base import (
    INT8_STEPS_PER_OP,
    DisagreementError,
    int8_tolerance,
)
from sepconv_cli.execution.runtimes.registry import load_runtime
from sepconv_cli.execution.runtimes.timed import _agreed
from sepconv_cli.spec.flags import layer_from_flags

runner = CliRunner()
FAST = ["--time-budget", "0.05s"]
pytestmark = pytest.mark.usefixtures("fresh_runtimes")  # tests/conftest.py


def _int8() -> Any:
    return load_runtime("onnxruntime", "cpu", 1, None, "int8")


def _agrees(ops: Sequence[Op], name: str, batch: int = 1, seed: int = 3) -> Any:
    check_executable(ops)
    chain = prepare_chain(ops, batch, "float32", np.random.default_rng(seed))
    runner_, part = _agreed(_int8(), ops, chain, name)  # raises on disagreement
    assert runner_.output().shape == chain.out.shape
    part(range(len(ops)))()
    return runner_


@pytest.mark.parametrize("case", list(LAYERS))
def test_every_form_in_int8_agrees_with_numpys_float32(case: str) -> None:
    layer = single_layer_report(layer_from_flags(LAYERS[case]))
    for name in ("standard", "separable"):
        runner_ = _agrees(getattr(layer.row.forms, name), name, layer.batch)
        assert runner_.tolerance is not None and runner_.float_ops == ()


def test_second_operands_in_int8() -> None:
    """A residual, a gate, a concat of three: each read as NumPy's own tensor, quantized."""
    conv = Conv((6, 6, 4), 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    _agrees([conv, Add((6, 6, 8))], "residual", 2, 5)
    _agrees([conv, Scale((6, 6, 8))], "gate", 2, 5)
    _agrees([conv, Concat(((6, 6, 8), (6, 6, 3), (6, 6, 5)))], "concat", 2, 5)


def test_an_operation_without_an_int8_kernel_is_named() -> None:
    """ORT has no int8 LayerNormalization: it runs in float32 between a dequantize and a
    quantize, and the runner says so (never a silent float32 time called int8)."""
    runner_ = _agrees([LayerNorm((4, 5, 6), 6)], "layer_norm", 2, 5)
    assert runner_.float_ops == ("layer_norm (LayerNormalization)",)


def test_a_hand_computed_int8_pointwise_conv_equals_orts() -> None:
    """A 1×1 conv, 2 → 1 channels, on two pixels, worked by hand with the formulas of ORT's
    quantization documentation (MinMax calibration; uint8 activations: rmin = min(x, 0),
    rmax = max(x, 0), scale = (rmax - rmin) / 255, zero point = round(-rmin / scale);
    int8 weights symmetric per channel: scale = max|w| / 127):

    x = [[1.0, -0.5], [0.3, 2.0]]: scale 2.5/255, zero point 51; xq = [[153, 0], [82, 255]]
    w = [0.5, -0.2]: scale 0.5/127; wq = [127, -51]
    float y = [0.6, -0.25]: scale 0.85/255, zero point 75
    acc = sum((xq - 51) * wq) = [15555, -6467]; times sx*sw/sy = 1.25/107.95:
    [180.12, -74.88] → round, + 75 → [255, 0] → dequantized [0.6, -0.25].
    """
    conv = Conv((2, 1, 2), 1, (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)))
    x = np.array([[[[1.0, -0.5]], [[0.3, 2.0]]]], np.float32)  # (N, H, W, C)
    w = np.array([0.5, -0.2], np.float32).reshape(1, 1, 2, 1)  # NumPy's (kh, kw, Cin, Cout)
    prepared = _int8().prepare([conv], x, [{"w": w}], [{}])
    q = prepared.quantized
    assert math.isclose(q.inputs["input"].scale, 2.5 / 255, rel_tol=1e-6)
    assert q.inputs["input"].zero_point == 51
    assert math.isclose(q.output.scale, 0.85 / 255, rel_tol=1e-6)
    assert q.output.zero_point == 75
    prepared()
    raw = prepared.bound.first_output().reshape(-1)
    assert raw.tolist() == [255, 0]
    assert np.allclose(prepared.output().reshape(-1), [0.6, -0.25], atol=1e-6)


def test_the_tolerance_is_steps_of_the_output_scale() -> None:
    """Hand arithmetic: one quantized operation, output scale 0.01 → 4 steps = 0.04; four
    operations → 4 · sqrt(4) = 8 steps = 0.08."""
    assert INT8_STEPS_PER_OP == 4.0
    assert math.isclose(int8_tolerance(0.01, 1), 0.04)
    assert math.isclose(int8_tolerance(0.01, 4), 0.08)
    assert math.isclose(int8_tolerance(0.01, 0), 0.04)  # at least one operation
    # 7-bit weights (a CPU without VNNI): their step is twice an 8-bit one's → 8 steps
    assert math.isclose(int8_tolerance(0.01, 1, weight_bits=7), 0.08)
    assert math.isclose(int8_tolerance(0.01, 4, weight_bits=8), 0.08)


def test_a_form_quantized_with_seven_bit_weights_gets_their_tolerance(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A form quantized for a CPU without VNNI records 7-bit weights, and its runner's
    tolerance is twice the 8-bit one for the same scale and operations; the quantized
    graph's weights are at most 64 in magnitude (ORT's 7-bit range, -64 to 64), where
    8-bit ones reach 127. (Only the 7-bit form is run: 8-bit weights saturate on such a
    CPU, which this machine may be.)"""
    import onnx
    from onnx import numpy_helper

    from sepconv_cli.interchange.onnx_int8 import seeded_feeds

    spec = tmp_path / "m.yaml"
    spec.write_text("name: m\ninput: [6, 6, 4]\nlayers:\n  - {type: conv, kernel: 3, filters: 4}\n")
    path = tmp_path / "m.onnx"
    assert run("export", str(spec), "-o", str(path))[0] == 0
    model = onnx.load(str(path))
    for reduced, bits, top in ((True, 7, 64), (False, 8, 127)):
        monkeypatch.setattr(ort_int8, "saturating_u8s8", lambda r=reduced: r)
        form = ort_int8.quantize_form(model, seeded_feeds(model, 0))
        assert form.weight_bits == bits
        weights = [
            numpy_helper.to_array(t)
            for t in onnx.load_from_string(form.model).graph.initializer
            if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4
        ]
        assert weights and max(int(abs(w.astype(int)).max()) for w in weights) == top
    monkeypatch.setattr(ort_int8, "saturating_u8s8", lambda: True)
    layer = single_layer_report(layer_from_flags({"input": "6x6x4", "kernel": "3", "filters": "4"}))
    runner_ = _agrees(layer.row.forms.standard, "standard")
    quantized = runner_.quantized
    assert quantized.weight_bits == 7
    assert runner_.tolerance == int8_tolerance(quantized.output.scale, quantized.quantized_ops, 7)


def test_a_wrong_zero_point_fails_the_int8_agreement(monkeypatch: pytest.MonkeyPatch) -> None:
    """The output read back with its zero point off by 8 (a classic int8 slip) is 8 steps
    off everywhere: beyond the 4-step tolerance of one quantized operation."""
    real = ort_int8.Quantization.dequantize

    def off_by_eight(self: ort_int8.Quantization, values: Any) -> Any:
        return real(ort_int8.Quantization(self.scale, self.zero_point + 8, self.dtype), values)

    monkeypatch.setattr(ort_int8.Quantization, "dequantize", off_by_eight)
    layer = single_layer_report(layer_from_flags({"input": "8x8x4", "kernel": "1", "filters": "4"}))
    with pytest.raises(DisagreementError, match="int8 output differs from NumPy's float32"):
        _agrees(layer.row.forms.standard, "standard")


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cost_shows_int8_beside_float32_from_one_run() -> None:
    args = ["cost", "-i", "10x10x8", "-k", "3", "-f", "8", "--time", *FAST]
    code, out, err = run(*args, "--runtime", "onnxruntime", "--dtype", "int8", "--format", "json")
    assert code == 0, err
    timing = json.loads(out)["layers"][0]["timing"]
    runtime = timing["runtime"]
    assert runtime["dtype"] == "int8" and "U8S8" in runtime["quantization"]
    baseline = timing["float32"]
    assert baseline["runtime"]["dtype"] == "float32"
    assert set(timing["int8_speedup"]) == {"standard", "separable", "depthwise", "pointwise"}
    for part in ("standard", "separable"):
        # the gain is the float32 median over the int8 median of the same record
        fast = timing[part]["median_s"]
        slow = baseline[part]["median_s"]
        assert math.isclose(timing["int8_speedup"][part], slow / fast, rel_tol=1e-9)
    code, out, _ = run(*args, "--runtime", "onnxruntime", "--dtype", "int8")
    assert code == 0
    assert "float32" in out and "int8 vs float32 (same run)" in out


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        ("numpy", "NumPy cannot execute int8"),
        ("torch", "sepconv times torch in float32 only"),
    ],
)
def test_a_runtime_without_int8_says_so(runtime: str, message: str) -> None:
    if runtime == "torch":
        pytest.importorskip("torch")
    code, _out, err = run("cost", "--time", *FAST, "--runtime", runtime, "--dtype", "int8")
    errors = [line for line in err.splitlines() if line.startswith("sepconv: error")]
    assert code == 2 and len(errors) == 1 and message in errors[0]


def test_profile_in_int8_records_both_sums(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "name: m\ninput: [12, 12, 8]\nlayers:\n"
        "  - {type: separable, kernel: 3, filters: 16, padding: same}\n"
        "  - {type: global_pool}\n",
        encoding="utf-8",
    )
    code, out, err = run("profile", str(spec), *FAST, "--runtime", "onnxruntime",
                         "--dtype", "int8", "--format", "json")  # fmt: skip
    assert code == 0, err
    timing = json.loads(out)["timing"]
    assert timing["runtime"]["dtype"] == "int8"
    assert timing["float32"]["runtime"]["dtype"] == "float32"
    assert timing["float32"]["standard_s"] > 0 and timing["standard_s"] > 0
    code, out, err = run("profile", str(spec), *FAST, "--runtime", "onnxruntime",
                         "--dtype", "int8")  # fmt: skip
    assert code == 0, err
    assert "f32 ×" in out and "float32 in the same run: all standard" in out


def test_bench_times_each_runtime_in_each_dtype() -> None:
    code, out, err = run("bench", "mobilenet_v1", "-r", "32", *FAST,
                         "--runtime", "numpy,onnxruntime", "--dtype", "float32,int8",
                         "--no-whole-model", "--format", "json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    runs = {(r["name"], r["dtype"]): r for r in data["runtimes"]}
    assert "no int8" in runs["numpy", "int8"]["not_run"]
    assert "not_run" not in runs["onnxruntime", "int8"]
    for layer in data["layers"]:  # the global pool's and the classifier's forms too
        assert layer["runtimes"]["onnxruntime:int8"]["standard_s"] > 0, layer["name"]
        assert layer["runtimes"]["onnxruntime"]["standard_s"] > 0, layer["name"]
        assert layer["runtimes"]["numpy:int8"]["standard_s"] is None


@pytest.mark.parametrize(
    ("text", "message"),
    [("float16", "bench times float32 and int8, not 'float16'"),
     ("int8,int8", "at most once"), (",", "at most once")],
)  # fmt: skip
def test_bench_dtypes_are_checked(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_dtypes(text, "float32")
    assert parse_dtypes(None, "float32") == ["float32"]
    assert parse_dtypes("int8, float32", "float32") == ["int8", "float32"]


def test_export_writes_an_int8_onnx_file_that_counts_as_its_spec(tmp_path: Path) -> None:
    """``export --dtype int8 -o m.onnx``: ORT's quantizer's QDQ file, read back by sepconv's
    quantized-ONNX reader with the spec's MACs (a hand count: the depthwise 3×3 on 8×8×8 is
    8·8·8·9 = 4,608 MACs, the pointwise 8 → 16 is 8·8·8·16 = 8,192; 12,800 in all) and run
    by ONNX Runtime close to the float32 file of the same seed. The int8 file runs without
    graph optimizations, so as written: each DequantizeLinear, then the float operation,
    then each QuantizeLinear (the QDQ arithmetic exactly); fused into ORT's int8 kernels it
    would depend on the machine (on an x86 CPU without VNNI they saturate with 8-bit
    weights: ORT's documented limit, docs/runtimes.md)."""
    import onnxruntime as ort

    spec = tmp_path / "m.yaml"
    spec.write_text(
        "name: m\ninput: [8, 8, 8]\nlayers:\n"
        "  - {type: separable, kernel: 3, filters: 16, padding: same, activation: relu}\n",
        encoding="utf-8",
    )
    q, f = tmp_path / "q.onnx", tmp_path / "f.onnx"
    code, _out, err = run("export", str(spec), "--dtype", "int8", "-o", str(q))
    assert code == 0, err
    assert "int8 QDQ" in err
    assert run("export", str(spec), "-o", str(f))[0] == 0
    code, out, err = run("profile", str(q), "--no-time", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["totals"]["as_specified"]["macs"] == 12_800
    assert report["dtype"] == "int8"
    # the calibration input (docs/export.md: a standard normal from seed + 1): within its
    # ranges, nothing is clipped
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 8)).astype(np.float32)
    as_written = ort.SessionOptions()
    as_written.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sessions = [
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for path, options in ((q, as_written), (f, None))
    ]
    outs = [session.run(None, {"input": x})[0] for session in sessions]
    scale = float(np.max(np.abs(outs[1])))
    assert float(np.max(np.abs(outs[0] - outs[1]))) < 0.03 * scale


def test_quantizing_needs_no_sympy(monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime's symbolic shape inference needs sympy, which no sepconv extra installs
    (a fresh `pip install 'sepconv[ort]'` has none): the quantizer must not call it."""
    import sys

    monkeypatch.setitem(sys.modules, "sympy", None)  # its import now fails
    layer = single_layer_report(layer_from_flags({"input": "6x6x4", "kernel": "3", "filters": "4"}))
    _agrees(layer.row.forms.standard, "standard")


def test_a_row_int8_cannot_run_keeps_its_float32_time_in_bench(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bench takes a runtime's float32 records from its int8 run; a row whose int8 form
    fails (named in its note) is timed in float32 on its own, never left without a time."""
    from sepconv_cli.execution.runtimes import onnxruntime_runtime
    from sepconv_cli.execution.runtimes.base import RuntimeUnsupportedError

    def refuse(model: Any, feeds: Any) -> Any:
        raise RuntimeUnsupportedError("no int8 form here (a test's refusal)")

    monkeypatch.setattr(onnxruntime_runtime, "quantize_form", refuse)
    code, out, err = run("bench", "mobilenet_v1", "-r", "32", *FAST,
                         "--runtime", "onnxruntime", "--dtype", "float32,int8",
                         "--no-whole-model", "--format", "json")  # fmt: skip
    assert code == 0, err
    for layer in json.loads(out)["layers"]:
        assert "a test's refusal" in layer["runtimes"]["onnxruntime:int8"]["note"]
        assert layer["runtimes"]["onnxruntime"]["standard_s"] > 0


@pytest.mark.parametrize(
    ("machine", "flags", "saturates"),
    [
        ("x86_64", {"sse4_2", "avx2", "fma"}, True),  # AVX2 only: VPMADDUBSW
        ("x86_64", {"avx2", "avx512f", "avx512bw"}, True),  # AVX-512 without VNNI
        ("x86_64", {"avx2", "avx512f", "avx512_vnni"}, False),  # VPDPBUSD: 32-bit sums
        ("AMD64", {"avx2", "avx_vnni"}, False),  # AVX-VNNI (Alder Lake and later)
        ("x86_64", None, True),  # no /proc/cpuinfo: the safe side
        ("aarch64", None, False),  # ARM's kernels accumulate in 32 bits
        ("arm64", {"asimd"}, False),
    ],
)
def test_seven_bit_weights_where_u8s8_saturates(
    machine: str, flags: set[str] | None, saturates: bool
) -> None:
    """ORT's x86 U8S8 kernels without VNNI add two uint8·int8 products in 16 bits: with
    8-bit weights 2·255·127 = 64,770 > 32,767 can saturate, with 7-bit weights
    2·255·64 = 32,640 cannot (onnxruntime's quantization documentation, reduce_range)."""
    from sepconv_cli.interchange.onnx_int8 import u8s8_saturates

    assert 2 * 255 * 127 > 2**15 - 1 >= 2 * 255 * 64
    assert u8s8_saturates(machine, flags) is saturates


def test_an_int8_record_says_when_weights_are_seven_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The quantization recorded with every int8 time names 7-bit weights exactly when the
    forms were quantized with them."""
    from sepconv_cli.execution.runtimes import ort_int8 as module

    for saturating in (True, False):
        monkeypatch.setattr(module, "saturating_u8s8", lambda s=saturating: s)
        assert ("7-bit weights" in module.scheme()) is saturating
