"""``time_forms`` on a runtime other than NumPy: the same plan, budget and statistics,
another executor.

Rules
-----
* Every form (standard, separable, as written when it is neither) is first prepared with
  NumPy's kernels on the seeded input and weights NumPy's own timing uses and run once:
  that output is the reference. The runtime is given the same input and weights
  (:mod:`.layouts`) and the other tensors NumPy's operations read (``operands``: a
  residual, a gate, the other branches of a concat), run once, and must agree
  (:data:`base.AGREEMENT_RTOL`, :data:`base.AGREEMENT_ATOL`), or
  :class:`base.DisagreementError` names the form and runtime (the caller adds the layer).
* Then it is timed by :func:`sepconv_cli.execution.timing.measure`: warm-up, auto-ranged
  loops, median and spread, the layer's budget split as NumPy's is.
* ``--dtype int8``: the same forms are timed twice in one run, first in float32, then
  each quantized by the runtime's own tools (:mod:`.ort_int8`, LiteRT's int8 writer); the
  int8 record carries the float32 one (``float32``) and the operations that ran in float32
  for want of an int8 kernel (``float_ops``). NumPy's reference runs in float32 (it has no
  int8 arithmetic); an int8 form agrees with it within its own tolerance, counted in
  steps of its output's quantization scale (:func:`base.int8_tolerance`).
* The separable form's parts: its depthwise convolutions (each with the batch-norm after
  it) and its pointwise ones, each contiguous run of a part one graph or module chain fed
  the input NumPy's chain gives it; a part's time is its runs called one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from sepconv_cli.counting.lowering import Forms
from sepconv_cli.counting.ops import DTYPE_BYTES, Op
from sepconv_cli.execution.buffers import Array
from sepconv_cli.execution.kernels import (
    Chain,
    check_memory,
    estimate_bytes,
    numpy_dtype,
    prepare_chain,
)
from sepconv_cli.execution.records import LayerTiming
from sepconv_cli.execution.runtimes.base import (
    AGREEMENT_ATOL,
    AGREEMENT_RTOL,
    INT8,
    RUNTIME_DTYPES,
    DisagreementError,
    RuntimeUnsupportedError,
)
from sepconv_cli.execution.runtimes.registry import Runner, Runtime, load_runtime
from sepconv_cli.execution.timing import Clock, MeasurementPlan, Stats, TimingSettings


def disagreement(result: Array, reference: Array) -> float:
    """The largest ``|result - reference|`` beyond the tolerance's relative part, over the
    largest ``|reference|``: at most ``AGREEMENT_ATOL`` when the two agree."""
    ref = reference.astype(np.float64)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    excess = np.abs(result.astype(np.float64) - ref) - AGREEMENT_RTOL * np.abs(ref)
    worst = float(np.max(excess)) if excess.size else 0.0
    return max(worst, 0.0) / (scale or 1.0)


def check_agreement(
    result: Array, reference: Array, form: str, runtime: str, tolerance: float | None = None
) -> None:
    """Float forms: within ``AGREEMENT_ATOL`` + ``AGREEMENT_RTOL``; an int8 form: every
    element within ``tolerance`` (absolute, from its output's scale) of NumPy's."""
    if result.shape != reference.shape:
        raise DisagreementError(
            f"form {form}: {runtime} gives shape {result.shape}, NumPy {reference.shape}"
        )
    if tolerance is not None:
        worst = float(np.max(np.abs(result.astype(np.float64) - reference))) if result.size else 0
        if not worst <= tolerance:  # NaN included
            raise DisagreementError(
                f"form {form}: {runtime}'s int8 output differs from NumPy's float32 one by "
                f"up to {worst:.3g}, beyond the int8 tolerance {tolerance:.3g} "
                "(INT8_STEPS_PER_OP output steps times the square root of the quantized operations)"
            )
        return
    off = disagreement(result, reference)
    if not off <= AGREEMENT_ATOL:  # NaN included
        raise DisagreementError(
            f"form {form}: {runtime}'s output differs from NumPy's on the same data by "
            f"{off:.2g} of its largest value (tolerance {AGREEMENT_ATOL:g} + "
            f"{AGREEMENT_RTOL:g} relative)"
        )


def _runs(indices: Sequence[int]) -> list[list[int]]:
    """Consecutive indices grouped: [0, 1, 4, 5] → [[0, 1], [4, 5]]."""
    out: list[list[int]] = []
    for i in indices:
        if out and out[-1][-1] == i - 1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def prepare_steps(rt: Runtime, ops: Sequence[Op], chain: Chain, run: Sequence[int]) -> Runner:
    """``ops[i]`` for ``i`` in ``run`` (consecutive) on the runtime, fed what NumPy's chain
    gave the first of them, and the weights and second tensors NumPy's steps hold."""
    steps = [chain.steps[i] for i in run]
    return rt.prepare(
        [ops[i] for i in run],
        steps[0].x,
        [step.weights for step in steps],
        [step.operands for step in steps],
    )


def _agreed(
    rt: Runtime, ops: Sequence[Op], chain: Chain, form: str
) -> tuple[Runner, Callable[[Sequence[int]], Callable[[], None]]]:
    """The form on the runtime, checked against NumPy's output, and a maker of its parts."""
    reference = chain.checked().copy()
    name = rt.info.runtime
    try:
        runner = prepare_steps(rt, ops, chain, range(len(ops)))
        result = runner.output()
    except (RuntimeUnsupportedError, MemoryError):
        raise
    except Exception as exc:  # the runtime's own refusal: one line, never a traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise RuntimeUnsupportedError(
            f"--runtime {name}: form {form} does not run there: {type(exc).__name__}: {first[:200]}"
        ) from None
    check_agreement(result, reference, form, name, runner.tolerance)

    def part(indices: Sequence[int]) -> Callable[[], None]:
        runners = [prepare_steps(rt, ops, chain, run) for run in _runs(indices)]

        def call() -> None:
            for r in runners:
                r()

        return call

    return runner, part


def time_forms_on(
    forms: Forms, batch: int, dtype: str, settings: TimingSettings, clock: Clock | None = None
) -> LayerTiming:
    """:func:`sepconv_cli.execution.timing.time_forms` on ``settings.runtime``; in int8,
    the float32 timing of the same forms first, carried by the int8 record."""
    name = settings.runtime
    if dtype not in RUNTIME_DTYPES:
        raise RuntimeUnsupportedError(
            f"--runtime {name}: times {', '.join(RUNTIME_DTYPES)} only, not {dtype}"
        )
    if dtype != INT8:
        return _time_on(forms, batch, dtype, settings, clock)
    # the int8 runtime first: a runtime without int8 is refused before any float32 work
    load_runtime(name, settings.device, settings.threads, settings.ort_optimization, INT8)
    baseline = _time_on(forms, batch, "float32", settings, clock)
    return replace(_time_on(forms, batch, INT8, settings, clock), float32=baseline)


def _time_on(
    forms: Forms, batch: int, dtype: str, settings: TimingSettings, clock: Clock | None
) -> LayerTiming:
    name = settings.runtime
    plan = MeasurementPlan.of(forms)
    same, apart, dw_idx, pw_idx = plan.same, plan.apart, plan.dw_idx, plan.pw_idx
    rt = load_runtime(name, settings.device, settings.threads, settings.ort_optimization, dtype)
    # NumPy's reference (and the weights every runtime is given) is float32 for int8
    dt = numpy_dtype("float32" if dtype == INT8 else dtype)
    itemsize = DTYPE_BYTES[dtype]
    float_ops: list[str] = []
    # NumPy's reference chain and the runtime's copy of it are alive together
    needed = max(estimate_bytes(f, batch, dt) for f in (forms.standard, forms.separable))
    check_memory(2 * needed, settings.max_memory)
    bench = plan.bencher(settings, clock)
    none = Stats.of([], 1)
    rng = np.random.default_rng(settings.seed)
    chain = prepare_chain(forms.standard, batch, dt, rng)
    runner, _ = _agreed(rt, forms.standard, chain, "standard")
    float_ops += [f"standard: {op}" for op in runner.float_ops]
    standard = bench(runner, "standard")
    separable, depthwise, pointwise = standard, none, none
    if not same:
        chain = prepare_chain(forms.separable, batch, dt, rng)
        runner, part = _agreed(rt, forms.separable, chain, "separable")
        float_ops += [f"separable: {op}" for op in runner.float_ops]
        separable = bench(runner, "separable")
        if dw_idx:
            depthwise = bench(part(dw_idx), "depthwise")
        if pw_idx:
            pointwise = bench(part(pw_idx), "pointwise")
    written: Stats | None = None
    if apart:
        chain = prepare_chain(forms.as_specified, batch, dt, rng)
        runner, _ = _agreed(rt, forms.as_specified, chain, "as_specified")
        float_ops += [f"as specified: {op}" for op in runner.float_ops]
        written = bench(runner, "as_specified")

    measured = (standard, separable, depthwise, pointwise, written)
    timing = plan.timing(batch, itemsize, measured, rt.info)
    return replace(timing, float_ops=tuple(float_ops)) if float_ops else timing
