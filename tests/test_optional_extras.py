"""A missing optional extra is one line naming what to install, never an ImportError."""

from __future__ import annotations

import sys

import pytest

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.optional import require, require_onnx


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # an import of onnx now fails
    with pytest.raises(UsageError) as caught:
        require_onnx("model.onnx")
    message = str(caught.value)
    assert message.startswith("model.onnx: ONNX model files need the onnx package")
    assert message.endswith("pip install 'sepconv[onnx]'")
    assert "\n" not in message


def test_missing_onnxruntime_names_the_ort_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(UsageError, match=r"pip install 'sepconv\[ort\]'$"):
        require("onnxruntime", "--runtime onnxruntime")


def test_an_installed_package_is_returned() -> None:
    assert require("json").__name__ == "json"
