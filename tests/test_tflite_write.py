"""The TFLite writer (issue 25 item 2): ``sepconv export SPEC -o model.tflite`` writes a float32
file that sepconv's own TFLite reader reads back to the spec's MACs, exactly, and to the
spec's parameters changed only by what folding does, computed here by hand; LiteRT runs it.

Skips where the ``tflite`` schema package (or, for the read-back, ``onnx``) is missing; the
LiteRT runs skip where ``ai_edge_litert`` is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tflite")
pytest.importorskip("onnx")  # the reader counts a .tflite as the ONNX graph of its operators

from sepconv_cli.cli.app import app
from sepconv_cli.counting.network import Model, build
from sepconv_cli.counting.ops import BatchNorm, Conv, Dense, Op
from sepconv_cli.spec.presets import resolve_model

runner = CliRunner()
FORMS = ("as_specified", "standard", "separable")


def invoke(*args: str) -> tuple[int, str, str]:
    done = runner.invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


def totals(*args: str) -> dict[str, Any]:
    code, out, err = invoke("profile", *args, "--no-time", "-q", "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)["totals"]
    return data


def folding(ops: Sequence[Op]) -> int:
    """What one instance of a form's parameters change by in the file, per convolution or
    dense layer: a batch-norm after it is folded into it, its scale and shift (2·C, which
    the spec counts) becoming the C of a bias: −C, or −2·C where the layer had its own
    bias (that bias and the shift become one); a layer with neither gets a bias of C zeros
    (LiteRT requires one): +C. Nothing else changes (a squeeze-and-excite's convs have
    biases, and no batch-norm)."""
    delta = 0
    for i, op in enumerate(ops):
        if not isinstance(op, Conv | Dense):
            continue
        channels = op.out_channels if isinstance(op, Conv) else op.units
        normed = i + 1 < len(ops) and isinstance(ops[i + 1], BatchNorm)
        if normed:
            delta -= 2 * channels if op.bias else channels
        elif not op.bias:
            delta += channels
    return delta


def expected_params(model: Model, form: str, spec_params: int) -> int:
    return spec_params + sum(folding(getattr(r.forms, form)) * r.repeat for r in model.rows)


def export(tmp_path: Path, model: str, form: str, *args: str) -> Path:
    path = tmp_path / f"{model}_{form}.tflite"
    code, _out, err = invoke("export", model, *args, "--form", form, "-o", str(path))
    assert code == 0, err
    assert err.startswith(f"sepconv: wrote {path} ({form}, TFLite float32, ")
    return path


def test_mobilenet_v1_reads_back_with_the_batch_norms_folded_by_hand(tmp_path: Path) -> None:
    """MobileNetV1 has 27 convolutions, each with a batch-norm and no bias, and a dense
    layer with a bias. Folding turns each batch-norm's 2·C into a C bias: the file holds
    the spec's parameters less one per batch-normed channel, 32 (conv1) + 4,960 (the
    depthwise convs: 32 + 64 + 128 + 128 + 256 + 256 + 5·512 + 512 + 1024, laid out as
    32, 64, 128, 128, 256, 256, 512 ×6, 1024) + 5,952 (the pointwise: 64 + 128 + 128 + 256
    + 256 + 6·512 + 1024 + 1024) = 10,944; the MACs are the spec's."""
    assert 32 + 64 + 128 + 128 + 256 + 256 + 6 * 512 + 1024 == 4960
    assert 64 + 128 + 128 + 256 + 256 + 6 * 512 + 1024 + 1024 == 5952
    spec = totals("mobilenet_v1", "-r", "96")["as_specified"]
    back = totals(str(export(tmp_path, "mobilenet_v1", "as_specified", "-r", "96")))
    assert back["as_specified"]["macs"] == spec["macs"] == 105_298_432
    assert back["as_specified"]["params"] == spec["params"] - 10_944 == 4_221_032


def test_a_conv_without_bias_or_batch_norm_gains_a_zero_bias(tmp_path: Path) -> None:
    """seed_example: one 5×5 conv, 3 → 256, no bias: the file holds 256 zeros more."""
    spec = totals("seed_example")["as_specified"]
    back = totals(str(export(tmp_path, "seed_example", "as_specified")))["as_specified"]
    assert (back["macs"], back["params"]) == (spec["macs"], spec["params"] + 256)


@pytest.mark.parametrize(
    ("model", "resolution"),
    [
        ("mobilenet_v1", "96"),
        ("mobilenet_v2", "96"),  # inverted residuals: the residual adds
        ("mobilenet_v3_small", "64"),  # squeeze-and-excite, hard-swish, residuals
        ("shufflenet_v2_x1_0", "64"),  # channel splits, shuffles, concats
    ],
)
def test_every_form_reads_back_to_the_specs_counts(
    tmp_path: Path, model: str, resolution: str
) -> None:
    spec = totals(model, "-r", resolution)
    built = build(resolve_model(model), resolution=(int(resolution),))
    forms = FORMS if model in ("mobilenet_v1", "mobilenet_v2") else ("as_specified",)
    for form in forms:
        back = totals(str(export(tmp_path, model, form, "-r", resolution)))["as_specified"]
        assert back["macs"] == spec[form]["macs"], form
        assert back["params"] == expected_params(built, form, spec[form]["params"]), form


@pytest.mark.parametrize("model", ["mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x1_0"])
def test_the_written_file_runs_on_litert(tmp_path: Path, model: str) -> None:
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    path = export(tmp_path, model, "as_specified", "-r", "64", "-b", "2")
    interpreter = interpreter_module.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    assert tuple(detail["shape"]) == (2, 64, 64, 3)  # NHWC, the batch as given
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert y.shape == (2, 1000) and np.isfinite(y).all()
    assert not np.allclose(y[0], y[1])  # two different images, two different outputs


def test_constant_buffers_are_aligned_and_the_operators_are_tflites(tmp_path: Path) -> None:
    """Every weight starts on a 16-byte boundary (as TFLite's converter aligns them, so
    LiteRT reads them in place); batch-norms are folded and ReLU6 fused: the file of
    MobileNetV2 holds only convolutions, adds, a mean and a dense layer."""
    import tflite

    path = export(tmp_path, "mobilenet_v2", "as_specified", "-r", "64")
    data = path.read_bytes()
    model = tflite.Model.GetRootAs(data, 0)
    assert data[4:8] == b"TFL3" and model.Version() == 3
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            assert start % 16 == 0, (i, start)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    codes = [model.OperatorCodes(graph.Operators(i).OpcodeIndex()).BuiltinCode()
             for i in range(graph.OperatorsLength())]  # fmt: skip
    used = {names[c] for c in codes}
    assert used == {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"}, used
    assert sum(names[c] == "ADD" for c in codes) == 10  # MobileNetV2's residual adds


def test_a_layer_without_a_tflite_form_is_named_and_the_file_kept(tmp_path: Path) -> None:
    spec = tmp_path / "adaptive.yaml"
    spec.write_text(
        "name: a\ninput: [7, 7, 2]\nlayers:\n  - {type: pool, name: odd, output_size: 3}\n"
    )
    out = tmp_path / "m.tflite"
    out.write_bytes(b"before")
    code, _out, err = invoke("export", str(spec), "-o", str(out))
    assert code == 2
    line = err.strip()
    assert line.startswith("sepconv: error: odd (") and "\n" not in line  # the row, its place
    assert line.endswith(
        "adaptive.yaml:4:5: layers[0]): adaptive pooling 7 → 3, 7 → 3 has no TFLite form "
        "(each input size must be a multiple of its output size)"
    )
    assert out.read_bytes() == b"before"


def test_opset_is_an_onnx_option_and_the_extension_is_checked(tmp_path: Path) -> None:
    code, _out, err = invoke("export", "seed_example", "-o", str(tmp_path / "m.tflite"),
                             "--opset", "18")  # fmt: skip
    assert code == 2 and "--opset: only applies to an .onnx file" in err
    code, _out, err = invoke("export", "seed_example", "-o", str(tmp_path / "m.tfl"))
    assert code == 2 and "sepconv cannot write a .tfl file" in err and ".tflite" in err


def test_without_tflite_installed_one_line_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tflite", None)
    code, _out, err = invoke("export", "seed_example", "-o", str(tmp_path / "m.tflite"))
    assert code == 2
    assert err.strip().endswith("pip install 'sepconv[tflite]'")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m.tflite").exists()


def test_no_command_imports_tflite_or_litert_until_it_needs_them() -> None:
    code = (
        "import sys\n"
        "from sepconv_cli.cli.app import main\n"
        "for argv in (['cost', '--format', 'json'], ['profile', 'mobilenet_v1', '--no-time'],"
        " ['export', '--help'], ['bench', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "roots = ('tflite', 'flatbuffers', 'ai_edge_litert')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "print('LOADED=' + ','.join(loaded), file=sys.stderr)\n"
    )
    env = {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED=\n" in done.stderr, done.stderr[-500:]
