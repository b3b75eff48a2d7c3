"""Budget gates for CI: ``--max-macs 600M``, ``--max-params 4.5M``, ``--max-latency 50ms``.

Quantities are parsed exactly (``4.5M`` is 4,500,000, never a rounded float). A report that
exceeds a budget is still printed; each exceeded budget yields one message and exit code 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from sepconv_cli.errors import UsageError

_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_TIME_UNITS = {
    "s": Fraction(1),
    "ms": Fraction(1, 10**3),
    "us": Fraction(1, 10**6),
    "µs": Fraction(1, 10**6),
    "ns": Fraction(1, 10**9),
}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*([a-zA-Zµ%]*)\s*$")


def _number(text: str, flag: str, what: str) -> tuple[Fraction, str]:
    match = _QUANTITY.match(text)
    if not match:
        raise UsageError(f"{flag}: expected {what}, got {text!r}")
    try:
        number = Decimal(match.group(1))
    except (InvalidOperation, ValueError):
        raise UsageError(f"{flag}: expected {what}, got {text!r}") from None
    # an exact Fraction of 1e999999999 would build a billion-digit integer: refuse early
    if number and not -1000 <= int(number.adjusted()) <= 1000:
        raise UsageError(f"{flag}: {text[:40]!r} is out of range (exponent beyond ±1000)")
    return Fraction(number), match.group(2)


def parse_count(text: str, flag: str) -> Fraction:
    """``600M`` → 600,000,000; ``4.5M``; ``1.2G``; ``500K``; a plain number."""
    what = "a count such as 600M, 4.5M, 1.2G or 500000"
    value, unit = _number(text, flag, what)
    factor = _COUNT_UNITS.get(unit.lower())
    if factor is None:
        raise UsageError(f"{flag}: unknown unit {unit!r} in {text!r}; use K, M, G, T or none")
    return value * factor


def parse_seconds(text: str, flag: str) -> Fraction:
    """``50ms`` → 0.05; ``0.2s``; ``800us``. A unit is required: a bare number is ambiguous."""
    value, unit = _number(text, flag, "a time such as 50ms or 0.2s")
    factor = _TIME_UNITS.get(unit.lower() if unit != "µs" else unit)
    if factor is None:
        raise UsageError(f"{flag}: expected a time with a unit (s, ms, us, ns), got {text!r}")
    return value * factor


def parse_percent(text: str, flag: str) -> Fraction:
    """``5%`` → 5. A bare number is read as percent too."""
    value, unit = _number(text, flag, "a percentage such as 5%")
    if unit not in ("", "%"):
        raise UsageError(f"{flag}: expected a percentage such as 5%, got {text!r}")
    return value


def fmt_count(value: Fraction | int) -> str:
    """568740352 → ``568.7 M`` (messages only); astronomically large values in
    scientific notation rather than an overflow."""
    if Fraction(value) >= 10**15 or Fraction(value) <= -(10**15):
        return f"{Decimal(int(value)):.4E}"
    number = float(value)
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(number) >= factor:
            return f"{number / factor:.4g} {prefix}"
    return f"{number:.4g}"


def fmt_seconds(value: Fraction | float) -> str:
    number = float(value)
    if number >= 1:
        return f"{number:.3g} s"
    if number >= 1e-3:
        return f"{number * 1e3:.3g} ms"
    return f"{number * 1e6:.3g} µs"


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


def report_failures(
    gates: Sequence[Budget], measured: Sequence[tuple[int, int, float | None]]
) -> list[str]:
    """Check every (macs, params, latency) against the budgets; print one line per exceeded
    budget on stderr and return them (empty: all met)."""
    import sys

    failures = []
    for macs, params, latency in measured:
        for gate in gates:
            value = {"MACs": macs, "Params": params, "Latency": latency}[gate.label]
            if value is not None and (message := gate.check(value)):
                failures.append(message)
    for message in failures:
        print(f"sepconv: budget: {message}", file=sys.stderr)
    return failures


_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 10**3,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 10**6,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 10**9,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 10**12,
    "tib": 1 << 40,
}


def parse_bytes(text: str, flag: str) -> int:
    """``8G``/``8GiB`` → 8·2³⁰, ``500MB`` → 500·10⁶ (bare K/M/G/T are binary, as for RAM)."""
    value, unit = _number(text, flag, "a size such as 8G, 512MiB or 2GB")
    factor = _BYTE_UNITS.get(unit.lower())
    if factor is None:
        raise UsageError(
            f"{flag}: unknown unit {unit!r} in {text!r}; use K, M, G, T, KiB/MiB/GiB or KB/MB/GB"
        )
    size = int(value * factor)
    if size < 1:
        raise UsageError(f"{flag}: expected a size of at least 1 byte, got {text!r}")
    return size
