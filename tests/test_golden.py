"""Golden output of the rendered profile table, and a torchinfo-style consistency check.

The golden files under ``tests/golden/`` are the exact text ``sepconv profile MODEL`` prints
when stdout is not a terminal and ``COLUMNS=160`` (the CLI's console then renders at
``COLUMNS`` columns, without colour). After an intended change to the table,
regenerate them and review the diff:

    pytest tests/test_golden.py --update-golden

Trailing spaces are ignored (Rich pads lines to the console width) so that editors that
strip them do not break the comparison.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

GOLDEN = Path(__file__).parent / "golden"
# a fixed, colourless, non-interactive rendering whatever the environment running the tests
ENV: dict[str, str | None] = {
    "COLUMNS": "160",
    "LINES": "50",
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
    "TERM": "dumb",
}
runner = CliRunner()


def render(*args: str) -> str:
    result = runner.invoke(app, ["profile", *args, "--no-time"], env=ENV)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    out: str = result.stdout
    return out


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


# the torchvision presets pin the new block types' rows (squeeze-excite, explicit widths,
# activations, projection shortcuts, branches, concat and shuffle) as a table
GOLDEN_MODELS = [
    "seed_example",
    "mobilenet_v1",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "mnasnet1_0",
    "resnet50",
    "shufflenet_v2_x1_0",
    "convnext_tiny",
    "efficientnet_v2_s",
    "regnet_y_400mf",
]


@pytest.mark.parametrize("model", GOLDEN_MODELS)
def test_profile_table_golden(model: str, request: pytest.FixtureRequest) -> None:
    actual = normalise(render(model))
    path = GOLDEN / f"profile_{model}.txt"
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run pytest with --update-golden"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"the rendered table differs from {path.name}; if the change is intended, "
        "run pytest tests/test_golden.py --update-golden and review the diff"
    )


def test_table_fits_the_console_width() -> None:
    for model in ("seed_example", "mobilenet_v1", "mobilenet_v2", "xception"):
        out = render(model)
        assert "\x1b[" not in out
        widest = max(len(line.rstrip()) for line in out.splitlines())
        assert widest <= 160, (model, widest)


# --------------------------------------------------------------------------- consistency

FOOTER = re.compile(
    r"^(As specified|All standard|All separable)\s*:\s*([\d,]+) MACs, "
    r"([\d,]+) params"
)
FOOTER_FORMS = {
    "As specified": "as_specified",
    "All standard": "standard",
    "All separable": "separable",
}


def printed_totals(table: str) -> dict[str, tuple[int, int]]:
    """The exact totals the table prints under itself, by form."""
    found = {}
    for line in table.splitlines():
        match = FOOTER.match(line.strip())
        if match:
            label, macs, params = match.groups()
            found[FOOTER_FORMS[label]] = (int(macs.replace(",", "")), int(params.replace(",", "")))
    return found


@pytest.mark.parametrize("model", ["seed_example", "mobilenet_v1", "mobilenet_v2", "xception"])
def test_rows_sum_to_the_printed_totals(model: str) -> None:
    # torchinfo's check: the per-layer values of the report add up exactly to the totals
    # the table prints, for every form.
    result = runner.invoke(app, ["profile", model, "--format", "json", "--no-time"], env=ENV)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    printed = printed_totals(render(model))
    assert set(printed) == {"as_specified", "standard", "separable"}, printed
    for form, (macs, params) in printed.items():
        rows = [row[form] for row in doc["layers"]]
        assert sum(row["macs"] for row in rows) == macs, form
        assert sum(row["params"] for row in rows) == params, form
        assert doc["totals"][form]["macs"] == macs
        assert doc["totals"][form]["params"] == params


@pytest.mark.parametrize("model", ["mobilenet_v1", "xception"])
def test_markdown_rows_sum_to_its_exact_totals(model: str) -> None:
    result = runner.invoke(app, ["profile", model, "--format", "json", "--no-time"], env=ENV)
    doc: dict[str, Any] = json.loads(result.stdout)
    md = runner.invoke(app, ["profile", model, "--format", "markdown", "--no-time"], env=ENV)
    assert md.exit_code == 0, md.stderr
    for form in ("as_specified", "standard", "separable"):
        macs = sum(row[form]["macs"] for row in doc["layers"])
        params = sum(row[form]["params"] for row in doc["layers"])
        assert f"{macs:,} MACs, {params:,} params" in md.stdout, form
