"""What an int8 timing adds to a report's text: the float32 timing of the same run beside
it, and the operations the runtime ran in float32 for want of an int8 kernel (never
hidden: docs/runtimes.md#int8)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.text import Text

from sepconv_cli.counting.report import LayerReport
from sepconv_cli.execution.records import LayerTiming, ProfileTiming
from sepconv_cli.units import seconds_cell, speedup_cell


def _ran_on(timing: LayerTiming | ProfileTiming) -> str:
    return timing.runtime.runtime if timing.runtime is not None else "the runtime"


def layer_int8_text(timing: LayerTiming) -> Text:
    """One layer's int8 gain over float32 (same runtime, same run) and the operations run
    in float32; empty for a float timing."""
    text = Text()
    if timing.float32 is None:
        return text
    gains = timing.int8_speedups()
    text.append(
        f"\nint8 vs float32 (same run): {gains.get('standard', 0):.2f}× standard, "
        f"{gains.get('separable', 0):.2f}× separable; the separable speed-up is "
        f"{timing.speedup:.2f}× in int8, {timing.float32.speedup:.2f}× in float32."
    )
    if timing.runtime is not None and timing.runtime.quantization:
        text.append(f"\nQuantized as {timing.runtime.quantization}.", style="dim")
    if timing.float_ops:
        text.append(
            f"\nRun in float32 by {_ran_on(timing)} (no int8 kernel): "
            f"{'; '.join(timing.float_ops)}.",
            style="yellow",
        )
    return text


def profile_int8_text(timing: ProfileTiming, layers: Sequence[LayerReport]) -> Text:
    """A model's float32 sums beside its int8 ones, and the operation types run in float32
    (with how many rows hold them); empty for a float timing."""
    text = Text()
    base = timing.float32
    if base is None:
        return text
    gain_std = base.standard_s / timing.standard_s if timing.standard_s else 0.0
    gain_sep = base.separable_s / timing.separable_s if timing.separable_s else 0.0
    text.append(
        f"float32 in the same run: all standard {seconds_cell(base.standard_s)}, all "
        f"separable {seconds_cell(base.separable_s)}, as specified "
        f"{seconds_cell(base.as_specified_s)}: speed-up {speedup_cell(base.speedup)}. "
        f"int8 is {gain_std:.2f}× faster all standard, {gain_sep:.2f}× all separable.\n",
        style="bold",
    )
    if timing.runtime is not None and timing.runtime.quantization:
        text.append(f"Quantized as {timing.runtime.quantization}.\n", style="dim")
    rows: Counter[str] = Counter()
    for layer in layers:
        if layer.timing is not None:
            kinds = {entry.rsplit("(", 1)[-1].rstrip(")") for entry in layer.timing.float_ops}
            rows.update(kinds)
    if rows:
        listed = ", ".join(f"{kind} in {n} row{'s' if n != 1 else ''}" for kind, n in rows.items())
        text.append(
            f"Run in float32 by {_ran_on(timing)} (no int8 kernel): {listed} (each row's "
            "float_ops in the JSON names them).\n",
            style="yellow",
        )
    return text
