"""Budget gates for CI: ``--max-macs 600M``, ``--max-params 4.5M``, ``--max-latency 50ms``,
``--max-peak-memory 256K`` (the peak activation bytes, by liveness) and ``--max-weights 1M``
(the weight bytes at the report's dtype).

Quantities are parsed exactly (``4.5M`` is 4,500,000, never a rounded float; a size's bare
``K``/``M``/``G`` are binary, as for RAM: ``256K`` is 262,144 bytes, ``256KB`` 256,000). A
report that exceeds a budget is still printed; each exceeded budget yields one message and
exit code 1. Every gate checks the model (or layer) as specified; the memory gates' messages
name that form and the row where the peak, or the most weight, is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from sepconv_cli.names import shown
from sepconv_cli.units import fmt_count, fmt_seconds, human, parse_bytes, parse_count, parse_seconds

FORM = "as specified"
"""The form every gate checks: the model as written."""


@dataclass(frozen=True)
class Budget:
    flag: str
    label: str
    limit: Fraction
    is_time: bool = False
    is_bytes: bool = False
    written: str = ""  # the limit as the user wrote it (sizes: 320K)

    def check(self, measured: int | float | Fraction, where: str = "") -> str | None:
        """The message for an exceeded budget, or None when it is met; ``where`` says which
        form and row (the memory gates)."""
        if Fraction(measured) <= self.limit:
            return None
        if self.is_bytes:
            return (
                f"{self.label} {int(measured):,} bytes ({human(int(measured), 'B')}){where} "
                f"exceed {self.flag} {self.written} ({int(self.limit):,} bytes)"
            )
        fmt = fmt_seconds if self.is_time else fmt_count
        verb = "exceeds" if self.is_time else "exceed"
        return f"{self.label} {fmt(Fraction(measured))} {verb} {self.flag} {fmt(self.limit)}"


@dataclass(frozen=True)
class Measured:
    """What the gates compare, for a model or one layer (as specified): its MACs, params and
    measured time (None: not timed), its peak activation bytes and the row where the peak
    is, its weight bytes and the row with the most of them (a layer: itself)."""

    macs: int
    params: int
    latency: float | None = None
    peak_bytes: int = 0
    peak_at: str = ""
    weight_bytes: int = 0
    heaviest: str = ""
    whole: bool = False  # a model (its weights in many rows), not one layer


def budgets(
    max_macs: str | None,
    max_params: str | None,
    max_latency: str | None,
    max_peak_memory: str | None = None,
    max_weights: str | None = None,
) -> list[Budget]:
    out = []
    if max_macs is not None:
        out.append(Budget("--max-macs", "MACs", parse_count(max_macs, "--max-macs")))
    if max_params is not None:
        out.append(Budget("--max-params", "Params", parse_count(max_params, "--max-params")))
    if max_latency is not None:
        out.append(
            Budget(
                "--max-latency",
                "Latency",
                parse_seconds(max_latency, "--max-latency"),
                is_time=True,
            )
        )
    if max_peak_memory is not None:
        limit = parse_bytes(max_peak_memory, "--max-peak-memory")
        out.append(
            Budget(
                "--max-peak-memory",
                "Peak activations",
                Fraction(limit),
                is_bytes=True,
                written=max_peak_memory,
            )
        )
    if max_weights is not None:
        limit = parse_bytes(max_weights, "--max-weights")
        out.append(
            Budget("--max-weights", "Weights", Fraction(limit), is_bytes=True, written=max_weights)
        )
    return out


def budget_failures(gates: Sequence[Budget], measured: Sequence[Measured]) -> list[str]:
    """Check every measured model or layer against the budgets: one message per exceeded
    budget (empty: all met). The command prints them and exits 1."""
    failures = []
    for m in measured:
        for gate in gates:
            value: int | float | None
            where = ""
            if gate.label == "Peak activations":
                value, where = m.peak_bytes, f" at {shown(m.peak_at)} ({FORM})"
            elif gate.label == "Weights":
                row = shown(m.heaviest)
                where = f" ({FORM}; most in {row})" if m.whole else f" in {row} ({FORM})"
                value = m.weight_bytes
            else:
                value = {"MACs": m.macs, "Params": m.params, "Latency": m.latency}[gate.label]
            if value is not None and (message := gate.check(value, where)):
                failures.append(message)
    return failures
