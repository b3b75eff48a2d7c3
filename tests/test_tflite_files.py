"""TensorFlow Lite files in (issue 24 item 1): hand-made files with hand-computed counts,
damaged files refused in one line, and real files nobody on this project made, held to an
independent count (tests/tflite_naive_counter.py) and to Keras's own.

The hand-made files are written by tests/tflite_builder.py; where LiteRT is installed each
is also run by it, so a file sepconv reads is one the phone's runtime accepts.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tflite")
pytest.importorskip("onnx")

import typer.testing
from tflite_builder import TfliteBuilder  # tests/tflite_builder.py
from tflite_naive_counter import count  # tests/tflite_naive_counter.py

from sepconv_cli.cli.app import app

runner = typer.testing.CliRunner()


def profile(path: Path, *args: str) -> dict[str, Any]:
    done = runner.invoke(app, ["profile", str(path), "--format", "json", "-q", *args])
    assert done.exit_code == 0, done.output
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def totals(data: dict[str, Any], form: str = "as_specified") -> tuple[int, int]:
    t = data["totals"][form]
    return t["macs"], t["params"]


def write(
    tmp_path: Path,
    builder: TfliteBuilder,
    inputs: list[int],
    outputs: list[int],
    name: str = "m.tflite",
) -> Path:
    path = tmp_path / name
    path.write_bytes(builder.build(inputs, outputs))
    return path


def run_on_litert(path: Path) -> tuple[int, ...]:
    """The output shape LiteRT computes for ``path`` on zeros (skips without LiteRT)."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = interpreter_module.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    return tuple(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape)


# -- hand-made files --------------------------------------------------------------------


def conv_then_depthwise(dtype: str = "float32") -> tuple[TfliteBuilder, int, int]:
    """9×9×3 → CONV_2D 3×3/2 SAME, 16 filters, ReLU6 → 5×5×16 → DEPTHWISE 3×3, multiplier
    2 → 5×5×32."""
    b = TfliteBuilder()
    x = b.tensor("x", (1, 9, 9, 3))
    w = b.weight("net/conv/w", np.ones((16, 3, 3, 3)))
    bias = b.weight("net/conv/b", np.zeros(16))
    y = b.tensor("net/conv/Conv2D", (1, 5, 5, 16))
    b.op(
        "CONV_2D",
        [x, w, bias],
        [y],
        "Conv2DOptions",
        Padding=0,
        StrideW=2,
        StrideH=2,
        FusedActivationFunction=3,
    )
    dw = b.weight("net/dw/w", np.ones((1, 3, 3, 32)))
    dwb = b.weight("net/dw/b", np.zeros(32))
    z = b.tensor("net/dw/depthwise", (1, 5, 5, 32))
    b.op(
        "DEPTHWISE_CONV_2D",
        [y, dw, dwb],
        [z],
        "DepthwiseConv2DOptions",
        Padding=0,
        StrideW=1,
        StrideH=1,
        DepthMultiplier=2,
    )
    return b, x, z


def test_conv_and_depthwise_counted_by_hand(tmp_path: Path) -> None:
    b, x, z = conv_then_depthwise()
    path = write(tmp_path, b, [x], [z])
    data = profile(path)
    # conv: 5·5·16 outputs × 3·3·3 taps; depthwise: 5·5·32 outputs × 3·3 taps
    assert totals(data) == (25 * 16 * 27 + 25 * 32 * 9, 16 * 27 + 16 + 32 * 9 + 32)
    layers = data["layers"]
    assert [layer["name"] for layer in layers] == ["conv", "dw"]  # the shared scope left out
    assert layers[0]["activation"] == "relu6"
    # the depthwise alone: its standard form is a dense 3×3 conv from 16 to 32 channels
    assert layers[1]["standard"]["macs"] == 25 * 32 * 9 * 16
    assert data["input_shape"] == [9, 9, 3]
    assert data["source"].startswith("TensorFlow Lite file")
    assert run_on_litert(path) == (1, 5, 5, 32)


def test_same_padding_puts_the_odd_pixel_after(tmp_path: Path) -> None:
    """8×8 with a 3×3 window at stride 2, SAME: 4×4 out needs 1 pad pixel, after (TF)."""
    b = TfliteBuilder()
    x = b.tensor("x", (1, 8, 8, 4))
    w = b.weight("w", np.ones((2, 3, 3, 4)))
    y = b.tensor("y", (1, 4, 4, 2))
    b.op(
        "CONV_2D",
        [x, w, b.weight("b", np.zeros(2))],
        [y],
        "Conv2DOptions",
        Padding=0,
        StrideW=2,
        StrideH=2,
    )
    p = b.tensor("p", (1, 2, 2, 2))
    b.op(
        "MAX_POOL_2D",
        [y],
        [p],
        "Pool2DOptions",
        Padding=1,
        StrideW=2,
        StrideH=2,
        FilterWidth=2,
        FilterHeight=2,
    )
    path = write(tmp_path, b, [x], [p])
    data = profile(path)
    assert totals(data)[0] == 16 * 2 * 36
    assert not any("shape inference" in n for n in data["graph_notes"])
    assert data["output_shape"] == [2, 2, 2]
    assert run_on_litert(path) == (1, 2, 2, 2)


def test_depthwise_then_pointwise_is_one_separable_row(tmp_path: Path) -> None:
    """The paper's what-if: standard form = one dense 3×3 from 8 to 16 channels."""
    b = TfliteBuilder()
    x = b.tensor("x", (1, 6, 6, 8))
    dw = b.tensor("block/dw", (1, 6, 6, 8))
    b.op(
        "DEPTHWISE_CONV_2D",
        [x, b.weight("dww", np.ones((1, 3, 3, 8))), b.weight("dwb", np.zeros(8))],
        [dw],
        "DepthwiseConv2DOptions",
        Padding=0,
        StrideW=1,
        StrideH=1,
        DepthMultiplier=1,
        FusedActivationFunction=1,
    )
    pw = b.tensor("block/pw", (1, 6, 6, 16))
    b.op(
        "CONV_2D",
        [dw, b.weight("pww", np.ones((16, 1, 1, 8))), b.weight("pwb", np.zeros(16))],
        [pw],
        "Conv2DOptions",
        Padding=0,
        StrideW=1,
        StrideH=1,
    )
    data = profile(write(tmp_path, b, [x], [pw]))
    [row] = data["layers"]
    assert row["type"] == "separable"
    assert row["as_specified"]["macs"] == 36 * 8 * 9 + 36 * 16 * 8
    assert row["standard"]["macs"] == 36 * 16 * 9 * 8


def test_fully_connected_softmax_mean_and_add(tmp_path: Path) -> None:
    b = TfliteBuilder()
    x = b.tensor("x", (1, 4, 4, 8))
    shifted = b.tensor("shift", (1, 4, 4, 8))
    b.op("ADD", [x, b.weight("bias", np.ones(8))], [shifted], "AddOptions")
    axes = b.tensor("axes", (2,), "int32", data=np.asarray([1, 2], np.int32))
    pooled = b.tensor("pool", (1, 8))
    b.op("MEAN", [shifted, axes], [pooled], "ReducerOptions", KeepDims=False)
    logits = b.tensor("fc", (1, 10))
    b.op(
        "FULLY_CONNECTED",
        [pooled, b.weight("fcw", np.ones((10, 8))), b.weight("fcb", np.zeros(10))],
        [logits],
        "FullyConnectedOptions",
    )
    probs = b.tensor("probs", (1, 10))
    b.op("SOFTMAX", [logits], [probs], "SoftmaxOptions", Beta=1.0)
    path = write(tmp_path, b, [x], [probs])
    data = profile(path, "--strict")  # every operator counted: --strict passes
    assert totals(data) == (80, 8 + 80 + 10)
    assert data["uncounted_nodes"] == []
    assert run_on_litert(path) == (1, 10)


def test_transpose_conv_and_attention_product(tmp_path: Path) -> None:
    b = TfliteBuilder()
    x = b.tensor("x", (1, 4, 4, 8))
    shape = b.tensor("out_shape", (4,), "int32", data=np.asarray([1, 8, 8, 4], np.int32))
    up = b.tensor("up", (1, 8, 8, 4))
    b.op(
        "TRANSPOSE_CONV",
        [shape, b.weight("tw", np.ones((4, 3, 3, 8))), x],
        [up],
        "TransposeConvOptions",
        Padding=0,
        StrideW=2,
        StrideH=2,
    )
    tokens = b.tensor("tokens", (1, 64, 4))
    target = b.tensor("target", (3,), "int32", data=np.asarray([1, 64, 4], np.int32))
    b.op("RESHAPE", [up, target], [tokens], "ReshapeOptions")
    scores = b.tensor("scores", (1, 64, 64))
    b.op("BATCH_MATMUL", [tokens, tokens], [scores], "BatchMatMulOptions", AdjX=False, AdjY=True)
    path = write(tmp_path, b, [x], [scores])
    data = profile(path)
    # each of the 4·4·8 input values meets 3·3·4 filter taps; Q·Kᵀ: 64·64 outputs × 4
    assert totals(data)[0] == 128 * 36 + 64 * 64 * 4
    assert count(path).macs == totals(data)[0]
    assert run_on_litert(path) == (1, 64, 64)


def test_int8_per_channel_counts_the_float_model_at_one_byte(tmp_path: Path) -> None:
    b = TfliteBuilder()
    x = b.tensor("x", (1, 5, 5, 3), "int8", scales=(0.02,), zero_points=(-1,))
    w = b.tensor(
        "w",
        (4, 3, 3, 3),
        "int8",
        data=np.ones((4, 3, 3, 3), np.int8),
        scales=(0.1, 0.2, 0.3, 0.4),
        zero_points=(0, 0, 0, 0),
    )
    bias = b.tensor(
        "b",
        (4,),
        "int32",
        data=np.zeros(4, np.int32),
        scales=(0.002, 0.004, 0.006, 0.008),
        zero_points=(0, 0, 0, 0),
    )
    y = b.tensor("y", (1, 5, 5, 4), "int8", scales=(0.05,), zero_points=(3,))
    b.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1)
    path = write(tmp_path, b, [x], [y])
    data = profile(path)
    assert totals(data) == (25 * 4 * 27, 4 * 27 + 4)
    assert data["dtype"] == "int8"
    assert "int8" in data["source"]
    weight_bytes = data["totals"]["as_specified"]["weight_bytes"]
    assert weight_bytes == 4 * 27 + 4  # one byte a value
    assert run_on_litert(path) == (1, 5, 5, 4)


def test_float16_weights_widened_by_dequantize_count_once(tmp_path: Path) -> None:
    b = TfliteBuilder()
    x = b.tensor("x", (1, 4, 4, 2))
    half = b.tensor("w16", (3, 1, 1, 2), "float16", data=np.ones((3, 1, 1, 2), np.float16))
    wide = b.tensor("w32", (3, 1, 1, 2))
    b.op("DEQUANTIZE", [half], [wide])
    y = b.tensor("y", (1, 4, 4, 3))
    b.op(
        "CONV_2D",
        [x, wide, b.weight("b", np.zeros(3))],
        [y],
        "Conv2DOptions",
        Padding=1,
        StrideW=1,
        StrideH=1,
    )
    path = write(tmp_path, b, [x], [y])
    data = profile(path)
    assert totals(data) == (16 * 3 * 2, 6 + 3)
    assert "float16 weights on float32 activations" in data["source"]
    # weights two bytes a value as stored, activations four as computed
    assert data["totals"]["as_specified"]["weight_bytes"] == (6 + 3) * 2
    assert data["layers"][0]["as_specified"]["output_bytes"] == 16 * 3 * 4
    assert run_on_litert(path) == (1, 4, 4, 3)


def test_a_custom_operator_is_named_and_the_rest_counted(tmp_path: Path) -> None:
    b = TfliteBuilder()
    x = b.tensor("x", (1, 4, 4, 2))
    odd = b.tensor("odd", (1, 4, 4, 2))
    b.op("CUSTOM:Landmarks2TransformMatrix", [x], [odd])
    y = b.tensor("y", (1, 4, 4, 3))
    b.op(
        "CONV_2D",
        [odd, b.weight("w", np.ones((3, 1, 1, 2))), b.weight("b", np.zeros(3))],
        [y],
        "Conv2DOptions",
        Padding=1,
        StrideW=1,
        StrideH=1,
    )
    path = write(tmp_path, b, [x], [y])
    data = profile(path)
    assert totals(data)[0] == 16 * 3 * 2  # the conv after it still counted
    [named] = data["uncounted_nodes"]
    assert "Landmarks2TransformMatrix" in named["op_type"]
    strict = runner.invoke(app, ["profile", str(path), "--strict"])
    assert strict.exit_code == 2 and "Landmarks2TransformMatrix" in strict.output


def test_flags_a_tflite_file_cannot_honour_are_one_line(tmp_path: Path) -> None:
    b, x, z = conv_then_depthwise()
    path = write(tmp_path, b, [x], [z])
    for flags in (
        ["--width-multiplier", "0.5"],
        ["--resolution", "96"],
        ["--input-shape", "x=1x96x96x3"],
    ):
        done = runner.invoke(app, ["profile", str(path), *flags])
        assert done.exit_code == 2
        assert "TensorFlow Lite" in done.output and flags[0] in done.output


# -- damaged files -------------------------------------------------------------------


def _damaged(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    """name → (file bytes, what the one line must say)."""
    b, x, z = conv_then_depthwise()
    good = b.build([x], [z])
    cases: dict[str, tuple[bytes, str]] = {
        "not tflite": (b"\x00" * 64, "TFL3"),
        "text": (b"layers:\n  - conv\n", "TFL3"),
        "truncated": (good[: len(good) // 3], "TensorFlow Lite"),
    }
    b, x, z = conv_then_depthwise()
    b.ops[1].inputs[0] = 99
    cases["tensor out of range"] = (b.build([x], [z]), "names tensor 99")
    b, x, z = conv_then_depthwise()
    b.ops.reverse()
    cases["out of order"] = (b.build([x], [z]), "not in execution order")
    b, x, z = conv_then_depthwise()
    b.ops[1].outputs = list(b.ops[0].outputs)
    cases["written twice"] = (b.build([x], [z]), "written twice")
    b, x, z = conv_then_depthwise()
    b.buffers[1] = b.buffers[1][:-4]
    cases["short buffer"] = (b.build([x], [z]), "bytes where its dims")
    b, x, z = conv_then_depthwise()
    b.ops[0].code = 7
    cases["bad op code"] = (b.build([x], [z]), "operator code 7")
    b, x, z = conv_then_depthwise()
    b.ops[0].fields["StrideW"] = 0
    cases["stride 0"] = (b.build([x], [z]), "at least 1")
    b, x, z = conv_then_depthwise()
    b.tensors[z].shape = (1, 50, 50, 32)
    cases["output the window cannot make"] = (b.build([x], [z]), "declares an output 50×50")
    return cases


DAMAGED = [
    "not tflite",
    "text",
    "truncated",
    "tensor out of range",
    "out of order",
    "written twice",
    "short buffer",
    "bad op code",
    "stride 0",
    "output the window cannot make",
]


@pytest.mark.parametrize("case", DAMAGED)
def test_damaged_files_are_one_line_exit_2(tmp_path: Path, case: str) -> None:
    data, expected = _damaged(tmp_path)[case]
    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", "profile", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(path) in lines[0] and expected in lines[0], lines[0]


def test_without_the_tflite_package_the_line_names_the_extra(tmp_path: Path) -> None:
    b, x, z = conv_then_depthwise()
    path = write(tmp_path, b, [x], [z])
    code = (
        "import sys; sys.modules['tflite'] = None\n"
        "from sepconv_cli.cli.entry import main\n"
        f"sys.argv = ['sepconv', 'profile', {str(path)!r}]\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'sepconv[tflite]'" in done.stderr and "Traceback" not in done.stderr


# -- real files ------------------------------------------------------------------------

MEDIAPIPE = ("mediapipe", "0.10.14")
MEDIAPIPE_FILES = {
    # member of the wheel → SHA-256: float16 weights, PRELU, PAD, RESIZE, a sparse model,
    # MediaPipe's own transposed convolution, and custom operators
    "face_detection/face_detection_short_range.tflite": (
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
    ),
    "face_detection/face_detection_full_range_sparse.tflite": (
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"
    ),
    "face_landmark/face_landmark_with_attention.tflite": (
        "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4"
    ),
    "hand_landmark/hand_landmark_lite.tflite": (
        "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6"
    ),
    "selfie_segmentation/selfie_segmentation.tflite": (
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
    ),
    "iris_landmark/iris_landmark.tflite": (
        "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f"
    ),
    "palm_detection/palm_detection_lite.tflite": (
        "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18"
    ),
    "pose_detection/pose_detection.tflite": (
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"
    ),
}
CUSTOM_OPS = {"face_landmark_with_attention.tflite": 11}  # its custom operators, named


@pytest.fixture(scope="session")
def mediapipe_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The MediaPipe models shipped in its 0.10.14 wheel: from ``$SEPCONV_WILD_CORPUS``
    (``mediapipe-NAME``) when the hashes match, else downloaded with pip (skipped offline)."""
    ready = os.environ.get("SEPCONV_WILD_CORPUS")
    found: dict[str, Path] = {}
    for member, digest in MEDIAPIPE_FILES.items():
        name = Path(member).name
        candidate = Path(ready) / f"mediapipe-{name}" if ready else None
        if candidate and candidate.is_file() and _sha(candidate.read_bytes()) == digest:
            found[name] = candidate
    if len(found) == len(MEDIAPIPE_FILES):
        return found
    folder = tmp_path_factory.mktemp("mediapipe")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            f"{MEDIAPIPE[0]}=={MEDIAPIPE[1]}",
            "-d",
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        pytest.skip(f"pip download {MEDIAPIPE[0]}=={MEDIAPIPE[1]} failed")
    with zipfile.ZipFile(wheels[0]) as archive:
        for member, digest in MEDIAPIPE_FILES.items():
            data = archive.read(f"mediapipe/modules/{member}")
            assert _sha(data) == digest, member
            path = folder / Path(member).name
            path.write_bytes(data)
            found[path.name] = path
    return found


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", [Path(m).name for m in MEDIAPIPE_FILES])
def test_mediapipe_models_match_the_naive_count(
    mediapipe_files: dict[str, Path], name: str
) -> None:
    path = mediapipe_files[name]
    data = profile(path)
    naive = count(path)
    assert totals(data) == (naive.macs, naive.params)
    assert len(data["uncounted_nodes"]) == CUSTOM_OPS.get(name, 0)
    assert not any("shape inference" in n for n in data["graph_notes"]), data["graph_notes"]


KERAS_FORMATS = ("float32", "float16", "dynamic", "int8")


def _keras_corpus() -> tuple[Path, dict[str, Any]] | None:
    ready = os.environ.get("SEPCONV_WILD_CORPUS")
    if not ready or not (Path(ready) / "keras_tflite_references.json").is_file():
        return None
    folder = Path(ready)
    return folder, json.loads((folder / "keras_tflite_references.json").read_text())


@pytest.mark.parametrize(
    "model", ["MobileNet", "MobileNetV2", "MobileNetV3Small", "EfficientNetB0"]
)
def test_keras_conversions_match_keras_in_every_number_format(model: str) -> None:
    """TFLiteConverter's float32, float16, dynamic-range and full-int8 files of one Keras
    model: the MACs Keras's own layers give, in each (made by benchmarks/tflite_corpus.py
    into ``$SEPCONV_WILD_CORPUS``; skipped without it)."""
    corpus = _keras_corpus()
    if corpus is None:
        pytest.skip("needs SEPCONV_WILD_CORPUS with keras_tflite_references.json")
    folder, references = corpus
    expected = references[model]["keras_macs"]
    dtypes = {}
    for kind in KERAS_FORMATS:
        path = folder / f"keras-{model}-{kind}.tflite"
        data = profile(path)
        assert totals(data)[0] == expected, kind
        assert totals(data) == (count(path).macs, count(path).params), kind
        dtypes[kind] = data["dtype"]
    assert dtypes == {
        "float32": "float32",
        "float16": "float32",
        "dynamic": "float32",
        "int8": "int8",
    }


def test_flipped_bytes_never_crash(tmp_path: Path) -> None:
    """Seeded mutants of a valid file (a byte changed, or the file cut short): each is
    counted or refused in one line, never an internal error (exit 3)."""
    b, x, z = conv_then_depthwise()
    good = b.build([x], [z])
    rng = np.random.default_rng(24)
    path = tmp_path / "mutant.tflite"
    for trial in range(60):
        data = bytearray(good)
        if trial % 4 == 3:
            data = data[: int(rng.integers(8, len(good)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(8, len(good)))] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        done = runner.invoke(app, ["profile", str(path), "--format", "json", "-q"])
        assert done.exit_code in (0, 2), (trial, done.exit_code, done.output[-500:])
        if done.exit_code == 2:
            assert len(done.output.strip().splitlines()) == 1, (trial, done.output)


def _one_op(op: str, options: str | None = None, **fields: Any) -> tuple[TfliteBuilder, int, int]:
    """x (1×4×4×8) → a 1×1 CONV_2D to 8 channels (4·4·8·8 = 1,024 MACs) → ``op`` on it (and
    on x where it takes two tensors); each op here adds no MACs."""
    b = TfliteBuilder()
    x = b.tensor("x", (1, 4, 4, 8))
    y = b.tensor("conv", (1, 4, 4, 8))
    b.op(
        "CONV_2D",
        [x, b.weight("w", np.ones((8, 1, 1, 8))), b.weight("b", np.zeros(8))],
        [y],
        "Conv2DOptions",
        Padding=1,
        StrideW=1,
        StrideH=1,
    )
    if op in ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"):
        out = b.tensor("out", (1, 4, 4, 8))
        b.op(op, [y, x], [out], options, **fields)
    elif op == "CONCATENATION":
        out = b.tensor("out", (1, 4, 4, 16))
        b.op(op, [y, x], [out], options, **fields)
    elif op == "PAD":
        pads = b.tensor(
            "pads", (4, 2), "int32", data=np.asarray([[0, 0], [1, 1], [2, 2], [0, 0]], np.int32)
        )
        out = b.tensor("out", (1, 6, 8, 8))
        b.op(op, [y, pads], [out])
    elif op == "AVERAGE_POOL_2D":
        out = b.tensor("out", (1, 2, 2, 8))
        b.op(
            op,
            [y],
            [out],
            "Pool2DOptions",
            Padding=1,
            StrideW=2,
            StrideH=2,
            FilterWidth=2,
            FilterHeight=2,
        )
    elif op == "RESHAPE":
        target = b.tensor("target", (2,), "int32", data=np.asarray([1, 128], np.int32))
        out = b.tensor("out", (1, 128))
        b.op(op, [y, target], [out], "ReshapeOptions")
    elif op == "RESIZE_BILINEAR":
        size = b.tensor("size", (2,), "int32", data=np.asarray([8, 8], np.int32))
        out = b.tensor("out", (1, 8, 8, 8))
        b.op(op, [y, size], [out], "ResizeBilinearOptions")
    else:  # unary
        out = b.tensor("out", (1, 4, 4, 8))
        b.op(op, [y], [out], options, **fields)
    return b, x, out


ONE_OPS = [
    ("ADD", "AddOptions", {}),
    ("SUB", "SubOptions", {}),
    ("MUL", "MulOptions", {}),
    ("MAXIMUM", None, {}),
    ("SQUARED_DIFFERENCE", None, {}),
    ("CONCATENATION", "ConcatenationOptions", {"Axis": 3}),
    ("PAD", None, {}),
    ("AVERAGE_POOL_2D", None, {}),
    ("RESHAPE", None, {}),
    ("RESIZE_BILINEAR", None, {}),
    ("LOGISTIC", None, {}),
    ("TANH", None, {}),
    ("RELU", None, {}),
    ("RELU6", None, {}),
    ("HARD_SWISH", None, {}),
    ("LEAKY_RELU", "LeakyReluOptions", {"Alpha": 0.1}),
    ("SOFTMAX", "SoftmaxOptions", {"Beta": 1.0}),
]


@pytest.mark.parametrize(("op", "options", "fields"), ONE_OPS, ids=[o[0] for o in ONE_OPS])
def test_each_operator_is_counted_and_runs_on_litert(
    tmp_path: Path, op: str, options: str | None, fields: dict[str, Any]
) -> None:
    b, x, out = _one_op(op, options, **fields)
    path = write(tmp_path, b, [x], [out])
    data = profile(path, "--strict")  # nothing named as not counted
    assert totals(data) == (4 * 4 * 8 * 8, 8 * 8 + 8)
    assert count(path).macs == 4 * 4 * 8 * 8
    expected = tuple(b.tensors[out].shape)
    assert run_on_litert(path) == expected


def test_operands_no_operator_can_have_are_one_line(tmp_path: Path) -> None:
    """A PAD whose paddings are a computed tensor's, a MEAN missing its axes, a CONV_2D with a
    filter of rank 2: each refused or named in one line, never an internal error."""
    cases = []
    b = TfliteBuilder()
    x = b.tensor("x", (1, 4, 4, 2))
    out = b.tensor("out", (1, 4, 4, 2))
    b.op("MEAN", [x], [out], "ReducerOptions", KeepDims=True)  # no axes input at all
    cases.append(b.build([x], [out]))
    b = TfliteBuilder()
    x = b.tensor("x", (1, 4, 4, 2))
    out = b.tensor("out", (1, 4, 4, 3))
    b.op(
        "CONV_2D",
        [x, b.weight("w", np.ones((3, 2))), b.weight("b", np.zeros(3))],
        [out],
        "Conv2DOptions",
        Padding=1,
        StrideW=1,
        StrideH=1,
    )
    cases.append(b.build([x], [out]))
    for k, data in enumerate(cases):
        path = tmp_path / f"odd{k}.tflite"
        path.write_bytes(data)
        done = runner.invoke(app, ["profile", str(path), "--format", "json", "-q"])
        assert done.exit_code in (0, 2), (k, done.exit_code, done.output[-400:])
        if done.exit_code == 2:
            assert len(done.output.strip().splitlines()) == 1, done.output
