"""``sepconv validate`` on a model file says what to run instead: one line, exit 2.

validate reads YAML specs only. Given a model file (``.onnx``, ``.tflite``, ``.keras``,
``.h5``, ``.pb``, ``.pt``, ``.pth``: by its name, before anything is read), it used to say
"file is larger than the 4 MiB limit" or "binary file … expected YAML text", which tells a
user nothing they can act on. Now it is ``sepconv: error: FILE: validate checks YAML specs,
and this is … file: run `sepconv profile FILE` instead …`` (ONNX, TFLite and Keras files and
a SavedModel, which profile reads and checks as it reads them) or "convert it to ONNX … and
run `sepconv profile FILE.onnx`" (a frozen TensorFlow graph, a PyTorch checkpoint).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()

SPEC = "input: [12, 12, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 8}\n"
# what a model file looks like to a YAML reader: binary, NUL bytes in its first kilobytes
BINARY = b"\x08\x07\x12\x07pytorch\x00\x00\x01" + bytes(range(256)) * 8

# `sepconv profile FILE` is the advice
PROFILE_READS = ["model.onnx", "model.tflite", "model.keras", "model.h5", "saved_model.pb"]
CONVERTED = {  # converted to ONNX first, and how
    "frozen_graph.pb": "tf2onnx",
    "model.pt": "torch.onnx.export",
    "weights.pth": "torch.onnx.export",
}


def validate(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_error(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sepconv: error: "), stderr
    return lines[0].removeprefix("sepconv: error: ")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("name", PROFILE_READS)
def test_a_model_file_profile_reads_is_sent_to_profile(name: str) -> None:
    Path(name).write_bytes(BINARY)
    code, out, err = validate(name)
    assert code == 2 and out == ""
    message = one_error(err)
    assert message.startswith(f"{name}: validate checks YAML specs")
    assert f"run `sepconv profile {name}` instead" in message
    assert "binary file" not in message and "expected YAML" not in message


@pytest.mark.parametrize(("name", "how"), sorted(CONVERTED.items()))
def test_other_model_files_are_sent_through_onnx_to_profile(name: str, how: str) -> None:
    Path(name).write_bytes(BINARY)
    code, out, err = validate(name)
    assert code == 2 and out == ""
    message = one_error(err)
    assert message.startswith(f"{name}: validate checks YAML specs, and this is a")
    # the advice profile gives too (interchange/formats.py): how to get a file it reads
    assert how in message and "profile" in message
    assert "binary file" not in message


def test_a_model_file_over_the_yaml_size_limit_gets_the_advice_not_the_limit() -> None:
    Path("big.onnx").write_bytes(BINARY * (5 * 2**20 // len(BINARY) + 1))  # over 4 MiB
    code, _, err = validate("big.onnx")
    assert code == 2
    message = one_error(err)
    assert "4 MiB" not in message and "larger than" not in message
    assert "run `sepconv profile big.onnx` instead" in message


def test_the_name_decides_case_and_a_missing_file_included() -> None:
    code, _, err = validate("MODEL.ONNX")  # no such file: the advice is still the answer
    assert code == 2
    assert "run `sepconv profile MODEL.ONNX` instead" in one_error(err)
    assert "no such file" not in err


def test_a_model_file_among_specs_stops_the_run_before_any_report() -> None:
    Path("good.yaml").write_text(SPEC, encoding="utf-8")
    Path("model.tflite").write_bytes(BINARY)
    for args in (["good.yaml", "model.tflite"], ["good.yaml", "model.tflite", "--format", "json"]):
        code, out, err = validate(*args)
        assert code == 2 and out == ""
        assert "run `sepconv profile model.tflite` instead" in one_error(err)


def test_a_name_with_a_space_is_quoted_as_a_shell_needs_it() -> None:
    code, _, err = validate("my model.onnx")
    assert code == 2
    assert f"run `sepconv profile {shlex.quote('my model.onnx')}` instead" in one_error(err)


def test_specs_and_other_names_are_validated_as_before() -> None:
    Path("good.yaml").write_text(SPEC, encoding="utf-8")
    Path("spec.onnx.yaml").write_text(SPEC, encoding="utf-8")  # the last suffix decides
    code, out, err = validate("good.yaml", "spec.onnx.yaml")
    assert code == 0 and out == "", err
    Path("weights.bin").write_bytes(BINARY)  # not a known model file: YAML's own message
    code, out, _ = validate("weights.bin")
    assert code == 2 and "binary file" in out


def test_the_advice_works_on_a_real_onnx_file() -> None:
    """The command validate names is the one that reads the file (needs sepconv[onnx])."""
    pytest.importorskip("onnx")
    Path("tiny.yaml").write_text(SPEC, encoding="utf-8")
    exported = runner.invoke(app, ["export", "tiny.yaml", "-o", "tiny.onnx", "-q"])
    assert exported.exit_code == 0, exported.stderr
    code, _, err = validate("tiny.onnx")
    assert code == 2
    advice = one_error(err).split("run `")[1].split("`")[0]
    assert advice == "sepconv profile tiny.onnx"
    profiled = runner.invoke(app, [*shlex.split(advice)[1:], "--format", "json"])
    assert profiled.exit_code == 0, profiled.stderr
    assert '"sepconv/profile/v1"' in profiled.stdout
