"""``sepconv spatial``: spatially separable kernels (rank, factors, cost, timing).

The command only parses its flags, calls the analysis (``sepconv_cli.analysis.spatial``)
and emits one rendering (``sepconv_cli.output.reports.render_spatial``). The analysis and
the renderers are imported when the command runs: they load NumPy (and Rich for the
table), which registering the command, and so every other command's start-up, must not.
"""

from __future__ import annotations

import math
from typing import Annotated

import typer

from sepconv_cli.analysis.spatial.catalogue import FIXED, SIGMA_KERNELS, SIZED
from sepconv_cli.cli.console import Messages, emit
from sepconv_cli.cli.help import SepconvCommand, complete_kernel
from sepconv_cli.cli.options import (
    EXIT_CODES_NO_GATES_HELP,
    FormatOption,
    OutputOption,
    QuietNoGatesOption,
    parse_flag,
)
from sepconv_cli.errors import RuntimeFailure, UsageError
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.reports import SPATIAL, render_spatial
from sepconv_cli.spec.fields import per_dim, positive_int

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()

SPATIAL_HELP = (
    "Cost per output pixel: one multiplication per kernel tap (zero taps included): full "
    "k1·k2, rank-1 pair k1+k2, rank-r sum r·(k1+k2); adds are n-1 per sum of n products. "
    "Rank: SVD, singular values above S.max()·max(k1,k2)·eps (NumPy's matrix_rank rule) "
    "unless --tolerance is given.\n\n" + EXIT_CODES_NO_GATES_HELP
)


def _builtin_help() -> str:
    """The KERNEL help, listing the catalogue's built-ins (sized ones first, as it orders them)."""
    sized = [f"{name}:K" + (" (--sigma)" if name in SIGMA_KERNELS else "") for name in SIZED]
    return (
        f"Built-ins: {', '.join(sized)} (K = 5 or 3x5), {', '.join(FIXED)}. "
        "Or a matrix in a .yaml (list of rows), .csv or .npy file."
    )


def _float_flag(value: str | None, flag: str, *, positive: bool) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        raise UsageError(f"{flag}: expected a number, got {value[:40]!r}") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise UsageError(
            f"{flag}: expected a {'positive' if positive else 'non-negative'} "
            f"finite number, got {value[:40]!r}"
        )
    return number


@app.command(
    cls=SepconvCommand,
    short_help="Spatially separable kernels: rank, factors, cost per pixel.",
    epilog=SPATIAL_HELP,
)
def spatial(
    kernel: Annotated[
        str,
        typer.Argument(metavar="KERNEL", help=_builtin_help(), autocompletion=complete_kernel),
    ],
    sigma: Annotated[
        str | None,
        typer.Option(
            "--sigma",
            metavar="S",
            help="Standard deviation of gaussian:K, in pixels. "
            "[default: 0.3·((K-1)/2 - 1) + 0.8, OpenCV's rule: 1.1 for K = 5]",
        ),
    ] = None,
    tolerance: Annotated[
        str | None,
        typer.Option(
            "--tolerance",
            metavar="TOL",
            help="Singular values above TOL count towards the rank. "
            "[default: S.max()·max(k1,k2)·eps]",
        ),
    ] = None,
    time: Annotated[
        bool,
        typer.Option(
            "--time/--no-time",
            help="Run the full 2-D correlation and the separable form(s) with "
            "NumPy on a random float32 image, check they agree and report the speed-up.",
        ),
    ] = False,
    image: Annotated[
        str | None,
        typer.Option("--image", metavar="HxW", help="Image size for --time. [default: 1024x1024]"),
    ] = None,
    repeats: Annotated[
        str | None,
        typer.Option(
            "--repeats",
            metavar="N",
            help="Timed runs per form, after one warm-up. [default: "
            "at least 5, until 0.3 s, at most 50]",
        ),
    ] = None,
    format: FormatOption = None,
    output: OutputOption = None,
    quiet: QuietNoGatesOption = False,
) -> None:
    """Spatially separable kernels: rank, factors, best low-rank approximations and the
    cost per output pixel (k1·k2 for the full kernel, k1+k2 for a rank-1 pair).

    Example: sepconv spatial sobel-x shows Sobel = [1,2,1]ᵀ ⊗ [-1,0,1], 6 instead of 9
    multiplications per pixel.
    """
    Messages.quiet = quiet
    if output is not None:
        # KERNEL may be a file (.yaml, .csv, .npy): the report must not replace it
        check_output_path(output, inputs=(kernel,), reading="the kernel")
    chosen = SPATIAL.choose(format, output)
    sigma_value = _float_flag(sigma, "--sigma", positive=True)
    tol_value = _float_flag(tolerance, "--tolerance", positive=False)
    repeat_count: int | None = parse_flag(
        repeats, "--repeats", lambda v: positive_int(v, maximum=10_000)
    )
    image_dims: tuple[int, ...] | None = parse_flag(image, "--image", per_dim)
    if not time:
        for flag, given in (("--image", image), ("--repeats", repeats)):
            if given is not None:
                raise UsageError(f"{flag}: only used with --time")

    from sepconv_cli.analysis.spatial.correlate import check_image, with_timing
    from sepconv_cli.analysis.spatial.kernels import resolve_kernel
    from sepconv_cli.analysis.spatial.rank import analyse

    analysis = analyse(resolve_kernel(kernel, sigma_value), tol_value)
    if time:
        shape = check_image(image_dims or (1024, 1024), analysis.kernel.shape)
        Messages.note(
            f"timing {analysis.kernel.name} on a random {shape[0]}x{shape[1]} float32 image ..."
        )
        analysis = with_timing(analysis, shape, repeat_count)
    emit(render_spatial(analysis, chosen), output)
    if analysis.timing is not None and not analysis.timing.allclose:
        raise RuntimeFailure(
            "the separable output differs from the full 2-D correlation (please report it)"
        )
