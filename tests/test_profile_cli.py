"""`sepconv profile` through the command line: every output format, the JSON contract of
docs/json.md, the multiplier flags and bad input.

Expected numbers are hand arithmetic, a naive counter written here, or a published count
(cited where used).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
COST_KEYS = {"macs", "flops", "params", "weight_bytes", "activation_bytes"}
LAYER_KEYS = {
    "name",
    "type",
    "form",
    "input_shape",
    "output_shape",
    "batch",
    "standard",
    "separable",
    "ratio",
}
FORMS = ("as_specified", "standard", "separable")


def run(*args: str, env: dict[str, str | None] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


def profile_json(*args: str) -> dict[str, Any]:
    result = run("profile", *args, "--format", "json", "--no-time")
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


# A naive MobileNetV1 counter (Howard et al. 2017, Table 1 and §3.3): conv 3x3/s2 to 32α
# channels, 13 depthwise-separable layers costing 9·M·DF² + M·N·DF², and a 1024α → 1000
# classifier. 'same' padding: each stride-2 layer maps DF to ceil(DF/2).
V1_BODY = [
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    *[(1, 512)] * 5,
    (2, 1024),
    (1, 1024),
]


def mobilenet_v1(alpha_num: int = 1, alpha_den: int = 1, size: int = 224) -> tuple[int, int]:
    """(MACs, params including batch-norm scale and shift) of MobileNetV1."""

    def scale(c: int) -> int:
        assert c * alpha_num % alpha_den == 0
        return c * alpha_num // alpha_den

    df = -(-size // 2)
    m = scale(32)
    macs, params = 9 * 3 * m * df * df, 9 * 3 * m + 2 * m
    for stride, channels in V1_BODY:
        df = -(-df // stride)
        n = scale(channels)
        macs += 9 * m * df * df + m * n * df * df
        params += 9 * m + 2 * m + m * n + 2 * n
        m = n
    return macs + m * 1000, params + m * 1000 + 1000


def test_naive_counter_is_the_paper() -> None:
    # Howard et al. 2017, Table 4: 569 million mult-adds; keras.applications.MobileNet()
    # summary(): 4,231,976 trainable params (weights + batch-norm scale and shift).
    macs, params = mobilenet_v1()
    assert round(macs / 1e6) == 569
    assert params == 4_231_976


# --------------------------------------------------------------------------- table


def test_table_shows_the_totals() -> None:
    result = run("profile", "mobilenet_v1", "--no-time", env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    macs, params = mobilenet_v1()
    assert f"{macs:,}" in out
    assert f"{params:,}" in out
    assert "Total" in out
    assert "MobileNetV1" in out
    assert "\x1b[" not in out  # no colour codes when stdout is not a terminal
    assert result.stderr == ""


def test_seed_example_table() -> None:
    result = run("profile", "seed_example", "--no-time", env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.stderr
    # the worked example: 1,228,800 standard vs 53,952 separable multiplications
    assert "1,228,800" in result.stdout
    assert "53,952" in result.stdout


# --------------------------------------------------------------------------- JSON


def _check_cost(cost: dict[str, Any]) -> None:
    assert cost.keys() >= COST_KEYS, COST_KEYS - cost.keys()
    for key in COST_KEYS:
        assert isinstance(cost[key], int) and not isinstance(cost[key], bool), key


@pytest.mark.parametrize("model", ["seed_example", "mobilenet_v1", "mobilenet_v2", "xception"])
def test_json_contract(model: str) -> None:
    doc = profile_json(model)
    assert doc["schema"] == "sepconv/profile/v1"
    assert isinstance(doc["model"], str) and doc["model"]
    assert isinstance(doc["input_shape"], list) and all(
        isinstance(n, int) for n in doc["input_shape"]
    )
    assert doc["batch"] == 1
    assert isinstance(doc["machine"], dict)
    assert set(doc["totals"]) >= set(FORMS)
    for form in FORMS:
        _check_cost(doc["totals"][form])
    assert doc["layers"]
    for row in doc["layers"]:
        assert row.keys() >= LAYER_KEYS, LAYER_KEYS - row.keys()
        assert row["form"] in ("standard", "grouped", "separable", "depthwise", "none")
        assert row["batch"] == 1
        _check_cost(row["standard"])
        _check_cost(row["separable"])
        _check_cost(row["separable"]["depthwise"])
        _check_cost(row["separable"]["pointwise"])
        assert {"macs", "params"} <= row["ratio"].keys()
        if row["standard"]["macs"]:
            assert row["ratio"]["macs"] == pytest.approx(
                row["separable"]["macs"] / row["standard"]["macs"], abs=1e-6
            )
        else:
            assert row["ratio"]["macs"] is None
    # totals are the plain sum of the rows (repeats already counted inside a row)
    for form in FORMS:
        for key in ("macs", "flops", "params", "bn_params", "weight_bytes"):
            assert doc["totals"][form][key] == sum(row[form][key] for row in doc["layers"])
    # the first layer sees the model's input
    assert doc["layers"][0]["input_shape"] == doc["input_shape"]


def test_json_matches_the_naive_counter() -> None:
    doc = profile_json("mobilenet_v1")
    assert (
        doc["totals"]["as_specified"]["macs"],
        doc["totals"]["as_specified"]["params"],
    ) == mobilenet_v1()


def test_separable_parts_add_up() -> None:
    doc = profile_json("xception")
    for row in doc["layers"]:
        sep = row["separable"]
        parts = (
            sep["depthwise"]["macs"]
            + sep["pointwise"]["macs"]
            + sep.get("other", {"macs": 0})["macs"]
        )
        assert parts == sep["macs"], row["name"]


def test_batch_flag() -> None:
    one, three = profile_json("seed_example"), profile_json("seed_example", "--batch", "3")
    assert three["batch"] == 3
    assert three["totals"]["standard"]["macs"] == 3 * 1_228_800
    assert three["totals"]["standard"]["params"] == one["totals"]["standard"]["params"]


# --------------------------------------------------------------------------- CSV, markdown


def test_csv_one_row_per_layer() -> None:
    doc = profile_json("mobilenet_v2")
    result = run("profile", "mobilenet_v2", "--format", "csv", "--no-time")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(doc["layers"])
    for row, layer in zip(rows, doc["layers"], strict=True):
        assert row["name"] == layer["name"]
        assert row["type"] == layer["type"]
        assert int(row["standard_macs"]) == layer["standard"]["macs"]
        assert int(row["separable_macs"]) == layer["separable"]["macs"]
    assert sum(int(r["standard_macs"]) for r in rows) == doc["totals"]["standard"]["macs"]


def test_markdown() -> None:
    result = run("profile", "mobilenet_v1", "--format", "markdown", "--no-time")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    table = [line for line in lines if line.startswith("|")]
    # a header, the alignment row, 12 layer rows (sep7 ×5 is one row) and total rows
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1])
    assert len({line.count("|") for line in table}) == 1, "ragged markdown table"
    assert any("sep7" in line for line in table)
    macs, params = mobilenet_v1()
    assert f"{macs:,}" in out and f"{params:,}" in out
    assert "\x1b[" not in out


# --------------------------------------------------------------------------- multipliers


def test_width_and_resolution_flags_change_counts_as_expected() -> None:
    doc = profile_json("mobilenet_v1", "--width-multiplier", "0.5", "--resolution", "160")
    assert doc["input_shape"] == [160, 160, 3]
    macs, params = mobilenet_v1(1, 2, 160)
    assert doc["totals"]["as_specified"]["macs"] == macs
    assert doc["totals"]["as_specified"]["params"] == params
    # the short forms, and resolution as one value per dim
    short = profile_json("mobilenet_v1", "-a", "0.5", "-r", "160x160")
    assert short["totals"] == doc["totals"]


def test_no_time_is_accepted() -> None:
    result = run("profile", "seed_example", "--no-time", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "timing" not in json.loads(result.stdout)["layers"][0]


# --------------------------------------------------------------------------- bad input


def bad(*args: str) -> str:
    result = run("profile", *args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    err: str = result.stderr
    assert "Traceback" not in err
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sepconv: error: ")
    return err


def test_unknown_preset_did_you_mean() -> None:
    err = bad("mobilenet_v11")
    assert "did you mean 'mobilenet_v1'" in err


def test_missing_file() -> None:
    err = bad("no/such/model.yaml")
    assert "no/such/model.yaml" in err


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "1e9", ""])
def test_bad_width_multiplier(value: str) -> None:
    err = bad("mobilenet_v1", "--width-multiplier", value)
    assert "--width-multiplier" in err


@pytest.mark.parametrize("value", ["0", "-5", "abc", "160x160x3", "1.5", ""])
def test_bad_resolution(value: str) -> None:
    err = bad("mobilenet_v1", "--resolution", value)
    assert "--resolution" in err


def test_resolution_too_small_for_valid_padding_names_the_layer() -> None:
    # Xception's second conv is a valid 3x3: at 3 px the first (valid, stride 2) gives
    # 1x1 and the second would be empty
    err = bad("xception", "--resolution", "3")
    assert "layers[1]" in err and "xception.yaml:" in err


@pytest.mark.parametrize("value", ["0", "-2", "x"])
def test_bad_batch(value: str) -> None:
    err = bad("seed_example", "--batch", value)
    assert "--batch" in err
