"""The built-in presets reproduce the numbers their papers and frameworks publish.

Every expected number below is either copied from a publication (the citation is next to
it) or written out as hand arithmetic; none is read back from sepconv. Where a publication
rounds, the tolerance is the rounding it used, justified in a comment.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

PRESETS = (
    "seed_example",
    "mobilenet_v1",
    "mobilenet_v2",
    "xception",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "mnasnet1_0",
    "resnet50",
    "shufflenet_v2_x1_0",
    "convnext_tiny",
    "efficientnet_v2_s",
    "regnet_y_400mf",
)
runner = CliRunner()


def profile(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["profile", *args, "--format", "json", "--no-time"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def millions(count: int) -> float:
    return count / 1e6


def layer(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [row for row in doc["layers"] if row["name"] == name]
    assert len(found) == 1, [row["name"] for row in doc["layers"]]
    return found[0]


def printed_whole_millions(published: int, exact: int) -> bool:
    """MobileNet's Tables 4, 6 and 7 print mult-adds in whole millions, and not always by
    the same rule: MobileNet's 569M is 568.74M rounded up (truncating would print 568),
    while Table 7's 290M at 160 px is 290.68M truncated (rounding would print 291). So a
    printed value P matches an exact count when P is its rounded or its truncated value."""
    value = millions(exact)
    return published in (math.floor(value), round(value))


# --------------------------------------------------------------------------- seed example


def test_seed_example_is_the_worked_example() -> None:
    # The worked example, by hand: 12x12x3 input, 5x5 kernel, 256 filters, valid → 8x8x256.
    doc = profile("seed_example")
    assert doc["layers"][0]["output_shape"] == [8, 8, 256]
    assert doc["totals"]["standard"]["macs"] == 256 * 3 * 5 * 5 * 8 * 8 == 1_228_800
    assert doc["totals"]["separable"]["macs"] == 3 * 5 * 5 * 8 * 8 + 256 * 3 * 8 * 8 == 53_952
    # weights: 256 filters of 5x5x3 (no bias); separable: 3 depthwise 5x5 + 3x256 pointwise
    assert doc["totals"]["standard"]["params"] == 256 * 3 * 25 == 19_200
    assert doc["totals"]["separable"]["params"] == 3 * 25 + 3 * 256 == 843


# --------------------------------------------------------------------------- MobileNetV1


def test_mobilenet_v1_table4_mobilenet() -> None:
    # Howard et al. 2017, arXiv:1704.04861, Table 4: "1.0 MobileNet-224 ... 569 million
    # mult-adds, 4.2 million parameters". Table 2 shows the FC layer is part of the 569M
    # (0.18% of the mult-adds): with it the exact count is 568.74M → 569; without it,
    # 567.72M would print 568.
    doc = profile("mobilenet_v1")
    total = doc["totals"]["as_specified"]
    assert printed_whole_millions(569, total["macs"])
    assert round(millions(total["params"]), 1) == 4.2
    # the paper counts no batch-norm; with or without its scale and shift it is 4.2M
    assert round(millions(total["params"] - total["bn_params"]), 1) == 4.2


def test_mobilenet_v1_params_match_keras_exactly() -> None:
    # keras.applications.MobileNet(alpha=1.0, input 224) summary(), the same network (no
    # conv bias, batch-norm after every conv, 1x1-conv classifier with bias):
    #   "Total params: 4,253,864  Trainable params: 4,231,976  Non-trainable params: 21,888"
    # Trainable = weights + batch-norm scale and shift; non-trainable = batch-norm moving
    # mean and variance, also 2 per channel, so it equals the batch-norm params we count.
    total = profile("mobilenet_v1")["totals"]["as_specified"]
    assert total["params"] == 4_231_976
    assert total["bn_params"] == 21_888


# Conv MobileNet by hand (Table 4's all-standard model): every depthwise-separable layer of
# Table 1 replaced by a full 3x3 convolution, DF·DF·9·M·N mult-adds at output size DF.
CONV_MOBILENET_MACS = (
    112 * 112 * 9 * 3 * 32  # conv1, stride 2
    + 112 * 112 * 9 * 32 * 64  # sep1
    + 56 * 56 * 9 * 64 * 128  # sep2, stride 2
    + 56 * 56 * 9 * 128 * 128  # sep3
    + 28 * 28 * 9 * 128 * 256  # sep4, stride 2
    + 28 * 28 * 9 * 256 * 256  # sep5
    + 14 * 14 * 9 * 256 * 512  # sep6, stride 2
    + 5 * 14 * 14 * 9 * 512 * 512  # sep7 x5
    + 7 * 7 * 9 * 512 * 1024  # sep8, stride 2
    + 7 * 7 * 9 * 1024 * 1024  # sep9
)
FC_MACS = 1024 * 1000


def test_mobilenet_v1_table4_conv_mobilenet() -> None:
    # Howard et al. 2017, Table 4: "Conv MobileNet ... 4866 million mult-adds, 29.3 million
    # parameters". Hand arithmetic gives 4,866,269,184 for the convolutions alone and
    # 4,867,293,184 with the 1,024,000-MAC classifier. 4867.29M is 1.29M away from the
    # printed 4866M: more than any rounding, and almost exactly the classifier. So Table 4's
    # Conv MobileNet mult-adds evidently leave out the FC layer (its MobileNet 569M keeps
    # it: see above), and we check both halves of that statement rather than widening the
    # tolerance: sepconv's all-standard total is the full network, convolutions plus FC,
    # and the convolutions alone round to the paper's 4866M.
    doc = profile("mobilenet_v1")
    standard = doc["totals"]["standard"]
    assert CONV_MOBILENET_MACS == 4_866_269_184
    assert layer(doc, "fc")["standard"]["macs"] == FC_MACS
    assert standard["macs"] == CONV_MOBILENET_MACS + FC_MACS
    assert round(millions(standard["macs"] - FC_MACS)) == 4866
    # 29.3M parameters: FC included (without its 1,025,000 the count would be 28.3M)
    assert round(millions(standard["params"]), 1) == 29.3
    assert round(millions(standard["params"] - standard["bn_params"]), 1) == 29.3


@pytest.mark.parametrize(
    ("alpha", "macs_m", "params_m"),
    [
        # Howard et al. 2017, Table 6 (width multiplier, 224 px): mult-adds in millions,
        # parameters in millions to one decimal.
        ("1.0", 569, 4.2),
        ("0.75", 325, 2.6),
        ("0.5", 149, 1.3),
        ("0.25", 41, 0.5),
    ],
)
def test_mobilenet_v1_table6_width_multiplier(alpha: str, macs_m: int, params_m: float) -> None:
    total = profile("mobilenet_v1", "--width-multiplier", alpha)["totals"]["as_specified"]
    assert printed_whole_millions(macs_m, total["macs"])
    # one decimal in millions, with or without batch-norm (the paper does not say)
    assert round(millions(total["params"]), 1) == params_m
    assert round(millions(total["params"] - total["bn_params"]), 1) == params_m


@pytest.mark.parametrize(
    ("resolution", "macs_m"),
    [
        # Howard et al. 2017, Table 7 (resolution multiplier, α = 1): mult-adds in millions;
        # parameters stay 4.2M at every resolution.
        ("224", 569),
        ("192", 418),
        ("160", 290),
        ("128", 186),
    ],
)
def test_mobilenet_v1_table7_resolution(resolution: str, macs_m: int) -> None:
    doc = profile("mobilenet_v1", "--resolution", resolution)
    side = int(resolution)
    assert doc["input_shape"] == [side, side, 3]
    total = doc["totals"]["as_specified"]
    assert printed_whole_millions(macs_m, total["macs"])
    assert round(millions(total["params"]), 1) == 4.2


# --------------------------------------------------------------------------- MobileNetV2


def test_mobilenet_v2_torchvision() -> None:
    # torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta (torchvision/models/
    # mobilenetv2.py): "num_params": 3504872 (parameters() counts batch-norm weight and
    # bias; running mean/var are buffers) and "_ops": 0.301 (GFLOPS in torchvision's
    # sense: multiply-accumulates of convolutions and the classifier). The README quotes
    # the same count to one more digit: 300.8 million MACs.
    total = profile("mobilenet_v2")["totals"]["as_specified"]
    assert total["params"] == 3_504_872
    assert round(total["macs"] / 1e9, 3) == 0.301
    assert round(millions(total["macs"]), 1) == 300.8


def test_mobilenet_v2_batch_norm_matches_keras() -> None:
    # keras.applications.MobileNetV2(alpha=1.0) summary(): "Total params: 3,538,984
    # Trainable params: 3,504,872  Non-trainable params: 34,112". The non-trainable ones
    # are batch-norm moving mean and variance: 2 per channel, as many as scale and shift.
    total = profile("mobilenet_v2")["totals"]["as_specified"]
    assert total["bn_params"] == 34_112
    assert total["params"] == 3_504_872


# TF-slim's MobileNetV2 checkpoint table (tensorflow/models, research/slim/nets/mobilenet/
# README.md, "Mobilenet V2 Imagenet Checkpoints"): mobilenet_v2_<alpha>_<resolution>,
# "MACs (M)" and "Parameters (M)". Read against the exact counts, the MACs column is
# truncated to whole millions (1.0_224 is torchvision's 300.77M, printed 300; 0.5_96 is
# 18.89M, printed 18), and parameters are printed to two decimals without batch-norm
# (3.47M for 1.0 is 3,504,872 - 34,112 = 3,470,760).
TF_SLIM_V2 = [
    ("1.4", 224, 582, 6.06),
    ("1.3", 224, 509, 5.34),
    ("1.0", 224, 300, 3.47),
    ("1.0", 192, 221, 3.47),
    ("1.0", 160, 154, 3.47),
    ("1.0", 128, 99, 3.47),
    ("1.0", 96, 56, 3.47),
    ("0.75", 224, 209, 2.61),
    ("0.75", 192, 153, 2.61),
    ("0.75", 160, 107, 2.61),
    ("0.75", 128, 69, 2.61),
    ("0.75", 96, 39, 2.61),
    ("0.5", 224, 97, 1.95),
    ("0.5", 192, 71, 1.95),
    ("0.5", 160, 50, 1.95),
    ("0.5", 128, 32, 1.95),
    ("0.5", 96, 18, 1.95),
    ("0.35", 224, 59, 1.66),
    ("0.35", 192, 43, 1.66),
    ("0.35", 160, 30, 1.66),
    ("0.35", 128, 20, 1.66),
    ("0.35", 96, 11, 1.66),
]
# The last 1x1 conv has 1280·max(1, α) channels rounded to a multiple of 8 (by hand:
# 1280·1.4 = 1792, 1280·1.3 = 1664, both already multiples of 8).
LAST_CHANNELS = {"1.4": 1792, "1.3": 1664}


@pytest.mark.parametrize(("alpha", "resolution", "macs_m", "params_m"), TF_SLIM_V2)
def test_mobilenet_v2_tf_slim_checkpoints(
    alpha: str, resolution: int, macs_m: int, params_m: float
) -> None:
    doc = profile("mobilenet_v2", "--width-multiplier", alpha, "--resolution", str(resolution))
    total = doc["totals"]["as_specified"]
    last = LAST_CHANNELS.get(alpha, 1280)
    assert layer(doc, "classifier")["input_shape"] == [last]
    # TF-slim classifies 1001 classes (a background class) where torchvision has 1000:
    # one more output of the classifier, `last` more MACs and `last + 1` more params.
    tf_macs = total["macs"] + last
    tf_params = total["params"] - total["bn_params"] + last + 1
    assert macs_m <= millions(tf_macs) < macs_m + 1
    assert round(millions(tf_params), 2) == params_m


# --------------------------------------------------------------------------- Xception


def test_xception_params_match_the_paper() -> None:
    # Chollet 2017, arXiv:1610.02357, Table 3: Xception 22,855,952 parameters.
    # keras.applications.Xception() summary(): "Total params: 22,910,480  Trainable params:
    # 22,855,952  Non-trainable params: 54,528" (batch-norm moving mean and variance, 2 per
    # channel: as many as the scale and shift we count).
    doc = profile("xception")
    assert doc["input_shape"] == [299, 299, 3]
    total = doc["totals"]["as_specified"]
    assert total["params"] == 22_855_952
    assert total["bn_params"] == 54_528
    # Keras' summary: "predictions (Dense) (None, 1000) 2049000" = 2048·1000 + 1000
    assert layer(doc, "predictions")["as_specified"]["params"] == 2048 * 1000 + 1000 == 2_049_000
    # Figure 5: the exit flow ends at 10x10x2048 before global average pooling
    assert layer(doc, "avgpool")["input_shape"] == [10, 10, 2048]


# --------------------------------------------------------------------------- loading


def presets_json(cwd: Path | None = None) -> list[dict[str, Any]]:
    if cwd is None:
        result = runner.invoke(app, ["presets", "--format", "json"])
        assert result.exit_code == 0, result.stderr
        out = result.stdout
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "sepconv_cli", "presets", "--format", "json"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
    items: list[dict[str, Any]] = json.loads(out)
    return items


def test_presets_json_lists_name_description_path() -> None:
    items = presets_json()
    assert {item["name"] for item in items} >= set(PRESETS)
    for item in items:
        assert {"name", "description", "path"} <= item.keys()
        assert isinstance(item["description"], str) and item["description"].strip()
        path = Path(item["path"])
        assert path.is_file(), path
        assert path.name == f"{item['name']}.yaml"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_by_name_and_by_path(name: str) -> None:
    by_name = profile(name)
    path = next(item["path"] for item in presets_json() if item["name"] == name)
    by_path = profile(path)
    assert by_name["totals"] == by_path["totals"]
    assert by_name["layers"] == by_path["layers"]
    # every preset cites where its architecture comes from
    assert by_name["source"].strip()


def test_presets_work_from_another_directory(tmp_path: Path) -> None:
    # The presets ship inside the package, so they must not depend on the working directory.
    items = presets_json(cwd=tmp_path)
    assert {item["name"] for item in items} >= set(PRESETS)
    assert all(Path(item["path"]).is_file() for item in items)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sepconv_cli",
            "profile",
            "mobilenet_v1",
            "--format",
            "json",
            "--no-time",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    total = json.loads(proc.stdout)["totals"]["as_specified"]
    assert total["params"] == 4_231_976  # Keras' MobileNet, as above
    assert total["macs"] == profile("mobilenet_v1")["totals"]["as_specified"]["macs"]
    assert not list(tmp_path.iterdir()), "profile wrote files into the working directory"


def test_presets_ship_in_a_non_editable_install(tmp_path: Path) -> None:
    # Presets must be usable by name from any directory after a non-editable
    # `pip install .`. Build the wheel from a copy of the sources, unpack it, and run it
    # with site processing off (-S), so that neither the editable install nor the checkout
    # can supply the YAML files.
    import shutil
    import sysconfig
    import zipfile

    pytest.importorskip("setuptools")
    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (root / name).exists():
            shutil.copy(root / name, src / name)
    for name in ("sepconv_cli", "layer_specs"):
        shutil.copytree(
            root / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    dist = tmp_path / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(dist),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if build.returncode != 0 and "No module named pip" in build.stderr:
        pytest.skip("pip is not available")
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("sepconv-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    for name in PRESETS:
        assert f"sepconv_cli/layer_specs/{name}.yaml" in names, names
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PYTHONPATH": f"{site}{os.pathsep}{sysconfig.get_paths()['purelib']}",
        "PATH": "",
        "NO_COLOR": "1",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-S",
            "-m",
            "sepconv_cli",
            "profile",
            "xception",
            "--format",
            "json",
            "--no-time",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    if "file" in doc:  # where the spec was read from: the unpacked wheel, not the checkout
        assert Path(doc["file"]).resolve().is_relative_to(site.resolve()), doc["file"]
    assert doc["totals"]["as_specified"]["params"] == 22_855_952  # Chollet 2017, Table 3


# --------------------------------------------------------------------------- papers' figures


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_shufflenet_v2_as_its_authors_released_it_is_the_papers_146m() -> None:
    # Ma et al. 2018, Table 5: ShuffleNetV2 1.0x, 146 M FLOPs (mult-adds), 2.3 M params.
    # Megvii's released blocks.py gives a stride-2 unit's main branch (out - in) outputs and
    # keeps `in` on the projection branch: stage2.0 concatenates 24 + 92 channels where
    # torchvision concatenates 58 + 58. Hand arithmetic at the 28x28 output of that unit:
    authors = (24 * 24 + 58 * 92) * 28 * 28
    torchvision = (24 * 58 + 58 * 58) * 28 * 28
    assert authors - torchvision == 906_304
    torchvision_total = 144_907_992  # torchvision's count (tests/test_torchvision_presets.py)
    doc = profile(str(EXAMPLES / "shufflenet_v2_megvii.yaml"))
    macs = doc["totals"]["as_specified"]["macs"]
    assert macs == torchvision_total + 906_304
    assert round(millions(macs)) == 146
    # Params: the two changed 1x1 convs (weights + batch-norm scale and shift) and no
    # classifier bias, against torchvision's 2,278,604.
    conv_and_bn = (24 * 24 + 2 * 24 + 58 * 92 + 2 * 92) - (24 * 58 + 2 * 58 + 58 * 58 + 2 * 58)
    assert conv_and_bn == 1_156
    assert doc["totals"]["as_specified"]["params"] == 2_278_604 + conv_and_bn - 1_000
    assert round(doc["totals"]["as_specified"]["params"] / 1e5) / 10 == 2.3


def _presets_page_rows() -> list[tuple[str, int, int]]:
    page = (EXAMPLES.parent / "docs" / "presets.md").read_text(encoding="utf-8")
    rows = []
    for line in page.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`"):
            rows.append(
                (
                    cells[0].strip("`"),
                    int(cells[1].replace(",", "")),
                    int(cells[2].replace(",", "")),
                )
            )
    return rows


def test_presets_page_lists_every_preset() -> None:
    names = {name for name, _, _ in _presets_page_rows()}
    assert names == {item["name"] for item in presets_json()}


@pytest.mark.parametrize("row", _presets_page_rows(), ids=lambda row: row[0])
def test_presets_page_counts_are_what_profile_prints(row: tuple[str, int, int]) -> None:
    name, macs, params = row
    total = profile(name)["totals"]["as_specified"]
    assert (total["macs"], total["params"]) == (macs, params)


# --------------------------------------------------------------------------- ConvNeXt-Tiny


def test_convnext_tiny_by_hand() -> None:
    """Liu et al. 2022 as torchvision builds it; torchvision's docs publish 28,589,128 params
    and 4.46 GFLOPS (its FLOPs are multiply-accumulates). By hand: a block of width C on an
    S×S map is a depthwise 7×7 (49·C MACs per position), a 1×1 to 4C and one back (8·C² per
    position); parameters 8C² + 58C (the convs' weights and biases 49C + C + 4C² + 4C +
    4C² + C, the layer norm's 2C, the layer scale's C)."""
    doc = profile("convnext_tiny")
    stages = ((56, 96, 3), (28, 192, 3), (14, 384, 9), (7, 768, 3))
    macs = 56 * 56 * 96 * 3 * 4 * 4  # the 4×4 stride-4 stem
    params = 96 * 3 * 16 + 96 + 2 * 96  # the stem conv with its bias, its layer norm
    for i, (size, width, blocks) in enumerate(stages):
        macs += blocks * size * size * width * (49 + 8 * width)
        params += blocks * (8 * width * width + 58 * width)
        if i:  # a layer norm, then a 2×2 stride-2 conv from the previous width
            previous = stages[i - 1][1]
            macs += size * size * width * previous * 4
            params += 2 * previous + 4 * previous * width + width
    macs += 768 * 1000  # the classifier
    params += 2 * 768 + 768 * 1000 + 1000  # its layer norm and the linear layer
    assert params == 28_589_128  # torchvision's published count
    assert round(macs / 1e9, 2) == 4.46  # torchvision's published GFLOPS
    assert doc["totals"]["as_specified"]["macs"] == macs == 4_455_531_264
    assert doc["totals"]["as_specified"]["params"] == params
    norms = [row for row in doc["layers"] if row["type"] == "layer_norm"]
    # the stem's, three downsamplings', the head's; a block's own sits between its
    # depthwise and the 1×1 it feeds, one depthwise-separable row (docs/conventions.md)
    assert sum(row["repeat"] for row in norms) == 1 + 3 + 1
    pairs = [row for row in doc["layers"] if row["name"].endswith("dwconv+norm+pwconv1")]
    assert [row["type"] for row in pairs] == ["separable"] * 4
    assert sum(row["repeat"] for row in pairs) == 3 + 3 + 9 + 3


# --------------------------------------------------------------------------- EfficientNetV2-S


def test_efficientnet_v2_s_is_torchvisions() -> None:
    """torchvision's docs publish 21,458,488 params and 8.37 GFLOPS (multiply-accumulates)
    for efficientnet_v2_s at its 384×384 evaluation size."""
    doc = profile("efficientnet_v2_s")
    assert doc["input_shape"] == [384, 384, 3]
    assert doc["totals"]["as_specified"]["params"] == 21_458_488
    assert round(doc["totals"]["as_specified"]["macs"] / 1e9, 2) == 8.37
    # the first Fused-MBConv of stage 2, by hand: a dense 3×3 conv 24 → 96 at stride 2
    # (192×192 → 96×96) then a 1×1 to 48: 96·96·96·(24·9) + 96·96·48·96 MACs
    fused, project = layer(doc, "features.2.0.fused"), layer(doc, "features.2.0.project")
    assert fused["as_specified"]["macs"] == 96 * 96 * 96 * 24 * 9
    assert project["as_specified"]["macs"] == 96 * 96 * 48 * 96


# --------------------------------------------------------------------------- RegNetY-400MF


def test_regnet_y_400mf_is_torchvisions() -> None:
    """torchvision's docs publish 4,344,144 params and 0.4 GFLOPS for regnet_y_400mf."""
    doc = profile("regnet_y_400mf")
    assert doc["totals"]["as_specified"]["params"] == 4_344_144
    assert round(doc["totals"]["as_specified"]["macs"] / 1e9, 1) == 0.4
    # a grouped 3×3 of group width 8, by hand: stage 4's, 440 channels in 55 groups at 7×7
    # (after its first block): 7·7·440·(8·9) MACs as written; dense 7·7·440·440·9; separable
    # 7·7·440·9 + 7·7·440·440
    grouped = layer(doc, "trunk_output.block4[1..5].b")
    assert grouped["as_specified"]["macs"] == 5 * 7 * 7 * 440 * 8 * 9
    assert grouped["standard"]["macs"] == 5 * 7 * 7 * 440 * 440 * 9
    assert grouped["separable"]["macs"] == 5 * (7 * 7 * 440 * 9 + 7 * 7 * 440 * 440)
