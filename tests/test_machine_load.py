"""Machine ceilings measured on a busy machine are provisional, and profile says which it used.

Nothing here measures: the GEMM and bandwidth measurements are replaced by fakes that
count their calls, and the load average by a fake; the expected lines are written by hand.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from sepconv_cli.execution import machine

IDLE, BUSY = 0.0, 1000.0  # a load far below / far above half of any core count


class FakeMeasure:
    """Stands in for measure_gemm and measure_bandwidth: returns the next value, counts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gemm, self.bandwidth, self.calls = 100.0, 20.0, 0
        monkeypatch.setattr(machine, "measure_gemm", self._gemm)
        monkeypatch.setattr(machine, "measure_bandwidth", lambda **_: self.bandwidth)

    def _gemm(self, **_: object) -> float:
        self.calls += 1
        return self.gemm


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMeasure:
    return FakeMeasure(monkeypatch)


def info(tmp_path: Path, load: float | None, refresh: bool = False) -> machine.Machine:
    return machine.machine_info(directory=tmp_path, refresh=refresh, load=lambda: load)


def test_busy_is_load_above_half_the_cores() -> None:
    assert machine.is_busy(1.01, 2) and machine.is_busy(8.5, 16)
    assert not machine.is_busy(1.0, 2) and not machine.is_busy(7.9, 16)
    assert not machine.is_busy(None, 2)  # no load average (Windows): not known to be busy


def test_an_idle_measurement_is_cached_and_kept_under_load(
    tmp_path: Path, fake: FakeMeasure
) -> None:
    first = info(tmp_path, IDLE)
    assert (first.busy, first.provisional, first.load_1m, first.cached) == (
        False,
        False,
        0.0,
        False,
    )
    again = info(tmp_path, BUSY)  # a good value is not replaced by one taken under load
    assert (again.cached, again.gemm_gflops, fake.calls) == (True, 100.0, 1)


def test_a_busy_measurement_is_provisional_until_the_load_has_gone(
    tmp_path: Path, fake: FakeMeasure
) -> None:
    fake.gemm, fake.bandwidth = 42.5, 9.0  # the numbers: measured under test load
    busy = info(tmp_path, BUSY)
    assert (busy.busy, busy.provisional, busy.load_1m) == (True, True, BUSY)
    stored = json.loads(next(tmp_path.glob("machine-*.json")).read_text())
    assert (stored["busy"], stored["load_1m"]) == (True, BUSY)

    still_busy = info(tmp_path, BUSY)  # measuring again under load would be no better
    assert (still_busy.cached, still_busy.gemm_gflops, fake.calls) == (True, 42.5, 1)

    fake.gemm, fake.bandwidth = 114.8, 20.8  # the idle machine's real ceilings
    idle = info(tmp_path, IDLE)
    assert (idle.cached, idle.gemm_gflops, idle.bandwidth_gbs, idle.busy) == (
        False,
        114.8,
        20.8,
        False,
    )
    assert fake.calls == 2
    assert info(tmp_path, IDLE).cached is True and fake.calls == 2  # now a trusted value


def test_load_rising_during_the_measurement_counts(tmp_path: Path, fake: FakeMeasure) -> None:
    readings = iter([IDLE, BUSY])  # idle before, busy after: the larger is kept
    result = machine.machine_info(directory=tmp_path, load=lambda: next(readings))
    assert (result.load_1m, result.busy) == (BUSY, True)


def test_a_cache_file_without_a_load_record_is_measured_again_when_idle(
    tmp_path: Path, fake: FakeMeasure
) -> None:
    info(tmp_path, IDLE)
    path = next(tmp_path.glob("machine-*.json"))
    old = json.loads(path.read_text())
    del old["busy"], old["load_1m"]  # as written before the load was recorded
    old["gemm_gflops"] = 42.5
    path.write_text(json.dumps(old))
    under_load = info(tmp_path, BUSY)
    assert (under_load.cached, under_load.busy, under_load.provisional) == (True, None, True)
    assert under_load.gemm_gflops == 42.5
    assert info(tmp_path, IDLE).gemm_gflops == 100.0 and fake.calls == 2


def test_the_json_adds_load_busy_and_provisional(tmp_path: Path, fake: FakeMeasure) -> None:
    doc = info(tmp_path, BUSY).as_dict()
    assert doc["schema"] == "sepconv/machine/v1"
    assert (doc["load_1m"], doc["busy"], doc["provisional"]) == (BUSY, True, True)
    # the keys that were there before stay
    assert doc.keys() >= {"cpu", "cores", "gemm_gflops", "bandwidth_gbs", "measured_at", "cached"}


# --------------------------------------------------------------------------- the note

STAMP = "2026-11-28T05:40:12+00:00"


def ceilings(**extra: object) -> dict[str, object]:
    return {"gemm_gflops": 114.8, "bandwidth_gbs": 20.8, "measured_at": STAMP, **extra}


def test_the_note_names_the_ceilings_and_when() -> None:
    from sepconv_cli.output.roofline_note import roofline_note

    assert roofline_note(ceilings(cached=True, busy=False)) == (
        "Roofline: 114.8 GFLOP/s, 20.8 GB/s measured 2026-11-28 05:40 UTC "
        "(cached; sepconv machine --refresh re-measures)"
    )
    assert roofline_note(ceilings(cached=False, busy=False)) == (
        "Roofline: 114.8 GFLOP/s, 20.8 GB/s measured 2026-11-28 05:40 UTC "
        "(measured for this run; sepconv machine --refresh re-measures)"
    )
    assert roofline_note(ceilings(cached=True, busy=True, load_1m=3.46, cores=2)) == (
        "Roofline: 114.8 GFLOP/s, 20.8 GB/s measured 2026-11-28 05:40 UTC under load 3.5 "
        "on 2 cores: provisional, measured again when the machine is idle "
        "(or sepconv machine --refresh re-measures)"
    )
    assert "unrecorded load" in (roofline_note(ceilings(cached=True, busy=None)) or "")
    assert roofline_note({}) is None and roofline_note(None) is None


def test_the_profile_table_ends_with_the_roofline_line() -> None:
    from sepconv_cli.counting.network import build
    from sepconv_cli.counting.report import profile_report
    from sepconv_cli.output.profile_table import profile_table
    from sepconv_cli.spec.presets import resolve_model

    report = profile_report(build(resolve_model("mobilenet_v1")))
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(profile_table(replace(report, machine=ceilings(cached=True, busy=False))))
    text = console.export_text()
    assert "Roofline: 114.8 GFLOP/s, 20.8 GB/s measured 2026-11-28 05:40 UTC (cached;" in text
    console.print(profile_table(report))  # not timed: no ceilings, no line
    assert console.export_text().count("Roofline:") == 0


def test_machine_command_says_a_busy_measurement_is_provisional(
    fake: FakeMeasure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sepconv_cli.cli.app import app

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # keep the fakes out of the session's
    monkeypatch.setattr(machine, "load_average", lambda: BUSY)
    result = CliRunner().invoke(app, ["machine", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["provisional"] is True
    assert "provisional" in result.stderr and f"load {BUSY:.1f}" in result.stderr
    monkeypatch.setattr(machine, "load_average", lambda: IDLE)
    result = CliRunner().invoke(app, ["machine", "--format", "json"])
    assert json.loads(result.stdout)["provisional"] is False
    assert "provisional" not in result.stderr
