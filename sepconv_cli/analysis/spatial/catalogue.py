"""The built-in kernels as plain data: names, descriptions, fixed weights, default sizes.

Rule: pure Python, no NumPy. ``cli/spatial.py`` builds the KERNEL argument's help text from
these tables when the command is registered, and registering a command must not load NumPy;
``kernels.py`` turns an entry into a matrix when the command runs. A kernel added here is
known to both the help and ``resolve_kernel``.
"""

from __future__ import annotations

FIXED: dict[str, tuple[str, list[list[float]]]] = {
    "sobel-x": ("Sobel d/dx: [1,2,1]ᵀ ⊗ [-1,0,1]", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel-y": ("Sobel d/dy: [-1,0,1]ᵀ ⊗ [1,2,1]", [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "scharr-x": ("Scharr d/dx: [3,10,3]ᵀ ⊗ [-1,0,1]", [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]),
    "scharr-y": ("Scharr d/dy: [-1,0,1]ᵀ ⊗ [3,10,3]", [[-3, -10, -3], [0, 0, 0], [3, 10, 3]]),
    "prewitt-x": ("Prewitt d/dx: [1,1,1]ᵀ ⊗ [-1,0,1]", [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "prewitt-y": ("Prewitt d/dy: [-1,0,1]ᵀ ⊗ [1,1,1]", [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "laplacian": ("4-neighbour Laplacian (rank 2)", [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "laplacian-8": ("8-neighbour Laplacian (rank 2)", [[1, 1, 1], [1, -8, 1], [1, 1, 1]]),
    "sharpen": ("sharpen = identity - Laplacian (rank 2)", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "emboss": ("emboss", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}
SIZED: dict[str, tuple[str, int]] = {  # name -> (description, default size)
    "gaussian": (
        "sampled Gaussian, sum 1; --sigma, default 0.3·((k-1)/2 - 1) + 0.8 (OpenCV's rule)",
        5,
    ),
    "box": ("box (mean) filter, every weight 1/(k1·k2)", 3),
    "binomial": ("binomial (Pascal row) smoothing, integer Gaussian approximation", 5),
}
SIGMA_KERNELS = frozenset({"gaussian"})  # the sized kernels that take --sigma
NAMES = (*SIZED, *FIXED)  # every built-in name, sized ones first (the help's order)
