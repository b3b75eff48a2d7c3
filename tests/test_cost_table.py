"""What the cost table says besides its numbers: the layer header, the colour of the
separable column, and the 1×1 note (with its JSON convention)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group
from rich.text import Text
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.report import LayerReport
from sepconv_cli.output.cost_table import cost_table
from sepconv_cli.output.fit import Both, FitTable

runner = CliRunner()
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def out(*args: str) -> str:
    result = runner.invoke(app, ["cost", *args], env=ENV)
    assert result.exit_code == 0, result.output
    text: str = result.stdout
    return text


def doc(*args: str) -> Any:
    return json.loads(out(*args, "--format", "json"))


def test_header_names_the_depth_multiplier_and_the_bias() -> None:
    first = out("-m", "2", "--bias").splitlines()[0]
    assert first == "layer: conv, 5×5, 3→256 channels, depth multiplier 2, bias"
    assert out().splitlines()[0] == "layer: conv, 5×5, 3→256 channels"


def test_one_by_one_conv_says_it_has_one_form() -> None:
    text = out("-k", "1", "-i", "12x12x8", "-f", "32")
    assert "A 1×1 conv is already pointwise: it has one form, so separable = standard." in text
    assert "already pointwise" not in out()
    conventions = doc()["conventions"]
    assert "nothing spatial to separate" in conventions["one_by_one"]


def _separable_styles(report: LayerReport) -> dict[str, str]:
    group = cost_table(report)
    assert isinstance(group, Group)
    table = next(r for r in group.renderables if isinstance(r, FitTable))
    styles = {}
    for row in table.rows:
        label, cell = row.cells[0], row.cells[2]
        assert isinstance(label, str) and isinstance(cell, Both)
        assert isinstance(cell.wide, Text)
        styles[label] = str(cell.wide.style)
    return styles


def test_separable_is_green_only_where_it_costs_less() -> None:
    from sepconv_cli.analysis.interactive import Session

    report = Session().report()  # the worked example: 5×5, 3 → 256 on 12×12×3
    layer = doc()["layers"][0]
    styles = _separable_styles(report)
    # by hand, float32: input 12·12·3·4 = 1,728 bytes, output 8·8·256·4 = 65,536; the
    # separable form adds the depthwise output 8·8·3·4 = 768: 68,032 against 67,264, worse
    assert layer["standard"]["activation_bytes"] == 1_728 + 65_536
    assert layer["separable"]["activation_bytes"] == 1_728 + 768 + 65_536
    assert styles["Activation bytes"] == "red"
    for label in ("MACs", "FLOPs", "Parameters", "Weight bytes"):
        assert styles[label] == "green", label
    assert styles["FLOPs / byte"] == ""  # higher is better there: not coloured as a cost


def _timed(depthwise_s: float, pointwise_s: float, separable_s: float = 0.0) -> LayerReport:
    """The seed layer with made-up medians: the separable form is its two parts (or
    ``separable_s``, as a runtime that fuses them measures it)."""
    from dataclasses import replace

    from sepconv_cli.counting.report import single_layer_report
    from sepconv_cli.execution.records import FormTiming, LayerTiming
    from sepconv_cli.spec.flags import SEED_LAYER, layer_from_flags

    def form(median: float) -> FormTiming:
        return FormTiming(median, median, median, 0.0, 9, 1.0)

    separable = separable_s or depthwise_s + pointwise_s
    timing = LayerTiming(
        form(10 * separable), form(separable), form(depthwise_s), form(pointwise_s), 10.0
    )
    return replace(single_layer_report(layer_from_flags(dict(SEED_LAYER))), timing=timing)


def _timing_text(layer: LayerReport) -> str:
    from rich.console import Console

    from sepconv_cli.output.cost_table import cost_tables

    console = Console(width=200, record=True, color_system=None)
    console.print(cost_tables([layer]))
    return console.export_text()


def test_a_depthwise_part_too_short_to_time_names_no_bound() -> None:
    # 11 µs of depthwise (9% of the MACs, half the time) is mostly per-call overhead
    text = _timing_text(_timed(11e-6, 11e-6))
    assert "memory-bound" not in text
    assert "too short to tell memory traffic from per-call overhead" in text


def test_a_long_depthwise_part_with_a_large_time_share_is_memory_bound() -> None:
    # 9% of the separable MACs (4,800 of 53,952) in 50% of its time: 0.5 > 1.5 × 0.089
    text = _timing_text(_timed(500e-6, 500e-6))
    assert "(memory-bound)" in text


def test_time_shares_are_of_the_parts_and_add_up_when_the_whole_form_is_faster() -> None:
    # ONNX Runtime runs the separable form in one session faster than its two parts timed
    # alone (0.633 + 1.493 ms parts, 1.511 ms whole, measured): the shares are of the parts'
    # 2.126 ms, 30% and 70%, not 42% and 99% of the whole
    text = _timing_text(_timed(0.633e-3, 1.493e-3, separable_s=1.511e-3))
    rows = {
        line.split()[1]: line.split()[-1]
        for line in text.splitlines()
        if line.lstrip().startswith(("= depthwise", "+ pointwise"))
    }
    assert rows == {"depthwise": "30%", "pointwise": "70%"}
