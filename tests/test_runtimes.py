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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.lowering import Forms
from sepconv_cli.counting.ops import Add, Concat, Conv, ConvTranspose, LayerNorm, Op, Scale
from sepconv_cli.counting.report import single_layer_report
from sepconv_cli.execution.kernels import NotExecutableError, check_executable, prepare_chain
from sepconv_cli.execution.runtimes import layouts
from sepconv_cli.execution.runtimes.base import DisagreementError
from sepconv_cli.execution.runtimes.registry import load_runtime
from sepconv_cli.execution.runtimes.timed import _agreed, check_agreement, prepare_steps
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


# every test here loads runtimes afresh (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fresh_runtimes")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("case", list(LAYERS))
def test_every_form_agrees_with_numpy(runtime: str, case: str) -> None:
    forms, batch = _forms(LAYERS[case])
    rt = load_runtime(runtime, "cpu", 1, None)
    for name in ("standard", "separable", "as_specified"):
        ops = getattr(forms, name)
        check_executable(ops)
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


@pytest.mark.parametrize("runtime", ["numpy", *RUNTIMES])
def test_an_operation_nothing_executes_is_refused_in_one_line(runtime: str) -> None:
    """A transposed convolution (an ONNX file's) is counted; no runtime here executes it."""
    op = ConvTranspose((4, 4, 8), 4, (3, 3), (8, 8))
    forms = Forms("none", (op,), (op,), (op,))
    settings = TimingSettings(budget_s=0.01, runtime=runtime)
    with pytest.raises(NotExecutableError, match=r"^a conv_transpose operation is counted, not"):
        time_forms(forms, 1, "float32", settings)


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
def test_profile_records_the_runtime_on_every_row(tmp_path: Path) -> None:
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
    assert data["timing"]["layers_not_timed"] == 0
    rows = {layer["name"]: layer for layer in data["layers"]}
    assert len(rows) == 4, list(rows)  # c1, se, the pointwise branch, cat.concat
    for name in rows:
        assert rows[name]["timing"]["runtime"]["name"] == "onnxruntime", name
        assert "note" not in rows[name]


ORT = pytest.mark.skipif(not _has("onnxruntime"), reason="onnxruntime not installed")

# every row kind that reads more than its input or is more than a conv: a squeeze-and-excite
# (inside an inverted residual and on its own), a shuffle, a concat of branches (one of them
# the identity) and an add of branches
ROW_KINDS = """name: kinds
input: [12, 12, 16]
layers:
  - {type: inverted_residual, expanded: 48, filters: 16, se_ratio: 0.25, se_divisor: 8}
  - {type: squeeze_excite, se_ratio: 0.25}
  - {type: shuffle, groups: 4}
  - {type: branches, merge: concat, branches: [[], [{type: pointwise, filters: 8}]]}
  - {type: branches, merge: add, branches: [[], [{type: conv, kernel: 3, filters: 24,
     padding: same}]]}
"""


def _agrees(runtime: str, ops: Sequence[Op], name: str, seed: int = 5) -> None:
    rt = load_runtime(runtime, "cpu", 1, None)
    check_executable(ops)
    chain = prepare_chain(ops, 2, "float32", np.random.default_rng(seed))
    runner_, part = _agreed(rt, ops, chain, name)  # raises on disagreement
    assert runner_.output().shape == chain.out.shape
    part(range(1, len(ops)))()  # a part that starts inside the chain runs too


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_row_kind_agrees_with_numpy(runtime: str, tmp_path: Path) -> None:
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.presets import load_model

    path = tmp_path / "kinds.yaml"
    path.write_text(ROW_KINDS, encoding="utf-8")
    rows = build(load_model(path)).rows
    kinds = {op.role for row in rows for op in row.forms.as_specified}
    assert {"squeeze_excite", "shuffle", "concat", "add"} <= kinds, kinds
    for row in rows:
        for name in ("standard", "separable", "as_specified"):
            _agrees(runtime, getattr(row.forms, name), f"{row.name} {name}")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_second_operands_are_numpys_own(runtime: str) -> None:
    """A residual that is not the form's input, a gate, a concat of three: the runtime must
    read NumPy's seeded tensors (zeros or fresh random ones would disagree)."""
    conv = Conv((6, 6, 4), 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    _agrees(runtime, [conv, Add((6, 6, 8))], "residual")
    _agrees(runtime, [conv, Scale((6, 6, 8))], "gate")
    _agrees(runtime, [conv, Concat(((6, 6, 8), (6, 6, 3), (6, 6, 5)))], "concat")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(
    "op",
    [
        LayerNorm((4, 5, 6), 6),  # ConvNeXt's: channels-last tokens, scale and bias
        LayerNorm((4, 5, 6), 120, bias=False),  # over every dim, a scale only
        LayerNorm((10,), 10, scale=False, bias=False),  # a flat tensor, nothing learned
    ],
)
def test_layer_norms_agree_with_numpy(runtime: str, op: LayerNorm) -> None:
    _agrees(runtime, [op], "layer_norm")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_layer_norm_inside_an_nchw_chain_agrees(runtime: str) -> None:
    """After a conv the runtime's tensor is NCHW: the norm over the channels runs between
    two transposes (torchvision's LayerNorm2d), still NumPy's computation."""
    conv = Conv((6, 6, 4), 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    _agrees(runtime, [conv, LayerNorm((6, 6, 8), 8), Scale((6, 6, 8), params=8)], "chain")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_ignored_operand_is_caught(runtime: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the runtime were handed other data than NumPy's (here: the gate zeroed), the
    agreement check stops the run."""
    from sepconv_cli.execution import elementwise

    real = elementwise.build_scale

    def zero_gate_for_runtime(*args: Any, **kwargs: Any) -> Any:
        prepared = real(*args, **kwargs)
        prepared.operands = {"gate": np.zeros_like(prepared.operands["gate"])}
        return prepared

    monkeypatch.setattr(elementwise, "build_scale", zero_gate_for_runtime)
    conv = Conv((6, 6, 4), 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    with pytest.raises(DisagreementError, match="form gate: "):
        _agrees(runtime, [conv, Scale((6, 6, 8))], "gate")


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
    assert code == 2 and "--runtime onnxruntime: times float32, int8 only, not float16" in err


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
    assert bad.error and bad.message == "usage: time [numpy|onnxruntime|torch|litert]"
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


@ORT
def test_ort_binding_reads_the_bound_array_in_place() -> None:
    """Bound once, no copy on the timed path: changing the bound host array changes what the
    next call computes (the GPU path makes the same OrtValue calls with "cuda")."""
    import onnx
    import onnxruntime as ort

    from sepconv_cli.execution.runtimes.ort_binding import bind_once

    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.full((2, 3), -1.0, np.float32)
    bound = bind_once(ort, session, "cpu", {"x": x}, [("y", (2, 3), np.float32)])
    bound()
    assert (bound.first_output() == 0).all()
    x[...] = 2.0  # the same memory ORT reads
    bound()
    assert (bound.first_output() == 2).all()


@pytest.mark.skipif(not _has("torch"), reason="no torch")
def test_every_timed_torch_call_on_a_gpu_synchronizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel launch returns before the kernel ends: on --device cuda each call waits for
    it. Checked on the CPU by counting the synchronize calls a cuda runner makes."""
    import torch

    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: calls.append(1))
    forms, batch = _forms(LAYERS["2d"])
    chain = prepare_chain(forms.standard, batch, "float32", np.random.default_rng(0))
    rt = load_runtime("torch", "cpu", 1, None)
    runner_ = prepare_steps(rt, forms.standard, chain, range(len(forms.standard)))
    runner_.cuda = True  # type: ignore[attr-defined]
    for _ in range(3):
        runner_()
    assert len(calls) == 3


def _gpu(runtime: str) -> bool:
    """A CUDA device this runtime can use here."""
    if not _has(runtime):
        return False
    if runtime == "torch":
        return bool(__import__("torch").cuda.is_available())
    return "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers()


GPU_RUNTIMES = [
    pytest.param(name, marks=pytest.mark.skipif(not _gpu(name), reason=f"no GPU for {name}"))
    for name in ("onnxruntime", "torch")
]


@pytest.mark.parametrize("runtime", GPU_RUNTIMES)
@pytest.mark.parametrize("case", ["2d", "strided_same", "depthwise_multiplier", "3d"])
def test_every_form_agrees_with_numpy_on_a_gpu(runtime: str, case: str) -> None:
    """Run only where a GPU is (benchmarks/gpu_check.sh runs it there)."""
    forms, batch = _forms(LAYERS[case])
    rt = load_runtime(runtime, "cuda", None, None)
    assert rt.info.device == "cuda"
    for name in ("standard", "separable", "as_specified"):
        ops = getattr(forms, name)
        chain = prepare_chain(ops, batch, "float32", np.random.default_rng(3))
        runner_, part = _agreed(rt, ops, chain, name)
        assert runner_.output().shape == chain.out.shape
        part(range(len(ops)))()


@pytest.mark.parametrize("runtime", GPU_RUNTIMES)
def test_cost_on_a_gpu_records_the_device(runtime: str) -> None:
    code, out, err = run("cost", *SMALL, "--time", *FAST, "--runtime", runtime,
                         "--device", "cuda", "--format", "json")  # fmt: skip
    assert code == 0, err
    record = json.loads(out)["layers"][0]["timing"]["runtime"]
    assert record["device"] == "cuda"
