"""Shapes read as meant (issue 23, item 1): an ``--input`` most likely written in another
order is refused (exit 2, one line naming ``--input`` and the reading meant) unless
``--layout`` says which order it is in; ``--layout nchw`` reads PyTorch's order, the batch
first in a 4- or 5-number shape; the JSON records the layout read.

Expected values are worked out by hand from the shapes (MACs = output positions · Cout ·
Cin · prod(k) for the standard form), not taken from sepconv's output."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.spec.fields import FieldError, misread, read_input
from sepconv_cli.spec.flags import layer_from_flags
from sepconv_cli.spec.layers import SpecError

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def error_line(*args: str) -> str:
    """The one stderr line of a refused command (exit 2, nothing on stdout)."""
    code, out, err = run(*args)
    assert code == 2, (code, out, err)
    assert out == ""  # a JSON pipe gets nothing, not a report of the wrong layer
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sepconv: error: "), err
    return lines[0]


def cost_doc(*args: str) -> dict[str, Any]:
    code, out, err = run("cost", *args, "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def std_macs(out_spatial: tuple[int, ...], cin: int, cout: int, k: int, batch: int = 1) -> int:
    """A dense conv's MACs: every output position of every output channel sums Cin·k^d."""
    return batch * math.prod(out_spatial) * cout * cin * math.prod([k] * len(out_spatial))


# ------------------------------------------------------------------ refused, with the reading


@pytest.mark.parametrize(
    "shape,meant,nchw",
    [
        ("3x224x224", "give 224x224x3 or --layout nchw", True),  # PyTorch's C×H×W
        ("1x28x28", "give 28x28x1 or --layout nchw", True),  # MNIST, C×H×W
        ("3x16x16", "give 16x16x3 or --layout nchw", True),  # at the size threshold
        ("224x224", "give 224x224x1", False),  # a grayscale image, its channel left out
        ("32x32", "give 32x32x1", False),  # at the square threshold
        ("1x16000", "give 16000x1 or --layout nchw", True),  # mono audio, C×L
        ("1x3x224x224", "give 224x224x3 or --layout nchw", True),  # N×C×H×W
        ("8x3x224x224", "give 224x224x3 --batch 8 or --layout nchw", True),
        ("1x224x224x3", "give 224x224x3 (", False),  # N×H×W×C: a batch of 1 first
        ("1x7x7x512", "give 7x7x512 (", False),  # depth 1 is no volume
        ("3x16x112x112", "give 16x112x112x3 or --layout nchw 1x3x16x112x112", True),
        ("1x3x16x112x112", "give 16x112x112x3 or --layout nchw", True),  # N×C×D×H×W
        ("12x12x3x3x3", "give 12x3x3x3 --batch 12", False),  # 5 numbers: a batch first
    ],
)
def test_a_shape_meant_another_way_is_refused_with_that_reading(
    shape: str, meant: str, nchw: bool
) -> None:
    line = error_line("cost", "-i", shape, "--format", "json")
    assert line.startswith(f"sepconv: error: --input: {shape} reads as "), line
    assert meant in line, line
    assert ("--layout nchw" in line) is nchw, line


def test_the_message_says_what_the_shape_is_as_written() -> None:
    line = error_line("cost", "-i", "3x224x224")
    assert line == (
        "sepconv: error: --input: 3x224x224 reads as 224×224 with 3 channels in PyTorch's "
        "order (C×H×W); sepconv reads height×width×channels: give 224x224x3 or --layout "
        "nchw (--layout nhwc: 3×224 with 224 channels, as written)"
    )


def test_five_numbers_have_no_channels_last_reading_to_keep() -> None:
    line = error_line("cost", "-i", "1x2x3x4x5")
    assert "--layout nhwc" not in line and "give 2x3x4x5" in line


# ------------------------------------------------------------------ kept as written


@pytest.mark.parametrize(
    "shape",
    [
        "12x12x3",  # the worked example
        "224x224x3",
        "7x7x1024",  # late MobileNet layers: far more channels than spatial size
        "4x4x512",
        "1x1x1024",  # a pooled feature map
        "3x15x15",  # below the image-size threshold (16)
        "100x16",  # 1-D, the README's
        "12x12",  # 1-D, a test's
        "31x31",  # below the square threshold (32)
        "16x24",  # unequal: a 1-D input
        "8x32x32x3",  # 3-D, depth 8 (the README's)
        "4x56x56x64",  # a short clip's channels-last features: frames unlike channels
        "1x1x1x1024",  # a pooled volume
        "1000000000x64",
    ],
)
def test_a_channels_last_shape_is_kept_as_written(shape: str) -> None:
    doc = cost_doc("-i", shape, "-k", "1", "-f", "8")
    assert doc["input_layout"] == "nhwc"
    assert doc["layers"][0]["input_shape"] == [int(n) for n in shape.split("x")]


def test_explicit_nhwc_keeps_a_shape_that_would_be_refused() -> None:
    doc = cost_doc("-i", "3x224x224", "--layout", "nhwc", "-k", "3", "-f", "8")
    layer = doc["layers"][0]
    assert doc["input_layout"] == "nhwc"
    assert layer["input_shape"] == [3, 224, 224] and layer["output_shape"] == [1, 222, 8]
    assert layer["standard"]["macs"] == std_macs((1, 222), 224, 8, 3)


# the commands the README and docs show, without --layout: none is refused
_SHOWN = re.compile(r"sepconv (?:cost|sweep)\b[^`\n]*?(?:-i|--input)[ =]([0-9x×,]+)")


@pytest.mark.parametrize(
    "page", ["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
)
def test_no_shape_the_docs_show_is_refused(page: str) -> None:
    """Except where the page shows the refusal itself (the next line is the error)."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if "--layout" in line:
            continue
        for shape in _SHOWN.findall(line):
            numbers = tuple(int(n) for n in re.split(r"[x×,]", shape) if n)
            refused = after.startswith("sepconv: error: --input:")
            assert (misread(numbers) is not None) is refused, f"{page}: {line.strip()}"


# ------------------------------------------------------------------ --layout nchw


@pytest.mark.parametrize(
    "shape,channels_last,batch",
    [
        ("3x224x224", [224, 224, 3], 1),
        ("1x3x224x224", [224, 224, 3], 1),
        ("8x3x224x224", [224, 224, 3], 8),
        ("16x100", [100, 16], 1),  # C×L
        ("2x3x8x32x32", [8, 32, 32, 3], 2),  # N×C×D×H×W
    ],
)
def test_nchw_reads_pytorch_order(shape: str, channels_last: list[int], batch: int) -> None:
    doc = cost_doc("-i", shape, "--layout", "nchw", "-k", "3", "-f", "16")
    layer = doc["layers"][0]
    assert doc["input_layout"] == "nchw"
    assert layer["input_shape"] == channels_last and layer["batch"] == batch
    out = tuple(n - 2 for n in channels_last[:-1])  # k 3, valid padding
    assert layer["output_shape"] == [*out, 16]
    assert layer["standard"]["macs"] == std_macs(out, channels_last[-1], 16, 3, batch)


def test_nchw_counts_what_the_channels_last_shape_counts() -> None:
    pytorch = cost_doc("-i", "4x3x32x32", "--layout", "nchw", "-k", "3", "-f", "16")
    ours = cost_doc("-i", "32x32x3", "--batch", "4", "-k", "3", "-f", "16")
    assert pytorch["layers"] == ours["layers"]
    assert ours["input_layout"] == "nhwc"


def test_a_batch_given_twice_must_agree() -> None:
    line = error_line("cost", "-i", "2x3x32x32", "--layout", "nchw", "--batch", "4")
    assert line.startswith("sepconv: error: --batch: 4, but --input 2x3x32x32 has a batch of 2")
    same = cost_doc("-i", "2x3x32x32", "--layout", "nchw", "--batch", "2", "-k", "3")
    assert same["layers"][0]["batch"] == 2


@pytest.mark.parametrize("shape", ["12", "1x2x3x4x5x6"])
def test_nchw_takes_two_to_five_numbers(shape: str) -> None:
    line = error_line("cost", "-i", shape, "--layout", "nchw")
    assert line.startswith("sepconv: error: --input: with --layout nchw, expected C×L, C×H×W")


def test_a_layout_that_is_not_one_is_refused() -> None:
    line = error_line("cost", "-i", "3x32x32", "--layout", "chw")
    assert line == "sepconv: error: --layout: expected one of nhwc, nchw, got 'chw'"


def test_layout_is_not_for_a_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "layer.yaml"
    spec.write_text("input: [3, 224, 224]\nkernel: 3\nfilters: 8\n", encoding="utf-8")
    line = error_line("cost", "--spec", str(spec), "--layout", "nchw")
    assert line.startswith("sepconv: error: --layout: ")
    # a spec file is channels-last by its format, and says so in the JSON
    doc = cost_doc("--spec", str(spec))
    assert doc["input_layout"] == "nhwc" and doc["layers"][0]["input_shape"] == [3, 224, 224]


def test_the_default_input_is_recorded_as_channels_last() -> None:
    assert cost_doc()["input_layout"] == "nhwc"


# ------------------------------------------------------------------ sweep: the same rule


def sweep_doc(*args: str) -> dict[str, Any]:
    code, out, err = run("sweep", *args, "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_sweep_refuses_the_same_shapes() -> None:
    line = error_line("sweep", "-i", "3x64x64", "--vary", "filters=8,16")
    assert line.startswith("sepconv: error: --input: 3x64x64 reads as 64×64 with 3 channels")
    line = error_line("sweep", "--vary", "input=8x8x3,1x3x64x64")
    assert line.startswith("sepconv: error: --vary: input=1x3x64x64 reads as a batch of 1")


def test_sweep_reads_nchw_and_records_it() -> None:
    doc = sweep_doc("-i", "2x3x64x64", "--layout", "nchw", "-k", "3", "--vary", "filters=8,16")
    assert doc["layer"]["input"] == [64, 64, 3] and doc["layer"]["batch"] == 2
    assert doc["layer"]["input_layout"] == "nchw"
    assert doc["points"][0]["standard"]["macs"] == std_macs((62, 62), 3, 8, 3, 2)
    plain = sweep_doc("-i", "64x64x3", "-k", "3", "--vary", "filters=8,16")
    assert plain["layer"]["input_layout"] == "nhwc"


def test_sweep_varied_shapes_follow_the_layout() -> None:
    doc = sweep_doc("--layout", "nchw", "-k", "3", "--vary", "input=4x3x32x32,4x3x16x16")
    assert [p["input_shape"] for p in doc["points"]] == [[32, 32, 3], [16, 16, 3]]
    assert doc["layer"]["batch"] == 4
    line = error_line("sweep", "--layout", "nchw", "--vary", "input=1x3x32x32,2x3x16x16")
    assert line.startswith("sepconv: error: --vary: input: 1x3x32x32 has a batch of 1")
    line = error_line("sweep", "--layout", "nchw", "-b", "3", "--vary", "input=2x3x16x16")
    assert line.startswith("sepconv: error: --batch: 3, but --vary input=2x3x16x16")


def test_a_grid_records_the_layout() -> None:
    doc = sweep_doc(
        "-i", "3x32x32", "--layout", "nchw", "--vary", "kernel=1,3", "--vary", "filters=8,16"
    )
    assert doc["layer"]["input_layout"] == "nchw" and doc["layer"]["input"] == [32, 32, 3]
    assert doc["points"][-1]["standard"]["macs"] == std_macs((30, 30), 3, 16, 3)


# ------------------------------------------------------------------ one rule underneath


def test_read_input_orders() -> None:
    assert read_input([3, 224, 224], "nchw").shape == (224, 224, 3)
    assert read_input([3, 224, 224], "nhwc").shape == (3, 224, 224)
    reading = read_input([5, 2, 6, 7, 8], "nchw")
    assert (reading.shape, reading.batch, reading.layout) == ((6, 7, 8, 2), 5, "nchw")
    with pytest.raises(FieldError, match="PyTorch's order"):
        read_input([3, 224, 224], None)


def test_typed_flags_get_the_rule_when_they_say_layout() -> None:
    """``layer_from_flags`` (what ``interactive`` builds its layer with) checks a shape typed
    as text when its flags hold ``layout`` (None: not given), as ``--input`` is checked;
    without the key the text is taken as written."""
    with pytest.raises(SpecError, match=r"^--input: 3x224x224 reads as 224×224 with 3"):
        layer_from_flags({"input": "3x224x224", "layout": None})
    assert layer_from_flags({"input": "3x224x224"}).input == (3, 224, 224)
    assert layer_from_flags({"input": "3x224x224", "layout": "nhwc"}).input == (3, 224, 224)
    assert layer_from_flags({"input": "1x3x32x32", "layout": "nchw"}).input == (32, 32, 3)
    assert layer_from_flags({"input": "1x3x32x32", "layout": "nchw"}).batch == 1
    with pytest.raises(SpecError, match="--batch: 2, but --input 1x3x32x32"):
        layer_from_flags({"input": "1x3x32x32", "layout": "nchw", "batch": 2})
    with pytest.raises(SpecError, match=r"^--layout: "):
        layer_from_flags({"input": "3x32x32", "layout": "hwc"})


def test_interactive_input_reads_as_cost_does_and_layout_changes_it() -> None:
    """interactive's ``input`` refuses the same mix-ups as ``cost -i`` (the message names
    ``layout``, the session's word for --layout), and ``layout nchw`` reads PyTorch's
    order, kept channels-last: 3x224x224 is 224×224 with 3 channels."""
    from sepconv_cli.analysis.interactive import Session

    session = Session()
    refused = session.handle("input 3x224x224")
    assert refused.error
    assert "give 224x224x3 or layout nchw" in (refused.message or "")
    assert session.values["input"] == "12x12x3"  # unchanged
    assert not session.handle("layout nchw").error
    assert not session.handle("input 3x224x224").error
    assert session.values["input"] == "224x224x3"
    assert not session.handle("input 2x3x56x56").error  # N×C×H×W: the batch comes along
    assert (session.values["input"], session.values["batch"]) == ("56x56x3", "2")
    # 5×5 kernel, 256 filters on 56×56×3 (valid): 52·52 outputs × 3·25 MACs × 256, ×2 batch
    assert session.report().standard.macs == 2 * 52 * 52 * 256 * 3 * 25
    assert session.handle("layout sideways").error
