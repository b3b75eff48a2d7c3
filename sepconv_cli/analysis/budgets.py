"""Budget gates for CI: ``--max-macs 600M``, ``--max-params 4.5M``, ``--max-latency 50ms``.

Quantities are parsed exactly (``4.5M`` is 4,500,000, never a rounded float). A report that
exceeds a budget is still printed; each exceeded budget yields one message and exit code 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from sepconv_cli.units import fmt_count, fmt_seconds, parse_count, parse_seconds


@dataclass(frozen=True)
class Budget:
    flag: str
    label: str
    limit: Fraction
    is_time: bool = False

    def check(self, measured: int | float | Fraction) -> str | None:
        """The message for an exceeded budget, or None when it is met."""
        if Fraction(measured) <= self.limit:
            return None
        fmt = fmt_seconds if self.is_time else fmt_count
        verb = "exceeds" if self.is_time else "exceed"
        return f"{self.label} {fmt(Fraction(measured))} {verb} {self.flag} {fmt(self.limit)}"


def budgets(max_macs: str | None, max_params: str | None, max_latency: str | None) -> list[Budget]:
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
    return out


def budget_failures(
    gates: Sequence[Budget], measured: Sequence[tuple[int, int, float | None]]
) -> list[str]:
    """Check every (macs, params, latency) against the budgets: one message per exceeded
    budget (empty: all met). The command prints them and exits 1."""
    failures = []
    for macs, params, latency in measured:
        for gate in gates:
            value = {"MACs": macs, "Params": params, "Latency": latency}[gate.label]
            if value is not None and (message := gate.check(value)):
                failures.append(message)
    return failures
