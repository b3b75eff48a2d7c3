"""``sepconv export MODEL -o model.onnx``: a spec or preset as an ONNX graph with seeded
random weights (needs the ``onnx`` extra, imported only here); ``-o model.tflite`` writes a
float32 TensorFlow Lite file instead (needs the ``tflite`` package), or with ``--dtype
int8`` a full-integer int8 one, calibrated on LiteRT (needs ``ai_edge_litert`` too)."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sepconv_cli.cli.console import Messages
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import (
    QuietNoGatesOption,
    ResolutionOption,
    SpecModelArgument,
    WidthMultiplierOption,
    parse_flag,
    parse_width,
)
from sepconv_cli.errors import UsageError
from sepconv_cli.output.files import check_output_path, write_atomic_bytes
from sepconv_cli.output.formats import check_extension
from sepconv_cli.spec.fields import choice, per_dim, positive_int

if TYPE_CHECKING:  # NumPy and onnx load only when the command runs
    from sepconv_cli.counting.network import Model
    from sepconv_cli.interchange.onnx_build import Form
    from sepconv_cli.spec.layers import ModelSpec

# the forms, as --form names them (as interchange.onnx_build.FORMS, which imports NumPy)
FORMS = ("as_specified", "standard", "separable")
# the number formats --dtype writes
EXPORT_DTYPES = ("float32", "int8")

# this command's own Typer app; cli/app.py adds it to the root app
app = typer.Typer()

# export has no gates: its own exit codes
EXPORT_EXIT_CODES = (
    "Exit codes: 0 written, 2 bad input or usage (also: the onnx or tflite package missing, "
    "a layer with no ONNX or TFLite form, a graph past 2 GiB), 3 runtime failure (e.g. not "
    "enough memory), 130 interrupted."
)


@app.command(
    cls=SepconvCommand,
    short_help="Write a spec or preset as an ONNX or TFLite file with seeded random weights.",
    epilog=EXPORT_EXIT_CODES,
)
def export(
    model: SpecModelArgument,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="The file to write (atomically): .onnx, or .tflite for a float32 TensorFlow "
            "Lite file (NHWC).",
            dir_okay=False,
        ),
    ],
    form: Annotated[
        str | None,
        typer.Option(
            "--form",
            metavar="FORM",
            help="Which form of every layer: as_specified (the spec as written), standard "
            "(every k×k conv dense) or separable (every k×k conv depthwise + pointwise). "
            "[default: as_specified]",
            autocompletion=lambda incomplete: [f for f in FORMS if f.startswith(incomplete)],
        ),
    ] = None,
    width_multiplier: WidthMultiplierOption = None,
    resolution: ResolutionOption = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch", "-b", metavar="N", help="Batch size of the graph's input (the spec's)."
        ),
    ] = None,
    seed: Annotated[
        str | None,
        typer.Option(
            "--seed", metavar="N", help="Seed of the random weights (NumPy). [default: 0]"
        ),
    ] = None,
    opset: Annotated[
        str | None,
        typer.Option(
            "--opset",
            metavar="N",
            help="ONNX opset of the graph: 17 or newer, up to the installed onnx's (an .onnx "
            "file only). [default: 17]",
        ),
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(
            "--dtype",
            metavar="TYPE",
            help="float32, or int8: a .tflite file full-integer quantized as TensorFlow's "
            "converter writes one (int8 weights per channel and activations, calibrated on a "
            "seeded input run through the float model on LiteRT; float32 in and out); an "
            ".onnx file quantized by ONNX Runtime's quantizer (QDQ, int8 weights per "
            "channel and activations, calibrated on a seeded input; needs sepconv[ort]). "
            "[default: float32]",
            autocompletion=lambda incomplete: [
                d for d in EXPORT_DTYPES if d.startswith(incomplete)
            ],
        ),
    ] = None,
    quiet: QuietNoGatesOption = False,
) -> None:
    """Write MODEL as an ONNX graph (NCHW, seeded random weights) that Netron opens and any
    runtime runs: node names are the spec's row names, and the graph's weights count as
    sepconv's params. A .tflite output is a float32 TensorFlow Lite file (NHWC) that LiteRT
    runs, batch-norms folded as TFLite's converter folds them."""
    Messages.quiet = quiet
    tflite = output.suffix.lower() == ".tflite"
    what = "the TFLite file" if tflite else "the ONNX graph"
    check_output_path(output, inputs=(model,), writing=what)
    check_extension(output, (".onnx", ".tflite", ""), "--output")  # binary: no text name
    if tflite and opset is not None:
        raise UsageError("--opset: only applies to an .onnx file (a .tflite file has no opset)")
    chosen: Form = parse_flag(form, "--form", choice(FORMS)) or "as_specified"
    number_format = parse_flag(dtype, "--dtype", choice(EXPORT_DTYPES)) or "float32"
    seed_value = parse_flag(seed, "--seed", partial(positive_int, minimum=0)) or 0
    opset_value = parse_flag(opset, "--opset", partial(positive_int, minimum=17)) or 17
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.presets import resolve_model

    spec = resolve_model(model)
    built = build(
        spec,
        width_multiplier=parse_width(width_multiplier),
        resolution=parse_flag(resolution, "--resolution", per_dim),
        batch=parse_flag(batch, "--batch", positive_int),
    )
    if tflite:
        _write_tflite(spec, built, chosen, seed_value, output, number_format)
        return
    # after the cheap checks: onnx and NumPy load only now (startup stays as it is)
    from sepconv_cli.interchange.onnx_export import export_model, serialize

    start = time.perf_counter()
    exported = export_model(spec, built, chosen, seed=seed_value, opset=opset_value)
    graph: Any = exported.model
    kind = ""
    if number_format == "int8":
        from sepconv_cli.interchange.onnx_int8 import quantize_qdq, seeded_feeds

        graph = quantize_qdq(graph, seeded_feeds(graph, seed_value), "--dtype int8")
        kind = "int8 QDQ, "
    data = serialize(graph, str(output))
    if exported.dtype_note:
        Messages.note(f"sepconv: {exported.dtype_note}")
    write_atomic_bytes(output, data, announce=False)  # its own line below says more
    nodes = len(graph.graph.node)
    elapsed = time.perf_counter() - start
    Messages.note(
        f"sepconv: wrote {output} ({chosen}, {kind}opset {opset_value}, {nodes} nodes, "
        f"{exported.params:,} params, {len(data):,} bytes) in {elapsed:.1f} s"
    )


def _write_tflite(
    spec: ModelSpec, built: Model, form: Form, seed: int, output: Path, dtype: str
) -> None:
    """The TFLite file of ``built`` written to ``output``, with its one-line note."""
    from sepconv_cli.interchange.tflite_export import export_tflite

    start = time.perf_counter()
    exported = export_tflite(spec, built, form, seed=seed, where=str(output), dtype=dtype)
    if exported.dtype_note:
        Messages.note(f"sepconv: {exported.dtype_note}")
    write_atomic_bytes(output, exported.data, announce=False)
    elapsed = time.perf_counter() - start
    Messages.note(
        f"sepconv: wrote {output} ({form}, TFLite {exported.dtype}, {exported.operators} "
        f"operators, {exported.weights:,} weights, {len(exported.data):,} bytes) in {elapsed:.1f} s"
    )
