"""Model formats sepconv does not read, by file name: what the file is and how to get a
file sepconv reads (ONNX or TFLite) from it. A command given one refuses it in one line
(exit 2) before reading a byte, instead of reading it as a YAML spec."""

from __future__ import annotations

from pathlib import Path

_TORCH = (
    "sepconv reads the module, not its weights: `sepconv profile model.py:build` (a function "
    "returning the nn.Module), or export it with torch.onnx.export and profile the .onnx"
)
OTHER_FORMATS: dict[str, tuple[str, str]] = {
    ".pt": ("a PyTorch checkpoint or TorchScript file", _TORCH),
    ".pth": ("a PyTorch checkpoint", _TORCH),
    ".ckpt": ("a training checkpoint", _TORCH),
    ".safetensors": ("a file of weights alone (safetensors)", _TORCH),
    ".pb": (
        "a TensorFlow graph",
        "convert it: python -m tf2onnx.convert --saved-model DIR (or --graphdef model.pb "
        "--inputs IN:0 --outputs OUT:0) --output model.onnx, then sepconv profile "
        "model.onnx; a SavedModel's folder is profiled directly where tensorflow and tf2onnx "
        "are installed",
    ),
    ".mlmodel": (
        "a Core ML model",
        "profile the model it was converted from (its ONNX, TFLite, PyTorch or Keras form)",
    ),
    ".mlpackage": (
        "a Core ML package",
        "profile the model it was converted from (its ONNX, TFLite, PyTorch or Keras form)",
    ),
    ".param": (
        "an ncnn model",
        "profile the ONNX or PyTorch model it was converted from (pnnx and onnx2ncnn start "
        "from one)",
    ),
    ".engine": (
        "a TensorRT engine (built for one GPU)",
        "profile the ONNX file it was built from",
    ),
    ".plan": ("a TensorRT engine (built for one GPU)", "profile the ONNX file it was built from"),
    ".trt": ("a TensorRT engine (built for one GPU)", "profile the ONNX file it was built from"),
    ".caffemodel": (
        "a Caffe model",
        "convert it to ONNX (for instance with MMdnn or caffe2onnx) and profile the .onnx",
    ),
    ".pdmodel": (
        "a PaddlePaddle model",
        "convert it: paddle2onnx --model_dir DIR --save_file model.onnx, then profile it",
    ),
    ".mnn": ("an MNN model", "profile the ONNX or TFLite model it was converted from"),
}


def other_format(ref: str) -> tuple[str, str] | None:
    """(what the file is, what to do) for a model file sepconv does not read; None for
    any other reference. By name alone: ``saved_model.pb`` is a SavedModel's and is read
    through its folder (:mod:`keras_files`), so it is not refused here."""
    path = Path(ref)
    if path.name == "saved_model.pb":
        return None
    return OTHER_FORMATS.get(path.suffix.lower())


def refusal(ref: str) -> str | None:
    """The one-line refusal of ``ref`` as a model, or None when sepconv may read it."""
    found = other_format(ref)
    if found is None:
        return None
    kind, advice = found
    return f"{ref}: {kind}, which sepconv does not read: {advice}"
