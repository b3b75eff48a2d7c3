"""Quantized ONNX counted as the float model it quantizes (issue 24 item 2): ONNX Runtime's
quantizer run here on sepconv's own MobileNetV1 export (QDQ, QOperator and dynamic), each
held to the independent counter (tests/onnx_naive_counter.py, which counts QLinearConv,
ConvInteger and MatMulInteger) and to the float file it was made from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import typer.testing
from onnx_naive_counter import count  # tests/onnx_naive_counter.py

from sepconv_cli.cli.app import app

runner = typer.testing.CliRunner()


def profile(path: Path) -> dict[str, Any]:
    done = runner.invoke(app, ["profile", str(path), "--format", "json", "-q"])
    assert done.exit_code == 0, done.output
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import onnx
    from onnxruntime import quantization

    folder = tmp_path_factory.mktemp("quantized")
    exported = folder / "mv1.onnx"
    done = runner.invoke(
        app, ["export", "mobilenet_v1", "-a", "0.25", "-r", "64", "-o", str(exported), "-q"]
    )
    assert done.exit_code == 0, done.output
    float_file = folder / "float.onnx"  # batch-norms folded, as the quantizer reads it
    quantization.shape_inference.quant_pre_process(str(exported), str(float_file))
    name = onnx.load(str(float_file)).graph.input[0].name

    class Calibration(quantization.CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.left = 2

        def get_next(self) -> dict[str, Any] | None:
            self.left -= 1
            if self.left < 0:
                return None
            rng = np.random.default_rng(self.left)
            return {name: rng.random((1, 3, 64, 64), dtype=np.float32)}

    made = {"float": float_file}
    for kind, fmt in (
        ("qdq", quantization.QuantFormat.QDQ),
        ("qoperator", quantization.QuantFormat.QOperator),
    ):
        made[kind] = folder / f"{kind}.onnx"
        quantization.quantize_static(
            str(float_file), str(made[kind]), Calibration(), quant_format=fmt, per_channel=True
        )
    made["dynamic"] = folder / "dynamic.onnx"
    quantization.quantize_dynamic(str(float_file), str(made["dynamic"]))
    return made


@pytest.mark.parametrize("kind", ["qdq", "qoperator", "dynamic"])
def test_quantized_counts_are_the_float_models(files: dict[str, Path], kind: str) -> None:
    quantized, reference = profile(files[kind]), profile(files["float"])
    for form in ("as_specified", "standard", "separable"):
        for key in ("macs", "params"):
            assert quantized["totals"][form][key] == reference["totals"][form][key], (form, key)
    assert quantized["uncounted_nodes"] == []
    # the independent counter, on the quantized file itself and on the float one
    assert quantized["totals"]["as_specified"]["macs"] == count(str(files[kind])).macs
    assert count(str(files["float"])).macs == quantized["totals"]["as_specified"]["macs"]


@pytest.mark.parametrize(
    ("kind", "dtype", "says"),
    [
        ("qdq", "int8", "quantized (QDQ)"),
        ("qoperator", "int8", "quantized (QOperator)"),
        ("dynamic", "float32", "quantized (dynamic)"),
    ],
)
def test_the_format_is_stated_and_bytes_follow_it(
    files: dict[str, Path], kind: str, dtype: str, says: str
) -> None:
    data = profile(files[kind])
    assert data["dtype"] == dtype
    assert says in data["source"] and "→ int32" in data["source"]
    # int8 weights, one byte a value (a quarter of the float file's), in every kind; a
    # static graph's activations one byte too, a dynamic one's four
    reference = profile(files["float"])
    got = data["totals"]["as_specified"]["weight_bytes"]
    assert got * 4 == reference["totals"]["as_specified"]["weight_bytes"]
    first, float_first = data["layers"][0], reference["layers"][0]
    out, float_out = (
        first["as_specified"]["output_bytes"],
        float_first["as_specified"]["output_bytes"],
    )
    assert out * (4 if dtype == "int8" else 1) == float_out
