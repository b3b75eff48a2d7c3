"""Keras and TensorFlow files as models: ``model.keras``, ``model.h5`` and a SavedModel
folder, converted by tf2onnx to a temporary ONNX file and read as that file is.

TensorFlow and tf2onnx are never dependencies of sepconv (TensorFlow alone is hundreds of
megabytes): without them the error is one line saying what to install, or the tf2onnx
command that converts the file where they are installed, for ``sepconv profile
model.onnx``. The graph keeps the file's layout: Keras is channels-last (NHWC), and
tf2onnx writes the input as NHWC with a Transpose before each convolution, which the ONNX
reader reads through (the input is shown as the file has it, ``224×224×3``).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from types import ModuleType

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.converted import Converted, one_line, temporary_onnx
from sepconv_cli.interchange.onnx_load import Shape

SUFFIXES = (".keras", ".h5", ".hdf5")
SAVED_MODEL = "saved_model.pb"
OPSET = 17


def is_keras_file(ref: str) -> bool:
    """Whether ``ref`` is a Keras file (by its suffix) or a SavedModel (a folder holding
    ``saved_model.pb``, or that file)."""
    path = Path(ref)
    if path.suffix.lower() in SUFFIXES or path.name == SAVED_MODEL:
        return True
    return path.is_dir() and (path / SAVED_MODEL).is_file()


def convert_command(ref: str) -> str:
    """The tf2onnx command that writes ``ref`` as an ONNX file."""
    path = Path(ref)
    if _is_saved_model(path):
        folder = path if path.is_dir() else path.parent
        return f"python -m tf2onnx.convert --saved-model {folder} --output {_stem(ref)}.onnx"
    return f"python -m tf2onnx.convert --keras {ref} --output {_stem(ref)}.onnx"


def _is_saved_model(path: Path) -> bool:
    return path.is_dir() or path.name == SAVED_MODEL


def _stem(ref: str) -> str:
    path = Path(ref)
    if path.name == SAVED_MODEL:
        path = path.parent
    return path.stem or path.resolve().name or "model"


@contextmanager
def converted(ref: str, input_shapes: dict[str, Shape], flag: str = "MODEL") -> Iterator[Converted]:
    """The Keras file ``ref``, converted by tf2onnx to a temporary ONNX file (deleted
    afterwards). ``input_shapes`` (``--input-shape``) pin the converted graph's inputs by
    its names (tf2onnx keeps Keras' input names)."""
    path = Path(ref)
    saved_model = _is_saved_model(path)
    if not path.exists():
        raise UsageError(f"{flag}: no such file: {ref}")
    tf, tf2onnx = _require(ref)
    with temporary_onnx(_stem(ref)) as out:
        try:
            with _quiet():
                _convert(tf, tf2onnx, path, saved_model, out)
        except Exception as exc:  # whatever TensorFlow or tf2onnx refuses
            raise UsageError(f"{ref}: tf2onnx could not convert it: {one_line(exc)}") from None
        kind = "SavedModel" if saved_model else "Keras file"
        yield Converted(
            path=out,
            ref=ref,
            name=_stem(ref),
            source=f"{kind} {ref}, converted by tf2onnx {tf2onnx.__version__} "
            f"(TensorFlow {tf.__version__}, opset {OPSET})",
            input_shapes=input_shapes,
        )


def _convert(tf: ModuleType, tf2onnx: ModuleType, path: Path, saved_model: bool, out: Path) -> None:
    """``path`` written to ``out`` by tf2onnx: a SavedModel through its graph, a Keras file
    through the model Keras loads (without compiling it: no optimizer, no custom loss)."""
    if saved_model:
        folder = path if path.is_dir() else path.parent
        graph, inputs, outputs = tf2onnx.tf_loader.from_saved_model(str(folder), None, None)
        tf2onnx.convert.from_graph_def(
            graph, input_names=inputs, output_names=outputs, opset=OPSET, output_path=str(out)
        )
    else:
        model = tf.keras.models.load_model(str(path), compile=False)
        tf2onnx.convert.from_keras(model, opset=OPSET, output_path=str(out))


def _require(ref: str) -> tuple[ModuleType, ModuleType]:
    """TensorFlow and tf2onnx, or one line: what to install, or the command to run where
    they are. TensorFlow's C++ start-up logging is turned down before its import."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    missing: list[str] = []
    found: list[ModuleType] = []
    for package in ("tensorflow", "tf2onnx"):
        try:
            with _quiet():
                found.append(import_module(package))
        except ImportError:
            missing.append(package)
        except Exception as exc:  # an installed package that fails to import
            raise UsageError(f"{ref}: importing {package} failed: {one_line(exc)}") from None
    if missing:
        kind = "a SavedModel" if _is_saved_model(Path(ref)) else "a Keras file"
        raise UsageError(
            f"{ref}: reading {kind} needs {' and '.join(missing)}, not installed: "
            f"pip install {' '.join(missing)}; or, where they are, convert it with "
            f"{convert_command(ref)} and profile that file"
        )
    for name in ("tensorflow", "tf2onnx", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return found[0], found[1]


@contextmanager
def _quiet() -> Iterator[None]:
    """stderr (the file descriptor: TensorFlow's C++ logging writes to it) to a discarded
    temporary file while TensorFlow loads and converts; Python's own exceptions still
    propagate to the one-line error."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to redirect
        yield
        return
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
