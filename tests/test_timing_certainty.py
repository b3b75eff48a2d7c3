"""Timings that say how sure they are (execution/certainty.py): at least 5 samples when the
budget buys them, ``1 run`` in a column no width drops when it does not, a part slower than
its whole and a whole graph slower than its layers flagged, and advice that names what would
help given the run's settings.

Every measurement here is constructed (fake clock, hand-made records): no test depends on
how fast this machine is.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console

from sepconv_cli.analysis.bench import BenchReport, RuntimeRun, bench_dict
from sepconv_cli.analysis.interactive import Session
from sepconv_cli.counting.report import LayerReport, ProfileReport, profile_report
from sepconv_cli.execution.certainty import (
    MIN_RUNS,
    RunConditions,
    advice,
    budget_for_min_runs,
    checked,
    inconsistent_parts,
    summary_lines,
)
from sepconv_cli.execution.records import FormTiming, LayerTiming, ProfileTiming
from sepconv_cli.execution.runtimes.base import RuntimeInfo
from sepconv_cli.execution.runtimes.whole_graph import WholeForm, WholeGraph
from sepconv_cli.execution.timing import TimingSettings, measure
from sepconv_cli.output.bench import bench_table
from sepconv_cli.output.cost_table import cost_table
from sepconv_cli.output.profile_table import ProfileTable
from sepconv_cli.output.whole_graph import footer_lines

CEILINGS = {"gemm_gflops": 100.0, "bandwidth_gbs": 20.0}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Work:
    def __init__(self, clock: FakeClock, cost: float) -> None:
        self.clock, self.cost, self.calls = clock, cost, 0

    def __call__(self) -> None:
        self.calls += 1
        self.clock.now += self.cost


def form(
    median: float, runs: int = 9, low: float | None = None, high: float | None = None
) -> FormTiming:
    """A measurement of ``runs`` samples around ``median`` (range ±5% unless given)."""
    low = median * 0.95 if low is None else low
    high = median * 1.05 if high is None else high
    return FormTiming(median, low, high, (high - low) / 2, runs, 1.0)


def record(
    standard: FormTiming, separable: FormTiming, dw: FormTiming, pw: FormTiming, **kw: Any
) -> LayerTiming:
    speedup = standard.median_s / separable.median_s
    return checked(LayerTiming(standard, separable, dw, pw, speedup, **kw))


def render(renderable: Any, width: int = 80) -> str:
    out = io.StringIO()
    Console(file=out, width=width, no_color=True, force_terminal=False).print(renderable)
    return out.getvalue()


# --------------------------------------------------------------------------- enough samples


def test_a_budget_too_short_for_five_long_samples_takes_five_shorter_ones() -> None:
    clock = FakeClock()
    work = Work(clock, 0.001)  # 1 ms a call; 10 ms samples would be 20 calls each
    settings = TimingSettings(min_time_s=0.01, budget_s=0.06)
    start = clock.now
    stats = measure(work, settings, clock=clock)
    # after warm-up and calibration (1 + 1 + 20 calls) 38 ms are left: 5 samples of 20 calls
    # would need 100 ms, so the samples shrink to 9 calls and five fit
    assert stats.runs >= MIN_RUNS
    assert clock.now - start <= settings.budget_s + 1e-9


def test_the_default_asks_for_five_samples() -> None:
    assert TimingSettings().min_repeats == MIN_RUNS == 5


def test_a_call_longer_than_its_budget_is_one_run_and_flagged() -> None:
    clock = FakeClock()
    stats = measure(Work(clock, 0.5), TimingSettings(budget_s=0.3), clock=clock)
    assert stats.runs == 1
    timing = record(stats.timing(1), form(0.01), form(0.004), form(0.005))
    assert timing.few_runs == ("standard",)


# --------------------------------------------------------------------------- the checks


def test_a_part_slower_than_its_whole_beyond_the_spread_is_inconsistent() -> None:
    # the interactive report of the issue: every form once, pointwise slower than the whole
    once = record(form(0.05, 1), form(0.004, 1), form(0.001, 1), form(0.0045, 1))
    assert once.inconsistent == ("pointwise",)
    assert once.few_runs == ("standard", "separable", "depthwise", "pointwise")
    # with a spread, overlapping ranges are noise the spread allows
    overlap = record(
        form(0.05), form(0.004, low=0.0038, high=0.0050), form(0.001), form(0.0042, low=0.0039)
    )
    assert overlap.inconsistent == ()
    apart = record(form(0.05), form(0.004, high=0.0041), form(0.001), form(0.0045, low=0.0043))
    assert inconsistent_parts(apart) == ("pointwise",)


def test_a_whole_graph_slower_than_its_layers_is_inconsistent_but_faster_never() -> None:
    slow = WholeForm("separable", 0.020, 0.015, 0.030, 0.005, 9, sum_of_layers_s=0.010)
    assert slow.inconsistent  # fastest whole run 15 ms > 10 ms for every layer
    spread = replace(slow, sum_of_slowest_s=0.016)
    assert not spread.inconsistent  # within the layers' slowest runs summed
    fused = WholeForm("separable", 0.005, 0.004, 0.006, 0.001, 9, sum_of_layers_s=0.010)
    assert not fused.inconsistent  # what fusion and one call instead of many buy
    assert json.loads(json.dumps(slow.as_dict()))["inconsistent"] is True


@pytest.mark.parametrize(
    ("conditions", "kinds", "said", "not_said"),
    [
        # one thread already: never "try --threads 1"
        (RunConditions(1, 1.0, 0.3, 2), {"noisy": True}, ["run it again"], ["--threads"]),
        (RunConditions(4, 1.0, 0.3, 2), {"noisy": True}, ["--threads 1 (this run used 4)"], []),
        (RunConditions(1, 1.0, 7.0, 2), {"noisy": True}, ["load 7.0 on 2 cores"], ["--threads"]),
        (
            RunConditions(1, 1.0, 0.3, 2),
            {"few": True, "wanted_budget_s": 5.0},
            ["--time-budget 5s (this run had 1s per layer)"],
            ["--threads", "quieter"],
        ),
    ],
)
def test_advice_names_what_would_help_given_the_settings(
    conditions: RunConditions, kinds: dict[str, Any], said: list[str], not_said: list[str]
) -> None:
    text = advice(conditions, **kinds)
    for words in said:
        assert words in text
    for words in not_said:
        assert words not in text


def test_the_budget_that_buys_five_runs() -> None:
    # 0.2 s a call, at least 15 % of the layer's budget: 6 calls need 8 s -> 10 s
    assert budget_for_min_runs(0.2) == 10.0
    assert budget_for_min_runs(0.2, share=1.0) == 2.0  # a whole graph gets the whole budget


def test_sure_times_say_nothing() -> None:
    sure = record(form(0.05), form(0.01), form(0.004), form(0.005))
    assert not sure.uncertain
    assert summary_lines([("conv", sure, 1)], RunConditions(1, 1.0, 0.1, 2)) == []


# --------------------------------------------------------------------------- cost and interactive


def seed_layer(timing: LayerTiming) -> LayerReport:
    return replace(Session().report(), timing=replace(timing, threads=1, budget_s=1.0))


# the interactive report of the issue: every form once, the pointwise part slower than the
# whole separable form
UNSURE_PARTS = (form(0.05, 1), form(0.004, 1), form(0.001, 1), form(0.0045, 1))


@pytest.mark.parametrize("width", [80, 60])
def test_cost_says_one_run_at_every_width_and_flags_the_part(width: int) -> None:
    layer = seed_layer(record(*UNSURE_PARTS, load_1m=0.2))
    text = render(cost_table(layer), width)
    measured = text[text.index("Measured on this machine") :]
    assert "Runs" in measured and "1 run" in measured
    assert "+ pointwise !" in measured
    assert "Inconsistent (!): the pointwise part" in " ".join(measured.split())
    assert "What would help:" in measured
    # already one thread: the old advice ("try --threads 1") is not given
    assert "--threads 1" not in measured


def test_cost_json_records_the_doubts() -> None:
    timing = record(*UNSURE_PARTS, load_1m=0.5)
    data = timing.as_dict()
    assert data["few_runs"] == ["standard", "separable", "depthwise", "pointwise"]
    assert data["inconsistent"] == ["pointwise"]
    assert data["load_1m"] == 0.5
    sure = record(form(0.05), form(0.01), form(0.004), form(0.005)).as_dict()
    assert "few_runs" not in sure and "inconsistent" not in sure


def fixed_timer(timing: LayerTiming) -> Any:
    def timer(report: LayerReport) -> LayerReport:
        return replace(report, timing=timing)

    return timer


def test_interactive_time_applies_the_same_checks() -> None:
    # unchecked on purpose: the session's time command must check it itself
    raw = LayerTiming(*UNSURE_PARTS, speedup=12.0, threads=1, budget_s=1.0)
    session = Session(timer=fixed_timer(raw), ceilings=lambda: dict(CEILINGS))
    reply = session.handle("time")
    if reply.report is not None:  # the full table: the cost table's checks
        assert reply.report.timing is not None
        assert reply.report.timing.inconsistent == ("pointwise",)
        text = render(cost_table(reply.report))
        assert "1 run" in text and "Inconsistent" in text
    else:  # too small to time: the medians line says it instead
        assert "[1 run]" in reply.message and "!" in reply.message
        assert "What would help:" in reply.message


def test_interactive_medians_line_says_one_run_on_a_layer_too_small() -> None:
    raw = LayerTiming(
        form(200e-6, 1), form(150e-6, 1), form(5.6e-6, 1), form(120e-6, 1), 1.3, threads=1
    )
    reply = Session(timer=fixed_timer(raw), ceilings=lambda: dict(CEILINGS)).handle("time")
    assert reply.warning and reply.report is None
    first = reply.message.splitlines()[0]
    assert first.startswith("Measured (NumPy, medians): standard 200 µs [1 run]")
    assert "Fewer than 5 runs" in reply.message


# --------------------------------------------------------------------------- profile and bench


def mobilenet(timings: list[LayerTiming]) -> ProfileReport:
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.presets import resolve_model

    report = profile_report(build(resolve_model("mobilenet_v1")))
    layers = tuple(
        replace(lr, timing=replace(t, threads=1, budget_s=0.5))
        for lr, t in zip(report.layers, timings, strict=False)
    )
    summary = ProfileTiming(
        len(layers), 0, 1.0, 2.0, 1.0, TimingSettings(budget_s=0.5, threads=1), 2.0
    )
    return replace(report, layers=layers, timing=summary)


def test_profile_shows_a_runs_column_that_no_width_drops() -> None:
    sure = record(form(0.05), form(0.01), form(0.004), form(0.005))
    unsure = record(*UNSURE_PARTS)
    report = mobilenet([unsure] + [sure] * 11)
    for width in (80, 70):
        text = render(ProfileTable(report, show_all=True), width)
        header = next(line for line in text.splitlines() if "Layer" in line)
        assert "Runs" in header
        conv1 = next(line for line in text.splitlines() if line.lstrip().startswith("conv1"))
        assert "1 run" in conv1
        if width == 80:  # narrower, the speed-up's mark may fold onto a second line
            assert "12.50× !" in conv1
    footer = " ".join(text.split())
    assert "Fewer than 5 runs: conv1 (1 run)" in footer
    assert "Inconsistent (!): conv1" in footer
    assert "try --threads 1" not in footer
    # no Runs column when every row is sure: the table is as it was
    plain = render(ProfileTable(mobilenet([sure] * 12), show_all=True), 80)
    assert "Runs" not in plain and "What would help" not in plain


def bench_report(ort: LayerTiming, whole: WholeGraph | None = None) -> BenchReport:
    sure = record(form(0.05), form(0.01), form(0.004), form(0.005))
    counted = mobilenet([sure] * 12)
    info = RuntimeInfo("onnxruntime", "1.0", "cpu", "CPUExecutionProvider", 1, "all")
    numpy_info = RuntimeInfo("numpy", "2.0", "cpu", "cpu", 1)
    ort_layers = (replace(counted.layers[0], timing=ort), *counted.layers[1:])
    runs = (
        RuntimeRun("numpy", numpy_info, counted.layers),
        RuntimeRun("onnxruntime", info, ort_layers),
    )
    return BenchReport("MobileNetV1", counted, runs, TimingSettings(budget_s=0.5), whole)


def test_bench_flags_like_the_others_and_warns() -> None:
    unsure = replace(record(*UNSURE_PARTS), threads=1, budget_s=0.5)
    text = render(bench_table(bench_report(unsure)), 80)
    conv1 = next(line for line in text.splitlines() if line.lstrip().startswith("conv1"))
    assert "1 run" in conv1 and "!" in conv1
    flat = " ".join(text.split())
    assert "ORT: Fewer than 5 runs: conv1 (1 run)" in flat
    assert "ORT: Inconsistent (!): conv1" in flat
    assert "What would help:" in flat
    entry = bench_dict(bench_report(unsure))["layers"][0]["runtimes"]["onnxruntime"]
    assert entry["runs"] == 1 and entry["inconsistent"] == ["pointwise"]
    assert "few_runs" in entry


def test_bench_warns_of_a_whole_graph_off_its_layers() -> None:
    sure = replace(record(form(0.05), form(0.01), form(0.004), form(0.005)), threads=1)
    info = RuntimeInfo("onnxruntime", "1.0", "cpu", "CPUExecutionProvider", 1, "all")
    # two nearly equal graphs 2.4x apart: the slower one's fastest run is past its layers
    whole = WholeGraph(
        info,
        (
            WholeForm("as_specified", 0.010, 0.009, 0.011, 0.001, 9, sum_of_layers_s=0.012),
            WholeForm("separable", 0.024, 0.020, 0.050, 0.01, 9, sum_of_layers_s=0.012),
        ),
        budget_s=0.5,
    )
    whole = whole.with_sums(
        {"as_specified": 0.012, "separable": 0.012},
        0,
        {"as_specified": 0.013, "separable": 0.013},
    )
    text = " ".join(render(bench_table(bench_report(sure, whole)), 80).split())
    assert "separable 24.0 ms !" in text
    assert "Inconsistent: the whole separable graph's fastest run (20 ms)" in text
    assert "What would help:" in text
    # profile's footer (with_whole_graph) says it too
    lines = " ".join(footer_lines(whole))
    assert "Whole graph: Inconsistent: the whole separable graph" in lines


# --------------------------------------------------------------------------- a real terminal


def test_interactive_timing_at_80_columns_keeps_the_runs_column() -> None:
    """``time`` and ``time onnxruntime`` in a real 80-column terminal: the measured table
    keeps its Runs column, and no line is wider than the terminal. The times themselves are
    whatever this machine gives: only the layout is asserted."""
    import importlib.util
    import os
    import re
    import sys

    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "COLUMNS": "80", "LINES": "50", "NO_COLOR": "1", "TERM": "xterm"}
    env.pop("XDG_STATE_HOME", None)  # the private HOME's state directory (conftest)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "sepconv_cli", "interactive"],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 80),
    )
    prompt = "sepconv> "
    child.expect_exact(prompt)
    child.sendline("input 56x56x64")
    child.expect_exact(prompt)
    commands = ["time"]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        commands.append("time onnxruntime")
    for command in commands:
        child.sendline(command)
        child.expect_exact(prompt, timeout=120)
        # Rich still bolds under NO_COLOR: widths are of the characters shown
        shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before.replace("\r", ""))
        assert "Traceback" not in shown
        measured = shown[shown.index("Measured on this machine") :]
        header = next(line for line in measured.splitlines() if "Median" in line)
        assert "Runs" in header, measured
        assert all(len(line) <= 80 for line in measured.splitlines()), measured
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_csv_says_how_sure_each_time_is() -> None:
    """A timed profile's CSV carries each part's sample count and the flagged parts, equal
    to the JSON's (the table's Runs column and marks, for a spreadsheet)."""
    import csv
    import io
    import json

    from typer.testing import CliRunner

    from sepconv_cli.cli.app import app

    runner = CliRunner()
    args = ["profile", "mobilenet_v1", "-r", "64", "-a", "0.25", "--time", "--time-budget", "0.5"]
    as_csv = runner.invoke(app, [*args, "--format", "csv", "-q"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows and all(int(r["standard_runs"]) >= 1 for r in rows)
    for part in ("separable", "depthwise", "pointwise"):
        assert all(r[f"{part}_runs"].isdigit() for r in rows)
    as_json = runner.invoke(app, [*args, "--format", "json", "-q"])
    layers = json.loads(as_json.stdout)["layers"]
    assert [r["name"] for r in rows] == [layer["name"] for layer in layers]
    assert {"noisy", "few_runs", "inconsistent"} <= set(rows[0])
