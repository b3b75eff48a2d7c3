"""Keras files (``.keras``, ``.h5``, a SavedModel folder) profiled through tf2onnx.

Without TensorFlow or tf2onnx (the dev environment) the error is one line: what to
install, and the tf2onnx command that converts the file where they are. With both, a small
Keras model saved in each format counts as by hand: the conversion keeps the file's NHWC
input, which the ONNX reader reads through. Those tests skip cleanly without them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.interchange.keras_files import convert_command, is_keras_file

runner = CliRunner()

# by hand, on 32×32×3: Conv2D 3×3 3→8, DepthwiseConv2D 3×3 8, Conv2D 1×1 8→16, Dense 16→10
MACS = 32 * 32 * 8 * 27 + 32 * 32 * 8 * 9 + 32 * 32 * 16 * 8 + 16 * 10  # 426,144
PARAMS = (8 * 27 + 8) + (8 * 9 + 8) + (16 * 8 + 16) + (16 * 10 + 10)  # 618


def _one_error(argv: list[str]) -> str:
    done = runner.invoke(app, argv)
    assert done.exit_code == 2, (done.stdout, done.stderr, done.exception)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: "), done.stderr
    return lines[0]


def _saved_model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    return folder


def test_which_references_are_keras_files(tmp_path: Path) -> None:
    saved = _saved_model(tmp_path / "saved")
    for ref in ("m.keras", "m.h5", "M.HDF5", str(saved), str(saved / "saved_model.pb")):
        assert is_keras_file(ref), ref
    for ref in ("m.onnx", "m.yaml", "mobilenet_v2", str(tmp_path), "torchvision:resnet18"):
        assert not is_keras_file(ref), ref


@pytest.mark.parametrize("name", ["model.keras", "model.h5"])
def test_without_tensorflow_one_line_says_what_to_install_or_run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # an import of it now fails
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    monkeypatch.chdir(tmp_path)
    Path(name).write_bytes(b"PK\x03\x04 not really a model")
    line = _one_error(["profile", name])
    assert line.startswith(f"sepconv: error: {name}: reading a Keras file needs tensorflow and ")
    assert "pip install tensorflow tf2onnx" in line
    assert f"python -m tf2onnx.convert --keras {name} --output model.onnx" in line


def test_without_tensorflow_a_saved_model_names_its_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.chdir(tmp_path)
    _saved_model(tmp_path / "exported")
    line = _one_error(["profile", "exported"])
    assert "reading a SavedModel needs tensorflow" in line
    assert "python -m tf2onnx.convert --saved-model exported --output exported.onnx" in line


def test_without_tf2onnx_names_only_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules["json"])  # "installed"
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    monkeypatch.chdir(tmp_path)
    Path("m.h5").write_bytes(b"\x89HDF\r\n")
    line = _one_error(["profile", "m.h5"])
    assert "needs tf2onnx, not installed: pip install tf2onnx;" in line


def test_a_missing_keras_file_is_named_before_tensorflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.chdir(tmp_path)
    assert "MODEL: no such file: absent.keras" in _one_error(["profile", "absent.keras"])


def test_convert_command() -> None:
    assert convert_command("net.h5") == "python -m tf2onnx.convert --keras net.h5 --output net.onnx"


# ---------------------------------------------------------------- with TensorFlow


def _keras_model() -> Any:
    tf = pytest.importorskip("tensorflow", exc_type=ImportError)
    pytest.importorskip("tf2onnx", exc_type=ImportError)
    pytest.importorskip("onnx")
    layers = tf.keras.layers
    # biases of ones: tf2onnx's optimizer drops an Add of zeros, so an untrained model's
    # zero biases would not be in the converted graph (nor counted)
    ones = {"bias_initializer": "ones"}
    inputs = tf.keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem", **ones)(inputs)
    x = layers.DepthwiseConv2D(3, padding="same", name="dw", **ones)(x)
    x = layers.Conv2D(16, 1, name="pw", **ones)(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(10, name="head", **ones)(x)
    return tf.keras.Model(inputs, outputs, name="tiny")


def _counts(ref: str) -> dict[str, Any]:
    done = runner.invoke(app, ["profile", ref, "--format", "json", "-q"])
    assert done.exit_code == 0, (done.stdout, done.stderr)
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_keras_files_count_as_by_hand(tmp_path: Path) -> None:
    model = _keras_model()
    model.save(tmp_path / "tiny.keras")
    model.save(tmp_path / "tiny.h5")
    model.export(str(tmp_path / "saved"))  # a SavedModel folder
    for ref, kind in (
        (tmp_path / "tiny.keras", "Keras file"),
        (tmp_path / "tiny.h5", "Keras file"),
        (tmp_path / "saved", "SavedModel"),
    ):
        data = _counts(str(ref))
        totals = data["totals"]["as_specified"]
        assert (totals["macs"], totals["params"]) == (MACS, PARAMS), ref
        assert data["input_shape"] == [32, 32, 3]  # NHWC, as the file has it
        assert data["file"] == str(ref)
        assert data["source"].startswith(f"{kind} {ref}, converted by tf2onnx ")
        assert data["uncounted_nodes"] == []
