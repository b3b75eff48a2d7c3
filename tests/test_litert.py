"""Timing on LiteRT (issue 25 item 2, float32): every operation's one-form ``.tflite`` runs on
LiteRT and agrees with NumPy, the runtime in the result, the one-line refusals.

Agreement is between two independent implementations (sepconv's NumPy kernels and LiteRT's
XNNPACK and builtin kernels) on the same seeded input and weights; no test asserts a
speed. Every test skips where LiteRT (``ai_edge_litert``) or the ``tflite`` schema package
is not installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("tflite")

from test_runtimes import LAYERS as RUNTIME_LAYERS  # tests/test_runtimes.py

from sepconv_cli.cli.app import app
from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Concat,
    Conv,
    Dense,
    LayerNorm,
    Op,
    Pool,
    Scale,
    Shuffle,
    SqueezeExcite,
)
from sepconv_cli.counting.report import single_layer_report
from sepconv_cli.execution.kernels import check_executable, prepare_chain
from sepconv_cli.execution.runtimes.base import DisagreementError, RuntimeUnsupportedError
from sepconv_cli.execution.runtimes.registry import load_runtime
from sepconv_cli.execution.runtimes.timed import _agreed
from sepconv_cli.execution.timing import TimingSettings, time_forms
from sepconv_cli.interchange import tflite_write
from sepconv_cli.spec.flags import layer_from_flags

runner = CliRunner()
FAST = ["--time-budget", "0.05s"]
pytestmark = pytest.mark.usefixtures("fresh_runtimes")  # tests/conftest.py

# the layers tests/test_runtimes.py holds every runtime to, but a 3-D depthwise (TFLite has
# none: its refusal is tested below)
LAYERS: dict[str, dict[str, Any]] = {k: v for k, v in RUNTIME_LAYERS.items() if k != "3d"}

ZERO = ((0, 0), (0, 0))
CONV = Conv((6, 6, 4), 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))


def _forms(values: dict[str, Any]) -> tuple[Any, int]:
    layer = single_layer_report(layer_from_flags(values))
    return layer.row.forms, layer.batch


def _agrees(ops: Sequence[Op], name: str, batch: int = 2, part_from: int = 0) -> Any:
    """The form on LiteRT, checked against NumPy (raises on disagreement); a part of it
    starting at ``part_from`` runs too. Returns the runner."""
    rt = load_runtime("litert", "cpu", 1, None)
    check_executable(ops)
    chain = prepare_chain(ops, batch, "float32", np.random.default_rng(5))
    runner_, part = _agreed(rt, ops, chain, name)
    assert runner_.output().shape == chain.out.shape
    part(range(part_from, len(ops)))()
    return runner_


@pytest.mark.parametrize("case", list(LAYERS))
def test_every_form_agrees_with_numpy(case: str) -> None:
    forms, batch = _forms(LAYERS[case])
    for name in ("standard", "separable", "as_specified"):
        _agrees(getattr(forms, name), name, batch)


def test_a_3d_conv_runs_and_a_3d_depthwise_is_named_as_unsupported() -> None:
    forms, batch = _forms({"input": "5x6x7x4", "kernel": "3", "filters": "6", "padding": "1"})
    _agrees(forms.standard, "standard", batch)  # CONV_3D, on LiteRT's builtin kernel
    with pytest.raises(RuntimeUnsupportedError) as caught:
        _agrees(forms.separable, "separable", batch)
    assert str(caught.value) == (
        "--runtime litert: op0: a 3-D convolution of 4 groups has no TFLite form (CONV_3D has "
        "no groups)"
    )


def test_xnnpack_runs_the_form_and_a_batch_norm_is_folded() -> None:
    """LiteRT's default resolver hands the float32 conv to XNNPACK (a DELEGATE node); the
    batch-norm after it is folded into its weights and bias: no MUL or ADD is left."""
    bn = BatchNorm((6, 6, 8))
    runner_ = _agrees([CONV, bn], "conv+bn")
    assert runner_.delegated()
    codes = [d["op_name"] for d in runner_.interpreter._get_ops_details()]
    assert codes == ["CONV_2D", "DELEGATE"], codes
    alone = _agrees([bn], "bn alone")  # nothing to fold into: MUL + ADD per channel
    assert [d["op_name"] for d in alone.interpreter._get_ops_details()][:2] == ["MUL", "ADD"]


def test_folding_leaves_numpys_weights_as_they_were() -> None:
    """The batch-norm folded into the file's depthwise weights and bias is folded into
    copies: NumPy's own arrays (which its chain and every part of the form still use) are
    untouched, so a part prepared later folds the same batch-norm into the same weights."""
    from sepconv_cli.execution.runtimes.timed import prepare_steps

    depthwise = Conv((6, 6, 4), 4, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), 4, True, "depthwise")
    ops: list[Op] = [depthwise, BatchNorm((6, 6, 4))]
    chain = prepare_chain(ops, 1, "float32", np.random.default_rng(0))
    before = [{k: v.copy() for k, v in step.weights.items()} for step in chain.steps]
    rt = load_runtime("litert", "cpu", 1, None)
    first = prepare_steps(rt, ops, chain, range(2)).output()
    again = prepare_steps(rt, ops, chain, range(2)).output()
    for step, saved in zip(chain.steps, before, strict=True):
        for key, values in saved.items():
            assert np.array_equal(step.weights[key], values), key
    assert np.array_equal(first, again)


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


def test_every_row_kind_agrees_with_numpy(tmp_path: Path) -> None:
    """A squeeze-and-excite (in an inverted residual, with its residual add, and alone), a
    shuffle, a concat of branches and an add of branches, every form."""
    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.presets import load_model

    path = tmp_path / "kinds.yaml"
    path.write_text(ROW_KINDS, encoding="utf-8")
    rows = build(load_model(path)).rows
    kinds = {op.role for row in rows for op in row.forms.as_specified}
    assert {"squeeze_excite", "shuffle", "concat", "add"} <= kinds, kinds
    for row in rows:
        for name in ("standard", "separable", "as_specified"):
            _agrees(getattr(row.forms, name), f"{row.name} {name}", part_from=1)


def test_second_operands_are_numpys_own() -> None:
    """A residual that is not the form's input, a gate, a concat of three: further inputs
    of the file holding NumPy's tensors (zeros or fresh ones would disagree)."""
    _agrees([CONV, Add((6, 6, 8))], "residual")
    _agrees([CONV, Scale((6, 6, 8))], "gate")
    _agrees([CONV, Concat(((6, 6, 8), (6, 6, 3), (6, 6, 5)))], "concat")


@pytest.mark.parametrize(
    "ops",
    [
        [LayerNorm((4, 5, 6), 6)],  # ConvNeXt's: channels-last tokens, scale and bias
        [LayerNorm((4, 5, 6), 120, bias=False)],  # over every dim, a scale only
        [LayerNorm((10,), 10, scale=False, bias=False)],  # flat, nothing learned
        [CONV, LayerNorm((6, 6, 8), 8), Scale((6, 6, 8), params=8)],  # in a chain
        [Shuffle((6, 6, 8), 2)],
        [SqueezeExcite((7, 7, 8), 2)],
        [SqueezeExcite((7, 8), 2)],  # 1-D: its squeeze and excite as dense layers
        [Pool((8, 8, 4), "avg", (8, 8), (8, 8), ZERO, global_=True), Dense((4,), 10)],
        [Dense((3, 3, 4), 10, bias=False)],  # flattened in NHWC order, as NumPy's
    ],
    ids=["ln", "ln_all", "ln_flat", "ln_chain", "shuffle", "se", "se_1d", "gap_fc", "fc"],
)
def test_channel_ops_agree_with_numpy(ops: list[Op]) -> None:
    _agrees(ops, "ops")


POOLS = {
    "max_padded": Pool((8, 8, 4), "max", (3, 3), (2, 2), ((1, 1), (1, 1))),
    "avg_same": Pool((8, 8, 4), "avg", (3, 3), (2, 2), ((0, 1), (0, 1))),
    "avg_torch_pads": Pool((8, 8, 4), "avg", (3, 3), (2, 2), ((1, 1), (1, 1))),
    "avg_ceil": Pool((8, 8, 4), "avg", (3, 3), (2, 2), ((1, 1), (1, 1)), ceil_mode=True),
    "max_ceil": Pool((8, 8, 4), "max", (3, 3), (2, 2), ((1, 1), (1, 1)), ceil_mode=True),
    "avg_valid": Pool((8, 8, 4), "avg", (2, 2), (2, 2), ZERO),
    "global_avg": Pool((8, 8, 4), "avg", (8, 8), (8, 8), ZERO, global_=True),
    "global_max": Pool((8, 8, 4), "max", (8, 8), (8, 8), ZERO, global_=True),
    "adaptive": Pool((8, 8, 4), "avg", (1, 1), (1, 1), ZERO, output_size=(2, 2)),
    "max_1d": Pool((12, 4), "max", (3,), (2,), ((1, 1),)),
    "avg_1d": Pool((12, 4), "avg", (3,), (2,), ((1, 1),)),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_every_pool_agrees_with_numpy(name: str) -> None:
    _agrees([POOLS[name]], name)


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (
            Pool((8, 8, 4), "avg", (1, 1), (1, 1), ZERO, output_size=(3, 3)),
            "op0: adaptive pooling 8 → 3, 8 → 3 has no TFLite form",
        ),
        (Pool((4, 4, 4, 3), "max", (2, 2, 2), (2, 2, 2), ((0, 0),) * 3), "op0: a 3-D pool has no"),
    ],
)
def test_what_the_writer_cannot_express_is_named(op: Op, message: str) -> None:
    with pytest.raises(
        RuntimeUnsupportedError, match="^" + re.escape(f"--runtime litert: {message}")
    ):
        _agrees([op], "pool")


def test_a_wrong_weight_layout_is_caught_before_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels with their two spatial axes swapped (a classic layout slip) must fail the
    agreement check, never be timed."""
    real = tflite_write.FlatModel.constant

    def swapped(self: Any, name: str, values: Any, dtype: str = "float32") -> str:
        if name.endswith("/kernel"):
            values = np.ascontiguousarray(np.swapaxes(values, 1, 2))
        return real(self, name, values, dtype)

    monkeypatch.setattr(tflite_write.FlatModel, "constant", swapped)
    forms, batch = _forms({"input": "8x8x4", "kernel": "3", "filters": "4"})
    settings = TimingSettings(budget_s=0.01, runtime="litert")
    with pytest.raises(DisagreementError, match="form standard: litert's output differs"):
        time_forms(forms, batch, "float32", settings)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _lines(err: str) -> list[str]:
    """stderr's lines but the notes (a busy machine's, which a shared runner may add)."""
    return [line for line in err.strip().splitlines() if not line.startswith("sepconv: note:")]


def test_cost_json_records_the_runtime() -> None:
    code, out, err = run("cost", "--time", *FAST, "--runtime", "litert", "--format", "json")
    assert code == 0, err
    timing = json.loads(out)["layers"][0]["timing"]
    import ai_edge_litert

    assert timing["runtime"] == {
        "name": "litert",
        "version": ai_edge_litert.__version__,
        "device": "cpu",
        "provider": "XNNPACK",
        "threads": 1,
        "dtype": "float32",
    }
    assert timing["standard"]["median_s"] > 0 and timing["separable"]["depthwise"]["runs"] >= 1


def test_threads_are_litert_threads_and_the_header_says_so() -> None:
    code, out, err = run("cost", "--time", *FAST, "--runtime", "litert", "--threads", "2")
    assert code == 0, err
    assert "litert " in out and "XNNPACK · 2 threads · float32" in out


def test_profile_times_every_row_and_names_what_litert_cannot_run(tmp_path: Path) -> None:
    """An adaptive pool of 8 → 3 has no TFLite form: its row's note names it, the other
    rows are timed; ``cost`` on a 3-D conv (whose separable form is a 3-D depthwise, which
    TFLite has no operator for) is exit 2 in one line."""
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "input: [8, 8, 4]\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 4, padding: same, name: c1}\n"
        "  - {type: pool, mode: avg, output_size: 3, name: odd}\n",
        encoding="utf-8",
    )
    code, out, err = run("profile", str(spec), *FAST, "--runtime", "litert", "--format", "json")
    assert code == 0, err
    rows = {layer["name"]: layer for layer in json.loads(out)["layers"]}
    assert rows["c1"]["timing"]["runtime"]["name"] == "litert"
    assert rows["odd"]["note"].startswith("not timed: --runtime litert: ")
    assert "adaptive pooling 8 → 3, 8 → 3 has no TFLite form" in rows["odd"]["note"]
    code, _out, err = run("cost", "-i", "4x6x6x4", "-k", "3", "-f", "4", "--time", *FAST,
                          "--runtime", "litert")  # fmt: skip
    assert code == 2 and "3-D convolution of 4 groups has no TFLite form" in err
    assert len(_lines(err)) == 1


def test_bench_takes_litert(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "input: [8, 8, 8]\nlayers:\n  - {type: conv, kernel: 3, filters: 8, padding: same}\n",
        encoding="utf-8",
    )
    code, out, err = run("bench", str(spec), "--runtime", "numpy,litert", *FAST,
                         "--format", "json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    text = json.dumps(data)
    assert '"litert"' in text and "XNNPACK" in text
    code, out, err = run("bench", str(spec), "--runtime", "numpy,litert", *FAST)
    assert code == 0, err
    assert "LiteRT ×" in out and "LiteRT: litert " in out  # a narrow table drops times first


def test_cuda_is_refused_in_one_line() -> None:
    code, _out, err = run("cost", "--time", *FAST, "--runtime", "litert", "--device", "cuda")
    assert code == 2
    assert "--device cuda: --runtime litert runs on the CPU here" in err
    assert len(_lines(err)) == 1


@pytest.mark.parametrize("package", ["ai_edge_litert", "tflite"])
def test_a_missing_package_is_exit_2_with_the_install_line(
    package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # its import now fails
    code, _out, err = run("cost", "--time", *FAST, "--runtime", "litert")
    assert code == 2
    extra = "litert" if package == "ai_edge_litert" else "tflite"
    assert err.strip().endswith(f"pip install 'sepconv[{extra}]'")
    assert "--runtime litert: " in err and len(_lines(err)) == 1


def test_litert_says_nothing_on_stderr_of_its_own() -> None:
    """LiteRT announces its XNNPACK delegate on the process's stderr; sepconv's stderr
    holds its own lines only (a fresh process: LiteRT says it once per process)."""
    done = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", "cost", "--time", *FAST, "--runtime", "litert"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "INFO" not in done.stderr and "XNNPACK delegate" not in done.stderr
    assert "litert " in done.stdout


def test_a_tflite_files_rows_are_timed_on_litert(tmp_path: Path) -> None:
    """``profile model.tflite --time --runtime litert``: the file as sepconv reads it (its
    rows' forms) is written back one form at a time and every row runs on LiteRT."""
    pytest.importorskip("onnx")  # the reader reads a .tflite as the ONNX graph of its ops
    path = tmp_path / "m.tflite"
    code, _out, err = run("export", "mobilenet_v3_small", "-r", "32", "-o", str(path), "-q")
    assert code == 0, err
    code, out, err = run("profile", str(path), "--time", "--time-budget", "0.01s",
                         "--runtime", "litert", "--format", "json", "-q")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["timing"]["runtime"]["name"] == "litert"
    assert data["timing"]["layers_not_timed"] == 0
    assert all("note" not in layer for layer in data["layers"])
