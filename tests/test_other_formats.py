"""Model files sepconv does not read (issue 24 item 5): one line naming the format and how
to get a file sepconv reads from it, exit 2, decided by the name before a byte is read
(never "expected YAML", never "no such file")."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.testing

from sepconv_cli.cli.app import app

runner = typer.testing.CliRunner()

CASES = {
    "model.pt": ("PyTorch", "model.py:build"),
    "weights.pth": ("PyTorch", "torch.onnx.export"),
    "frozen.pb": ("TensorFlow graph", "tf2onnx"),
    "model.mlmodel": ("Core ML", "converted from"),
    "net.param": ("ncnn", "ONNX"),
    "model.engine": ("TensorRT", "ONNX file it was built from"),
    "model.pdmodel": ("PaddlePaddle", "paddle2onnx"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("command", ["profile", "compare", "export-spec", "cost"])
def test_other_formats_are_named_with_what_to_do(tmp_path: Path, name: str, command: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00\x01 binary, not YAML")
    args = {
        "profile": ["profile", str(path)],
        "compare": ["compare", str(path), "mobilenet_v1"],
        "export-spec": ["export-spec", str(path)],
        "cost": ["cost", "--spec", str(path)],
    }[command]
    done = runner.invoke(app, args)
    kind, advice = CASES[name]
    assert done.exit_code == 2, done.output
    line = " ".join(done.output.split())
    assert len(done.output.strip().splitlines()) == 1 or "\n" not in done.output.strip()
    assert kind in line and advice in line and "YAML" not in line, line


def test_a_missing_file_of_another_format_is_still_named_by_its_format(tmp_path: Path) -> None:
    done = runner.invoke(app, ["profile", str(tmp_path / "absent.engine")])
    assert done.exit_code == 2 and "TensorRT" in done.output and "no such file" not in done.output
