"""The memory guard: refuse an execution whose buffers would not fit, before allocating any.

The kernels count what they will allocate (:func:`sepconv_cli.execution.kernels.estimate_bytes`
sums their buffer plans); this module decides whether that fits: under ``--max-memory`` when
given, else under a share (:data:`MEMORY_SHARE`) of the memory available now.
"""

from __future__ import annotations

import os

from sepconv_cli.errors import RuntimeFailure
from sepconv_cli.units import human_bytes

# Share of the available memory the default guard lets one layer use: the other half is
# left to the OS, the interpreter, the BLAS library's own buffers and whatever else runs.
MEMORY_SHARE = 0.5


class MemoryGuardError(RuntimeFailure):
    """An execution would need more memory than the limit; nothing was allocated."""

    def __init__(self, needed: int, limit: int, what: str = "") -> None:
        prefix = f"{what} " if what else ""
        super().__init__(
            f"{prefix}needs {human_bytes(needed)} of memory, more than the "
            f"{human_bytes(limit)} limit (--max-memory)"
        )
        self.needed = needed
        self.limit = limit


def available_memory() -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), else free RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return 4 << 30  # nothing to read: assume a small machine


def default_memory_limit() -> int:
    """The guard's default: a safe share (:data:`MEMORY_SHARE`) of the available memory."""
    return int(available_memory() * MEMORY_SHARE)


def check_memory(needed: int, limit: int | None = None, what: str = "") -> None:
    """Raise :class:`MemoryGuardError` when ``needed`` bytes exceed ``limit`` (default share)."""
    limit = default_memory_limit() if limit is None else limit
    if needed > limit:
        raise MemoryGuardError(needed, limit, what)
