"""How sure a timing is: enough samples, parts that fit inside their whole, and advice that
names what would help given the settings the run used.

Rules
-----
* Enough samples: every measurement (a form, a part, a whole graph) takes at least
  :data:`MIN_RUNS` samples unless its share of ``--time-budget`` cannot buy them
  (:func:`sepconv_cli.execution.timing.measure` shortens its samples to get them first). A
  measurement with fewer (1 to 4; 0 is a part the layer lacks) is *few runs*: its row says
  ``1 run`` (or ``3 runs``) in a column the table never drops, and the footer says so.
* A part slower than its whole: the separable form's depthwise or pointwise part is a
  subset of the work the whole form does on the same buffers, so it cannot truly take
  longer. A part is *inconsistent* when its fastest sample is slower than the whole form's
  slowest (their ranges do not overlap: more than the spread allows); with one sample each,
  when it is slower at all.
* A whole graph slower than the sum of its layers: the whole graph runs the same operations
  (plus the activations, elementwise passes ORT fuses) in one call instead of one per layer,
  so it cannot truly take longer. A whole graph is *inconsistent* when its fastest sample is
  slower than the sum of its layers' slowest samples (their medians where the slowest are
  not known). A whole graph *faster* than the sum is what fusion and one call instead of
  many buy (docs/runtimes.md) and is never flagged.
* Noisy (:func:`sepconv_cli.execution.profiling.noisy_parts`): a median over
  :data:`NOISE_RATIO` x its fastest sample; a whole graph too.
* Advice names only what would help given the settings used: a quieter machine when the
  1-minute load was busy (:func:`sepconv_cli.execution.machine.is_busy`), ``--threads 1``
  when the run used more than one thread, a longer ``--time-budget`` (with the budget that
  would buy :data:`MIN_RUNS` samples of the slowest measurement) when one had too few;
  when none of these applies, running it again.

This module imports no NumPy and no runtime: records and renderers call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sepconv_cli.execution.records import PARTS, FormTiming, LayerTiming, Part

MIN_RUNS = 5  # samples every measurement takes unless its budget cannot buy them
NOISE_RATIO = 1.5  # median more than 1.5x the fastest sample: something else interfered
# a measurement's share of a layer's budget (execution.timing._SHARES): the smallest share a
# form or part gets, so the budget that buys MIN_RUNS samples of it is a safe estimate
_SMALLEST_SHARE = 0.15


def runs_text(runs: int) -> str:
    """``1 run``, ``3 runs``.

    >>> runs_text(1), runs_text(3)
    ('1 run', '3 runs')
    """
    return f"{runs} run{'' if runs == 1 else 's'}"


def noisy_parts(record: LayerTiming) -> tuple[Part, ...]:
    """Measurements (of 3 samples or more) whose median is over :data:`NOISE_RATIO` x their
    fastest sample: the machine (other programs, threads waking late) interfered, so the
    median overstates the cost."""
    return tuple(
        name
        for name in PARTS
        if (part := record.part(name)).runs >= 3
        and part.min_s > 0
        and part.median_s > NOISE_RATIO * part.min_s
    )


def checked(record: LayerTiming) -> LayerTiming:
    """``record`` with its doubts recorded: noisy, few runs and inconsistent parts. Every
    timed row goes through this (``profile``, ``cost``, ``sweep``, ``bench``, the
    ``interactive`` ``time``), so all of them flag the same things."""
    return replace(
        record,
        noisy=noisy_parts(record),
        few_runs=few_runs(record),
        inconsistent=inconsistent_parts(record),
    )


def few_runs(record: LayerTiming) -> tuple[Part, ...]:
    """The measurements of ``record`` with fewer than :data:`MIN_RUNS` samples (a part the
    layer lacks, ``runs`` 0, is none of them)."""
    return tuple(name for name in PARTS if 0 < record.part(name).runs < MIN_RUNS)


def fewest_runs(record: LayerTiming) -> int | None:
    """The fewest samples any of ``record``'s measurements took (None: nothing was timed)."""
    counts = [record.part(name).runs for name in PARTS if record.part(name).runs]
    return min(counts) if counts else None


def part_slower_than_whole(part: FormTiming, whole: FormTiming) -> bool:
    """The part's fastest sample is slower than the whole's slowest: their ranges do not
    overlap, so noise within the spread cannot explain it.

    >>> one = FormTiming(2.0, 2.0, 2.0, 0.0, 1, 0.0)
    >>> part_slower_than_whole(one, FormTiming(1.0, 1.0, 1.0, 0.0, 1, 0.0))
    True
    >>> part_slower_than_whole(one, FormTiming(1.5, 1.0, 2.5, 0.5, 5, 0.0))
    False
    """
    if not part.runs or not whole.runs:
        return False
    return part.min_s > whole.max_s


def inconsistent_parts(record: LayerTiming) -> tuple[Part, ...]:
    """The separable form's parts that took longer than the whole form beyond the spread."""
    if record.separable is record.standard and not record.depthwise.runs:
        return ()
    return tuple(
        name
        for name in ("depthwise", "pointwise")
        if part_slower_than_whole(record.part(name), record.separable)
    )


def whole_slower_than_layers(
    whole_min_s: float | None, sum_of_layers_s: float | None, sum_of_slowest_s: float | None
) -> bool:
    """A whole graph's fastest run is slower than the sum of its layers' slowest runs (or of
    their medians where the slowest are not known).

    >>> whole_slower_than_layers(3.0, 2.0, 2.5), whole_slower_than_layers(3.0, 2.0, 3.5)
    (True, False)
    """
    limit = sum_of_slowest_s if sum_of_slowest_s else sum_of_layers_s
    if whole_min_s is None or not limit:
        return False
    return whole_min_s > limit


def budget_for_min_runs(call_s: float, share: float = _SMALLEST_SHARE) -> float:
    """A ``--time-budget`` that buys :data:`MIN_RUNS` samples (and the warm-up call) of a
    measurement taking ``call_s`` a call and given ``share`` of the budget (a layer's form
    or part: at least the smallest share; a whole graph: all of it), rounded up to 1, 2 or
    5 times a power of ten.

    >>> budget_for_min_runs(0.05), budget_for_min_runs(0.3), budget_for_min_runs(0.3, 1.0)
    (2.0, 20.0, 2.0)
    """
    want = call_s * (MIN_RUNS + 1) / share
    if want <= 0:
        return 0.0
    scale = 10.0 ** math.floor(math.log10(want))
    for step in (1, 2, 5, 10):
        if step * scale >= want * (1 - 1e-9):
            return float(f"{step * scale:.6g}")
    return want  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class RunConditions:
    """The settings and machine state a timing ran under, as advice needs them."""

    threads: int | None  # None: the BLAS library's own count
    budget_s: float  # --time-budget per layer
    load_1m: float | None = None  # the 1-minute load average while timing; None: unknown
    cores: int = 1

    @property
    def busy(self) -> bool:
        from sepconv_cli.execution.machine import is_busy

        return is_busy(self.load_1m, self.cores)


def advice(
    conditions: RunConditions,
    *,
    noisy: bool = False,
    few: bool = False,
    inconsistent: bool = False,
    wanted_budget_s: float = 0.0,
) -> str:
    """What would make the times surer, given ``conditions``: a sentence of the remedies that
    apply (``""`` when nothing is uncertain).

    >>> advice(RunConditions(threads=1, budget_s=1.0, load_1m=0.2, cores=2), noisy=True)
    'run it again: one run on a shared machine proves little'
    >>> print(advice(RunConditions(threads=4, budget_s=1.0, load_1m=7.0, cores=2), few=True,
    ...        noisy=True, wanted_budget_s=10.0).replace("; ", chr(10)))
    a quieter machine (load 7.0 on 2 cores)
    --threads 1 (this run used 4)
    --time-budget 10s (this run had 1s per layer)
    """
    if not (noisy or few or inconsistent):
        return ""
    remedies: list[str] = []
    if conditions.busy and conditions.load_1m is not None:
        remedies.append(
            f"a quieter machine (load {conditions.load_1m:.1f} on {conditions.cores} "
            f"core{'' if conditions.cores == 1 else 's'})"
        )
    if (noisy or inconsistent) and (conditions.threads is None or conditions.threads > 1):
        used = "the BLAS library's own count" if conditions.threads is None else conditions.threads
        remedies.append(f"--threads 1 (this run used {used})")
    if few:
        now = f"{conditions.budget_s:g}s"
        if wanted_budget_s > conditions.budget_s:
            remedies.append(f"--time-budget {wanted_budget_s:g}s (this run had {now} per layer)")
        else:
            remedies.append(f"a longer --time-budget (this run had {now} per layer)")
    if not remedies:
        return "run it again: one run on a shared machine proves little"
    return "; ".join(remedies)


def conditions_of(timings: Sequence[LayerTiming]) -> RunConditions:
    """The conditions ``timings`` ran under: their settings (the first's), the highest
    1-minute load any saw, and the cores this process may use."""
    from sepconv_cli.execution.machine import core_count

    known = [t.load_1m for t in timings if t.load_1m is not None]
    first = timings[0] if timings else None
    return RunConditions(
        first.threads if first else None,
        first.budget_s if first else 0.0,
        max(known) if known else None,
        core_count(),
    )


Row = tuple[str, LayerTiming, int]  # a row's name, its timing, its repeat count


def _names(rows: Sequence[str], limit: int = 4) -> str:
    return ", ".join(rows[:limit]) + (", …" if len(rows) > limit else "")


def summary_lines(
    rows: Sequence[Row],
    conditions: RunConditions,
    whole: Sequence[Any] = (),
    *,
    where: str = "",
) -> list[str]:
    """The footer of timed rows (and whole graphs, :class:`WholeForm` records): one line per
    kind of doubt (few runs, inconsistent, noisy), each naming the rows, then one line of
    :func:`advice`; no lines when every time is sure. ``where`` prefixes each line (a
    runtime's name in ``bench``)."""
    few = [(name, t) for name, t, _ in rows if t.few_runs]
    bad = [name for name, t, _ in rows if t.inconsistent]
    noisy = [name for name, t, _ in rows if t.noisy]
    whole_few = [w for w in whole if w.few_runs]
    whole_bad = [w for w in whole if w.inconsistent]
    whole_noisy = [w for w in whole if w.noisy]
    lines: list[str] = []
    head = f"{where}: " if where else ""
    if few or whole_few:
        listed = [f"{name} ({runs_text(fewest_runs(t) or 0)})" for name, t in few]
        listed += [f"whole {w.form} graph ({runs_text(w.runs)})" for w in whole_few]
        lines.append(
            f"{head}Fewer than {MIN_RUNS} runs: {_names(listed)}; the budget bought no more, "
            "so these times rest on too few samples."
        )
    if bad:
        lines.append(
            f"{head}Inconsistent (!): {_names(bad)}: a part of the separable form took longer "
            "than the whole form, beyond the spread of both; noise, not the layer."
        )
    for w in whole_bad:
        slowest = w.sum_of_slowest_s or w.sum_of_layers_s
        lines.append(
            f"{head}Inconsistent: the whole {w.form} graph's fastest run "
            f"({w.min_s * 1e3:.3g} ms) is slower than the sum of its layers "
            f"({slowest * 1e3:.3g} ms{' at their slowest' if w.sum_of_slowest_s else ''}); "
            "noise, not fusion."
        )
    if noisy or whole_noisy:
        listed = noisy + [f"whole {w.form} graph" for w in whole_noisy]
        lines.append(
            f"{head}Noisy (~): {_names(listed)}: the median is over {NOISE_RATIO:g}× the "
            "fastest run (other programs, or threads waking late)."
        )
    if not lines:
        return []
    wanted = max(
        [
            budget_for_min_runs(t.part(p).median_s / max(repeat, 1))
            for _, t, repeat in rows
            for p in t.few_runs
        ]
        + [budget_for_min_runs(w.median_s or 0.0, 1.0) for w in whole_few],
        default=0.0,
    )
    help_text = advice(
        conditions,
        noisy=bool(noisy or whole_noisy),
        few=bool(few or whole_few),
        inconsistent=bool(bad or whole_bad),
        wanted_budget_s=wanted,
    )
    lines.append(f"{head}What would help: {help_text}.")
    return lines


def layer_lines(timing: LayerTiming, repeat: int = 1) -> list[str]:
    """:func:`summary_lines` for one layer (``cost``, ``interactive``): its measurements
    named, not the layer its title already names."""
    if not timing.uncertain:
        return []
    lines: list[str] = []
    if timing.few_runs:
        listed = ", ".join(f"{p} ({runs_text(timing.part(p).runs)})" for p in timing.few_runs)
        lines.append(f"Fewer than {MIN_RUNS} runs: {listed}; the budget bought no more.")
    for p in timing.inconsistent:
        part, whole = timing.part(p), timing.separable
        lines.append(
            f"Inconsistent (!): the {p} part (fastest {part.min_s * 1e3:.3g} ms) took longer "
            f"than the whole separable form (slowest {whole.max_s * 1e3:.3g} ms), beyond the "
            "spread of both: noise, not the layer."
        )
    if timing.noisy:
        lines.append(
            f"Noisy (~): the median of {', '.join(timing.noisy)} is over {NOISE_RATIO:g}× "
            "its fastest run (other programs, or threads waking late)."
        )
    wanted = max(
        (budget_for_min_runs(timing.part(p).median_s / max(repeat, 1)) for p in timing.few_runs),
        default=0.0,
    )
    help_text = advice(
        conditions_of([timing]),
        noisy=bool(timing.noisy),
        few=bool(timing.few_runs),
        inconsistent=bool(timing.inconsistent),
        wanted_budget_s=wanted,
    )
    lines.append(f"What would help: {help_text}.")
    return lines
