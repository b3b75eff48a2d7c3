"""Optional packages, imported only when a feature needs them, with the install line as the
error when one is missing.

Every import of ``onnx``, ``onnxruntime`` and ``torch`` in sepconv goes through here: a
missing extra is one line naming what to install (exit 2), never an ImportError traceback,
and no other command pays for the import at startup.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from sepconv_cli.errors import UsageError

# package -> (the extra that installs it, what needs it, with its verb)
EXTRAS: dict[str, tuple[str, str]] = {
    "onnx": ("onnx", "ONNX model files need"),
    "tflite": ("tflite", "TensorFlow Lite files need"),
    "onnxruntime": ("ort", "timing on ONNX Runtime needs"),
    "ai_edge_litert": ("litert", "timing on LiteRT needs"),
}


def require(package: str, context: str = "") -> ModuleType:
    """Import ``package`` or raise a UsageError naming the extra to install.

    ``context`` names what asked for it (``model.onnx``, ``--runtime onnxruntime``) and
    starts the message, as a flag or file does in every other error.
    """
    try:
        return import_module(package)
    except ImportError as exc:
        extra, needs = EXTRAS.get(package, (package, "this needs"))
        where = f"{context}: " if context else ""
        raise UsageError(
            f"{where}{needs} the {package} package, which is not installed "
            f"({exc.msg}): pip install 'sepconv[{extra}]'"
        ) from None


def require_onnx(context: str = "") -> ModuleType:
    """The ``onnx`` package (``sepconv[onnx]``)."""
    return require("onnx", context)


# torch is never a dependency of sepconv (its wheels are large, and the CUDA ones larger):
# the message says how to get it; the CPU-only build is enough (the PyTorch site's install
# selector gives the index for it)
TORCH_INSTALL = "pip install torch (the CPU-only build is enough)"


def require_torch(context: str = "") -> ModuleType:
    """The ``torch`` package, or a UsageError with the CPU wheel's install line (sepconv
    never installs torch itself)."""
    try:
        return import_module("torch")
    except ImportError as exc:
        where = f"{context}: " if context else ""
        raise UsageError(
            f"{where}timing on PyTorch needs the torch package, which is not installed "
            f"({exc.msg}); sepconv never installs it: {TORCH_INSTALL}"
        ) from None
