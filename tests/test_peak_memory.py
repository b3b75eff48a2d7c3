"""Peak activation memory by liveness (issue 26): the most activation bytes alive at once, in
every form, for specs and presets; reported in the profile's footer, JSON and CSV; ``cost``'s
single layer; the ``--max-peak-memory`` and ``--max-weights`` gates.

Every expected figure is hand arithmetic written beside its assert, from the rule of
docs/conventions.md ("Peak activation memory"): a tensor lives from the step that writes it
(the input from the start) to the last step that reads it; a step holds its inputs and its
output; batch-norm and activations are in place; a residual add and a concat are steps of
their own; a squeeze-and-excite is its pool, two 1×1 convs and a multiply. Most tests run
at ``--dtype int8`` so that bytes are elements.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
FORMS = ("as_specified", "standard", "separable")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def profile(model: str | Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(
        app, ["profile", str(model), "--no-time", "--format", "json", "--dtype", "int8", *args]
    )
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def peaks(doc: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """Each form's (peak bytes, row) from the JSON totals."""
    return {
        form: (doc["totals"][form]["peak_activation_bytes"], doc["totals"][form]["peak_at"])
        for form in FORMS
    }


def live(doc: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    """Each row's live bytes per form, by name."""
    out: dict[str, tuple[int, int, int]] = {}
    for layer in doc["layers"]:
        a, s, p = (layer["live_bytes"][form] for form in FORMS)
        out[layer["name"]] = (a, s, p)
    return out


# --------------------------------------------------------------------------- a chain

CHAIN = """
input: [8, 8, 4]
layers:
  - {type: conv, name: conv1, kernel: 3, filters: 16, padding: same, batch_norm: true,
     activation: relu}
  - {type: conv, name: conv2, kernel: 3, filters: 8, padding: same}
  - {type: global_pool, name: pool}
  - {type: dense, name: fc, units: 10}
"""


def test_a_chain_in_every_form(tmp_path: Path) -> None:
    doc = profile(write(tmp_path, CHAIN))
    # tensors: input 8·8·4 = 256, conv1 8·8·16 = 1,024, conv2 8·8·8 = 512, pool 8, fc 10
    # as specified = standard (dense convs): each step its input and its output
    #   conv1 256 + 1,024 = 1,280 (its batch-norm and relu in place)
    #   conv2 1,024 + 512 = 1,536; pool 512 + 8 = 520; fc 8 + 10 = 18
    # separable: conv1's depthwise 256 + 256, its 1×1 256 + 1,024 = 1,280;
    #   conv2's depthwise 1,024 + 8·8·16 = 2,048 (its output a tensor of its own), its 1×1
    #   1,024 + 512 = 1,536
    assert live(doc) == {
        "conv1": (1_280, 1_280, 1_280),
        "conv2": (1_536, 1_536, 2_048),
        "pool": (520, 520, 520),
        "fc": (18, 18, 18),
    }
    assert peaks(doc) == {
        "as_specified": (1_536, "conv2"),
        "standard": (1_536, "conv2"),
        "separable": (2_048, "conv2"),
    }
    # MCUNet's point: separating conv2 cuts its MACs (8·8·8·16·9 = 73,728 to 8·8·16·9 +
    # 8·8·16·8 = 17,408) but raises the peak; the footer says so beside the MACs
    conv2 = next(layer for layer in doc["layers"] if layer["name"] == "conv2")
    assert (conv2["standard"]["macs"], conv2["separable"]["macs"]) == (73_728, 17_408)
    text = runner.invoke(
        app, ["profile", str(tmp_path / "model.yaml"), "--no-time", "--dtype", "int8"]
    ).stdout
    flat = " ".join(text.split())
    # each form's line: its MACs and its peak, and the row; standard MACs: conv1 8·8·16·4·9
    # = 36,864, conv2 73,728, fc 80; separable: conv1 8·8·4·9 + 8·8·4·16 = 6,400, conv2
    # 17,408, fc 80
    assert "All standard : 110,672 MACs" in flat
    assert "All separable: 23,888 MACs" in flat
    assert "(incl. 32 batch-norm); peak activations 1.54 KB at conv2" in flat
    assert "(incl. 40 batch-norm); peak activations 2.05 KB at conv2" in flat
    # the weights of each form at --dtype: standard 1,850; separable conv1 3·3·4 + 4·16 +
    # 2·4 + 2·16 = 140, conv2 3·3·16 + 16·8 = 272, fc 90: 502
    assert "Weights (int8): 1.85 KB as specified · 1.85 KB standard · 502 B separable" in flat
    assert "1.3333 of the peak activations (fewer MACs, a higher peak" in flat


def test_bytes_are_elements_times_the_dtype_size_times_the_batch(tmp_path: Path) -> None:
    doc = profile(write(tmp_path, CHAIN), "--dtype", "float32", "--batch", "2")
    # the chain's 1,536 and 2,048 elements, × 4 bytes × batch 2
    assert peaks(doc)["standard"] == (1_536 * 4 * 2, "conv2")
    assert peaks(doc)["separable"] == (2_048 * 4 * 2, "conv2")
    # and the weights per form at --dtype: conv1 3·3·4·16 + batch-norm 2·16 = 608, conv2
    # 3·3·16·8 = 1,152, fc 8·10 + 10 = 90: 1,850 values, 7,400 bytes as float32
    assert doc["totals"]["as_specified"]["weight_bytes"] == 1_850 * 4
    assert profile(write(tmp_path, CHAIN))["totals"]["as_specified"]["weight_bytes"] == 1_850


# --------------------------------------------------------------------------- a residual block

RESIDUAL = """
input: [8, 8, 8]
layers:
  - type: residual
    name: res
    activation: relu
    layers:
      - {type: conv, name: a, kernel: 3, filters: 16, padding: same, activation: relu}
      - {type: conv, name: b, kernel: 3, filters: 8, padding: same}
"""


def test_a_residual_block_keeps_its_input_until_the_add(tmp_path: Path) -> None:
    doc = profile(write(tmp_path, RESIDUAL))
    # X = 8·8·8 = 512 stays alive for the identity shortcut; A = 8·8·16 = 1,024, B = 512
    # as specified / standard: a: X + A = 1,536; b: X + A + B = 2,048; add: B + X + out
    #   = 1,536 (its relu in place)
    # separable: a's depthwise X + 8·8·8 = 1,024, its 1×1 X + 512 + A = 2,048; b's
    #   depthwise X + A + 8·8·16 = 2,560, its 1×1 X + 1,024 + B = 2,048; add 1,536
    assert live(doc) == {
        "res.a": (1_536, 1_536, 2_048),
        "res.b": (2_048, 2_048, 2_560),
        "res.add": (1_536, 1_536, 1_536),
    }
    assert peaks(doc) == {
        "as_specified": (2_048, "res.b"),
        "standard": (2_048, "res.b"),
        "separable": (2_560, "res.b"),
    }


def test_a_repeated_block_inside_a_residual_is_walked_past_its_first_instance(
    tmp_path: Path,
) -> None:
    text = """
input: [4, 4, 8]
layers:
  - type: residual
    name: res
    layers:
      - {type: pointwise, name: p, filters: 8, repeat: 3}
"""
    doc = profile(write(tmp_path, text))
    # X = 4·4·8 = 128, alive for the shortcut. p[0] reads X: X + P0 = 256; p[1] reads P0
    # with X still alive: X + P0 + P1 = 384 (and p[2] the same); the add 3·128 = 384. The
    # folded row's figure is its fullest instance's.
    assert live(doc) == {"res.p[0..2]": (384,) * 3, "res.add": (384,) * 3}


# --------------------------------------------------------------------------- branches

BRANCHES = """
input: [8, 8, 8]
layers:
  - type: branches
    name: mix
    merge: concat
    branches:
      - [{type: pointwise, name: p, filters: 4}]
      - [{type: conv, name: c, kernel: 3, filters: 12, padding: same}]
"""


def test_a_concat_holds_every_branch_until_it_runs(tmp_path: Path) -> None:
    doc = profile(write(tmp_path, BRANCHES))
    # X = 512; P = 8·8·4 = 256; C = 8·8·12 = 768; the concat's output 8·8·16 = 1,024
    # p: X (still to be read by branch 1) + P = 768
    # c (as specified, standard): X + P (held for the concat) + C = 1,536
    #   separable: its depthwise X + P + 8·8·8 = 1,280; its 1×1 P + 512 + C = 1,536 (X read
    #   for the last time by the depthwise)
    # concat: P + C + its output = 2,048, in every form
    assert live(doc) == {
        "mix.branch0.p": (768, 768, 768),
        "mix.branch1.c": (1_536, 1_536, 1_536),
        "mix.concat": (2_048, 2_048, 2_048),
    }
    assert {form: peak for form, peak in peaks(doc).items()} == {
        form: (2_048, "mix.concat") for form in FORMS
    }


def test_a_channel_split_reads_its_input_in_place(tmp_path: Path) -> None:
    text = """
input: [8, 8, 8]
layers:
  - type: branches
    name: unit
    merge: concat
    split: true
    branches:
      - []
      - [{type: pointwise, name: p, filters: 4}]
"""
    doc = profile(write(tmp_path, text))
    # the halves are the input's parts, no copies: X = 512 alive throughout
    # p: X + 8·8·4 = 768; concat: X (branch 0 is its half) + 256 + 512 = 1,280
    assert live(doc) == {"unit.branch1.p": (768,) * 3, "unit.concat": (1_280,) * 3}


# --------------------------------------------------------------------------- squeeze-and-excite


def test_a_squeeze_excite_counts_its_pooled_vector_and_gate(tmp_path: Path) -> None:
    text = """
input: [8, 8, 16]
layers:
  - {type: squeeze_excite, name: se, se_channels: 4}
"""
    doc = profile(write(tmp_path, text))
    # X = 1,024 alive until the multiply; pool: X + 16 = 1,040; squeeze: X + 16 + 4 =
    # 1,044; excite: X + 4 + 16 = 1,044; multiply: X + gate 16 + output 1,024 = 2,064
    assert live(doc) == {"se": (2_064,) * 3}


def test_a_squeeze_excite_inside_an_inverted_residual(tmp_path: Path) -> None:
    text = """
input: [8, 8, 16]
layers:
  - {type: inverted_residual, name: mb, expansion: 4, filters: 16, se_channels: 8}
"""
    doc = profile(write(tmp_path, text))
    # X = 1,024 (alive for the add), E = D = Y = 8·8·64 = 4,096, P = 1,024
    # expand X + E = 5,120; depthwise X + E + D = 9,216; SE pool X + D + 64 = 5,184,
    # squeeze X + D + 64 + 8 = 5,192, excite X + D + 8 + 64 = 5,192, multiply X + D + 64 +
    # Y = 9,280; project X + Y + P = 6,144; add P + X + 1,024 = 3,072. With an SE between
    # them the standard form makes the depthwise alone dense (same tensors), and the
    # layer as written is its separable form: 9,280 in every form
    assert live(doc) == {"mb": (9_280,) * 3}


# --------------------------------------------------------------------------- MobileNet V1 and V2


def test_mobilenet_v1_by_hand() -> None:
    doc = profile("mobilenet_v1", "--dtype", "float32")
    # conv1: 224·224·3 + 112·112·32 = 150,528 + 401,408 = 551,936 elements
    # sep1: its depthwise 401,408 + 401,408 = 802,816; its 1×1 401,408 + 112·112·64
    #   (802,816) = 1,204,224; the standard form (one dense 3×3) holds the same 1,204,224
    # sep2 (stride 2): depthwise 802,816 + 56·56·64 (200,704) = 1,003,520, 1×1 200,704 +
    #   56·56·128 (401,408) = 602,112; standard 802,816 + 401,408 = 1,204,224 (a tie: the
    #   first row that reaches the peak is named)
    # conv1's separable form: depthwise 150,528 + 112·112·3 (37,632), 1×1 37,632 + 401,408
    rows = live(doc)
    assert rows["conv1"] == (551_936 * 4, 551_936 * 4, (37_632 + 401_408) * 4)
    assert rows["sep1"] == (1_204_224 * 4,) * 3
    assert rows["sep2"] == (1_003_520 * 4, 1_204_224 * 4, 1_003_520 * 4)
    assert peaks(doc) == {form: (4_816_896, "sep1") for form in FORMS}


def test_mobilenet_v2_by_hand_separating_raises_the_peak() -> None:
    doc = profile("mobilenet_v2", "--dtype", "float32")
    # block1 (t = 1): depthwise on 112·112·32: 401,408 + 401,408 = 802,816
    # block2 (t = 6, stride 2): expand 112·112·16 (200,704) to 112·112·96 (1,204,224):
    #   1,404,928; depthwise to 56·56·96 (301,056): 1,204,224 + 301,056 = 1,505,280;
    #   project to 56·56·24 (75,264): 376,320. Standard: the depthwise and projection are
    #   one dense 3×3, 1,204,224 + 75,264 = 1,279,488, so the expansion's 1,404,928 is its
    #   most
    # block3 (t = 6, residual): its input 75,264 held to the add; depthwise 75,264 +
    #   2·56·56·144 = 978,432
    rows = live(doc)
    assert rows["block1"][0] == 802_816 * 4
    assert rows["block2"] == (1_505_280 * 4, 1_404_928 * 4, 1_505_280 * 4)
    assert rows["block3"][0] == 978_432 * 4
    assert peaks(doc) == {
        "as_specified": (6_021_120, "block2"),
        "standard": (5_619_712, "block2"),
        "separable": (6_021_120, "block2"),
    }


def test_mobilenet_v2_at_035_and_96_fits_320k_of_sram_at_int8() -> None:
    """The question a new user asks, answered by one command (docs/memory.md)."""
    args = ["profile", "mobilenet_v2", "-a", "0.35", "-r", "96", "--dtype", "int8"]
    result = runner.invoke(app, [*args, "--max-peak-memory", "320K", "--no-time"])
    assert result.exit_code == 0, result.stderr
    # at width 0.35 (channels rounded to 8): conv1 → 48·48·16; block1 → 48·48·8; block2
    # expands 48·48·8 (18,432) to 48·48·48 (110,592), then its depthwise (stride 2) holds
    # 110,592 + 24·24·48 (27,648) = 138,240 bytes at int8, under 320K = 327,680
    assert "; peak activations 138 KB at block2" in " ".join(result.stdout.split())
    tight = runner.invoke(app, [*args, "--max-peak-memory", "128K", "--no-time"])
    assert tight.exit_code == 1
    assert (
        "sepconv: budget: Peak activations 138,240 bytes (138 KB) at block2 (as specified) "
        "exceed --max-peak-memory 128K (131,072 bytes)"
    ) in tight.stderr


# --------------------------------------------------------------------------- gates


def test_gates_exit_1_naming_the_form_and_the_row(tmp_path: Path) -> None:
    path = str(write(tmp_path, CHAIN))
    base = ["profile", path, "--no-time", "--dtype", "int8", "--format", "json"]
    met = runner.invoke(app, [*base, "--max-peak-memory", "1536", "--max-weights", "1850"])
    assert met.exit_code == 0, met.stderr  # the limits are inclusive
    failed = runner.invoke(app, [*base, "--max-peak-memory", "1K", "--max-weights", "1KB"])
    assert failed.exit_code == 1
    lines = [line for line in failed.stderr.splitlines() if "budget" in line]
    assert lines == [
        "sepconv: budget: Peak activations 1,536 bytes (1.54 KB) at conv2 (as specified) "
        "exceed --max-peak-memory 1K (1,024 bytes)",
        # conv2 holds 1,152 of the 1,850 weight bytes
        "sepconv: budget: Weights 1,850 bytes (1.85 KB) (as specified; most in conv2) "
        "exceed --max-weights 1KB (1,000 bytes)",
    ]
    assert json.loads(failed.stdout)["totals"]["as_specified"]["peak_at"] == "conv2"


def test_cost_gates_and_the_single_layers_peak() -> None:
    result = runner.invoke(app, ["cost", "--format", "json"])
    layer = json.loads(result.stdout)["layers"][0]
    # the worked example alone (float32): input 12·12·3 = 432, output 8·8·256 = 16,384;
    # standard 432 + 16,384 = 16,816 elements; separable: depthwise 432 + 8·8·3 (192),
    # its 1×1 192 + 16,384 = 16,576 (the input read for the last time by the depthwise)
    assert layer["live_bytes"] == {
        "as_specified": 16_816 * 4,
        "standard": 16_816 * 4,
        "separable": 16_576 * 4,
    }
    table = runner.invoke(app, ["cost"], env={"COLUMNS": "120"}).stdout
    assert "Peak activations   67,264 (65.7 KiB)  66,304 (64.8 KiB)" in table
    gated = runner.invoke(app, ["cost", "--max-peak-memory", "64K", "--max-weights", "75K"])
    assert gated.exit_code == 1
    # 5·5·3·256 = 19,200 weights × 4 bytes = 76,800 = 75·1,024: --max-weights 75K is met
    assert gated.stderr.splitlines() == [
        "sepconv: budget: Peak activations 67,264 bytes (67.3 KB) at layer (as specified) "
        "exceed --max-peak-memory 64K (65,536 bytes)"
    ]
    heavy = runner.invoke(app, ["cost", "--max-weights", "74K"])
    assert heavy.exit_code == 1
    assert heavy.stderr.splitlines() == [
        "sepconv: budget: Weights 76,800 bytes (76.8 KB) in layer (as specified) exceed "
        "--max-weights 74K (75,776 bytes)"
    ]


@pytest.mark.parametrize("flag", ["--max-peak-memory", "--max-weights"])
def test_a_bad_size_is_a_usage_error_naming_the_flag(flag: str) -> None:
    result = runner.invoke(app, ["profile", "seed_example", "--no-time", flag, "lots"])
    assert result.exit_code == 2
    assert flag in result.stderr


# --------------------------------------------------------------------------- JSON and CSV


def test_csv_has_each_rows_live_bytes(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["profile", str(write(tmp_path, CHAIN)), "--no-time", "--format", "csv", "--dtype", "int8"],
    )
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["conv2"]["as_specified_live_bytes"] == "1536"
    assert rows["conv2"]["standard_live_bytes"] == "1536"
    assert rows["conv2"]["separable_live_bytes"] == "2048"


def test_every_preset_has_a_peak_in_every_form_no_larger_than_its_largest_row() -> None:
    from sepconv_cli.spec.presets import preset_paths

    for preset in sorted(preset_paths()):
        doc = profile(preset)
        for form in FORMS:
            peak = doc["totals"][form]["peak_activation_bytes"]
            rows = [layer["live_bytes"][form] for layer in doc["layers"]]
            assert peak == max(rows) > 0, (preset, form)
            # a step holds at least the row's own input or output
            at = next(lr for lr in doc["layers"] if lr["name"] == doc["totals"][form]["peak_at"])
            assert at["live_bytes"][form] == peak
