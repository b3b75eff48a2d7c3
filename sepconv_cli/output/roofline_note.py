"""The one line a timed profile prints about the roofline's ceilings: which, and how fresh.

A roofline is only as good as the ceilings it divides by, so the table names the GEMM
GFLOP/s and the bandwidth it used, when they were measured (UTC, to the minute), whether
they came from the cache, and whether they are provisional (measured while the machine was
busy; see :mod:`sepconv_cli.execution.machine`). Works on the machine dict a profile report
carries (``Machine.as_dict()``), so old or partial dicts degrade to fewer words, never fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

REFRESH_HINT = "sepconv machine --refresh re-measures"


def measured_when(stamp: object) -> str:
    """``2026-11-28T05:40:12+00:00`` → ``2026-11-28 05:40 UTC``; anything else as it is.

    >>> measured_when("2026-11-28T05:40:12+00:00")
    '2026-11-28 05:40 UTC'
    """
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    offset = when.utcoffset()
    zone = " UTC" if offset is not None and not offset else when.strftime(" %z").rstrip()
    return when.strftime("%Y-%m-%d %H:%M") + zone


def roofline_note(machine: dict[str, Any] | None) -> str | None:
    """The line, or None when the report carries no ceilings (not timed). E.g.
    ``Roofline: 114.8 GFLOP/s, 20.8 GB/s measured 2026-11-28 05:40 UTC (cached; sepconv
    machine --refresh re-measures)``; a provisional measurement says so instead of
    "cached"."""
    if not machine or "gemm_gflops" not in machine or "bandwidth_gbs" not in machine:
        return None
    line = (
        f"Roofline: {float(machine['gemm_gflops']):,.1f} GFLOP/s, "
        f"{float(machine['bandwidth_gbs']):,.1f} GB/s"
    )
    if machine.get("measured_at"):
        line += f" measured {measured_when(machine['measured_at'])}"
    busy = machine.get("busy", False)
    if busy is not False:
        load, cores = machine.get("load_1m"), machine.get("cores")
        under = (
            f"under load {float(load):.1f} on {cores} cores"
            if busy and load is not None and cores
            else "under an unrecorded load"
        )
        return (
            f"{line} {under}: provisional, measured again when the machine is idle "
            f"(or {REFRESH_HINT})"
        )
    state = "cached" if machine.get("cached") else "measured for this run"
    return f"{line} ({state}; {REFRESH_HINT})"


def footer_line(machine: dict[str, Any] | None) -> str:
    """:func:`roofline_note` as a footer line with its newline; "" when there is none."""
    note = roofline_note(machine)
    return f"{note}\n" if note else ""
