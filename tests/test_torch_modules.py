"""PyTorch modules profiled directly (``torchvision:NAME``, ``timm:NAME``,
``model.py:CALLABLE``): exported in memory by sepconv and read as the ONNX file is.

The counts are checked three ways: against the same module exported to a file by the test
itself and profiled as a file; and against references independent of sepconv: PyTorch's
``FlopCounterMode`` (convolutions and linear layers, 2 FLOPs per multiply-accumulate)
halved, and ``sum(p.numel())`` (tests/torch_reference.py). The torch, torchvision and timm
tests skip cleanly where they are not installed; the error lines are checked with and
without torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from torch_reference import import_torchvision, torch_counts  # tests/torch_reference.py
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.interchange.torch_modules import is_torch_module

runner = CliRunner()

TINY = """
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = self.pw(self.dw(x))
        return self.head(x.mean((2, 3)))


def build():
    return Tiny()


def not_a_module():
    return [1, 2]


def fails():
    raise ValueError("no weights here\\nsecond line")


def wrong_input():
    return nn.Linear(5, 2)


instance = Tiny()
number = 3
"""
# by hand, on 32×32×3: stem 3×3 3→8, depthwise 3×3 8, pointwise 8→16, Linear 16→10
TINY_MACS = 32 * 32 * 8 * 27 + 32 * 32 * 8 * 9 + 32 * 32 * 16 * 8 + 16 * 10  # 426,144
TINY_PARAMS = (8 * 27 + 8) + (8 * 9 + 8) + (16 * 8 + 16) + (16 * 10 + 10)  # 618


def _profile(*argv: str) -> dict[str, Any]:
    done = runner.invoke(app, ["profile", *argv, "--format", "json", "-q"])
    assert done.exit_code == 0, (done.stdout, done.stderr)
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _one_error(argv: list[str]) -> str:
    """The one stderr line of a refused command (exit 2, no traceback)."""
    done = runner.invoke(app, argv)
    assert done.exit_code == 2, (done.stdout, done.stderr, done.exception)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: "), done.stderr
    return lines[0]


def _tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(TINY, encoding="utf-8")
    return path


# ---------------------------------------------------------------- without torch


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("torchvision:mobilenet_v3_large", True),
        ("timm:mobilenetv4_conv_small", True),
        ("timm:resnet50.a1_in1k", True),
        ("path/to/model.py:build", True),
        ("model.py", True),  # refused with how to name the callable
        ("mobilenet_v2", False),
        ("model.onnx", False),
        ("specs/model.yaml", False),
        ("keras:thing", False),
    ],
)
def test_which_references_name_a_module(ref: str, expected: bool) -> None:
    assert is_torch_module(ref) is expected


def test_without_torch_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # an import of torch now fails
    line = _one_error(["profile", "torchvision:mobilenet_v2"])
    assert line.startswith("sepconv: error: torchvision:mobilenet_v2: a PyTorch module needs torch")
    assert "pip install torch" in line


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("tiny.py", "name what builds the module after the file: tiny.py:NAME"),
        ("missing.py:build", "no such file: missing.py"),
        ("tiny.py:not-a-name", "'not-a-name' is not a Python name"),
    ],
)
def test_a_bad_file_reference_is_named_before_torch_loads(
    ref: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tiny(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "torch", None)  # never reached
    assert expected in _one_error(["profile", ref])


def test_no_command_imports_torch_unless_a_module_is_named() -> None:
    code = (
        "import sys\n"
        "from sepconv_cli.cli.app import main\n"
        "for argv in (['cost', '--format', 'json'],\n"
        "             ['profile', 'mobilenet_v1', '--no-time', '--format', 'json']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "heavy = ('torch', 'torchvision', 'timm', 'tensorflow', 'tf2onnx', 'keras')\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "print('HEAVY=' + ','.join(loaded), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY=\n" in done.stderr, done.stderr


# ---------------------------------------------------------------- with torch


def _torch() -> Any:
    return pytest.importorskip("torch", exc_type=ImportError)


def test_model_py_build_counts_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _torch()
    pytest.importorskip("onnx")
    _tiny(tmp_path)
    monkeypatch.chdir(tmp_path)
    data = _profile("tiny.py:build", "--input-shape", "x=1x3x32x32")
    assert data["model"] == "tiny"
    assert data["file"] == "tiny.py:build"
    assert data["source"].startswith("PyTorch module tiny.py:build, exported by torch ")
    assert data["input_shape"] == [32, 32, 3]
    assert [row["name"] for row in data["layers"]][:2] == ["stem", "dw+pw"]
    assert data["layers"][-1]["name"] == "head"
    totals = data["totals"]["as_specified"]
    assert (totals["macs"], totals["params"]) == (TINY_MACS, TINY_PARAMS)
    # a class, or a module instance, is the same model
    for ref in ("tiny.py:Tiny", "tiny.py:instance"):
        again = _profile(ref, "--input-shape", "x=1x3x32x32")["totals"]["as_specified"]
        assert (again["macs"], again["params"]) == (TINY_MACS, TINY_PARAMS)
    # --batch multiplies the default input's batch (1x3x224x224 here, with a note)
    done = runner.invoke(app, ["profile", "tiny.py:build", "--batch", "2", "--format", "json"])
    assert done.exit_code == 0, done.stderr
    assert "input 2x3x224x224" in done.stderr
    assert json.loads(done.stdout)["batch"] == 2


def test_model_py_export_spec_writes_the_same_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _torch()
    pytest.importorskip("onnx")
    _tiny(tmp_path)
    monkeypatch.chdir(tmp_path)
    done = runner.invoke(
        app, ["export-spec", "tiny.py:build", "--input-shape", "x=1x3x32x32", "-o", "tiny.yaml"]
    )
    assert done.exit_code == 0, done.stderr
    totals = _profile("tiny.yaml", "--no-time")["totals"]["as_specified"]
    assert totals["macs"] == TINY_MACS


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("tiny.py:nowhere", "tiny.py has no 'nowhere' (its names: "),
        ("tiny.py:number", "number is a value of type int, not a torch.nn.Module"),
        ("tiny.py:not_a_module", "not_a_module() returned a value of type list, not a torch"),
        ("tiny.py:fails", "fails() failed: ValueError: no weights here"),
        ("tiny.py:wrong_input", "torch.onnx.export failed on input x=1x3x32x32: RuntimeError: "),
    ],
)
def test_a_module_that_cannot_be_built_or_exported_is_one_line(
    ref: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _torch()
    _tiny(tmp_path)
    monkeypatch.chdir(tmp_path)
    line = _one_error(["profile", ref, "--input-shape", "x=1x3x32x32"])
    assert expected in line, line
    assert "second line" not in line


def test_a_file_that_raises_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _torch()
    (tmp_path / "broken.py").write_text("import nothing_of_that_name\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    line = _one_error(["profile", "broken.py:build"])
    assert "running broken.py failed: ModuleNotFoundError: " in line


def test_batch_and_input_shape_must_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _torch()
    _tiny(tmp_path)
    monkeypatch.chdir(tmp_path)
    line = _one_error(["profile", "tiny.py:build", "--batch", "2", "--input-shape", "x=1x3x8x8"])
    assert "--batch 2: contradicts --input-shape" in line


# ---------------------------------------------------------------- torchvision, timm


def test_unknown_torchvision_name_lists_close_matches() -> None:
    import_torchvision()
    line = _one_error(["profile", "torchvision:mobilenet_v9"])
    assert "torchvision has no model 'mobilenet_v9' (close matches: mobilenet_v2" in line


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter
def test_torchvision_by_name_counts_as_its_exported_file(tmp_path: Path) -> None:
    """``profile torchvision:mobilenet_v2`` = the test's own export of the same module as a
    file = torch's own counts (FlopCounterMode's conv and linear MACs, exactly; numel)."""
    tv = import_torchvision()
    pytest.importorskip("onnx")
    import torch

    by_name = _profile("torchvision:mobilenet_v2")
    model = tv.models.mobilenet_v2(weights=None).eval()
    path = tmp_path / "mobilenet_v2.onnx"
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 224, 224),),
        str(path),
        dynamo=False,
        opset_version=17,
        training=torch.onnx.TrainingMode.PRESERVE,  # eval mode, batch-norm nodes kept
        do_constant_folding=False,
    )
    by_file = _profile(str(path))
    params, flops, _ = torch_counts(model, (224, 224, 3))
    for data in (by_name, by_file):
        totals = data["totals"]["as_specified"]
        assert totals["macs"] == flops // 2 == 300_774_272
        assert totals["params"] == params == 3_504_872
        assert data["uncounted_nodes"] == []
    assert [r["name"] for r in by_name["layers"]] == [r["name"] for r in by_file["layers"]]
    assert by_name["layers"][0]["name"] == "features.0.0"  # rows named by module path
    assert by_name["totals"] == by_file["totals"]
    assert by_name["model"] == "mobilenet_v2"
    assert by_name["file"] == "torchvision:mobilenet_v2"
    assert by_name["source"].startswith(
        "PyTorch module torchvision:mobilenet_v2, exported by torch "
    )
    assert "(TorchScript exporter, opset 17)" in by_name["source"]


def test_torchvision_input_size_comes_from_its_weights_description() -> None:
    """Inception v3 was trained at 299×299: its weights' description says so (nothing is
    downloaded), and the note names the size chosen."""
    import_torchvision()
    pytest.importorskip("onnx")
    done = runner.invoke(app, ["profile", "torchvision:inception_v3", "--format", "json"])
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["input_shape"] == [299, 299, 3]
    assert "input 1x3x299x299 (its weights' crop size;" in done.stderr


def _import_timm() -> Any:
    import_torchvision()  # timm imports torchvision: the same tolerance
    return pytest.importorskip("timm", exc_type=ImportError)


def test_timm_by_name_counts_as_torch_does() -> None:
    timm = _import_timm()
    pytest.importorskip("onnx")
    data = _profile("timm:mobilenetv4_conv_small")
    model = timm.create_model("mobilenetv4_conv_small", pretrained=False).eval()
    params, flops, _ = torch_counts(model, (224, 224, 3))
    totals = data["totals"]["as_specified"]
    assert totals["macs"] == flops // 2
    assert totals["params"] == params
    assert data["input_shape"] == [224, 224, 3]  # its pretrained_cfg input_size


def test_unknown_timm_name_lists_close_matches() -> None:
    _import_timm()
    line = _one_error(["profile", "timm:mobilenetv4_conv_smal"])
    assert (
        "timm has no model 'mobilenetv4_conv_smal' (close matches: mobilenetv4_conv_small" in line
    )
