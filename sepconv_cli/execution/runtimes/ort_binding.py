"""An ONNX Runtime session's inputs and outputs bound once, where the session runs.

Rules
-----
* Every input is an ``OrtValue`` made from NumPy's array on the session's device
  (``OrtValue.ortvalue_from_numpy``: on the CPU it wraps the array's memory, no copy; on a
  GPU the array is copied there once, here, before anything is timed). Every output is an
  ``OrtValue`` allocated once on that device. A timed call is then ``run_with_iobinding``
  and nothing else: no copy, no allocation of the result, no dict of feeds.
* One code path for every device: the CPU runs (every test of this project) make the very
  calls a GPU run makes, with ``"cpu"`` where a GPU run has ``"cuda"``.
* The bound values are kept alive here: ORT reads and writes them in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sepconv_cli.execution.buffers import Array


@dataclass
class Bound:
    """A session with its I/O binding; ``outputs`` in the order they were given."""

    session: Any
    binding: Any
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)

    def __call__(self) -> None:
        self.session.run_with_iobinding(self.binding)

    def first_output(self) -> Array:
        """The first output, copied to the host (for the agreement check, never timed)."""
        return np.asarray(self.outputs[0].numpy())


def bind_once(
    ort: Any,
    session: Any,
    device: str,
    inputs: Mapping[str, Array],
    outputs: Sequence[tuple[str, tuple[int, ...], Any]],
) -> Bound:
    """Bind ``inputs`` (name → contiguous NumPy array) and ``outputs`` (name, shape, NumPy
    dtype) of ``session`` on ``device`` (``"cpu"`` or ``"cuda"``, device 0)."""
    bound = Bound(session, session.io_binding())
    for name, values in inputs.items():
        value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(values), device, 0)
        bound.binding.bind_ortvalue_input(name, value)
        bound.inputs.append(value)
    for name, shape, dtype in outputs:
        value = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), dtype, device, 0)
        bound.binding.bind_ortvalue_output(name, value)
        bound.outputs.append(value)
    return bound
