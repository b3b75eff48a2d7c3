"""Timing logic with an injected fake clock: no test here depends on real elapsed time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sepconv_cli.counting.lowering import Forms
from sepconv_cli.counting.ops import Conv, ConvRole, Dense, Op
from sepconv_cli.counting.shapes import resolve_padding
from sepconv_cli.execution import machine
from sepconv_cli.execution.records import FormTiming, LayerTiming
from sepconv_cli.execution.timing import (
    Stats,
    TimingSettings,
    iqr,
    measure,
    part_indices,
    thread_limit,
    time_forms,
)


class FakeClock:
    """A clock that only moves when the measured function says it took time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


class Work:
    """A function that 'takes' the next cost from a list (the last one repeats)."""

    def __init__(self, clock: FakeClock, costs: list[float]) -> None:
        self.clock, self.costs, self.calls = clock, list(costs), 0

    def __call__(self) -> None:
        cost = self.costs[min(self.calls, len(self.costs) - 1)]
        self.calls += 1
        self.clock.now += cost


def test_warmup_calls_are_made_and_not_reported() -> None:
    clock = FakeClock()
    # warm-up calls are slow (cold caches); samples must not see them
    work = Work(clock, [0.5, 0.4, 0.01])
    s = TimingSettings(min_time_s=0.0, warmup=2, max_repeats=5, min_repeats=5, budget_s=10.0)
    stats = measure(work, s, clock=clock)
    assert stats.runs == 5
    assert stats.loops == 1
    assert stats.max_s == pytest.approx(0.01)
    # 2 warm-up + 5 samples, the first of them the calibration run
    assert work.calls == 7


def test_auto_ranging_reaches_the_minimum_sample_time() -> None:
    clock = FakeClock()
    work = Work(clock, [0.001])  # 1 ms per call
    s = TimingSettings(min_time_s=0.010, warmup=1, max_repeats=4, min_repeats=4, budget_s=10.0)
    stats = measure(work, s, clock=clock)
    # 1 call = 1 ms < 10 ms -> aim for 10 ms * 1.1 -> next 1-2-5 step is 20 calls
    assert stats.loops == 20
    assert stats.loops * stats.median_s >= s.min_time_s
    assert stats.median_s == pytest.approx(0.001)
    # warm-up, calibration with 1 call, then 4 samples of 20 (the first from calibration)
    assert work.calls == 1 + 1 + 4 * 20


def test_slow_call_uses_one_loop() -> None:
    clock = FakeClock()
    work = Work(clock, [0.05])
    stats = measure(work, TimingSettings(min_time_s=0.01, budget_s=10.0), clock=clock)
    assert stats.loops == 1


def test_statistics_are_exact() -> None:
    clock = FakeClock()
    # warm-up, then five samples of 3, 1, 2, 5, 4 ms (the first is the calibration run)
    work = Work(clock, [0.1, 0.003, 0.001, 0.002, 0.005, 0.004])
    s = TimingSettings(min_time_s=0.0, warmup=1, max_repeats=5, min_repeats=5, budget_s=10.0)
    stats = measure(work, s, clock=clock)
    assert stats.runs == 5
    assert stats.median_s == pytest.approx(0.003)
    assert stats.min_s == pytest.approx(0.001)
    assert stats.max_s == pytest.approx(0.005)
    # quartiles of 1..5 (linear interpolation) are 2 and 4
    assert stats.iqr_s == pytest.approx(0.002)


def test_iqr_by_hand() -> None:
    assert iqr([7.0]) == 0.0
    assert iqr([1.0, 3.0]) == pytest.approx(1.0)  # quartiles 1.5 and 2.5
    assert iqr([4.0, 1.0, 3.0, 2.0]) == pytest.approx(1.5)  # 1.75 and 3.25


@pytest.mark.parametrize("cost", [0.001, 0.03, 0.2])
def test_budget_is_respected(cost: float) -> None:
    clock = FakeClock()
    work = Work(clock, [cost])
    s = TimingSettings(min_time_s=0.01, warmup=1, max_repeats=1000, min_repeats=3, budget_s=1.0)
    start = clock.now
    stats = measure(work, s, clock=clock)
    assert clock.now - start <= s.budget_s + 1e-9
    assert stats.runs >= 3
    assert stats.runs < 1000


def test_call_longer_than_the_budget_is_measured_once() -> None:
    clock = FakeClock()
    work = Work(clock, [5.0])
    stats = measure(work, TimingSettings(budget_s=1.0, warmup=1), clock=clock)
    assert (stats.runs, stats.median_s, work.calls) == (1, 5.0, 1)


def test_at_least_one_sample_without_budget() -> None:
    clock = FakeClock()
    work = Work(clock, [0.01])
    stats = measure(work, TimingSettings(budget_s=0.0, warmup=0, min_time_s=0.0), clock=clock)
    assert stats.runs == 1
    assert work.calls == 2  # the cold calibration call is not a sample without a warm-up


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        TimingSettings(max_repeats=0)
    with pytest.raises(ValueError):
        TimingSettings(threads=0)
    for bad in ({"budget_s": -1.0}, {"budget_s": float("nan")}, {"min_time_s": float("inf")}):
        with pytest.raises(ValueError):
            TimingSettings(**bad)  # type: ignore[arg-type]
    TimingSettings(budget_s=float("inf"))  # no limit: max_repeats bounds each measurement


def test_infinite_budget_stops_at_max_repeats() -> None:
    clock = FakeClock()
    work = Work(clock, [0.001])
    s = TimingSettings(min_time_s=0.0, max_repeats=4, budget_s=float("inf"))
    assert measure(work, s, clock=clock).runs == 4


def test_stats_record_and_gflops() -> None:
    record = Stats(0.002, 0.001, 0.004, 0.001, 7, 3).timing(flops=4_000_000).as_dict()
    assert record == {
        "median_s": 0.002,
        "min_s": 0.001,
        "max_s": 0.004,
        "iqr_s": 0.001,
        "runs": 7,
        "gflops": 2.0,
    }
    assert Stats.of([], 1).timing(10).gflops == 0.0


def test_scale_timing_scales_times_only() -> None:
    none = FormTiming(0.0, 0.0, 0.0, 0.0, 0, 0.0)
    rec = LayerTiming(
        standard=FormTiming(1.0, 0.5, 2.0, 0.25, 3, 5.0),
        separable=FormTiming(0.5, 0.25, 1.0, 0.125, 4, 6.0),
        depthwise=FormTiming(0.2, 0.1, 0.4, 0.0, 3, 1.0),
        pointwise=none,
        speedup=2.0,
    )
    assert rec.scaled(5) == LayerTiming(
        standard=FormTiming(5.0, 2.5, 10.0, 1.25, 3, 5.0),
        separable=FormTiming(2.5, 1.25, 5.0, 0.625, 4, 6.0),
        depthwise=FormTiming(1.0, 0.5, 2.0, 0.0, 3, 1.0),
        pointwise=none,
        speedup=2.0,
    )


# --------------------------------------------------------------------------- time_forms


def _conv(
    shape: tuple[int, ...], cout: int, k: int, groups: int = 1, role: ConvRole = "conv"
) -> Conv:
    kernel = (k, k)
    pads = resolve_padding("same", shape[:-1], kernel, (1, 1), (1, 1))
    return Conv(shape, cout, kernel, (1, 1), (1, 1), pads, groups=groups, role=role)


def separable_forms() -> Forms:
    from sepconv_cli.counting.ops import BatchNorm

    shape = (8, 8, 4)
    std = (_conv(shape, 6, 3), BatchNorm((8, 8, 6)))
    sep = (
        _conv(shape, 4, 3, groups=4, role="depthwise"),
        BatchNorm((8, 8, 4)),
        _conv((8, 8, 4), 6, 1, role="pointwise"),
        BatchNorm((8, 8, 6)),
    )
    return Forms("separable", sep, std, sep)


class TickClock(FakeClock):
    """Every read advances time by 1 ms: deterministic, whatever the kernels really take."""

    def __call__(self) -> float:
        self.now += 0.001
        return super().__call__()


def test_time_forms_returns_the_design_record() -> None:
    clock = TickClock()
    s = TimingSettings(min_time_s=0.0, max_repeats=3, min_repeats=3, budget_s=100.0)
    forms = separable_forms()
    record = time_forms(forms, 2, "float32", s, clock=clock).as_dict()
    keys = {"median_s", "min_s", "max_s", "iqr_s", "runs", "gflops"}
    assert set(record) == {"standard", "separable", "speedup"}
    assert set(record["standard"]) == keys
    assert set(record["separable"]) == keys | {"depthwise", "pointwise"}
    assert set(record["separable"]["depthwise"]) == keys
    assert set(record["separable"]["pointwise"]) == keys
    assert record["speedup"] == record["standard"]["median_s"] / record["separable"]["median_s"]
    flops = sum(op.cost(2, 4).flops for op in forms.standard)
    assert record["standard"]["gflops"] == pytest.approx(
        flops / record["standard"]["median_s"] / 1e9, rel=1e-5
    )
    for part in (record["standard"], record["separable"], record["separable"]["depthwise"]):
        assert part["runs"] == 3
    json.dumps(record)  # plain JSON types only


def test_time_forms_spends_its_budget_in_fake_time() -> None:
    clock = TickClock()
    s = TimingSettings(min_time_s=0.0, max_repeats=1000, min_repeats=1, budget_s=0.5)
    start = clock.now
    time_forms(separable_forms(), 1, "float32", s, clock=clock)
    # each measurement stops before its share; a few reads of slack per measurement
    assert clock.now - start <= s.budget_s + 0.05


def test_layers_without_a_separable_part() -> None:
    dense = (Dense((4,), 3),)
    record = time_forms(
        Forms("none", dense, dense, dense),
        1,
        "float64",
        TimingSettings(min_time_s=0.0, max_repeats=2, budget_s=10.0),
        clock=TickClock(),
    ).as_dict()
    assert record["separable"]["median_s"] == record["standard"]["median_s"]
    assert record["separable"]["depthwise"]["runs"] == 0
    assert record["separable"]["pointwise"]["median_s"] == 0.0
    assert record["speedup"] == pytest.approx(1.0)


def test_a_layer_timed_once_gets_the_whole_budget() -> None:
    dense = (Dense((4,), 3),)
    s = TimingSettings(min_time_s=0.0, max_repeats=10_000, min_repeats=1, budget_s=0.5)
    record = time_forms(
        Forms("none", dense, dense, dense), 1, "float32", s, clock=TickClock()
    ).as_dict()
    # a sample costs four clock reads (4 ms): the whole 0.5 s allows ~125, a 35% share ~44
    assert record["standard"]["runs"] > 100


def test_parts_take_the_batch_norm_that_follows() -> None:
    ops: tuple[Op, ...] = separable_forms().separable
    assert part_indices(ops, lambda op: op.role == "depthwise") == [0, 1]
    assert part_indices(ops, lambda op: op.role == "pointwise") == [2, 3]


def test_threads_are_limited_while_timing() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> set[int]:
        return {
            int(i["num_threads"])
            for i in threadpoolctl.threadpool_info()
            if i.get("user_api") == "blas"
        }

    with thread_limit(1):
        assert blas_threads() <= {1}


# --------------------------------------------------------------------------- machine


def test_roofline_picks_the_binding_ceiling() -> None:
    # 1 GFLOP at 100 GFLOP/s = 10 ms; 100 MB at 20 GB/s = 5 ms: compute-bound
    r = machine.roofline(10**9, 10**8, peak_gflops=100.0, bandwidth_gbs=20.0)
    assert r.bound == "compute"
    assert r.best_s == pytest.approx(0.01)
    r = machine.roofline(10**6, 10**8, peak_gflops=100.0, bandwidth_gbs=20.0)
    assert r.bound == "memory"
    assert r.best_s == pytest.approx(0.005)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(machine, "measure_gemm", lambda **_: 123.0)
    monkeypatch.setattr(machine, "measure_bandwidth", lambda **_: 9.5)
    yield tmp_path


def test_machine_is_cached_per_key_and_refreshable(cache: Path, monkeypatch: Any) -> None:
    first = machine.machine_info(directory=cache)
    assert (first.gemm_gflops, first.bandwidth_gbs, first.cached) == (123.0, 9.5, False)
    files = list(cache.glob("machine-*.json"))
    assert len(files) == 1 and first.key in files[0].name
    monkeypatch.setattr(machine, "measure_gemm", lambda **_: 1.0)
    again = machine.machine_info(directory=cache)
    assert (again.gemm_gflops, again.cached) == (123.0, True)
    fresh = machine.machine_info(directory=cache, refresh=True)
    assert (fresh.gemm_gflops, fresh.cached) == (1.0, False)
    files[0].write_text("{not json")
    assert machine.machine_info(directory=cache).cached is False


def test_machine_reports_what_it_ran_on(cache: Path) -> None:
    info = machine.machine_info(directory=cache).as_dict()
    assert info["schema"] == "sepconv/machine/v1"
    assert info["cores"] >= 1 and info["cpu"] and info["numpy"]
    assert "library" in info["blas"]
