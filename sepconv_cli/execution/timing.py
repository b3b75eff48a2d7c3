"""Honest timing of prepared executions: warm-up, auto-ranged repeats, robust statistics.

Rules
-----
* One *sample* is ``loops`` back-to-back calls timed together, divided by ``loops``:
  ``loops`` is auto-ranged (1, 2, 5, 10, 20, ...) until one sample lasts at least
  ``min_time_s``, so clock resolution and call overhead vanish for microsecond kernels,
  while a slow kernel is called once per sample.
* Before any sample: ``warmup`` untimed calls (first-touch page faults, BLAS buffers, cold
  caches), then calibration runs that choose ``loops``; only the last calibration run, made
  with the chosen ``loops``, counts as a sample (after a warm-up; with ``warmup = 0`` it is
  the cold first call and is dropped).
* Statistics are over the samples: median (the reported time), min, max, IQR (upper minus
  lower quartile, linear interpolation) and ``runs`` = the number of samples.
* Budget: a measurement takes at least one sample, at least ``min_repeats`` (5, the
  :data:`~sepconv_cli.execution.certainty.MIN_RUNS` a timing must have to count as sure)
  when the budget allows, at most ``max_repeats``, and starts no sample predicted to end
  past its budget. When what is left after calibration cannot buy ``min_repeats`` samples of
  ``loops`` calls, samples get fewer loops (down to one call) so that it can: five shorter
  samples say more about the spread than two long ones. A call that alone outlasts the
  budget is measured once, its warm-up call serving as the sample (it is reported with
  ``runs`` = 1, and the report says ``1 run``).
* ``time_forms`` splits ``budget_s`` over a layer's four measurements (standard,
  separable, its depthwise and pointwise parts); time one part leaves unused goes to the
  next.
* The clock is injectable (tests use a fake one); the default is ``time.perf_counter``.
* Threads: ``threads = N`` limits the BLAS pool with threadpoolctl (``sepconv[threads]``)
  for the duration of the timing (:func:`thread_limit`). Without threadpoolctl the BLAS
  library keeps the count it chose when NumPy was loaded, which ``cli/timing_flags.py`` sets
  through ``OPENBLAS_NUM_THREADS`` and its siblings before NumPy loads. The same N bounds
  sepconv's own threads: a depthwise convolution runs its output rows in up to N parts at
  once (NumPy's einsum releases the GIL) when the layer is large enough to gain from it
  (:mod:`sepconv_cli.execution.depthwise`). ``threads = None`` leaves BLAS alone and runs
  sepconv's kernels in one thread.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from sepconv_cli.counting.lowering import Forms
from sepconv_cli.counting.ops import DTYPE_BYTES, Conv, Op
from sepconv_cli.execution.kernels import (
    Chain,
    Prepared,
    _conv_kind,
    check_executable,
    check_memory,
    estimate_bytes,
    numpy_dtype,
    prepare_chain,
)
from sepconv_cli.execution.records import FormTiming, LayerTiming
from sepconv_cli.execution.runtimes.base import RuntimeInfo

Clock = Callable[[], float]

# loops per sample go 1, 2, 5, 10, 20, 50, ... (timeit's autorange sequence)
_LOOP_STEPS = (1, 2, 5)
_MAX_LOOPS = 10_000_000


@dataclass(frozen=True)
class TimingSettings:
    """How long and how often to measure.

    The defaults keep a full ``sepconv profile mobilenet_v1`` under about 30 s on a 2-core
    machine while giving each figure at least 5 samples (of 10 ms each where the budget
    allows) when one call fits its share of the budget five times.
    """

    min_time_s: float = 0.01  # each sample lasts at least this long (loops auto-ranged)
    max_repeats: int = 9  # samples per measurement, at most
    min_repeats: int = 5  # samples per measurement, at least, while the budget allows
    warmup: int = 1  # untimed calls before calibration
    budget_s: float = 1.0  # per layer: all four measurements of time_forms together
    # BLAS threads (threadpoolctl) and sepconv's own depthwise parts; None leaves BLAS
    # alone and runs sepconv's kernels in one thread
    threads: int | None = None
    max_memory: int | None = None  # bytes; None: execute.default_memory_limit()
    seed: int = 0  # random inputs and weights
    # what runs the forms (execution/runtimes): numpy (sepconv's kernels), onnxruntime, torch
    runtime: str = "numpy"
    device: str = "cpu"  # cpu or cuda (runtimes other than numpy)
    ort_optimization: str | None = None  # ORT graph optimization level; None: ORT's default

    def __post_init__(self) -> None:
        # an infinite budget is allowed (max_repeats still bounds it); NaN or an infinite
        # minimum sample time would never let a measurement end
        if not 0 <= self.min_time_s < math.inf or not self.budget_s >= 0:
            raise ValueError("min_time_s must be finite and >= 0, budget_s >= 0")
        if self.max_repeats < 1 or self.min_repeats < 1 or self.warmup < 0:
            raise ValueError("max_repeats and min_repeats must be >= 1, warmup >= 0")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be >= 1")


@dataclass(frozen=True)
class Stats:
    """Per-call seconds over ``runs`` samples of ``loops`` calls each."""

    median_s: float
    min_s: float
    max_s: float
    iqr_s: float
    runs: int
    loops: int = 1

    @classmethod
    def of(cls, samples: Sequence[float], loops: int) -> Stats:
        if not samples:
            return cls(0.0, 0.0, 0.0, 0.0, 0, loops)
        return cls(
            statistics.median(samples),
            min(samples),
            max(samples),
            iqr(samples),
            len(samples),
            loops,
        )

    def timing(self, flops: int) -> FormTiming:
        """The measurement as a timing record; ``gflops`` is achieved GFLOP/s at the median."""
        gflops = flops / self.median_s / 1e9 if self.median_s > 0 else 0.0
        return FormTiming(
            self.median_s, self.min_s, self.max_s, self.iqr_s, self.runs, round(gflops, 6)
        )


def iqr(samples: Sequence[float]) -> float:
    """Upper minus lower quartile (linear interpolation, NumPy's default); 0 for one sample.

    >>> iqr([1.0, 2.0, 3.0, 4.0, 5.0])
    2.0
    """
    if len(samples) < 2:
        return 0.0
    q = statistics.quantiles(samples, n=4, method="inclusive")
    return q[2] - q[0]


def _next_loops(loops: int, elapsed: float, target: float) -> int:
    """The next loop count in 1-2-5 steps that should make a sample last ``target``."""
    want = loops * 2 if elapsed <= 0 else loops * target / elapsed * 1.1
    want = max(want, loops + 1)
    scale = 1
    while True:
        for step in _LOOP_STEPS:
            if step * scale >= want:
                return min(step * scale, _MAX_LOOPS)
        scale *= 10


def measure(
    fn: Callable[[], object],
    settings: TimingSettings,
    budget_s: float | None = None,
    clock: Clock | None = None,
) -> Stats:
    """Warm up, auto-range the loop count, then take samples of ``fn`` within the budget."""
    now = clock or time.perf_counter
    budget = settings.budget_s if budget_s is None else budget_s
    start = now()
    deadline = start + budget
    per_call = 0.0
    for _ in range(settings.warmup):
        t0 = now()
        fn()
        per_call = now() - t0
    if settings.warmup and per_call >= budget:
        # one call outlasts the budget: the warm-up call is the only sample there is time for
        return Stats.of([per_call], 1)

    # calibration: grow loops until one sample lasts min_time_s (or the budget runs short)
    loops = 1
    while True:
        t0 = now()
        for _ in range(loops):
            fn()
        elapsed = now() - t0
        per_call = elapsed / loops
        if elapsed >= settings.min_time_s or loops >= _MAX_LOOPS:
            break
        nxt = _next_loops(loops, elapsed, settings.min_time_s)
        t = now()
        if t >= deadline or t + per_call * nxt > deadline:
            break  # no time to calibrate further: sample with what we have
        loops = nxt

    # after a warm-up, the last calibration run is a sample like any other
    samples: list[float] = [per_call] if settings.warmup else []
    wanted = settings.min_repeats - len(samples)
    remaining = deadline - now()
    if loops > 1 and wanted > 0 and per_call * loops * wanted > remaining:
        # the budget cannot buy min_repeats samples this long: shorter samples, more of them
        # (a fifth to spare: one slow sample must not cost the last one)
        loops = max(1, int(0.8 * remaining / (per_call * wanted))) if per_call > 0 else loops
    while len(samples) < settings.max_repeats:
        remaining = deadline - now()
        if samples and per_call * loops > remaining:
            break
        t0 = now()
        for _ in range(loops):
            fn()
        elapsed = now() - t0
        samples.append(elapsed / loops)
        per_call = elapsed / loops
        if len(samples) >= settings.min_repeats and now() >= deadline:
            break
    return Stats.of(samples, loops)


# --------------------------------------------------------------------------- threads


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Limit the BLAS pool to ``threads`` while the block runs, with threadpoolctl.

    Without threadpoolctl this changes nothing: the count is the one the BLAS library read
    when NumPy loaded it, which ``cli/timing_flags.py`` sets through the ``*_NUM_THREADS``
    variables when it can, and otherwise passes here as ``threads`` (the count in effect),
    so the settings recorded with a timing always name the threads it really ran with."""
    if threads is None:
        yield
        return
    try:
        import threadpoolctl
    except ImportError:
        yield
        return
    with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
        yield


# --------------------------------------------------------------------------- layers


def _flops(ops: Sequence[Op], batch: int, itemsize: int) -> int:
    return sum(op.cost(batch, itemsize).flops for op in ops)


def _is_depthwise(op: Op) -> bool:
    return isinstance(op, Conv) and (op.role == "depthwise" or _conv_kind(op) == "depthwise")


def _is_pointwise(op: Op) -> bool:
    return isinstance(op, Conv) and op.role == "pointwise"


def part_indices(ops: Sequence[Op], pick: Callable[[Op], bool]) -> list[int]:
    """Indices of the picked ops, each with the batch-norm that directly follows it."""
    chosen: list[int] = []
    for i, op in enumerate(ops):
        if pick(op):
            chosen.append(i)
            if i + 1 < len(ops) and ops[i + 1].role == "batch_norm":
                chosen.append(i + 1)
    return chosen


def _run_steps(steps: Sequence[Prepared]) -> Callable[[], None]:
    runs = tuple(s.run for s in steps)

    def run() -> None:
        for r in runs:
            r()

    return run


# shares of a layer's budget; a layer without some measurement splits it among the rest
_SHARES = {
    "standard": 0.35,
    "separable": 0.35,
    "depthwise": 0.15,
    "pointwise": 0.15,
    "as_specified": 0.2,  # only a layer that is neither form as written (a grouped conv)
}


@dataclass(frozen=True)
class MeasurementPlan:
    """Which measurements a layer's timing takes, in order, and how they share its budget:
    the standard form; unless both forms are the same operations, the separable form and
    its depthwise and pointwise parts (those it has); the layer as written when it is
    neither form. NumPy's :func:`time_forms` and the other runtimes'
    (:mod:`sepconv_cli.execution.runtimes.timed`) both follow it."""

    forms: Forms
    same: bool
    apart: bool
    dw_idx: list[int]
    pw_idx: list[int]
    planned: list[str]

    @classmethod
    def of(cls, forms: Forms) -> MeasurementPlan:
        same = forms.standard == forms.separable
        apart = forms.as_specified_apart
        dw_idx = [] if same else part_indices(forms.separable, _is_depthwise)
        pw_idx = [] if same else part_indices(forms.separable, _is_pointwise)
        planned = (
            ["standard"]
            + ([] if same else ["separable"])
            + (["depthwise"] if dw_idx else [])
            + (["pointwise"] if pw_idx else [])
            + (["as_specified"] if apart else [])
        )
        return cls(forms, same, apart, dw_idx, pw_idx, planned)

    def bencher(
        self, settings: TimingSettings, clock: Clock | None = None
    ) -> Callable[[Callable[[], object], str], Stats]:
        """``bench(fn, name)``: measure ``fn`` for measurement ``name`` within its share of
        what is left of the budget (a measurement that ends early leaves the rest to those
        after it). Only measuring spends the budget: preparing a form between measurements
        (buffers, a runtime's session and its agreement check) does not, or a slow session
        start would leave the forms too little for five samples."""
        now = clock or time.perf_counter
        spent = [0.0]

        def bench(fn: Callable[[], object], name: str) -> Stats:
            left = max(settings.budget_s - spent[0], 0.0)
            later = self.planned[self.planned.index(name) :]
            share = _SHARES[name] / sum(_SHARES[n] for n in later)
            start = now()
            stats = measure(fn, settings, left * share, clock)
            spent[0] += now() - start
            return stats

        return bench

    def timing(
        self,
        batch: int,
        itemsize: int,
        measured: tuple[Stats, Stats, Stats, Stats, Stats | None],
        runtime: RuntimeInfo | None = None,
    ) -> LayerTiming:
        """The record of ``measured`` (standard, separable, depthwise, pointwise, as
        written), each with the GFLOP/s of the operations it ran."""
        standard, separable, depthwise, pointwise, written = measured
        sep = self.forms.separable
        speedup = standard.median_s / separable.median_s if separable.median_s > 0 else 0.0
        return LayerTiming(
            standard=standard.timing(_flops(self.forms.standard, batch, itemsize)),
            separable=separable.timing(_flops(sep, batch, itemsize)),
            depthwise=depthwise.timing(_flops([sep[i] for i in self.dw_idx], batch, itemsize)),
            pointwise=pointwise.timing(_flops([sep[i] for i in self.pw_idx], batch, itemsize)),
            speedup=speedup,
            as_specified_s=None if written is None else written.median_s,
            runtime=runtime,
        )


def time_forms(
    forms: Forms, batch: int, dtype: str, settings: TimingSettings, clock: Clock | None = None
) -> LayerTiming:
    """Time one layer's standard and separable forms (one instance; a row repeated n
    times costs n times these, see :meth:`LayerTiming.scaled`).

    Returns the layer's timing record: the standard form, the separable form and its
    depthwise and pointwise parts (median, min, max, IQR, runs, GFLOP/s each), and the
    speed-up (standard median / separable median).

    ``separable`` is the whole form run end to end; ``depthwise`` its depthwise convolutions
    with the batch-norm after each, ``pointwise`` its pointwise convolutions with the
    batch-norm after each, both timed on the same prepared buffers (residual adds belong to
    neither). A part the form lacks (dense, pooling layers) has zero times and ``runs`` 0.
    When both forms are the same operations they are timed once. A layer that as written is
    neither form (a grouped convolution) is timed a third time as written: its median is
    ``as_specified_s``. Each form runs once, checked against the counted shapes, before it
    is timed.

    ``settings.runtime`` other than ``numpy`` runs the same plan on that runtime, after
    checking it agrees with NumPy (:mod:`sepconv_cli.execution.runtimes.timed`).

    Raises :class:`~sepconv_cli.execution.kernels.NotExecutableError` for a form with an
    operation no kernel runs (on every runtime: each runs what NumPy runs),
    :class:`~sepconv_cli.execution.kernels.MemoryGuardError` before allocating anything when
    the larger form needs more than ``settings.max_memory`` (default: a share of RAM), and
    :class:`~sepconv_cli.execution.kernels.UnsupportedDtypeError` for bfloat16 and int8.
    """
    for ops in (forms.standard, forms.separable, forms.as_specified):
        check_executable(ops)
    if settings.runtime != "numpy":
        from sepconv_cli.execution.runtimes.timed import time_forms_on

        return time_forms_on(forms, batch, dtype, settings, clock)
    dt = numpy_dtype(dtype)
    itemsize = DTYPE_BYTES[dtype]
    plan = MeasurementPlan.of(forms)
    same, apart, dw_idx, pw_idx = plan.same, plan.apart, plan.dw_idx, plan.pw_idx
    threads = settings.threads or 1
    needed = max(
        estimate_bytes(forms.standard, batch, dt, threads),
        0 if same else estimate_bytes(forms.separable, batch, dt, threads),
        estimate_bytes(forms.as_specified, batch, dt, threads) if apart else 0,
    )
    check_memory(needed, settings.max_memory)
    bench = plan.bencher(settings, clock)
    none = Stats.of([], 1)
    with thread_limit(settings.threads):
        rng = np.random.default_rng(settings.seed)
        chain: Chain | None = prepare_chain(forms.standard, batch, dt, rng, threads=threads)
        assert chain is not None
        chain.checked()
        standard = bench(chain, "standard")
        chain = None  # release the standard form's buffers before the separable ones
        separable, depthwise, pointwise = standard, none, none
        if not same:
            chain = prepare_chain(forms.separable, batch, dt, rng, threads=threads)
            chain.checked()
            separable = bench(chain, "separable")
            steps = chain.steps
            if dw_idx:
                depthwise = bench(_run_steps([steps[i] for i in dw_idx]), "depthwise")
            if pw_idx:
                pointwise = bench(_run_steps([steps[i] for i in pw_idx]), "pointwise")
            chain = None
        written: Stats | None = None
        if apart:
            chain = prepare_chain(forms.as_specified, batch, dt, rng, threads=threads)
            chain.checked()
            written = bench(chain, "as_specified")
            chain = None

    return plan.timing(batch, itemsize, (standard, separable, depthwise, pointwise, written))
