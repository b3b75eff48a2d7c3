"""``sepconv cost`` through Typer's CliRunner (and a few real subprocesses).

Expected numbers are hand arithmetic (the seed example: 256·3·5·5·8·8 = 1,228,800 standard,
3·5·5·8·8 = 4,800 depthwise + 256·3·8·8 = 49,152 pointwise = 53,952 separable).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()


def cost(*args: str) -> Any:
    return runner.invoke(app, ["cost", *args])


def ok(*args: str) -> Any:
    result = cost(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    return result


def cost_json(*args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(*args, "--format", "json").stdout)
    return doc


# --------------------------------------------------------------------------- default table


def test_default_table_is_the_seed_example() -> None:
    out = ok().stdout
    for text in ("1,228,800", "53,952", "4,800", "49,152", "8×8×256", "12×12×3"):
        assert text in out, text
    assert "\x1b[" not in out  # no colour codes when stdout is not a terminal


def test_table_states_the_convention() -> None:
    out = ok().stdout
    assert "MACs = multiply-accumulates (bias not counted)" in out
    assert "FLOPs = 2·MACs" in out


# --------------------------------------------------------------------------- formats


def test_json_format() -> None:
    doc = cost_json()
    assert doc["schema"] == "sepconv/cost/v1"
    assert isinstance(doc["conventions"], dict)
    assert len(doc["layers"]) == 1
    layer = doc["layers"][0]
    assert layer["input_shape"] == [12, 12, 3]
    assert layer["output_shape"] == [8, 8, 256]
    assert layer["batch"] == 1
    assert layer["standard"]["macs"] == 1_228_800
    assert layer["standard"]["flops"] == 2 * 1_228_800
    assert layer["standard"]["params"] == 256 * 3 * 5 * 5 == 19_200
    assert layer["separable"]["macs"] == 53_952
    assert layer["separable"]["params"] == 75 + 768
    assert layer["separable"]["depthwise"]["macs"] == 4_800
    assert layer["separable"]["pointwise"]["macs"] == 49_152
    assert layer["separable"]["depthwise"]["params"] == 75
    assert layer["separable"]["pointwise"]["params"] == 768
    for key in ("macs", "flops", "params", "weight_bytes", "activation_bytes"):
        assert key in layer["standard"] and key in layer["separable"]
    # ratios are floats rounded to 6 decimals; the exact theory is a fraction string
    assert layer["ratio"]["macs"] == pytest.approx(53_952 / 1_228_800, abs=5e-7)
    assert layer["ratio"]["theory"] == pytest.approx(1 / 256 + 1 / 25, abs=5e-7)
    assert layer["ratio"]["theory_exact"] == "281/6400"  # (25 + 256) / (256 * 25)


def test_csv_format() -> None:
    rows = list(csv.DictReader(io.StringIO(ok("--format", "csv").stdout)))
    assert len(rows) == 1
    row = rows[0]
    assert int(row["standard_macs"]) == 1_228_800
    assert int(row["separable_macs"]) == 53_952
    assert int(row["depthwise_macs"]) == 4_800
    assert int(row["pointwise_macs"]) == 49_152
    assert int(row["standard_params"]) == 19_200
    assert int(row["separable_params"]) == 843
    assert row["output_shape"] == "8x8x256"


def test_markdown_format() -> None:
    out = ok("--format", "markdown").stdout
    assert re.search(r"\| MACs \| 1,228,800 \| 53,952 \| 4,800 \| 49,152 \|", out)
    assert re.search(r"\| Parameters \| 19,200 \| 843 \| 75 \| 768 \|", out)
    assert "8×8×256" in out


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_output_file(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"report.{'txt' if fmt == 'table' else fmt}"  # no .table files
    result = cost("--format", fmt, "--output", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == f"sepconv: wrote {target}\n"
    text = target.read_text(encoding="utf-8")
    if fmt == "json":
        assert json.loads(text)["layers"][0]["standard"]["macs"] == 1_228_800
    elif fmt == "csv":
        assert int(next(csv.DictReader(io.StringIO(text)))["separable_macs"]) == 53_952
    else:
        assert "1,228,800" in text and "53,952" in text


# --------------------------------------------------------------------------- flags


def test_flags_change_the_layer() -> None:
    # 14x14x512, 3x3, 512 filters, same: the MobileNet paper's example
    layer = cost_json(
        "--input", "14x14x512", "--kernel", "3", "--filters", "512", "--padding", "same"
    )["layers"][0]
    assert layer["output_shape"] == [14, 14, 512]
    assert layer["standard"]["macs"] == 462_422_016
    assert layer["separable"]["macs"] == 52_283_392
    assert layer["standard"]["params"] == 2_359_296
    assert layer["separable"]["params"] == 266_752


def test_out_channels_alias_and_short_options() -> None:
    a = cost_json("--out-channels", "64", "-k", "3")["layers"][0]
    assert a["standard"]["macs"] == 10 * 10 * 64 * 3 * 9


def test_input_with_one_spatial_dim() -> None:
    # 12x12 is a 1-D input: length 12, 12 channels → (12 - 5 + 1) x 256
    layer = cost_json("--input", "12x12")["layers"][0]
    assert layer["output_shape"] == [8, 256]
    assert layer["standard"]["macs"] == 8 * 256 * 12 * 5


def test_batch_dtype_and_bias() -> None:
    doc = cost_json("--batch", "4", "--dtype", "float16", "--bias")
    layer = doc["layers"][0]
    assert doc["conventions"]["itemsize"] == 2
    assert layer["batch"] == 4
    assert layer["standard"]["macs"] == 4 * 1_228_800
    assert layer["standard"]["params"] == 19_200 + 256
    assert layer["standard"]["weight_bytes"] == (19_200 + 256) * 2
    assert layer["standard"]["flops"] == 4 * (2 * 1_228_800 + 8 * 8 * 256)
    assert layer["separable"]["params"] == 75 + 768 + 256
    assert layer["separable"]["depthwise"]["params"] == 75


def test_groups_and_depth_multiplier() -> None:
    layer = cost_json(
        "--input",
        "12x12x4",
        "--kernel",
        "3",
        "--filters",
        "8",
        "--groups",
        "2",
        "--depth-multiplier",
        "2",
    )["layers"][0]
    # as specified: 4/2 = 2 input channels per output; standard: the dense conv, all 4
    assert layer["as_specified"]["macs"] == 10 * 10 * 8 * 2 * 9
    assert layer["standard"]["macs"] == 10 * 10 * 8 * 4 * 9
    assert layer["separable"]["depthwise"]["macs"] == 10 * 10 * 8 * 9
    assert layer["separable"]["pointwise"]["macs"] == 10 * 10 * 8 * 8


def test_json_counts_are_exact_for_a_10_to_the_12_long_input() -> None:
    layer = cost_json("--input", "1000000000000x3", "--kernel", "3")["layers"][0]
    out = 10**12 - 2
    assert layer["output_shape"] == [999_999_999_998, 256]
    assert layer["standard"]["macs"] == out * 256 * 9 == 2_303_999_999_995_392
    assert layer["separable"]["depthwise"]["macs"] == out * 9


def test_json_counts_are_exact_beyond_float_precision() -> None:
    raw = ok(
        "--input",
        "1000000000000x3",
        "--kernel",
        "3",
        "--batch",
        "999999999999999",
        "--format",
        "json",
    ).stdout
    expected = (10**15 - 1) * (10**12 - 2) * 256 * 9
    assert expected == 2_303_999_999_995_389_696_000_000_004_608
    assert '"macs": 2303999999995389696000000004608' in raw  # the digits, not a float
    assert json.loads(raw)["layers"][0]["standard"]["macs"] == expected


# --------------------------------------------------------------------------- --spec


def test_spec_single_mapping(tmp_path: Path) -> None:
    spec = tmp_path / "layer.yaml"
    spec.write_text("input: [12, 12, 3]\nkernel: [3, 5]\nfilters: 8\n")
    layer = cost_json("--spec", str(spec))["layers"][0]
    # 12-3+1 = 10, 12-5+1 = 8
    assert layer["output_shape"] == [10, 8, 8]
    assert layer["standard"]["macs"] == 10 * 8 * 8 * 3 * 3 * 5 == 28_800
    assert layer["separable"]["depthwise"]["macs"] == 10 * 8 * 3 * 15 == 3_600
    assert layer["separable"]["pointwise"]["macs"] == 10 * 8 * 3 * 8 == 1_920


LIST_SPEC = """\
- input: [12, 12, 3]
  kernel: [3, 5]
  filters: 8
- {input: [10, 4], kernel: 3, filters: 2, padding: same, bias: true}
- input: [14, 14, 512]
  kernel: 3
  filters: 512
  padding: same
"""


def test_spec_list_of_layers_in_order(tmp_path: Path) -> None:
    spec = tmp_path / "layers.yaml"
    spec.write_text(LIST_SPEC)
    layers = cost_json("--spec", str(spec))["layers"]
    assert [layer["output_shape"] for layer in layers] == [[10, 8, 8], [10, 2], [14, 14, 512]]
    assert [layer["standard"]["macs"] for layer in layers] == [28_800, 10 * 2 * 4 * 3, 462_422_016]
    assert layers[1]["standard"]["params"] == 2 * 4 * 3 + 2
    assert layers[1]["separable"]["params"] == 4 * 3 + 4 * 2 + 2
    assert layers[2]["separable"]["macs"] == 52_283_392


def test_spec_list_rows_are_indexed_in_order(tmp_path: Path) -> None:
    spec = tmp_path / "layers.yaml"
    spec.write_text(LIST_SPEC)
    layers = cost_json("--spec", str(spec))["layers"]
    assert [layer["index"] for layer in layers] == [0, 1, 2]
    rows = list(csv.DictReader(io.StringIO(ok("--spec", str(spec), "--format", "csv").stdout)))
    assert [row["index"] for row in rows] == ["0", "1", "2"]


def test_spec_with_batch_and_dtype_from_flags(tmp_path: Path) -> None:
    spec = tmp_path / "layer.yaml"
    spec.write_text("input: [12, 12, 3]\nkernel: 5\nfilters: 256\n")
    doc = cost_json("--spec", str(spec), "--batch", "2", "--dtype", "int8")
    assert doc["layers"][0]["standard"]["macs"] == 2 * 1_228_800
    assert doc["layers"][0]["standard"]["weight_bytes"] == 19_200


def test_spec_table_shows_every_layer(tmp_path: Path) -> None:
    spec = tmp_path / "layers.yaml"
    spec.write_text(LIST_SPEC)
    out = ok("--spec", str(spec)).stdout
    assert "28,800" in out and "462,422,016" in out


# --------------------------------------------------------------------------- bad input


def spec_file(tmp_path: Path, text: str, name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# args (given tmp_path) → a regex the single stderr line must match
BAD_INPUT: list[tuple[str, Any, str]] = [
    ("kernel-zero", lambda t: ["--kernel", "0"], r"--kernel\b.*\b0\b"),
    ("kernel-word", lambda t: ["--kernel", "abc"], r"--kernel\b.*abc"),
    ("input-no-channels", lambda t: ["--input", "12"], r"--input\b"),
    ("input-4-spatial", lambda t: ["--input", "1x2x3x4x5"], r"--input\b"),
    ("input-zero", lambda t: ["--input", "12x12x0"], r"--input\b"),
    ("padding-word", lambda t: ["--padding", "foo"], r"--padding\b.*foo"),
    ("padding-negative", lambda t: ["--padding", "-1"], r"--padding\b"),
    ("padding-rank", lambda t: ["--padding", "1x2x3"], r"--padding\b"),
    ("groups-3-channels", lambda t: ["--groups", "5"], r"--groups\b.*5"),
    ("stride-zero", lambda t: ["--stride", "0"], r"--stride\b"),
    ("dilation-zero", lambda t: ["--dilation", "0"], r"--dilation\b"),
    ("kernel-too-large", lambda t: ["--kernel", "13"], r"--kernel\b.*(empty|larger)"),
    ("kernel-rank", lambda t: ["--kernel", "3x3x3"], r"--kernel\b"),
    ("filters-float", lambda t: ["--filters", "2.5"], r"--filters\b.*2\.5"),
    ("filters-zero", lambda t: ["--filters", "0"], r"--filters\b"),
    ("multiplier-zero", lambda t: ["--depth-multiplier", "0"], r"--depth-multiplier\b"),
    ("batch-zero", lambda t: ["--batch", "0"], r"--batch\b"),
    ("dtype-float8", lambda t: ["--dtype", "float8"], r"--dtype\b.*float8"),
    ("format-xml", lambda t: ["--format", "xml"], r"--format\b.*xml"),
    ("unknown-option", lambda t: ["--bogus"], r"--bogus\b"),
    ("output-missing-dir", lambda t: ["--output", str(t / "nowhere" / "r.json")], r"--output\b"),
    ("spec-missing-file", lambda t: ["--spec", str(t / "missing.yaml")], r"missing\.yaml\b"),
    (
        "spec-unknown-key",
        lambda t: ["--spec", spec_file(t, "input: [12, 12, 3]\nkernal: 3\nfilters: 8\n")],
        r"bad\.yaml:2:1: kernal\b.*did you mean 'kernel'",
    ),
    (
        "spec-kernel-bool",
        lambda t: ["--spec", spec_file(t, "input: [12, 12, 3]\nkernel: true\nfilters: 8\n")],
        r"bad\.yaml:2:\d+: kernel\b.*true",
    ),
    (
        "spec-filters-float",
        lambda t: ["--spec", spec_file(t, "input: [12, 12, 3]\nkernel: 3\nfilters: 2.5\n")],
        r"bad\.yaml:3:\d+: filters\b.*2\.5",
    ),
    (
        "spec-and-kernel",
        lambda t: [
            "--spec",
            spec_file(t, "input: [12, 12, 3]\nkernel: 3\nfilters: 8\n"),
            "--kernel",
            "3",
        ],
        r"--kernel\b.*--spec",
    ),
    (
        "spec-list-item",
        lambda t: [
            "--spec",
            spec_file(
                t,
                "- {input: [8, 3], kernel: 3, filters: 2}\n"
                "- {input: [8, 3], kernel: 0, filters: 2}\n",
            ),
        ],
        r"bad\.yaml:2:\d+: \[1\]\.kernel\b",
    ),
    (
        "spec-not-a-conv",
        lambda t: ["--spec", spec_file(t, "type: dense\ninput: [4, 4, 3]\nunits: 3\n")],
        r"bad\.yaml:1:\d+: type\b",
    ),
    (
        "spec-missing-filters",
        lambda t: ["--spec", spec_file(t, "input: [12, 12, 3]\nkernel: 3\n")],
        r"bad\.yaml:1:\d+: .*filters",
    ),
    (
        "spec-yaml-syntax",
        lambda t: ["--spec", spec_file(t, "input: [12, 12, 3\n")],
        r"bad\.yaml:\d+:\d+: ",
    ),
]


@pytest.mark.parametrize(
    ("make_args", "pattern"),
    [(a, p) for _, a, p in BAD_INPUT],
    ids=[name for name, _, _ in BAD_INPUT],
)
def test_bad_input(tmp_path: Path, make_args: Any, pattern: str) -> None:
    result = cost(*make_args(tmp_path))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("input: [12, 12, 3]\nkernel: 3\nfilters: 8\ngroups: 2\n", "groups"),
        ("input: [4, 4, 3]\nkernel: 5\nfilters: 8\n", "kernel"),
        (
            "- {input: [8, 3], kernel: 3, filters: 3}\n- {input: [8, 3], kernel: 3, filters: 4, "
            "groups: 3}\n",
            r"\[1\]\.groups",
        ),
    ],
    ids=["groups-not-dividing", "empty-output", "list-item-groups"],
)
def test_spec_shape_errors_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    """A shape problem found after validation (groups not dividing the channels, an empty
    output) must still be located as ``file:line:col: field`` (docs/exit-codes.md)."""
    result = cost("--spec", spec_file(tmp_path, text))
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert ": : " not in result.stderr, result.stderr  # no empty field name
    assert re.search(rf"bad\.yaml:\d+:\d+: {field}\b", result.stderr), result.stderr


# --------------------------------------------------------------------------- subprocesses


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def test_python_dash_m_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"sepconv {version('sepconv')}"


def test_cost_json_does_not_import_numpy() -> None:
    code = (
        "import sys\n"
        "from sepconv_cli.cli.app import main\n"
        "try:\n"
        "    main(['cost', '--format', 'json'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'torch'))\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["layers"][0]["standard"]["macs"] == 1_228_800
    assert "HEAVY=\n" in done.stderr, done.stderr


def test_cost_json_importtime_has_no_numpy() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sepconv_cli", "cost", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "sepconv_cli.counting.ops" in imported  # the check would see numpy if it were imported
    assert not [m for m in imported if m == "numpy" or m.startswith("numpy.")]


# --------------------------------------------------------------------------- newer layer keys


def test_per_side_padding_flag_is_tensorflows_same_at_stride_2() -> None:
    # 56x56x64, 3x3, stride 2: TF "same" pads 0 before and 1 after (total
    # max((28-1)*2 + 3 - 56, 0) = 1), so 0:1x0:1 and same give the same 28x28x64 layer:
    # standard 28*28*64*64*9 = 28,901,376 MACs.
    per_side = cost_json("-i", "56x56x64", "-k", "3", "-f", "64", "-s", "2", "-p", "0:1x0:1")
    same = cost_json("-i", "56x56x64", "-k", "3", "-f", "64", "-s", "2", "-p", "same")
    layer, reference = per_side["layers"][0], same["layers"][0]
    assert layer["output_shape"] == [28, 28, 64]
    assert layer["standard"]["macs"] == 28 * 28 * 64 * 64 * 9 == 28_901_376
    assert layer["standard"] == reference["standard"]
    assert layer["separable"] == reference["separable"]


def test_activation_and_batch_norm_flags() -> None:
    # seed layer 8x8x256 output: hardswish 5 FLOPs per element = 81,920, apart from the
    # FLOPs; batch-norm 2 params per channel: standard +512, MACs unchanged.
    doc = cost_json("--activation", "hardswish", "--batch-norm")
    layer = doc["layers"][0]
    assert layer["activation_function_flops"] == 5 * 8 * 8 * 256 == 81_920
    assert layer["standard"]["macs"] == 1_228_800
    assert layer["standard"]["params"] == 19_200 + 2 * 256
    assert layer["standard"]["bn_params"] == 512


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (["--activation", "relu7"], "--activation"),
        (["-p", "1:2:3"], "--padding"),
        (["-p", "0:1x1:2x3:3"], "--padding"),
    ],
)
def test_bad_new_flags_name_the_flag(flags: list[str], flag: str) -> None:
    result = cost(*flags)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sepconv: error: {flag}: ")
    assert len(result.stderr.strip().splitlines()) == 1
