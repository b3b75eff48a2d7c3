"""Quantities as people write and read them: exact parsing and human formatting.

The one module for numbers, sizes, times and shapes as text. Parsers are exact (``4.5M`` is
4,500,000 as a Fraction, never a rounded float) and name the flag they parse in their error.
Formatters never raise; each states where it is used, since tables, messages and CSV cells
round differently on purpose. Imported by every layer of the pipeline (like ``errors.py``);
imports nothing of sepconv but ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from sepconv_cli.errors import UsageError

# --------------------------------------------------------------------------- parsing

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


def parse_seconds(text: str, flag: str, *, bare_unit: str | None = None) -> Fraction:
    """``50ms`` → 0.05; ``0.2s``; ``800us``. A bare number takes ``bare_unit`` where the flag
    states one (``--time-budget``'s SECONDS: ``2`` is 2 s); elsewhere a unit is required,
    as a bare number is ambiguous (``--max-latency 50``: ms or s?)."""
    value, unit = _number(text, flag, "a time such as 50ms or 0.2s")
    if not unit and bare_unit is not None:
        unit = bare_unit
    factor = _TIME_UNITS.get(unit.lower() if unit != "µs" else unit)
    if factor is None:
        if not unit:
            raise UsageError(
                f"{flag}: {text.strip()!r} needs a unit (s, ms, us or ns): "
                f"{text.strip()}ms or {text.strip()}s"
            )
        raise UsageError(f"{flag}: expected a time with a unit (s, ms, us, ns), got {text!r}")
    return value * factor


def parse_percent(text: str, flag: str) -> Fraction:
    """``5%`` → 5. A bare number is read as percent too."""
    value, unit = _number(text, flag, "a percentage such as 5%")
    if unit not in ("", "%"):
        raise UsageError(f"{flag}: expected a percentage such as 5%, got {text!r}")
    return value


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


# --------------------------------------------------------------------------- messages


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


def fmt_percent(limit: Fraction) -> str:
    """A threshold as the user wrote it, in ``%g`` style even past a float's range."""
    from decimal import Decimal

    try:
        return f"{float(limit):g}"
    except OverflowError:
        return f"{Decimal(limit.numerator) / Decimal(limit.denominator):.6g}"


# --------------------------------------------------------------------------- tables


def human(value: int | float, unit: str = "") -> str:
    """``1228800`` → ``1.23 M``: three significant digits with an SI prefix (tables only)."""
    magnitude = abs(value)
    if magnitude >= 10**18:  # beyond P: scientific notation, never a float overflow
        return f"{Decimal(int(value)):.3E} {unit}".rstrip()
    for factor, prefix in ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if magnitude >= factor:
            scaled = value / factor
            digits = 2 if abs(scaled) < 10 else 1 if abs(scaled) < 100 else 0
            return f"{scaled:.{digits}f} {prefix}{unit}"
    if isinstance(value, int):
        return f"{value:,} {unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def human_bytes(value: int) -> str:
    """``37_400_000_000`` → ``34.8 GiB``: one decimal, binary units (tables and messages).

    >>> human_bytes(37_400_000_000)
    '34.8 GiB'
    >>> human_bytes(512)
    '512 B'
    """
    for factor, prefix in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= factor:
            return f"{value / factor:.1f} {prefix}"
    return f"{value} B"


FACTOR_FROM = Fraction(3, 2)
"""From this factor up a change is said as ``N.N× fewer``; below it as a percentage, so that
a factor never rounds to a ``1.0×`` that hides the change."""


def percent(value: Fraction | float, *, sign: bool = False) -> str:
    """``value`` (a percentage) with enough decimals to show that it is not zero: one
    decimal, more while a change would round to ``0.0`` (``0.0123`` → ``0.01%``), at most
    six (smaller is ``<0.000001%``); ``sign`` writes ``+`` before a rise.

    >>> percent(12.345), percent(0.0123, sign=True), percent(-0.5, sign=True), percent(0)
    ('12.3%', '+0.01%', '-0.5%', '0.0%')
    """
    number = float(value)
    magnitude = abs(number)
    digits = 1
    while digits < 6 and magnitude and round(magnitude, digits) == 0:
        digits += 1
    lead = ("+" if number > 0 else "-" if number < 0 else "") if sign else "-" * (number < 0)
    if magnitude and round(magnitude, digits) == 0:
        return f"{lead}<{10**-digits:.{digits}f}%"
    return f"{lead}{magnitude:.{digits}f}%"


def times_fewer(ratio: Fraction) -> str:
    """A separable / standard ``ratio`` in words: ``22.8× fewer`` (standard / separable) from
    a factor of :data:`FACTOR_FROM`, else the change as a percentage (``1.1% more``,
    ``30.0% fewer``); ``same`` only when equal, ``none`` when the separable count is 0.

    >>> times_fewer(Fraction(1, 20)), times_fewer(Fraction(10114, 10000)), times_fewer(Fraction(1))
    ('20.0× fewer', '1.1% more', 'same')
    """
    if ratio == 0:
        return "none"
    if ratio == 1:
        return "same"
    if ratio < 1:
        factor = 1 / ratio
        word = "fewer"
        change = (1 - ratio) * 100
    else:
        factor = ratio
        word = "more"
        change = (ratio - 1) * 100
    if factor >= FACTOR_FROM:
        return f"{float(factor):.1f}× {word}"
    return f"{percent(change)} {word}"


def fmt_ratio(ratio: Fraction | None) -> str:
    """Separable/standard as ``0.0439 (22.8× fewer)`` (tables); a change under a factor of
    :data:`FACTOR_FROM` as a percentage (``1.0114 (1.1% more)``, never ``1.0× more``)."""
    if ratio is None:
        return "-"
    if ratio == 0:
        return "0"
    return f"{float(ratio):.4f} ({times_fewer(ratio)})"


def shape_text(shape: Iterable[int]) -> str:
    """``(12, 12, 3)`` → ``"12x12x3"``: as the ``--input`` flag is written (messages, CSV)."""
    return "x".join(str(n) for n in shape)


def shape_cell(shape: Iterable[int]) -> str:
    """``(12, 12, 3)`` → ``"12×12×3"`` (Rich tables)."""
    return "×".join(str(n) for n in shape)


def seconds_cell(value: Any) -> str:
    """A time in seconds as ``1.234 ms`` or ``1.234 s``; ``-`` when not measured (tables)."""
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.3f} s" if value >= 1 else f"{value * 1e3:.3f} ms"


def seconds_brief(seconds: float) -> str:
    """``1.234 ms`` below 10 s, ``12.34 s`` above (spatial's tables)."""
    return f"{seconds * 1e3:.3f} ms" if seconds < 10 else f"{seconds:.2f} s"


def speedup_cell(value: Any) -> str:
    """``2.00×``; ``-`` when not measured (tables)."""
    return f"{value:.2f}×" if isinstance(value, (int, float)) else "-"


# --------------------------------------------------------------------------- CSV, markdown, JSON


def ms_number(value: Any) -> str:
    """A time in seconds as milliseconds, three decimals, no unit; ``-`` when not measured
    (CSV and markdown columns named ``..._ms``)."""
    return f"{value * 1e3:.3f}" if isinstance(value, (int, float)) else "-"


def speedup_ascii(value: Any) -> str:
    """``2.00x``; ``-`` when not measured (markdown)."""
    return f"{value:.2f}x" if isinstance(value, (int, float)) else "-"


def rounded_float(value: Fraction | None, digits: int = 6) -> float | None:
    """An exact ratio as a JSON float, rounded to ``digits`` decimals (the exact value is
    printed beside it as ``"num/den"`` where the contract says so)."""
    return None if value is None else round(float(value), digits)
