"""Squeeze-and-excite: the ``squeeze_excite`` block and the ``inverted_residual`` option.

Every expected count is hand arithmetic from torchvision's definitions, written next to the
assert; none comes from sepconv. torchvision builds the SE as
``AdaptiveAvgPool2d(1) → Conv2d(C, S, 1) → act → Conv2d(S, C, 1) → gate → x * scale``, both
convs with a bias, and picks S as:

* MobileNetV3: ``_make_divisible(expanded // 4, 8)``, where ``_make_divisible(v, d)`` is
  ``max(d, int(v + d/2) // d * d)``, plus ``d`` when that is below ``0.9 · v``;
* EfficientNet: ``max(1, input_channels // 4)`` of the block's input.

MACs are the convs' only (fvcore's and torchvision's published figures); the pool, the
multiply and the add are elementwise FLOPs. The check against torchvision itself is at the
end and skips without torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch_reference import import_torchvision, torch_counts  # tests/torch_reference.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.lowering import lower
from sepconv_cli.counting.ops import Conv, Pool, Scale, SqueezeExcite
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.execution.kernels import estimate_bytes, prepare, run_form
from sepconv_cli.execution.timing import TimingSettings, time_forms
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.spec.schema import model_schema

runner = CliRunner()
FORMS = ("as_specified", "standard", "separable")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def profile(path: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["profile", str(path), *args, "--format", "json", "--no-time"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def rows(tmp_path: Path, input_shape: str, *layers: str, head: str = "") -> list[dict[str, Any]]:
    body = "".join(f"  - {layer}\n" for layer in layers)
    doc = profile(write(tmp_path, f"name: t\ninput: {input_shape}\n{head}layers:\n{body}"))
    out: list[dict[str, Any]] = doc["layers"]
    return out


def fail(tmp_path: Path, text: str) -> str:
    """A spec that ``profile`` must refuse as bad input: exit 2, one line located at the
    file, no traceback."""
    path = write(tmp_path, text)
    result = runner.invoke(app, ["profile", str(path), "--no-time"])
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sepconv: error: {path}:"), lines
    return lines[0]


# --------------------------------------------------------------------------- MobileNetV3


MBV3_BLOCK = (
    "{type: inverted_residual, expanded: 120, filters: 40, kernel: 5, "
    "se_ratio: 0.25, se_divisor: 8}"
)


def test_mobilenet_v3_large_block_by_hand(tmp_path: Path) -> None:
    # MobileNetV3-Large's bneck (40, 5, 120, 40, SE, RE, stride 1) at 28x28: features[5]
    (row,) = rows(tmp_path, "[28, 28, 40]", MBV3_BLOCK)
    assert row["form"] == "separable"
    assert row["output_shape"] == [28, 28, 40]
    hw = 28 * 28
    squeeze = 32  # _make_divisible(120 // 4 = 30, 8): int(30 + 4) // 8 * 8 = 32 >= 27
    expand, dw, project = hw * 40 * 120, hw * 120 * 25, hw * 120 * 40
    se = 120 * squeeze + squeeze * 120  # two 1x1 convs on the pooled 1x1 map
    assert (expand, dw, se, project) == (3_763_200, 2_352_000, 7_680, 3_763_200)
    spec_row = row["as_specified"]
    assert spec_row["macs"] == 9_886_080 == expand + dw + se + project
    se_params = 120 * 32 + 32 + 32 * 120 + 120  # weights and biases: 7,832
    assert spec_row["params"] == 40 * 120 + 120 * 25 + se_params + 120 * 40 == 20_432
    # FLOPs: 2·MACs, the SE's bias adds (32 + 120), the pool and the multiply (one per
    # element of the 28x28x120 map each) and the residual add (one per output element)
    flops = 2 * 9_886_080 + (32 + 120) + hw * 120 + hw * 120 + hw * 40
    assert spec_row["flops"] == flops == 19_991_832
    # standard: the 5x5 depthwise becomes a full 5x5 conv 120 → 120; the SE is unchanged
    assert row["standard"]["macs"] == expand + hw * 120 * 120 * 25 + se + project
    assert row["standard"]["params"] == 4_800 + 120 * 120 * 25 + se_params + 4_800
    # the separable parts: the SE (its 1x1 convs included) is neither depthwise nor
    # pointwise, but "other" with the residual add
    sep = row["separable"]
    assert sep["depthwise"]["macs"] == dw
    assert sep["pointwise"]["macs"] == expand + project
    assert sep["other"]["macs"] == se
    assert sep["other"]["params"] == se_params


def test_mobilenet_v3_block_with_batch_norm_and_batch(tmp_path: Path) -> None:
    block = MBV3_BLOCK.replace("}", ", batch_norm: true}")
    (row,) = rows(tmp_path, "[28, 28, 40]", block, head="batch: 3\n")
    # batch-norm after the expansion, the depthwise and the projection: 2 per channel
    bn = 2 * (120 + 120 + 40)
    assert row["as_specified"]["params"] == 20_432 + bn
    assert row["as_specified"]["bn_params"] == bn
    assert row["as_specified"]["macs"] == 3 * 9_886_080  # MACs scale with the batch


def test_squeeze_rounding_of_the_expanded_width(tmp_path: Path) -> None:
    # MobileNetV3's rule at each expanded width with an SE, by hand (E → E // 4 → S):
    # 72 → 18 → int(18 + 4) // 8 * 8 = 16, below 0.9 · 18 = 16.2, so 24;
    # 120 → 30 → 32; 480 → 120 → 120; 672 → 168 → 168; 960 → 240 → 240; 96 → 24 → 24;
    # 240 → 60 → 64; 144 → 36 → 40; 288 → 72 → 72; 576 → 144 → 144;
    # 16 → 4 → 8 (never below the divisor)
    cases = {72: 24, 120: 32, 480: 120, 672: 168, 960: 240, 96: 24, 240: 64}
    cases.update({144: 40, 288: 72, 576: 144, 16: 8})
    layer = "{type: squeeze_excite, se_ratio: 0.25, se_divisor: 8}"
    for expanded, squeeze in cases.items():
        (row,) = rows(tmp_path, f"[2, 2, {expanded}]", layer)
        params = 2 * expanded * squeeze + squeeze + expanded
        assert row["as_specified"]["params"] == params, expanded


# --------------------------------------------------------------------------- EfficientNet


def test_efficientnet_b0_mbconv_by_hand(tmp_path: Path) -> None:
    # EfficientNet-B0 stage 2, first block (features[2][0]): MBConv6 k3 s2, 16 → 24 at
    # 112x112; SE squeeze = max(1, 16 // 4) = 4 from the block's *input*, on the 96 expanded
    block = (
        "{type: inverted_residual, expansion: 6, filters: 24, stride: 2, padding: 1, "
        "se_ratio: 0.25, se_ratio_of: input, batch_norm: true}"
    )
    (row,) = rows(tmp_path, "[112, 112, 16]", block)
    assert row["output_shape"] == [56, 56, 24]  # floor((112 + 2 - 3) / 2) + 1 = 56
    expand = 112 * 112 * 16 * 96  # at the input's 112x112
    dw = 56 * 56 * 96 * 9  # strided
    se = 96 * 4 + 4 * 96
    project = 56 * 56 * 96 * 24
    assert (expand, dw, se, project) == (19_267_584, 2_709_504, 768, 7_225_344)
    assert row["as_specified"]["macs"] == 29_203_200
    se_params = 96 * 4 + 4 + 4 * 96 + 96  # 868
    bn = 2 * (96 + 96 + 24)
    assert row["as_specified"]["params"] == 16 * 96 + 96 * 9 + se_params + 96 * 24 + bn == 6_004
    # no residual add (stride 2, 16 → 24 channels). FLOPs: 2·MACs, the SE's bias adds, its
    # pool and multiply over the 56x56x96 map, and batch-norm (2 per element) after the
    # expansion (112x112x96), the depthwise (56x56x96) and the projection (56x56x24)
    pool_and_multiply = 2 * 56 * 56 * 96
    bn_flops = 2 * (112 * 112 * 96 + 56 * 56 * 96 + 56 * 56 * 24)
    flops = 2 * 29_203_200 + (4 + 96) + pool_and_multiply + bn_flops
    assert flops == 62_169_700
    assert row["as_specified"]["flops"] == flops


def test_ratio_of_input_floors_and_keeps_one(tmp_path: Path) -> None:
    # EfficientNet: max(1, floor(Cin · r)). 3 · 0.25 = 0.75 → 1; 24 · 0.25 = 6; 40 · 0.3 = 12
    for cin, ratio, squeeze in ((3, 0.25, 1), (24, 0.25, 6), (40, 0.3, 12)):
        layer = (
            f"{{type: inverted_residual, expansion: 6, filters: {cin}, se_ratio: {ratio}, "
            "se_ratio_of: input, residual: false}"
        )
        (row,) = rows(tmp_path, f"[4, 4, {cin}]", layer)
        hidden = 6 * cin
        se_params = 2 * hidden * squeeze + squeeze + hidden
        expected = cin * hidden + hidden * 9 + se_params + hidden * cin
        assert row["as_specified"]["params"] == expected, cin


# --------------------------------------------------------------------------- the block alone


def test_squeeze_excite_block_alone(tmp_path: Path) -> None:
    (row,) = rows(tmp_path, "[7, 7, 64]", "{type: squeeze_excite, se_channels: 16}")
    assert row["type"] == "squeeze_excite"
    assert row["form"] == "none"
    assert row["output_shape"] == [7, 7, 64]
    for form in FORMS:
        counts = row[form]
        assert counts["macs"] == 64 * 16 * 2
        assert counts["params"] == 64 * 16 + 16 + 16 * 64 + 64 == 2_128
        # pool 49·64, convs 2·2048 + biases 16 + 64, multiply 49·64
        assert counts["flops"] == 3_136 + 4_096 + 80 + 3_136
    c = row["as_specified"]
    assert c["input_bytes"] == c["output_bytes"] == 49 * 64 * 4
    assert c["intermediate_bytes"] == (64 + 16 + 64) * 4  # pooled, squeezed, gate
    # each part reads its inputs and weights once and writes once; the multiply reads the
    # block's input again with the gate
    moved = (3_136 + 64) + (1_040 + 64 + 16) + (1_088 + 16 + 64) + (3_136 + 64 + 3_136)
    assert c["bytes_moved"] == moved * 4


def test_squeeze_excite_ratio_of_its_own_input(tmp_path: Path) -> None:
    # alone, the block's input is the width it gates: 64 · 0.25 = 16
    (row,) = rows(tmp_path, "[7, 7, 64]", "{type: squeeze_excite, se_ratio: 0.25}")
    assert row["as_specified"]["params"] == 2_128


def test_squeeze_excite_in_one_and_three_dims(tmp_path: Path) -> None:
    (row,) = rows(tmp_path, "[100, 12]", "{type: squeeze_excite, se_channels: 3}")
    assert row["as_specified"]["macs"] == 12 * 3 * 2
    assert row["as_specified"]["flops"] == 1_200 + 144 + 3 + 12 + 1_200
    (row,) = rows(tmp_path, "[4, 5, 6, 8]", "{type: squeeze_excite, se_channels: 2}")
    assert row["as_specified"]["flops"] == 960 + 64 + 2 + 8 + 960


def test_parts_of_the_op() -> None:
    op = SqueezeExcite((5, 6, 8), 3)
    pool, down, up, multiply = op.parts
    assert isinstance(pool, Pool) and pool.kind == "avg" and pool.out_shape == (8,)
    assert isinstance(down, Conv) and (down.in_shape, down.out_channels) == ((1, 1, 8), 3)
    assert isinstance(up, Conv) and (up.in_shape, up.out_channels) == ((1, 1, 3), 8)
    assert down.bias and up.bias
    assert isinstance(multiply, Scale) and multiply.gate_shape == (1, 1, 8)
    cost = Scale((5, 6, 8)).cost(2, 4)
    assert (cost.macs, cost.flops, cost.params) == (0, 2 * 240, 0)
    assert cost.bytes_moved == (2 * 240 + 2 * 8 + 2 * 240) * 4
    with pytest.raises(ShapeError):
        SqueezeExcite((5, 6, 8), 9)


def test_defaults_reach_every_block(tmp_path: Path) -> None:
    # EfficientNet: every MBConv has an SE of a quarter of its input; a layer's own
    # se_channels replaces the default ratio (not an error), and the block type takes it too
    head = "defaults: {se_ratio: 0.25, se_ratio_of: input}\n"
    a, b, c = rows(
        tmp_path,
        "[4, 4, 16]",
        "{type: inverted_residual, expansion: 2, filters: 16}",
        "{type: inverted_residual, expansion: 2, filters: 16, se_channels: 2}",
        "{type: squeeze_excite}",
        head=head,
    )
    base = 16 * 32 + 32 * 9 + 32 * 16
    assert a["as_specified"]["params"] == base + 2 * 32 * 4 + 4 + 32  # 16 // 4 = 4
    assert b["as_specified"]["params"] == base + 2 * 32 * 2 + 2 + 32
    assert c["as_specified"]["params"] == 2 * 16 * 4 + 4 + 16


def test_no_squeeze_excite_unless_asked(tmp_path: Path) -> None:
    (row,) = rows(tmp_path, "[4, 4, 16]", "{type: inverted_residual, expanded: 32, filters: 16}")
    assert row["as_specified"]["params"] == 16 * 32 + 32 * 9 + 32 * 16


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    ("layer", "where", "words"),
    [
        ("{type: squeeze_excite, se_channels: 9}", "se_channels", "wider than the channels"),
        ("{type: squeeze_excite, se_channels: 0}", "se_channels", "expected an integer >= 1"),
        ("{type: squeeze_excite, se_ratio: 0}", "se_ratio", "expected a number > 0"),
        ("{type: squeeze_excite, se_ratio: -0.25}", "se_ratio", "expected a number > 0"),
        ("{type: squeeze_excite, se_ratio: 1.5}", "se_ratio", "(0, 1]"),
        ("{type: squeeze_excite, se_ratio: .nan}", "se_ratio", "expected a number > 0"),
        ("{type: squeeze_excite, se_ratio: '0.25'}", "se_ratio", "expected a positive number"),
        ("{type: squeeze_excite}", "layers[0]", "needs se_channels or se_ratio"),
        ("{type: squeeze_excite, se_channels: 2, se_ratio: 0.25}", "se_ratio", "not both"),
        ("{type: squeeze_excite, se_ratio: 0.5, se_ratio_of: input}", "se_ratio_of", "not a field"),
        ("{type: squeeze_excite, se_channels: 2, se_divisor: 8}", "se_divisor", "se_ratio"),
        ("{type: squeeze_excite, se_ratio: 0.5, se_divisor: 0}", "se_divisor", ">= 1"),
        ("{type: squeeze_excite, se_ratio: 0.25, se_divisor: 16}", "se_ratio", "to 16"),
        (
            "{type: inverted_residual, expansion: 2, filters: 8, se_ratio: 0.25, "
            "se_ratio_of: output}",
            "se_ratio_of",
            "expected one of input, expanded",
        ),
        (
            "{type: inverted_residual, expansion: 2, filters: 8, se_channels: 17}",
            "se_channels",
            "squeeze 16 channels to 17",
        ),
        (
            "{type: inverted_residual, expansion: 2, filters: 8, se_ratio_of: input}",
            "se_ratio_of",
            "se_ratio",
        ),
    ],
)
def test_bad_squeeze_excite_is_located(tmp_path: Path, layer: str, where: str, words: str) -> None:
    err = fail(tmp_path, f"input: [4, 4, 8]\nlayers:\n  - {layer}\n")
    assert where in err and words in err, err


def test_squeeze_excite_on_a_flat_input_is_located(tmp_path: Path) -> None:
    text = (
        "input: [4, 4, 8]\nlayers:\n  - {type: global_pool}\n"
        "  - {type: squeeze_excite, se_channels: 2}\n"
    )
    err = fail(tmp_path, text)
    assert ":4:5: layers[1]: a squeeze_excite layer needs a spatial input" in err


def test_validate_lists_every_squeeze_excite_problem(tmp_path: Path) -> None:
    text = (
        "input: [4, 4, 8]\n"
        "defaults: {se_channels: 2, se_ratio: 0.5}\n"
        "layers:\n"
        "  - {type: squeeze_excite, se_ratio: 0}\n"
        "  - {type: squeeze_excite, se_channels: 2, se_ratio: 0.25}\n"
    )
    path = write(tmp_path, text)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "3 problems" in result.stderr
    # columns counted by hand: the key for a key problem, the value for a bad value
    assert result.stdout.splitlines() == [
        f"{path}:2:28: defaults.se_ratio: give se_channels or se_ratio, not both",
        f"{path}:4:38: layers[0].se_ratio: expected a number > 0, got 0",
        f"{path}:5:44: layers[1].se_ratio: give se_channels or se_ratio, not both (they say "
        "the same width two ways)",
    ]


def test_the_schema_knows_the_squeeze_excite_keys() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(model_schema())

    def ok(*layers: dict[str, Any]) -> bool:
        return not list(validator.iter_errors({"input": [8, 8, 16], "layers": list(layers)}))

    ir = {"type": "inverted_residual", "filters": 16, "expansion": 6}
    assert ok({"type": "squeeze_excite", "se_ratio": 0.25, "se_divisor": 8})
    assert ok({**ir, "se_ratio": 0.25, "se_ratio_of": "input"}, {**ir, "se_channels": 4})
    assert not ok({"type": "squeeze_excite"})
    assert not ok({"type": "squeeze_excite", "se_ratio": 0.25, "se_channels": 4})
    assert not ok({"type": "squeeze_excite", "se_ratio": 1.5})
    assert not ok({"type": "squeeze_excite", "se_ratio": 0})
    assert not ok({"type": "squeeze_excite", "se_channels": 0})
    assert not ok({"type": "squeeze_excite", "se_ratio": 0.5, "se_ratio_of": "input"})
    assert not ok({**ir, "se_ratio": 0.25, "se_ratio_of": "output"})


# --------------------------------------------------------------------------- execution


def test_kernel_computes_the_block(tmp_path: Path) -> None:
    # pool → 1x1 + bias → 1x1 + bias → multiply, against a plain NumPy reference (the
    # activation and the gate are not executed, as no activation is)
    op = SqueezeExcite((5, 6, 8), 3)
    rng = np.random.default_rng(1)
    weights = {
        "squeeze_w": rng.standard_normal((1, 1, 8, 3)),
        "squeeze_b": rng.standard_normal(3),
        "excite_w": rng.standard_normal((1, 1, 3, 8)),
        "excite_b": rng.standard_normal(8),
    }
    for dtype, tolerance in (("float64", 1e-12), ("float32", 1e-5), ("float16", 1e-2)):
        x = rng.standard_normal((2, 5, 6, 8)).astype(dtype)
        prepared = prepare(op, 2, dtype, rng, x=x, weights=weights)
        out = prepared.checked()
        pooled = x.astype(np.float64).mean(axis=(1, 2))
        hidden = pooled @ weights["squeeze_w"].reshape(8, 3) + weights["squeeze_b"]
        gate = hidden @ weights["excite_w"].reshape(3, 8) + weights["excite_b"]
        expected = x.astype(np.float64) * gate[:, None, None, :]
        assert out.dtype == np.dtype(dtype)
        assert np.allclose(out, expected, rtol=tolerance, atol=tolerance * 10), dtype
        # the guard's estimate is what prepare allocated, plus the chain's input
        assert estimate_bytes((op,), 2, dtype) == prepared.nbytes + x.nbytes


def test_a_timed_block_runs(tmp_path: Path) -> None:
    # --time runs the SE in both forms of an MBConv (no speed is asserted)
    block = LayerSpec(
        type="inverted_residual",
        where="test",
        filters=16,
        expanded=48,
        kernel=(5,),
        se_ratio=0.25,
        se_divisor=8,
    )
    forms = lower(block, (8, 8, 16), Width())
    assert any(isinstance(op, SqueezeExcite) for op in forms.standard)
    assert run_form(forms.separable).shape == (1, 8, 8, 16)
    settings = TimingSettings(min_time_s=0.0, max_repeats=1, min_repeats=1, warmup=0, budget_s=0)
    timing = time_forms(forms, 1, "float32", settings)
    assert timing.separable.runs >= 1 and timing.standard.runs >= 1


# --------------------------------------------------------------------------- torchvision


TORCHVISION_BLOCKS = [
    # (builder, width, features index, sepconv input, block spec)
    (
        "mobilenet_v3_large",
        1.0,
        (5,),
        (28, 28, 40),
        MBV3_BLOCK.replace("}", ", padding: 2, batch_norm: true}"),
    ),
    (
        "mobilenet_v3_large",
        0.75,
        (5,),
        (28, 28, 32),  # the previous block's 40 channels at 0.75: _make_divisible(30, 8)
        MBV3_BLOCK.replace("}", ", padding: 2, batch_norm: true}"),
    ),
    (
        "mobilenet_v3_small",
        1.0,
        (1,),
        (112, 112, 16),  # (16, 3, 16, 16, SE, RE, stride 2): no expansion conv
        "{type: inverted_residual, expanded: 16, filters: 16, stride: 2, padding: 1, "
        "se_ratio: 0.25, se_divisor: 8, batch_norm: true}",
    ),
    (
        "efficientnet_b0",
        1.0,
        (2, 0),
        (112, 112, 16),
        "{type: inverted_residual, expansion: 6, filters: 24, stride: 2, padding: 1, "
        "se_ratio: 0.25, se_ratio_of: input, batch_norm: true}",
    ),
    (
        "efficientnet_b0",
        1.0,
        (1, 0),
        (112, 112, 32),  # MBConv1: expand_ratio 1, SE max(1, 32 // 4) = 8
        "{type: inverted_residual, expansion: 1, filters: 16, padding: 1, se_ratio: 0.25, "
        "se_ratio_of: input, batch_norm: true}",
    ),
]


@pytest.mark.parametrize(
    "case", TORCHVISION_BLOCKS, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in TORCHVISION_BLOCKS]
)
def test_blocks_agree_with_torchvision(tmp_path: Path, case: tuple[Any, ...]) -> None:
    torchvision = import_torchvision()
    name, width, index, shape, block = case
    kwargs = {"width_mult": width} if width != 1.0 else {}
    module = getattr(torchvision.models, name)(weights=None, **kwargs).features
    for i in index:
        module = module[i]
    params, torch_flops, out_shape = torch_counts(module, shape)

    args = ["--width-multiplier", str(width)] if width != 1.0 else []
    text = f"input: {list(shape)}\nchannel_divisor: 8\nlayers:\n  - {block}\n"
    doc = profile(write(tmp_path, text), *args)
    (row,) = doc["layers"]
    assert tuple(row["output_shape"]) == out_shape
    assert row["as_specified"]["params"] == params
    assert 2 * row["as_specified"]["macs"] == torch_flops
