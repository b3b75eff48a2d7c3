"""One rule for the three forms, whatever type a layer is written as (docs/conventions.md,
"The three forms of every layer"): ``as_specified`` is the layer as written, ``standard`` the
dense k×k conv (groups = 1), ``separable`` depthwise k×k then pointwise 1×1, and a conv that
already is depthwise is its own separable form.

Every expected count is hand arithmetic written next to the assert (positions × output
channels × input channels per group × kernel taps); none comes from sepconv itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
FORMS = ("as_specified", "standard", "separable")


def invoke(*args: str, columns: int = 200) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": str(columns), "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    out: str = result.stdout
    return out


def cost_doc(tmp_path: Path, layer: str) -> dict[str, Any]:
    path = tmp_path / "layer.yaml"
    path.write_text(layer + "\n", encoding="utf-8")
    doc: dict[str, Any] = json.loads(invoke("cost", "--spec", str(path), "--format", "json"))
    return doc


def profile_doc(tmp_path: Path, layers: list[str], input_shape: str) -> dict[str, Any]:
    body = "".join(f"  - {layer}\n" for layer in layers)
    path = tmp_path / "model.yaml"
    path.write_text(f"name: t\ninput: {input_shape}\nlayers:\n{body}", encoding="utf-8")
    doc: dict[str, Any] = json.loads(invoke("profile", str(path), "--no-time", "--format", "json"))
    return doc


def without_type(doc: dict[str, Any]) -> dict[str, Any]:
    """The report with the one field that echoes how a layer was written (``type``) and the
    spec's own path left out: everything else must be equal."""
    copy: dict[str, Any] = json.loads(json.dumps(doc))
    copy.pop("file", None)
    for layer in copy["layers"]:
        layer.pop("type")
    return copy


# --------------------------------------------------------------------------- written two ways


# 112x112x32, 3x3, padding 1: 12,544 positions; M = 1 is MobileNet's dw 3×3 32 → 32 layer
DEPTHWISE_CASES = [
    # (depthwise keys, conv keys, as written = separable MACs and params, standard ones)
    pytest.param(
        "depth_multiplier: 1",
        "filters: 32, groups: 32",
        (12_544 * 32 * 9, 32 * 9),  # 3,612,672 MACs, 288 params
        (12_544 * 32 * 32 * 9, 32 * 32 * 9),  # 115,605,504 MACs, 9,216 params
        id="M=1",
    ),
    pytest.param(
        "depth_multiplier: 2",
        "filters: 64, groups: 32",
        (12_544 * 64 * 9, 64 * 9),  # each of the 64 outputs sees 1 input channel
        (12_544 * 64 * 32 * 9, 64 * 32 * 9),  # the dense 32 → 64 conv
        id="M=2",
    ),
]


@pytest.mark.parametrize(("dw_keys", "conv_keys", "written", "dense"), DEPTHWISE_CASES)
def test_depthwise_written_two_ways_gives_the_same_cost_json(
    tmp_path: Path,
    dw_keys: str,
    conv_keys: str,
    written: tuple[int, int],
    dense: tuple[int, int],
) -> None:
    common = "name: l, input: [112, 112, 32], kernel: 3, padding: 1"
    as_dw = cost_doc(tmp_path, f"{{{common}, type: depthwise, {dw_keys}}}")
    as_conv = cost_doc(tmp_path, f"{{{common}, type: conv, {conv_keys}}}")
    assert as_dw["layers"][0]["type"] == "depthwise"
    assert as_conv["layers"][0]["type"] == "conv"
    assert without_type(as_dw) == without_type(as_conv)

    layer = as_conv["layers"][0]
    assert layer["form"] == "depthwise"
    for form in ("as_specified", "separable"):
        assert (layer[form]["macs"], layer[form]["params"]) == written
    assert (layer["standard"]["macs"], layer["standard"]["params"]) == dense
    assert layer["separable"]["depthwise"]["macs"] == written[0]
    assert layer["separable"]["pointwise"]["macs"] == 0
    assert layer["ratio"]["theory"] is None


def test_issue_reproduction_conv_groups_32_is_the_depthwise_layer() -> None:
    """``sepconv cost -i 112x112x32 -k 3 -f 32 -p 1 -g 32``: the issue's numbers, now those of
    the same layer written as ``type: depthwise``."""
    args = ["cost", "-i", "112x112x32", "-k", "3", "-f", "32", "-p", "1", "-g", "32"]
    out = invoke(*args)
    layer = json.loads(invoke(*args, "--format", "json"))["layers"][0]
    assert layer["standard"]["macs"] == 115_605_504  # 12,544 · 32 · 32 · 9
    assert layer["separable"]["macs"] == layer["as_specified"]["macs"] == 3_612_672
    assert "32.0× fewer" in out
    assert "As specified" not in out  # as written it is its separable form
    assert "Already depthwise (groups = input channels): it is its own separable form." in out
    assert "Already depthwise" not in invoke("cost", "-i", "112x112x32", "-k", "3", "-g", "4")


@pytest.mark.parametrize(
    ("dw_layer", "conv_layer"),
    [
        pytest.param(
            "{name: b, type: depthwise, kernel: 3, padding: same, batch_norm: true}",
            "{name: b, type: conv, kernel: 3, filters: 4, groups: 4, padding: same, "
            "batch_norm: true}",
            id="M=1",
        ),
        pytest.param(
            "{name: b, type: depthwise, kernel: 3, depth_multiplier: 2, padding: same, "
            "batch_norm: true}",
            "{name: b, type: conv, kernel: 3, filters: 8, groups: 4, padding: same, "
            "batch_norm: true}",
            id="M=2",
        ),
    ],
)
def test_depthwise_written_two_ways_gives_the_same_profile_json(
    tmp_path: Path, dw_layer: str, conv_layer: str
) -> None:
    head = "{name: a, type: conv, kernel: 1, filters: 4}"
    tail = "{name: c, type: pointwise, filters: 16}"
    pool = "{name: p, type: pool, kernel: 1}"
    # alone (a pool after it), and as the depthwise of a pair with the pointwise it feeds
    for layers, types in (
        ([head, "DW", pool, tail], (["conv", "conv", "pool", "pointwise"], "depthwise")),
        ([head, "DW", tail], (["conv", "separable"], "separable")),
    ):
        as_dw = profile_doc(tmp_path, [dw_layer if x == "DW" else x for x in layers], "[8, 8, 4]")
        as_conv = profile_doc(
            tmp_path, [conv_layer if x == "DW" else x for x in layers], "[8, 8, 4]"
        )
        assert [row["type"] for row in as_conv["layers"]] == types[0]
        assert [row["type"] for row in as_dw["layers"]][1] == types[1]
        assert without_type(as_dw) == without_type(as_conv)


def test_profile_totals_of_a_depthwise_block_by_hand(tmp_path: Path) -> None:
    # 8x8x4, same padding: 64 positions throughout
    layers = [
        "{name: a, type: conv, kernel: 1, filters: 4}",  # 64·4·4 = 1,024 MACs, 16 params
        "{name: b, type: conv, kernel: 3, filters: 8, groups: 4, padding: same, "
        "batch_norm: true}",  # depthwise M = 2
        "{name: c, type: pointwise, filters: 16}",  # 64·16·8 = 8,192 MACs, 128 params
    ]
    totals = profile_doc(tmp_path, layers, "[8, 8, 4]")["totals"]
    # b as written = separable: 64·8·1·9 = 4,608 MACs; 8·9 = 72 weights + 2·8 batch-norm
    written = (1_024 + 4_608 + 8_192, 16 + 72 + 16 + 128)
    # b and c, the 1×1 it feeds, are one depthwise-separable conv: standard, one dense
    # 3×3 conv 4 → 16, 64·16·4·9 = 36,864 MACs, 16·4·9 = 576 weights (c has no batch-norm)
    dense = (1_024 + 36_864, 16 + 576)
    for form, want in (("as_specified", written), ("separable", written), ("standard", dense)):
        assert (totals[form]["macs"], totals[form]["params"]) == want, form
    assert totals["as_specified"]["bn_params"] == 16
    # with a pool between them, b alone: the dense 4 → 8 conv, 64·8·4·9 = 18,432 MACs;
    # 8·4·9 = 288 + 16, and c is its own row
    layers.insert(2, "{name: p, type: pool, kernel: 1}")
    totals = profile_doc(tmp_path, layers, "[8, 8, 4]")["totals"]
    alone = (1_024 + 18_432 + 8_192, 16 + 288 + 16 + 128)
    assert (totals["standard"]["macs"], totals["standard"]["params"]) == alone


def test_a_disagreeing_depth_multiplier_on_a_depthwise_conv_is_a_located_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "name: t\ninput: [8, 8, 4]\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 8, groups: 4, depth_multiplier: 3}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["profile", str(path), "--no-time", "--format", "json"])
    assert result.exit_code == 2
    assert "m.yaml:4:" in result.stderr and "depth_multiplier" in result.stderr
    assert "filters / groups = 8/4 = 2" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- grouped convs


REGNET_BLOCKS = [
    # RegNetX-400MF (torchvision regnet_x_400mf: widths 32/64/160/400, group width 16,
    # bottleneck ratio 1): stage 3's first two blocks at 224×224, input 28×28×64.
    # 1×1 → 3×3 (groups = 160/16 = 10, the stride on the 3×3) → 1×1, plus the add
    "{type: residual, name: s3b1, layers: ["
    "{type: conv, name: a, kernel: 1, filters: 160},"
    "{type: conv, name: b, kernel: 3, filters: 160, groups: 10, stride: 2, padding: 1},"
    "{type: conv, name: c, kernel: 1, filters: 160}],"
    " shortcut: [{type: conv, name: proj, kernel: 1, filters: 160, stride: 2}]}",
    "{type: residual, name: s3b2, layers: ["
    "{type: conv, name: a, kernel: 1, filters: 160},"
    "{type: conv, name: b, kernel: 3, filters: 160, groups: 10, padding: 1},"
    "{type: conv, name: c, kernel: 1, filters: 160}]}",
]


def test_regnet_grouped_blocks_separable_is_below_standard(tmp_path: Path) -> None:
    doc = profile_doc(tmp_path, REGNET_BLOCKS, "[28, 28, 64]")
    # block 1: a 1×1 64→160 at 28·28 = 784 positions: 784·160·64 = 8,028,160
    #          b 3×3 stride 2 → 14·14 = 196 positions, 16 input channels per group
    #          c 1×1 160→160 at 196: 5,017,600; proj 1×1 stride 2 64→160: 2,007,040
    # block 2 (196 positions): a and c 5,017,600 each, b as block 1's
    ones = 8_028_160 + 5_017_600 + 2_007_040 + 2 * 5_017_600
    grouped = 196 * 160 * 16 * 9  # 4,515,840 as written
    dense = 196 * 160 * 160 * 9  # 45,158,400: the dense 3×3
    dw_pw = 196 * 160 * 9 + 196 * 160 * 160  # 282,240 + 5,017,600 = 5,299,840
    totals = doc["totals"]
    assert totals["as_specified"]["macs"] == ones + 2 * grouped == 34_119_680
    assert totals["standard"]["macs"] == ones + 2 * dense == 115_404_800
    assert totals["separable"]["macs"] == ones + 2 * dw_pw == 35_687_680
    assert totals["separable"]["macs"] < totals["standard"]["macs"]

    rows = {row["name"]: row for row in doc["layers"]}
    for name in ("s3b1.b", "s3b2.b"):
        row = rows[name]
        assert row["form"] == "grouped"
        assert row["as_specified"]["macs"] == grouped
        assert row["standard"]["macs"] == dense
        assert row["separable"]["macs"] == dw_pw
        # the standard form is dense, so MobileNet's law holds: 1/160 + 1/9
        assert row["ratio"]["theory_exact"] == "169/1440"
        assert row["ratio"]["macs"] == pytest.approx(dw_pw / dense, abs=1e-6)
    for name in ("s3b1.a", "s3b1.c", "s3b1.shortcut.proj", "s3b2.a", "s3b2.c"):
        row = rows[name]
        assert row["form"] == "none"  # a 1×1 conv has one form
        assert row["as_specified"] == row["standard"]
        assert row["as_specified"]["macs"] == row["separable"]["macs"]


@pytest.mark.parametrize("groups", ["1", "4"])
def test_one_by_one_conv_has_one_form_grouped_or_not(groups: str) -> None:
    # 12x12x8, 1×1, 16 filters: 144 positions, 8/groups input channels per output
    args = ["cost", "-i", "12x12x8", "-k", "1", "-f", "16", "-g", groups]
    layer = json.loads(invoke(*args, "--format", "json"))["layers"][0]
    assert layer["form"] == "none"
    want = 144 * 16 * (8 // int(groups))
    for form in FORMS:
        assert layer[form]["macs"] == want
    assert layer["ratio"]["macs"] == 1.0
    text = invoke(*args)
    assert "As specified" not in text
    assert "it has one form" in text


# --------------------------------------------------------------------------- the column


def test_as_specified_column_for_a_grouped_conv_only() -> None:
    grouped = ["cost", "-i", "56x56x64", "-k", "3", "-f", "64", "-p", "1"]
    wide = invoke(*grouped, "-g", "4")
    header = next(line for line in wide.splitlines() if "Standard" in line)
    assert header.split() == [
        "As", "specified", "Standard", "Separable", "=", "depthwise", "+", "pointwise",
        "Separable", "/", "standard",
    ]  # fmt: skip
    macs = next(line for line in wide.splitlines() if line.strip().startswith("MACs"))
    # 3,136 positions: as written 64·16·9 per position, dense 64·64·9, dw 64·9 + pw 64·64
    counts = [cell for cell in macs.split() if cell.replace(",", "").isdigit()]
    assert counts[:3] == ["28,901,376", "115,605,504", "14,651,392"]
    assert "As specified = the layer as written; Standard = the same conv with groups = 1." in (
        wide
    )
    assert wide.splitlines()[0] == "layer: conv, 3×3, 64→64 channels, groups 4"
    for plain in (invoke(*grouped), invoke(*grouped, "-g", "64")):
        assert "As specified" not in plain


def test_as_specified_column_fits_80_columns_and_goes_last() -> None:
    args = ["cost", "-i", "56x56x64", "-k", "3", "-f", "64", "-p", "1", "-g", "4"]
    text = invoke(*args, columns=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "As specified" in text  # the parts go before it
    assert "Left out at 80 columns: human units; = depthwise, + pointwise." in text
    narrow = invoke(*args, columns=50)
    assert "As specified" not in narrow.split("Left out")[0]
    assert "As specified." in narrow.replace("\n", " ")  # the note names what went


def test_as_specified_column_in_markdown_for_a_grouped_conv_only() -> None:
    base = ["cost", "-i", "56x56x64", "-k", "3", "-f", "64", "-p", "1", "--format", "markdown"]
    grouped = invoke(*base, "-g", "4")
    assert "|  | As specified | Standard | Separable |" in grouped
    assert "| MACs | 28,901,376 | 115,605,504 | 14,651,392 |" in grouped
    assert "As specified" not in invoke(*base)


def test_csv_carries_the_as_specified_counts() -> None:
    csv = invoke(
        "cost", "-i", "56x56x64", "-k", "3", "-f", "64", "-p", "1", "-g", "4", "--format", "csv"
    )
    header, row = csv.splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    assert cells["form"] == "grouped"
    assert cells["as_specified_macs"] == "28901376"
    assert cells["as_specified_params"] == str(64 * 16 * 9)
    assert cells["standard_macs"] == "115605504"


# --------------------------------------------------------------------------- timing


def test_a_grouped_conv_is_timed_as_written() -> None:
    """As written a grouped conv is neither form, so ``--time`` runs it a third time: its
    ``as_specified_s`` is its own median, not the dense standard form's. (No speed asserted.)"""
    from sepconv_cli.counting.lowering import lower
    from sepconv_cli.counting.widths import Width
    from sepconv_cli.execution.timing import TimingSettings, time_forms
    from sepconv_cli.spec.flags import layer_from_flags

    settings = TimingSettings(min_time_s=0.0, warmup=0, max_repeats=2, min_repeats=2)
    flags = {"input": "6x6x8", "kernel": "3", "filters": "8", "padding": "1"}
    for groups, apart in (("4", True), ("1", False), ("8", False)):
        layer = layer_from_flags({**flags, "groups": groups})
        assert layer.input is not None
        forms = lower(layer, layer.input, Width())
        assert forms.as_specified_apart is apart
        timing = time_forms(forms, 1, "float32", settings)
        assert (timing.as_specified_s is not None) is apart
    args = "cost -i 6x6x8 -k 3 -f 8 -p 1 -g 4 --time --time-budget 0.05 --format json"
    doc = json.loads(invoke(*args.split()))
    timing = doc["layers"][0]["timing"]
    assert timing["as_specified_s"] > 0


def test_interactive_groups_change_shows_the_layer_as_written() -> None:
    """In the REPL, ``groups 4`` changes only the layer as written: the standard form stays
    the dense conv and the separable form ignores groups, so the as-specified lines say it."""
    from sepconv_cli.analysis.interactive import Session

    session = Session()
    assert not session.handle("input 12x12x8").error
    reply = session.handle("groups 4")
    assert not reply.error, reply.message
    # 8×8 positions × 256 filters × 25 taps: 8 input channels dense, 8/4 = 2 grouped
    assert reply.message.splitlines()[1:5] == [
        "  as specified MACs    3,276,800 → 819,200  (-2,457,600)",
        "  as specified params     51,200 →  12,800  (-38,400)",
        "  standard MACs        3,276,800  (unchanged)",
        "  separable MACs         143,872  (unchanged)",
    ]


# ------------------------------------------------------------------ under a width multiplier


def mobilenet_v1_written_with_groups(depthwise_type: bool = False) -> str:
    """MobileNetV1 (Howard et al. 2017, Table 1) with every depthwise layer written as a
    ``conv`` whose groups equal its input channels (or, with ``depthwise_type``, as
    ``type: depthwise``), and every pointwise as a 1×1 ``conv``."""
    # (input channels, output channels, stride) of Table 1's 13 dw/pw pairs
    pairs = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1)]
    pairs += [(256, 512, 2)] + [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    lines = [
        "name: MobileNetV1-groups",
        "input: [224, 224, 3]",
        "channel_divisor: 1",
        "defaults: {padding: same, batch_norm: true}",
        "layers:",
        "  - {type: conv, kernel: 3, filters: 32, stride: 2}",
    ]
    for i, (cin, cout, stride) in enumerate(pairs):
        if depthwise_type:
            lines.append(f"  - {{type: depthwise, name: dw{i}, kernel: 3, stride: {stride}}}")
        else:
            lines.append(
                f"  - {{type: conv, name: dw{i}, kernel: 3, filters: {cin}, groups: {cin}, "
                f"stride: {stride}}}"
            )
        lines.append(f"  - {{type: conv, name: pw{i}, kernel: 1, filters: {cout}}}")
    lines += ["  - {type: global_pool, mode: avg}", "  - {type: dense, units: 1000}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("alpha", "macs_m", "params_m"),
    # Howard et al. 2017, Table 6: mult-adds (millions) and params (millions, one decimal)
    [("0.75", 325, 2.6), ("0.5", 149, 1.3), ("0.25", 41, 0.5)],
)
def test_depthwise_written_as_groups_follows_the_width_multiplier(
    tmp_path: Path, alpha: str, macs_m: int, params_m: float
) -> None:
    path = tmp_path / "mobilenet_v1_groups.yaml"
    path.write_text(mobilenet_v1_written_with_groups(), encoding="utf-8")
    doc = json.loads(invoke("profile", str(path), "--no-time", "--format", "json", "-a", alpha))
    totals = doc["totals"]
    # Table 6 prints whole millions, rounded or truncated (see tests/test_presets.py)
    macs = totals["as_specified"]["macs"] / 1e6
    assert macs_m in (round(macs), int(macs)), macs
    assert (
        round((totals["as_specified"]["params"] - totals["as_specified"]["bn_params"]) / 1e6, 1)
        == params_m
    )
    # the same network written with `type: depthwise` gives the same report in every form
    path.write_text(mobilenet_v1_written_with_groups(depthwise_type=True), encoding="utf-8")
    as_depthwise = json.loads(
        invoke("profile", str(path), "--no-time", "--format", "json", "-a", alpha)
    )
    assert without_type(as_depthwise) == without_type(doc)
    # and the preset, written with `separable` layers, is the same network as specified
    preset = json.loads(
        invoke("profile", "mobilenet_v1", "--no-time", "--format", "json", "-a", alpha)
    )
    for key in ("macs", "params", "bn_params"):
        assert totals["as_specified"][key] == preset["totals"]["as_specified"][key], key


@pytest.mark.parametrize("alpha", ["0.5", "0.75", "1.5"])
def test_grouped_conv_keeps_its_group_width_under_the_multiplier(
    tmp_path: Path, alpha: str
) -> None:
    # RegNet's rule: 160 filters in groups of 16 channels; at width α the 3×3 has 160·α
    # filters in (160·α)/16 groups, each still reading 16 channels. 28×28×64 input, same
    # padding: 784 positions. channel_divisor 16 keeps every width a multiple of 16.
    path = tmp_path / "grouped.yaml"
    path.write_text(
        "name: g\ninput: [28, 28, 64]\nchannel_divisor: 16\nlayers:\n"
        "  - {type: conv, kernel: 1, filters: 160}\n"
        "  - {type: conv, kernel: 3, filters: 160, groups: 10, padding: 1}\n",
        encoding="utf-8",
    )
    doc = json.loads(invoke("profile", str(path), "--no-time", "--format", "json", "-a", alpha))
    width = {"0.5": 80, "0.75": 128, "1.5": 240}[alpha]  # make_divisible(160·α, 16)
    grouped = doc["layers"][1]
    assert grouped["output_shape"] == [28, 28, width]
    assert grouped["as_specified"]["macs"] == 784 * width * 16 * 9
    assert grouped["standard"]["macs"] == 784 * width * width * 9


def test_grouped_conv_whose_scaled_filters_break_the_groups_is_a_located_error(
    tmp_path: Path,
) -> None:
    # 48 filters in groups of 12 outputs; at α = 0.5 with no rounding, 24 filters: fine; at
    # α = 0.25, 12: one group; at α = 0.3, int(48·0.3) = 14 is not a multiple of 12.
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: g\ninput: [8, 8, 48]\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 48, groups: 4}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["profile", str(path), "--no-time", "-a", "0.3"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sepconv: error: {path}:4:")
    assert "groups" in result.stderr and "12 output channels per group" in result.stderr
