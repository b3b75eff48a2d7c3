"""Multi-branch blocks (``type: branches``: concat or add, channel split) and the channel
shuffle (``type: shuffle``).

Every expected count is hand arithmetic written next to its assert (a k×k conv from C to F
at an H×W output costs ``k²·C·F`` params and ``H·W·k²·C·F`` MACs; a batch-norm adds 2
params per channel); none comes from sepconv. A concat and a shuffle cost 0 MACs and 0
FLOPs and move bytes: each reads its input once and writes its output once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.ops import Concat, Shuffle
from sepconv_cli.execution.kernels import prepare
from sepconv_cli.spec.schema import model_schema

runner = CliRunner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def profile(path: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["profile", str(path), "--format", "json", *args])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def counted(path: Path) -> dict[str, Any]:
    return profile(path, "--no-time")


def total(doc: dict[str, Any], form: str, key: str) -> int:
    value: int = doc["totals"][form][key]
    return value


INCEPTION = """
input: [28, 28, 192]
layers:
  - type: branches
    name: mixed
    merge: concat
    branches:
      - [{type: pointwise, filters: 64}]
      - - {type: pointwise, filters: 96}
        - {type: conv, kernel: 3, filters: 128, padding: 1}
      - - {type: pointwise, filters: 16}
        - {type: conv, kernel: 5, filters: 32, padding: 2}
      - - {type: pool, kernel: 3, stride: 1, padding: 1}
        - {type: pointwise, filters: 32}
"""


def test_inception_block_counts_by_hand(tmp_path: Path) -> None:
    doc = counted(write(tmp_path, INCEPTION))
    assert doc["output_shape"] == [28, 28, 64 + 128 + 32 + 32]
    # 192·64 + 192·96 + 9·96·128 + 192·16 + 25·16·32 + 192·32
    params = 12288 + 18432 + 110592 + 3072 + 12800 + 6144
    assert params == 163_328
    assert total(doc, "standard", "params") == params
    assert total(doc, "as_specified", "params") == params
    assert total(doc, "standard", "macs") == params * 28 * 28 == 128_049_152
    # separable: 3×3 as 9·96 + 96·128, 5×5 as 25·16 + 16·32
    sep = 12288 + 18432 + (864 + 12288) + 3072 + (400 + 512) + 6144
    assert sep == 54_000
    assert total(doc, "separable", "params") == sep
    assert total(doc, "separable", "macs") == sep * 784
    names = [row["name"] for row in doc["layers"]]
    assert names[0] == "mixed.branch0.pointwise_0"
    assert names[-1] == "mixed.concat"
    concat = doc["layers"][-1]
    assert concat["type"] == "concat"
    elems = 28 * 28 * 256
    for form in ("as_specified", "standard", "separable"):
        assert concat[form]["macs"] == 0 and concat[form]["flops"] == 0
        assert concat[form]["bytes_moved"] == 2 * elems * 4  # read the parts, write the whole


SHUFFLE_UNIT_S1 = """
input: [28, 28, 116]
layers:
  - type: branches
    name: unit
    split: true
    merge: concat
    branches:
      - []
      - - {type: pointwise, filters: 58, batch_norm: true}
        - {type: depthwise, kernel: 3, padding: 1, batch_norm: true}
        - {type: pointwise, filters: 58, batch_norm: true}
  - {type: shuffle, groups: 2}
"""


def test_shufflenet_v2_stride_1_unit_by_hand(tmp_path: Path) -> None:
    doc = counted(write(tmp_path, SHUFFLE_UNIT_S1))
    assert doc["output_shape"] == [28, 28, 116]
    rows = doc["layers"]
    assert rows[0]["input_shape"] == [28, 28, 58]  # the split's second half
    # pw 58·58 + 2·58, dw 9·58 + 2·58, pw 58·58 + 2·58
    assert total(doc, "as_specified", "params") == 3480 + 638 + 3480 == 7598
    # 784 positions: 2·3364 + 522 weights each
    assert total(doc, "as_specified", "macs") == 784 * (2 * 3364 + 522) == 5_684_000
    assert total(doc, "separable", "macs") == 5_684_000  # a depthwise conv is its own
    shuffle = rows[-1]
    assert shuffle["type"] == "shuffle"
    assert shuffle["as_specified"]["macs"] == 0 and shuffle["as_specified"]["flops"] == 0
    assert shuffle["as_specified"]["bytes_moved"] == 2 * 784 * 116 * 4


SHUFFLE_UNIT_S2 = """
input: [56, 56, 24]
layers:
  - type: branches
    merge: concat
    branches:
      - - {type: depthwise, kernel: 3, stride: 2, padding: 1, batch_norm: true}
        - {type: pointwise, filters: 58, batch_norm: true}
      - - {type: pointwise, filters: 58, batch_norm: true}
        - {type: depthwise, kernel: 3, stride: 2, padding: 1, batch_norm: true}
        - {type: pointwise, filters: 58, batch_norm: true}
  - {type: shuffle, groups: 2}
"""


def test_shufflenet_v2_stride_2_unit_by_hand(tmp_path: Path) -> None:
    doc = counted(write(tmp_path, SHUFFLE_UNIT_S2))
    assert doc["output_shape"] == [28, 28, 116]
    # branch 0: dw 9·24 + 48, pw 24·58 + 116; branch 1: pw 24·58 + 116, dw 9·58 + 116,
    # pw 58·58 + 116
    assert total(doc, "as_specified", "params") == 264 + 1508 + 1508 + 638 + 3480 == 7398
    # branch 0 at 28×28; branch 1's first pw at 56×56 (3136), the rest at 28×28
    macs = 784 * 216 + 784 * 1392 + 3136 * 1392 + 784 * 522 + 784 * 3364
    assert total(doc, "as_specified", "macs") == macs == 8_672_608


def test_densenet_like_concat_of_input_and_conv(tmp_path: Path) -> None:
    doc = counted(
        write(
            tmp_path,
            """
input: [8, 8, 16]
layers:
  - type: branches
    merge: concat
    branches: [[], [{type: conv, kernel: 3, filters: 12, padding: 1}]]
""",
        )
    )
    assert doc["output_shape"] == [8, 8, 28]
    assert total(doc, "standard", "params") == 16 * 9 * 12 == 1728
    assert total(doc, "standard", "macs") == 1728 * 64 == 110_592
    concat = doc["layers"][-1]
    assert concat["as_specified"]["bytes_moved"] == 2 * 8 * 8 * 28 * 4


def test_add_merge_counts_one_flop_per_element_per_extra_branch(tmp_path: Path) -> None:
    doc = counted(
        write(
            tmp_path,
            """
input: [8, 8, 16]
layers:
  - type: branches
    merge: add
    branches: [[], [{type: pointwise, filters: 16}], [{type: pool, kernel: 1}]]
""",
        )
    )
    add = doc["layers"][-1]
    assert add["type"] == "add"
    assert add["as_specified"]["macs"] == 0
    assert add["as_specified"]["flops"] == 2 * 8 * 8 * 16  # three branches: two adds


ERRORS = {
    "concat_spatial": (
        "input: [8, 8, 16]\nlayers:\n  - type: branches\n    merge: concat\n"
        "    branches: [[], [{type: pool, kernel: 2, stride: 2}]]\n",
        r"model\.yaml:4:12: layers\[0\]\.merge: concat needs equal spatial sizes.*8[x×]8, 4[x×]4",
    ),
    "add_shapes": (
        "input: [8, 8, 16]\nlayers:\n  - type: branches\n    merge: add\n"
        "    branches: [[], [{type: pointwise, filters: 8}]]\n",
        r"model\.yaml:4:12: layers\[0\]\.merge: add needs equal shapes.*8[x×]8[x×]16, 8[x×]8[x×]8",
    ),
    "split_divides": (
        "input: [8, 8, 15]\nlayers:\n  - type: branches\n    merge: concat\n"
        "    split: true\n    branches: [[], []]\n",
        r"model\.yaml:5:12: layers\[0\]\.split: 15 channels do not split into 2 equal parts",
    ),
    "split_sums": (
        "input: [8, 8, 16]\nlayers:\n  - type: branches\n    merge: concat\n"
        "    split: [4, 4]\n    branches: [[], []]\n",
        r"model\.yaml:5:12: layers\[0\]\.split: the parts sum to 8 channels, but the input has 16",
    ),
    "split_count": (
        "input: [8, 8, 16]\nlayers:\n  - type: branches\n    merge: concat\n"
        "    split: [8, 4, 4]\n    branches: [[], []]\n",
        r"model\.yaml:5:12: layers\[0\]\.split: gives 3 channel counts for 2 branches",
    ),
    "no_branches": (
        "input: [8, 8, 16]\nlayers:\n  - type: branches\n    merge: concat\n    branches: []\n",
        r"model\.yaml:5:15: layers\[0\]\.branches: expected a non-empty list of branches",
    ),
    "branch_empties_tensor": (
        "input: [4, 4, 16]\nlayers:\n  - type: branches\n    merge: concat\n"
        "    branches:\n      - []\n      - [{type: conv, kernel: 5, filters: 8}]\n",
        r"model\.yaml:7:31: layers\[0\]\.branches\[1\]\[0\]\.kernel: output would be empty",
    ),
    "shuffle_groups": (
        "input: [8, 8, 16]\nlayers:\n  - {type: shuffle, groups: 3}\n",
        r"model\.yaml:3:29: layers\[0\]\.groups: a channel shuffle of 3 groups needs channels "
        r"divisible by 3, got 16",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_are_located(tmp_path: Path, case: str) -> None:
    text, pattern = ERRORS[case]
    result = runner.invoke(app, ["profile", str(write(tmp_path, text)), "--no-time"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    assert re.search(pattern, result.stderr), result.stderr


def test_timing_a_branches_block_runs(tmp_path: Path) -> None:
    doc = profile(write(tmp_path, SHUFFLE_UNIT_S1), "--time-budget", "50ms")
    for row in doc["layers"]:
        assert row["timing"]["standard"]["median_s"] > 0, row["name"]


def test_concat_kernel_concatenates_along_channels() -> None:
    op = Concat(((2, 2, 3), (2, 2, 5)))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 2, 3)).astype(np.float32)
    step = prepare(op, 1, "float32", rng, x=x)
    out = step.checked()
    assert out.shape == (1, 2, 2, 8)
    np.testing.assert_array_equal(out[..., :3], x)


@pytest.mark.parametrize(
    ("groups", "expected"),
    # torch's channel_shuffle of [0..5], by hand: output channel j*g + k is input k*(6/g) + j
    [(2, [0, 3, 1, 4, 2, 5]), (3, [0, 2, 4, 1, 3, 5]), (6, [0, 1, 2, 3, 4, 5])],
)
def test_shuffle_kernel_interleaves_the_groups(groups: int, expected: list[int]) -> None:
    op = Shuffle((2, 3, 6), groups)
    x = np.tile(np.arange(6, dtype=np.float32), (1, 2, 3, 1))  # every pixel [0..5]
    step = prepare(op, 1, "float32", np.random.default_rng(0), x=x)
    out = step.checked()
    assert out.shape == (1, 2, 3, 6)
    for pixel in out.reshape(6, 6):
        assert pixel.tolist() == expected


def test_schema_knows_branches_and_shuffle() -> None:
    defs = model_schema()["$defs"]
    assert defs["branches"]["required"] == ["type", "branches", "merge"]
    assert defs["branches"]["properties"]["merge"]["enum"] == [
        "concat",
        "add",
        "mul",
        "sub",
        "div",  # a quotient of branches (issue 21 item 5, tests/test_spec_layers_more.py)
        "outputs",
        "matmul",  # attention's products (issue 21, tests/test_spec_attention.py)
    ]
    assert defs["shuffle"]["required"] == ["type", "groups"]
