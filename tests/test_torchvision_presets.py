"""The torchvision presets reproduce torchvision's models exactly at 224x224.

Params are torchvision's published counts (its model docs' "num_params"), independent of
sepconv. MACs are torchvision's convolution and linear multiply-accumulates, measured
outside sepconv with torch 2.13.0 and torchvision 0.28.0: each model built with default
(random) weights in eval mode, run once under ``torch.utils.flop_counter.FlopCounterMode``
on a 1x3x224x224 input, and the total FLOPs (only ``aten.convolution`` and ``aten.addmm``
occur) halved. That counter counts 2 per multiply-accumulate and no bias adds, the same
convention as sepconv's ``as_specified.macs``. torchvision's docs round the same counts to
4.09, 0.31, 0.22, 0.06, 0.39 and 0.14 GFLOPS.

The last test repeats the measurement when torch and torchvision are installed (they are
not project dependencies) and skips otherwise.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from torch_reference import import_torchvision, torch_counts  # tests/torch_reference.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

# preset -> (torchvision builder, published params, measured MACs)
EXPECTED: dict[str, tuple[str, int, int]] = {
    "resnet50": ("resnet50", 25_557_032, 4_089_184_256),
    "mnasnet1_0": ("mnasnet1_0", 4_383_312, 314_415_872),
    "mobilenet_v3_large": ("mobilenet_v3_large", 5_483_032, 216_589_760),
    "mobilenet_v3_small": ("mobilenet_v3_small", 2_542_856, 56_510_400),
    "efficientnet_b0": ("efficientnet_b0", 5_288_548, 385_814_752),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", 2_278_604, 144_907_992),
    "convnext_tiny": ("convnext_tiny", 28_589_128, 4_455_531_264),
    "efficientnet_v2_s": ("efficientnet_v2_s", 21_458_488, 8_365_617_152),
    "regnet_y_400mf": ("regnet_y_400mf", 4_344_144, 401_842_848),
}

runner = CliRunner()


def totals(preset: str) -> dict[str, Any]:
    result = runner.invoke(app, ["profile", preset, "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    as_specified: dict[str, Any] = doc["totals"]["as_specified"]
    return as_specified


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_preset_equals_torchvision(preset: str) -> None:
    _, params, macs = EXPECTED[preset]
    total = totals(preset)
    assert total["params"] == params
    assert total["macs"] == macs


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_preset_equals_a_fresh_torchvision_count(preset: str) -> None:
    torchvision = import_torchvision()
    model = getattr(torchvision.models, EXPECTED[preset][0])()
    size = 384 if preset == "efficientnet_v2_s" else 224  # its weights' evaluation size
    params, flops, _ = torch_counts(model, (size, size, 3))
    macs, odd = divmod(flops, 2)
    assert odd == 0
    total = totals(preset)
    assert (total["params"], total["macs"]) == (params, macs)
