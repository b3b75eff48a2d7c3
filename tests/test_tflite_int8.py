"""The int8 TFLite writer (issue 25): the quantization rules checked against numbers worked
out by hand, a 1×1 convolution whose int8 result is computed here by hand (quantize,
integer accumulate, requantize) and must equal LiteRT's exactly, and ``sepconv export
--dtype int8 -o model.tflite`` read back by sepconv's own TFLite reader to the spec's
counts.

Skips where the ``tflite`` schema package is missing; what runs a file or calibrates one
skips where ``ai_edge_litert`` is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tflite")

from sepconv_cli.cli.app import app
from sepconv_cli.counting.ops import Conv
from sepconv_cli.interchange.tflite_quant import (
    Affine,
    activation_params,
    channel_weights,
    quantize,
)
from sepconv_cli.interchange.tflite_write import FlatModel
from sepconv_cli.interchange.tflite_write_ops import OpWriter

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    done = runner.invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


# ----------------------------------------------------------------------- the rules by hand


@pytest.mark.parametrize(
    ("low", "high", "scale", "zero"),
    [
        (-1.0, 1.55, 0.01, -28),  # 2.55 / 255; −128 − (−1.0 / 0.01) = −28
        (0.0, 6.0, 6 / 255, -128),  # a ReLU6's output: zero at the bottom
        (-3.0, -1.0, 3 / 255, 127),  # widened to [−3, 0]: zero at the top
        (0.5, 2.0, 2 / 255, -128),  # widened to [0, 2]
        (-1.28, 1.27, 0.01, 0),  # symmetric about a step: zero point 0
        (0.0, 0.0, 1.0, 0),  # all zeros: any scale, TensorFlow's 1
    ],
)
def test_activation_parameters_are_tensorflows(
    low: float, high: float, scale: float, zero: int
) -> None:
    got = activation_params(low, high)
    assert got.zero_point == zero
    assert got.scale == pytest.approx(scale, rel=1e-6)


def test_weights_are_symmetric_per_channel() -> None:
    """Output channel 0 holds 0.5 and −1.27 (scale 1.27 / 127 = 0.01: 50, −127), channel 1
    0.254 and 0.1 (scale 0.002: 127, 50), along axis 1 here."""
    w = np.array([[0.5, 0.254], [-1.27, 0.1]], np.float32)
    q, scales = channel_weights(w, 1)
    assert scales == pytest.approx([0.01, 0.002], rel=1e-6)
    assert q.dtype == np.int8 and q.tolist() == [[50, 127], [-127, 50]]
    q, scales = channel_weights(np.zeros((2, 3), np.float32), 0)  # an all-zero channel
    assert scales.tolist() == [1.0, 1.0] and not q.any()


def _one_by_one() -> tuple[FlatModel, str, str]:
    """A 1×1 conv, 2 → 2 channels, on a 1×2 image, with chosen weights and bias."""
    m = FlatModel()
    x = m.tensor("input", (1, 1, 2, 2))
    conv = Conv((1, 2, 2), 2, (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)), bias=True)
    w = np.array([[[[0.5, 0.254], [-1.27, 0.1]]]], np.float32)  # (1, 1, Cin, Cout)
    y = OpWriter(m, 1).conv(conv, x, w, np.array([0.1234, -0.05], np.float32), "conv")
    return m, x, y


def test_a_1x1_conv_equals_the_int8_arithmetic_done_by_hand() -> None:
    """Input range [−1.0, 1.55]: scale 0.01, zero point −28; output range chosen [−1.28,
    1.27]: scale 0.01, zero point 0. Weights as above (channel scales 0.01 and 0.002),
    biases 0.1234 / (0.01 · 0.01) = 1234 and −0.05 / (0.01 · 0.002) = −2500.

    Pixels (−1.0, 0.5) and (1.55, 0.2) quantize to (−128, 22) and (127, −8); less the zero
    point, (−100, 50) and (155, 20). Integer accumulation with the bias:
      pixel 0, channel 0: −100·50 + 50·(−127) + 1234 = −10116
      pixel 0, channel 1: −100·127 + 50·50 − 2500 = −12700
      pixel 1, channel 0: 155·50 + 20·(−127) + 1234 = 6444
      pixel 1, channel 1: 155·127 + 20·50 − 2500 = 18185
    Requantized by s_in · s_w / s_out (0.01 for channel 0, 0.002 for channel 1), rounded,
    plus the zero point 0: −101.16 → −101, −25.4 → −25, 64.44 → 64, 36.37 → 36."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    m, x, y = _one_by_one()
    ranges = {m.index[x]: (-1.0, 1.55), m.index[y]: (-1.28, 1.27)}
    q = quantize(m, [x], [y], ranges, io="int8")
    assert q.input_params["input"].zero_point == -28
    assert q.output_params[0].zero_point == 0
    assert q.rounding_ops == 2  # the input, the conv
    it = interpreter_module.Interpreter(model_content=q.model.build(q.inputs, q.outputs))
    it.allocate_tensors()
    it.set_tensor(
        it.get_input_details()[0]["index"], np.array([[[[-128, 22], [127, -8]]]], np.int8)
    )
    it.invoke()
    out = it.get_tensor(it.get_output_details()[0]["index"])
    assert out.dtype == np.int8
    assert out.tolist() == [[[[-101, -25], [64, 36]]]]
    # the parameters the file holds, as worked out above
    tensors = {d["name"]: d for d in it.get_tensor_details()}
    weights = tensors["conv/kernel"]["quantization_parameters"]
    assert weights["scales"] == pytest.approx([0.01, 0.002], rel=1e-6)
    assert weights["quantized_dimension"] == 0 and not weights["zero_points"].any()
    assert it.get_tensor(tensors["conv/kernel"]["index"]).tolist() == [
        [[[50, -127]]],
        [[[127, 50]]],
    ]
    bias = tensors["conv/bias"]
    assert bias["dtype"] == np.int32
    assert bias["quantization_parameters"]["scales"] == pytest.approx([1e-4, 2e-5], rel=1e-6)
    assert it.get_tensor(bias["index"]).tolist() == [1234, -2500]


def test_float_io_quantizes_the_input_and_dequantizes_the_output() -> None:
    """The same conv with float32 in and out: QUANTIZE, CONV_2D, DEQUANTIZE; fed the float
    pixels, it gives the int8 results above times the output scale 0.01."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    m, x, y = _one_by_one()
    ranges = {m.index[x]: (-1.0, 1.55), m.index[y]: (-1.28, 1.27)}
    q = quantize(m, [x], [y], ranges, io="float32")
    assert q.rounding_ops == 2 and q.float_ops == []
    it = interpreter_module.Interpreter(model_content=q.model.build(q.inputs, q.outputs))
    it.allocate_tensors()
    names = [d["op_name"] for d in it._get_ops_details()]
    assert names[:3] == ["QUANTIZE", "CONV_2D", "DEQUANTIZE"], names
    it.set_tensor(
        it.get_input_details()[0]["index"], np.array([[[[-1.0, 0.5], [1.55, 0.2]]]], np.float32)
    )
    it.invoke()
    out = it.get_tensor(it.get_output_details()[0]["index"])
    assert out.dtype == np.float32
    assert out == pytest.approx(np.array([[[[-1.01, -0.25], [0.64, 0.36]]]]), abs=1e-6)


def test_affine_quantize_rounds_half_away_from_zero_and_clamps() -> None:
    p = Affine(0.5, 3)
    assert p.quantize([0.25, -0.25, 0.75, 1000.0, -1000.0]).tolist() == [4, 2, 5, 127, -128]
    assert p.dequantize(np.array([5, 3], np.int8)).tolist() == [1.0, 0.0]


# ----------------------------------------------------------------------- export


def _profile(path: str, *args: str) -> dict[str, Any]:
    code, out, err = invoke("profile", path, *args, "--no-time", "-q", "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def _export_int8(tmp_path: Path, model: str, form: str, *args: str) -> Path:
    path = tmp_path / f"{model}_{form}_int8.tflite"
    code, _out, err = invoke(
        "export", model, *args, "--form", form, "--dtype", "int8", "-o", str(path)
    )
    assert code == 0, err
    assert f"sepconv: wrote {path} ({form}, TFLite int8, " in err
    return path


@pytest.mark.parametrize(
    ("model", "resolution", "form"),
    [
        ("mobilenet_v1", "96", "as_specified"),
        ("mobilenet_v1", "96", "standard"),
        ("mobilenet_v2", "96", "separable"),  # residual adds
        ("mobilenet_v3_small", "64", "as_specified"),  # SE, hard-swish, sigmoid gates
        ("shufflenet_v2_x1_0", "64", "as_specified"),  # splits, shuffles, concats
    ],
)
def test_the_int8_file_reads_back_to_the_float_files_counts(
    tmp_path: Path, model: str, resolution: str, form: str
) -> None:
    """Read by sepconv's own TFLite reader, the int8 file counts the float32 file's MACs
    (the spec's, exactly) and parameters (the spec's changed by folding:
    tests/test_tflite_write.py), and says int8."""
    pytest.importorskip("ai_edge_litert.interpreter")  # calibration runs the float file
    pytest.importorskip("onnx")  # the reader counts a .tflite as the ONNX graph of its ops
    float_path = tmp_path / "float.tflite"
    code, _out, err = invoke(
        "export", model, "-r", resolution, "--form", form, "-o", str(float_path), "-q"
    )
    assert code == 0, err
    spec = _profile(model, "-r", resolution)["totals"][form]
    floated = _profile(str(float_path))
    back = _profile(str(_export_int8(tmp_path, model, form, "-r", resolution)))
    assert back["totals"]["as_specified"]["macs"] == spec["macs"]
    assert back["totals"]["as_specified"]["params"] == floated["totals"]["as_specified"]["params"]
    assert back["dtype"] == "int8" and floated["dtype"] == "float32"


def test_the_exported_int8_file_runs_on_litert_and_tracks_the_float_one(tmp_path: Path) -> None:
    """float32 in and out, int8 inside; on a fresh input (not the calibration one) its
    output follows the float file's closely."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    float_path = tmp_path / "f.tflite"
    code, _out, err = invoke("export", "mobilenet_v3_small", "-r", "64", "-o", str(float_path))
    assert code == 0, err
    outputs = []
    for path in (
        float_path,
        _export_int8(tmp_path, "mobilenet_v3_small", "as_specified", "-r", "64"),
    ):
        it = interpreter_module.Interpreter(model_path=str(path), num_threads=1)
        it.allocate_tensors()
        detail = it.get_input_details()[0]
        assert detail["dtype"] == np.float32
        x = np.random.default_rng(7).standard_normal(detail["shape"]).astype(np.float32)
        it.set_tensor(detail["index"], x)
        it.invoke()
        outputs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    floated, quantized = outputs
    assert np.corrcoef(floated.ravel(), quantized.ravel())[0, 1] > 0.99


def test_the_exported_operators_are_int8_with_tensorflows_versions(tmp_path: Path) -> None:
    import tflite

    pytest.importorskip("ai_edge_litert.interpreter")
    data = _export_int8(tmp_path, "mobilenet_v2", "as_specified", "-r", "64").read_bytes()
    model = tflite.Model.GetRootAs(data, 0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    versions = {
        names[model.OperatorCodes(i).BuiltinCode()]: model.OperatorCodes(i).Version()
        for i in range(model.OperatorCodesLength())
    }
    assert versions == {
        "QUANTIZE": 1,
        "CONV_2D": 3,
        "DEPTHWISE_CONV_2D": 3,
        "ADD": 2,
        "MEAN": 2,
        "FULLY_CONNECTED": 4,
        "DEQUANTIZE": 2,
    }
    graph = model.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = names[model.OperatorCodes(op.OpcodeIndex()).BuiltinCode()]
        if code in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            weight = graph.Tensors(op.Inputs(1))
            expected = 3 if code == "DEPTHWISE_CONV_2D" else 0
            assert weight.Type() == tflite.TensorType.INT8
            assert weight.Quantization().QuantizedDimension() == expected
            assert graph.Tensors(op.Inputs(2)).Type() == tflite.TensorType.INT32


def test_a_3d_conv_is_exported_in_float32_and_named(tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_litert.interpreter")
    spec = tmp_path / "c3.yaml"
    spec.write_text(
        "name: c3\ninput: [6, 6, 6, 2]\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 4, padding: same, name: c}\n"
    )
    out = tmp_path / "c3.tflite"
    code, _out, err = invoke("export", str(spec), "--dtype", "int8", "-o", str(out))
    assert code == 0, err
    assert "1 operator(s) with no int8 form here left in float32: c/Conv3D (CONV_3D)" in err


def test_a_bad_export_dtype_is_one_line(tmp_path: Path) -> None:
    # (an int8 .onnx file is written by ONNX Runtime's quantizer: tests/test_ort_int8.py)
    code, _out, err = invoke(
        "export", "seed_example", "--dtype", "float16", "-o", str(tmp_path / "m.tflite")
    )
    assert code == 2 and "--dtype" in err and len(err.strip().splitlines()) == 1
