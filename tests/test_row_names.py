"""Names (issue 23, item 5): a cut name keeps what tells rows apart (its end, its index),
the whole name stays in JSON/CSV; a preset's repeat never reuses the number of a block
written apart before it (``features.4.0`` then ``features.4[1..5]``, not ``[0..4]``)."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.counting.network import InstanceNumbers, build
from sepconv_cli.output.fit import FitTable, shorten
from sepconv_cli.output.fit_parts import cut_names
from sepconv_cli.spec.presets import resolve_model

runner = CliRunner()


# ------------------------------------------------------------------ cuts


@pytest.mark.parametrize(
    "names,width",
    [
        (["branches.branch0.separable_0", "branches.branch1.separable_0"], 17),
        (["block5[0..1]/expand", "block8[0..2]/expand", "block5[0..1]/depthwise+project"], 16),
        ([f"stage{s}.{i}.branch1.pointwise_2" for s in (2, 3) for i in range(4)], 20),
    ],
)
def test_cuts_keep_rows_apart(names: list[str], width: int) -> None:
    cuts = cut_names(names, width)
    shown = [cuts.get(n, n) for n in names]
    assert len(set(shown)) == len(names), shown
    assert all(len(s) == width and "…" in s for s in shown if s in cuts.values())


def test_a_cut_keeps_the_end_of_a_path() -> None:
    cuts = cut_names(["features.6[1..14].block.3.fc2", "features.7"], 14)
    assert cuts["features.6[1..14].block.3.fc2"] == "feat…ock.3.fc2"
    assert "features.7" not in cuts  # short names are whole


def test_the_old_middle_cut_would_have_shown_two_rows_alike() -> None:
    """The cut the tables used before (the middle of the name) shows these two as one."""
    from sepconv_cli.output.fit import middle_ellipsis

    a, b = "branches.branch0.separable_0", "branches.branch1.separable_0"
    assert middle_ellipsis(a, 17) == middle_ellipsis(b, 17)
    cuts = cut_names([a, b], 17)
    assert cuts[a] != cuts[b]


def test_a_table_cut_to_fit_shows_every_row_apart() -> None:
    table = FitTable(steps=(shorten("name", 8),))
    table.add_column("name", "Layer", justify="left", name=True)
    table.add_column("n", "MACs")
    names = [f"branches.branch{i}.separable_0" for i in range(3)]
    for name in names:
        table.add_row(name, "1,000,000,000")
    console = Console(width=34, file=__import__("io").StringIO(), color_system=None)
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    rows = [line.split()[0] for line in text.splitlines() if "1,000,000,000" in line]
    assert len(rows) == 3 and len(set(rows)) == 3, text


def test_json_keeps_the_whole_name() -> None:
    done = runner.invoke(app, ["profile", "efficientnet_v2_s", "--no-time", "--format", "json"])
    assert done.exit_code == 0
    names = [layer["name"] for layer in json.loads(done.stdout)["layers"]]
    assert "features.2[1..3].fused" in names


# ------------------------------------------------------------------ repeats


def test_numbers_go_on_from_blocks_written_apart() -> None:
    numbers = InstanceNumbers()
    numbers.saw("features.2.0.fused")
    numbers.saw("features.2.0.project")
    assert numbers.start("features.2") == 1
    numbers.saw("features.2", first=1, repeat=3)
    assert numbers.start("features.2") == 4  # a second repeat of the same name goes on
    assert numbers.start("block5") == 0
    numbers.saw("block4")  # a name ending in a number is not block 4 of "block"
    assert numbers.start("block") == 0


@pytest.mark.parametrize(
    "preset", ["efficientnet_v2_s", "efficientnet_b0", "mnasnet1_0", "resnet50", "regnet_y_400mf"]
)
def test_no_preset_row_suggests_a_block_counted_twice(preset: str) -> None:
    """Each block number of a name stem is written one way in every row: ``features.4.0``
    and ``features.4[0..4]`` write block 0 of ``features.4`` twice (``.0`` and ``[0..4]``)."""
    written: dict[tuple[str, int], tuple[str, str]] = {}
    for row in build(resolve_model(preset)).rows:
        for m in NUMBERED.finditer(row.name):
            stem, token = row.name[: m.start()], m.group(0)
            for k in range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1):
                first = written.setdefault((stem, k), (token, row.name))
                assert first[0] == token, (first[1], row.name)


NUMBERED = re.compile(r"[.\[](\d+)(?:\.\.(\d+))?\]?(?=[.\[/+]|$)")


def test_efficientnet_v2_reads_as_torchvision_numbers() -> None:
    names = [r.name for r in build(resolve_model("efficientnet_v2_s")).rows]
    assert "features.4.0" in names and "features.4[1..5]" in names
    assert not any(n.startswith("features.4[0") for n in names)
