"""torchvision models exported with ``torch.onnx.export`` and profiled by sepconv.

Skips without torch, torchvision or onnx in the running interpreter. The references are
independent of sepconv: PyTorch's ``FlopCounterMode`` (which counts convolutions and linear
layers only, 2 FLOPs per multiply-accumulate) halved, as tests/torch_reference.py does, and
torchvision's own parameter count (``sum(p.numel())``). The MACs published for these models
agree: ResNet-50 4,089,184,256 and MobileNetV2 300,774,272 (convolutions + linear).

The exporter is TorchScript's (``dynamo=False``): it runs offline and records module paths
in node names. In eval mode it folds every batch-norm into its convolution (weights and a
bias), so the file holds ``conv weights + one bias per BN channel`` where torchvision counts
``conv weights + 2 per BN channel``; exported in training mode the BN nodes stay and the
counts are torchvision's exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from torch_reference import import_torchvision, torch_counts  # tests/torch_reference.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

pytest.importorskip("onnx")

CASES = [("resnet50", 4_089_184_256, 25_557_032), ("mobilenet_v2", 300_774_272, 3_504_872)]


def _export(tv: Any, name: str, path: Path, training: bool) -> Any:
    import torch

    model = getattr(tv.models, name)().eval()
    mode = torch.onnx.TrainingMode.PRESERVE if training else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 224, 224),),
        str(path),
        dynamo=False,
        opset_version=17,
        training=mode,
        do_constant_folding=not training,
    )
    return model


def _profile(path: Path) -> dict[str, Any]:
    done = CliRunner().invoke(app, ["profile", str(path), "--format", "json", "-q"])
    assert done.exit_code == 0, done.output
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter
@pytest.mark.parametrize(("name", "macs", "params"), CASES)
def test_torchvision_export_counts(tmp_path: Path, name: str, macs: int, params: int) -> None:
    tv = import_torchvision()
    import torch

    model = _export(tv, name, tmp_path / "folded.onnx", training=False)
    reference_params, flops, _ = torch_counts(model, (224, 224, 3))
    assert flops // 2 == macs  # the reference itself
    assert reference_params == params
    bn_channels = sum(
        m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
    )
    folded = _profile(tmp_path / "folded.onnx")
    assert folded["totals"]["as_specified"]["macs"] == macs
    assert folded["totals"]["as_specified"]["params"] == params - bn_channels
    assert folded["uncounted_nodes"] == []
    assert "folded it into the convolutions" in folded["graph_notes"][-1]

    _export(tv, name, tmp_path / "bn.onnx", training=True)
    unfused = _profile(tmp_path / "bn.onnx")
    assert unfused["totals"]["as_specified"]["macs"] == macs
    assert unfused["totals"]["as_specified"]["params"] == params
    assert unfused["totals"]["as_specified"]["bn_params"] == 2 * bn_channels


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter
def test_convnext_tiny_counts_exactly(tmp_path: Path) -> None:
    """ConvNeXt-Tiny: depthwise 7×7 convs, layer norms on channels-last tensors, Linear
    layers on tokens, a learned layer scale. Its export shares equal-valued initializers
    (zero biases, unit norm scales) through Identity nodes. Every parameter and MAC is
    counted: torchvision's own numbers, from torch itself (FlopCounterMode halved, numel)."""
    tv = import_torchvision()
    model = _export(tv, "convnext_tiny", tmp_path / "convnext.onnx", training=False)
    reference_params, flops, _ = torch_counts(model, (224, 224, 3))
    data = _profile(tmp_path / "convnext.onnx")
    assert data["uncounted_nodes"] == []
    assert data["totals"]["as_specified"]["macs"] == flops // 2  # 4,455,531,264
    assert data["totals"]["as_specified"]["params"] == reference_params  # 28,589,128
    norms = [row for row in data["layers"] if row["type"] == "layer_norm"]
    assert sum(row["repeat"] for row in norms) == 5  # stem, 3 downsamplings, head
    # each of the 18 blocks' depthwise 7×7 → layer norm → Linear C → 4C is one
    # depthwise-separable row (the pairs rule): its standard form one dense 7×7 C → 4C
    pairs = [row for row in data["layers"] if row["type"] == "separable"]
    assert sum(row["repeat"] for row in pairs) == 18
    stages = ((56, 96, 3), (28, 192, 3), (14, 384, 9), (7, 768, 3))  # size, C, blocks
    dense = sum(n * s * s * 4 * c * c * 49 for s, c, n in stages)
    # every other conv is dense already (the 4×4 stem, the 2×2 downsamplings) or has one
    # form: its standard MACs are as written
    others = data["totals"]["as_specified"]["macs"] - sum(
        row["as_specified"]["macs"] for row in pairs
    )
    assert data["totals"]["standard"]["macs"] == dense + others
    # and written as a spec (its channels-last regions, its written-out GELU), the same
    spec = tmp_path / "convnext.yaml"
    done = CliRunner().invoke(
        app, ["export-spec", str(tmp_path / "convnext.onnx"), "-o", str(spec)]
    )
    assert done.exit_code == 0 and "NOT EXPRESSED" not in spec.read_text(), done.output
    from_spec = _profile(spec)["totals"]
    assert from_spec["as_specified"]["macs"] == flops // 2
    assert from_spec["as_specified"]["params"] == reference_params
    assert from_spec["activation_function_flops"] == data["totals"]["activation_function_flops"]
