"""Timing on ONNX Runtime and PyTorch (issue 15): agreement with NumPy, the runtime in the
result, the one-line refusals.

Agreement is checked between two independent implementations (sepconv's NumPy kernels and
the runtime's own) on the same seeded input and weights; no test asserts a speed. The torch
tests skip where torch is not installed; the GPU paths skip (or check their refusal) where
there is no GPU.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.report import single_layer_report
from sepconv_cli.execution.kernels import prepare_chain
from sepconv_cli.execution.runtimes import layouts
from sepconv_cli.execution.runtimes.base import DisagreementError, RuntimeUnsupportedError
from sepconv_cli.execution.runtimes.registry import check_supported, load_runtime
from sepconv_cli.execution.runtimes.timed import _agreed, check_agreement
from sepconv_cli.execution.timing import TimingSettings, time_forms
from sepconv_cli.spec.flags import layer_from_flags

runner = CliRunner()
FAST = ["--time-budget", "0.05s"]
SMALL = ["-i", "10x10x8", "-k", "3", "-f", "8"]


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


RUNTIMES = [
    pytest.param(
        "onnxruntime",
        marks=pytest.mark.skipif(not _has("onnxruntime"), reason="onnxruntime not installed"),
    ),
    pytest.param("torch", marks=pytest.mark.skipif(not _has("torch"), reason="no torch")),
]

# every kind of layer issue 15 names: 1-D/2-D/3-D, strided, dilated, grouped, depthwise
# with a multiplier, padded (symmetric and TensorFlow's asymmetric same), bias, batch-norm
LAYERS: dict[str, dict[str, Any]] = {
    "2d": {"input": "9x9x6", "kernel": "3", "filters": "10"},
    "1d": {"input": "17x5", "kernel": "3", "filters": "7", "padding": "same"},
    "3d": {"input": "5x6x7x4", "kernel": "3", "filters": "6", "padding": "1"},
    "strided_same": {"input": "12x12x8", "kernel": "3", "filters": "8", "stride": "2",
                     "padding": "same"},
    "dilated": {"input": "13x13x4", "kernel": "3", "filters": "6", "dilation": "2",
                "padding": "2"},
    "grouped": {"input": "8x8x12", "kernel": "3", "filters": "18", "groups": "3",
                "padding": "1"},
    "depthwise_multiplier": {"input": "8x8x6", "kernel": "3", "filters": "12",
                             "depth_multiplier": "2", "padding": "1"},
    "rect_kernel_bias_bn": {"input": "11x9x5", "kernel": "3x5", "filters": "9",
                            "bias": True, "batch_norm": True, "padding": "1x2"},
    "asymmetric_pad": {"input": "10x10x4", "kernel": "4", "filters": "5",
                       "padding": "1:2x2:1"},
    "batch": {"input": "7x7x3", "kernel": "3", "filters": "4", "batch": "2"},
}  # fmt: skip


def _forms(values: dict[str, Any]) -> Any:
    layer = single_layer_report(layer_from_flags(values))
    return layer.row.forms, layer.batch


@pytest.fixture(autouse=True)
def _fresh_runtimes() -> Iterator[None]:
    """Runtimes are cached per process; a test that hides a package needs a fresh load."""
    load_runtime.cache_clear()
    yield
    load_runtime.cache_clear()


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("case", list(LAYERS))
def test_every_form_agrees_with_numpy(runtime: str, case: str) -> None:
    forms, batch = _forms(LAYERS[case])
    rt = load_runtime(runtime, "cpu", 1, None)
    for name in ("standard", "separable", "as_specified"):
        ops = getattr(forms, name)
        check_supported(ops, runtime)
        chain = prepare_chain(ops, batch, "float32", np.random.default_rng(3))
        runner_, part = _agreed(rt, ops, chain, name)  # raises on disagreement
        assert runner_.output().shape == chain.out.shape
        part(range(len(ops)))()  # every op as one part runs too


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_wrong_weight_layout_is_caught_before_timing(
    runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transposed kernels (a classic layout slip) must fail the agreement check."""
    real = layouts.conv_weight
    monkeypatch.setattr(
        layouts, "conv_weight", lambda op, w: np.ascontiguousarray(np.swapaxes(real(op, w), -1, -2))
    )
    forms, batch = _forms({"input": "8x8x4", "kernel": "3", "filters": "4"})
    settings = TimingSettings(budget_s=0.01, runtime=runtime)
    with pytest.raises(DisagreementError, match=f"form standard: {runtime}'s output differs"):
        time_forms(forms, batch, "float32", settings)


def test_agreement_tolerance_is_relative_to_the_largest_value() -> None:
    reference = np.array([[100.0, 1.0]], np.float32)
    check_agreement(reference + np.float32(0.05), reference, "standard", "x")  # 5e-4 of max
    with pytest.raises(DisagreementError, match="form standard: x's output differs"):
        check_agreement(reference + np.float32(0.5), reference, "standard", "x")
    with pytest.raises(DisagreementError, match="gives shape"):
        check_agreement(reference[:, :1], reference, "standard", "x")


def test_unsupported_operations_are_refused_in_one_line() -> None:
    layer = single_layer_report(
        layer_from_flags({"type": "squeeze_excite", "input": "4x4x8", "se_ratio": "0.25"})
    )
    with pytest.raises(RuntimeUnsupportedError, match=r"^--runtime torch: a .* is timed with"):
        check_supported(layer.row.forms.standard, "torch")


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_cost_json_records_the_runtime(runtime: str) -> None:
    code, out, err = run("cost", *SMALL, "--time", *FAST, "--runtime", runtime, "-f", "8",
                         "--format", "json")  # fmt: skip
    assert code == 0, err
    timing = json.loads(out)["layers"][0]["timing"]
    record = timing["runtime"]
    assert record["name"] == runtime
    assert record["version"] == __import__(runtime).__version__
    assert record["device"] == "cpu" and record["threads"] == 1 and record["dtype"] == "float32"
    assert timing["standard"]["median_s"] > 0 and timing["separable"]["depthwise"]["runs"] >= 1
    if runtime == "onnxruntime":
        assert record["provider"] == "CPUExecutionProvider"
        assert record["graph_optimization"] == "all"
    else:
        assert "graph_optimization" not in record


@pytest.mark.skipif(not _has("onnxruntime"), reason="onnxruntime not installed")
def test_ort_optimization_level_is_recorded_and_in_the_header() -> None:
    code, out, err = run("cost", *SMALL, "--time", *FAST, "--runtime", "onnxruntime",
                         "--ort-optimization", "basic", "--format", "json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["layers"][0]["timing"]["runtime"]["graph_optimization"] == "basic"
    code, out, err = run("cost", *SMALL, "--time", *FAST, "--runtime", "onnxruntime")
    assert code == 0, err
    assert "Measured on this machine (onnxruntime " in out and "CPUExecutionProvider" in out


def test_numpy_json_has_no_runtime_record() -> None:
    """The default keeps NumPy's output as it always was (absent runtime = NumPy)."""
    code, out, err = run("cost", *SMALL, "--time", *FAST, "--format", "json")
    assert code == 0, err
    assert "runtime" not in json.loads(out)["layers"][0]["timing"]


@pytest.mark.skipif(not _has("onnxruntime"), reason="onnxruntime not installed")
def test_profile_records_the_runtime_and_notes_what_it_cannot_run(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "input: [8, 8, 8]\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 8, padding: same, name: c1}\n"
        "  - {type: squeeze_excite, se_ratio: 0.25, name: se}\n"
        "  - {type: branches, name: cat, merge: concat, branches: [[], [{type: pointwise,"
        " filters: 4}]]}\n",
        encoding="utf-8",
    )
    code, out, err = run("profile", str(spec), *FAST, "--runtime", "onnxruntime",
                         "--format", "json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["timing"]["runtime"]["name"] == "onnxruntime"
    rows = {layer["name"]: layer for layer in data["layers"]}
    assert rows["se"]["timing"]["runtime"]["name"] == "onnxruntime"
    concat = rows["cat.concat"]
    assert "timing" not in concat and "timed with NumPy only" in concat["note"]


ORT = pytest.mark.skipif(not _has("onnxruntime"), reason="onnxruntime not installed")

# rows whose forms hold a squeeze-and-excite or a shuffle: ONNX Runtime runs them (without
# the SE's activations, as NumPy's kernels run it), torch does not yet
SE_AND_SHUFFLE = """name: se
input: [12, 12, 16]
layers:
  - {type: inverted_residual, expanded: 48, filters: 16, se_ratio: 0.25, se_divisor: 8}
  - {type: squeeze_excite, se_ratio: 0.25}
  - {type: shuffle, groups: 4}
"""


@ORT
def test_squeeze_excite_and_shuffle_agree_on_onnxruntime(tmp_path: Path) -> None:
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.presets import load_model

    path = tmp_path / "se.yaml"
    path.write_text(SE_AND_SHUFFLE, encoding="utf-8")
    rt = load_runtime("onnxruntime", "cpu", 1, None)
    for row in build(load_model(path)).rows:
        for name in ("standard", "separable", "as_specified"):
            ops = getattr(row.forms, name)
            check_supported(ops, "onnxruntime")
            chain = prepare_chain(ops, 1, "float32", np.random.default_rng(5))
            runner_, _ = _agreed(rt, ops, chain, name)  # raises on disagreement
            assert runner_.output().shape == chain.out.shape
        with pytest.raises(RuntimeUnsupportedError, match=r"^--runtime torch: "):
            check_supported(row.forms.as_specified, "torch")


@pytest.mark.parametrize(
    ("runtime", "line"),
    [
        ("onnxruntime", "pip install 'sepconv[ort]'"),
        ("torch", "pip install torch (the CPU-only build is enough)"),
    ],
)
def test_a_missing_runtime_is_exit_2_with_the_install_line(
    runtime: str, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, runtime, None)  # its import now fails
    code, _out, err = run("cost", "--time", *FAST, "--runtime", runtime)
    assert code == 2
    assert err.strip().endswith(line) and "--runtime " + runtime in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_cuda_without_a_gpu_is_exit_2(runtime: str) -> None:
    if runtime == "torch" and __import__("torch").cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    ort_cuda = (
        runtime == "onnxruntime"
        and "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers()
    )
    if ort_cuda:
        pytest.skip("this onnxruntime has the CUDA provider")
    code, _out, err = run("cost", "--time", *FAST, "--runtime", runtime, "--device", "cuda")
    assert code == 2
    assert err.startswith("sepconv: error: --device cuda: ") or "--device cuda:" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "onnxruntime"], "--runtime: only applies when timing"),
        (["--time", "--runtime", "tflite"], "--runtime: 'tflite' is not one of numpy,"),
        (["--time", "--device", "cuda"], "--device cuda: NumPy runs on the CPU"),
        (["--time", "--device", "tpu", "--runtime", "torch"], "--device: 'tpu' is not one of"),
        (["--time", "--ort-optimization", "all"], "--ort-optimization: only applies with"),
        (["--time", "--runtime", "onnxruntime", "--ort-optimization", "max"],
         "--ort-optimization: 'max' is not one of disable, basic, extended, all"),
    ],
)  # fmt: skip
def test_runtime_flags_are_checked(args: list[str], message: str) -> None:
    code, _out, err = run("cost", *args)
    assert code == 2 and message in err


@pytest.mark.skipif(not _has("onnxruntime"), reason="onnxruntime not installed")
def test_dtypes_other_than_float32_are_refused() -> None:
    code, _out, err = run("cost", "--time", *FAST, "--runtime", "onnxruntime", "--dtype",
                         "float16")  # fmt: skip
    assert code == 2 and "--runtime onnxruntime: times float32 only, not float16" in err


def _report(path: Path, runtime: dict[str, Any] | None, time_s: float) -> Path:
    timing: dict[str, Any] = {"as_specified_s": time_s}
    if runtime is not None:
        timing["runtime"] = runtime
    layer = {"name": "c", "type": "conv", "as_specified": {"macs": 10, "params": 2},
             "timing": timing}  # fmt: skip
    path.write_text(json.dumps({"schema": "sepconv/cost/v1", "layers": [layer]}), "utf-8")
    return path


def test_compare_refuses_times_from_different_runtimes(tmp_path: Path) -> None:
    ort = {"name": "onnxruntime", "device": "cpu", "provider": "CPUExecutionProvider"}
    base = _report(tmp_path / "a.json", None, 0.002)
    new = _report(tmp_path / "b.json", ort, 0.001)
    code, _out, err = run("compare", str(base), str(new))
    assert code == 2
    assert "BASE was timed on numpy, NEW on onnxruntime (CPUExecutionProvider)" in err
    assert "--allow-mixed-runtimes" in err
    code, _out, err = run("compare", str(base), str(new), "--allow-mixed-runtimes")
    assert code == 0, err
    assert "time deltas include the runtime's difference" in err
    same = _report(tmp_path / "c.json", ort, 0.003)
    code, _out, err = run("compare", str(new), str(same))
    assert code == 0, err


@pytest.mark.skipif(not _has("onnxruntime"), reason="onnxruntime not installed")
def test_interactive_time_on_a_runtime() -> None:
    from sepconv_cli.analysis.interactive import Session

    session = Session(values={"input": "40x40x16", "kernel": "3", "filters": "16"})
    reply = session.handle("time onnxruntime")
    assert not reply.error, reply.message
    assert session.runtime == "onnxruntime"
    if reply.report is not None:  # a layer large enough to time gets its table
        assert reply.report.timing is not None and reply.report.timing.runtime is not None
        assert reply.report.timing.runtime.runtime == "onnxruntime"
    else:  # or its medians and why no speed-up is named
        assert "Measured (onnxruntime " in reply.message
    bad = session.handle("time tflite")
    assert bad.error and bad.message == "usage: time [numpy|onnxruntime|torch]"
    assert session.runtime == "onnxruntime"


@pytest.mark.skipif(not _has("onnxruntime"), reason="onnxruntime not installed")
def test_a_runtime_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from sepconv_cli.execution.runtimes import onnxruntime_runtime

    def refuse(*args: object) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED\nsecond line")

    monkeypatch.setattr(onnxruntime_runtime.OrtRunner, "__init__", refuse)
    code, _out, err = run("cost", "--time", *FAST, "--runtime", "onnxruntime")
    assert code == 2
    assert err.strip().endswith(
        "--runtime onnxruntime: form standard does not run there: RuntimeError: "
        "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED"
    )
    assert "Traceback" not in err and "second line" not in err
