"""The KERNEL argument: a built-in (``gaussian:5``, ``box:3x5``, ``sobel-x``) or a file.

Rule: this module turns what the user named into a ``Kernel`` (float64 weights); the names
and fixed weights are ``catalogue.py``'s, the file formats ``files.py``'s. Sized built-ins
are generated here (sampled Gaussian with OpenCV's default sigma, box, binomial).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from sepconv_cli.analysis.spatial.catalogue import FIXED, NAMES, SIGMA_KERNELS, SIZED
from sepconv_cli.analysis.spatial.files import load_kernel_file
from sepconv_cli.analysis.spatial.model import MAX_SIDE, Kernel, KernelError, Matrix
from sepconv_cli.spec.layers import did_you_mean

_SIZE_RE = re.compile(r"^\d+([x×]\d+)?$")


def default_sigma(size: int) -> float:
    """OpenCV ``getGaussianKernel``'s sigma for a size (when none is given).

    >>> round(default_sigma(5), 6)
    1.1
    """
    return 0.3 * ((size - 1) * 0.5 - 1) + 0.8


def gaussian_1d(size: int, sigma: float) -> Matrix:
    """Samples of ``exp(-x²/2σ²)`` at ``x = i - (size-1)/2``, normalised to sum 1."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return np.asarray(g / g.sum(), dtype=np.float64)


def binomial_1d(size: int) -> Matrix:
    return np.array([math.comb(size - 1, i) for i in range(size)], dtype=np.float64)


def resolve_kernel(text: str, sigma: float | None = None) -> Kernel:
    """A built-in (``gaussian:5``, ``box:3x5``, ``sobel-x``, …) or a ``.yaml``/``.csv``/
    ``.npy`` file holding a matrix. A name that is both wins as a built-in (write ``./name``
    for the file)."""
    name, _, size_text = text.strip().partition(":")
    key = name.strip().lower()
    if key in SIZED or key in FIXED:
        if sigma is not None and key not in SIGMA_KERNELS:
            raise KernelError(f"--sigma: only gaussian kernels take a sigma (got {text!r})")
        return _builtin(key, size_text.strip(), text.strip(), sigma)
    path = Path(text)
    if path.suffix or path.exists() or "/" in text or "\\" in text:
        if sigma is not None:
            raise KernelError(f"--sigma: only gaussian kernels take a sigma (got {text!r})")
        return Kernel(name=text, matrix=load_kernel_file(path), source="file")
    raise KernelError(
        f"KERNEL: unknown kernel {text!r}{did_you_mean(key, NAMES)}; built-ins: "
        f"{', '.join(NAMES)}; or a .yaml, .csv or .npy file"
    )


def _builtin(key: str, size_text: str, full: str, sigma: float | None) -> Kernel:
    if key in FIXED:
        if size_text:
            raise KernelError(
                f"KERNEL: {key} is a fixed 3x3 kernel; it takes no size (got {full!r})"
            )
        return Kernel(name=key, matrix=np.array(FIXED[key][1], dtype=np.float64), source="built-in")
    default = SIZED[key][1]
    size = (default, default)
    if size_text:
        if not _SIZE_RE.match(size_text) or len(size_text) > 20:
            raise KernelError(f"KERNEL: {full!r}: expected a size such as {key}:5 or {key}:3x5")
        parts = [int(p) for p in re.split(r"[x×]", size_text)]
        size = (parts[0], parts[-1])
    if not all(1 <= s <= MAX_SIDE for s in size):
        raise KernelError(f"KERNEL: {full!r}: each side must be 1 to {MAX_SIDE}")
    k1, k2 = size
    label = f"{key}:{k1}" if k1 == k2 else f"{key}:{k1}x{k2}"
    if key == "box":
        return Kernel(label, np.full(size, 1.0 / (k1 * k2)), "built-in")
    if key == "binomial":
        col, row = binomial_1d(k1), binomial_1d(k2)
        return Kernel(label, np.outer(col, row) / (col.sum() * row.sum()), "built-in")
    sigmas = (sigma, sigma) if sigma is not None else (default_sigma(k1), default_sigma(k2))
    params = (
        {"sigma": sigmas[0]}
        if sigmas[0] == sigmas[1]
        else {"sigma_rows": sigmas[0], "sigma_cols": sigmas[1]}
    )
    matrix = np.outer(gaussian_1d(k1, sigmas[0]), gaussian_1d(k2, sigmas[1]))
    return Kernel(label, matrix, "built-in", params)
