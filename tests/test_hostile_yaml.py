"""Hostile YAML: nothing is ever constructed, and bombs are refused fast with bounded memory.

Python object tags never construct anything (safe loading only);
anchor/alias expansion bombs, deeply nested documents and oversized files are refused
quickly, with a message that states the limit (docs/errors.md).

The wall-time bounds (< 5 s, start-up included) are guards against hangs, not speed claims.
Peak memory is read with ``resource.getrusage`` inside a fresh subprocess and compared with
the same driver on a small valid spec, so the bound is on what the hostile file adds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

resource = pytest.importorskip("resource")  # POSIX only

runner = CliRunner()

WALL_LIMIT_S = 5.0
EXTRA_MEMORY_LIMIT_MIB = 256  # what a refused hostile file may add to a small valid run

VALID = "input: [12, 12, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 8}\n"

# Limits as docs/errors.md states them; the messages must state them too.
NODE_LIMIT = "200,000"
DEPTH_LIMIT = "64"
SIZE_LIMIT = "4 MiB"

NO_TIME = {"profile": ["--no-time"], "validate": []}  # counting only: no NumPy timing

DRIVER = r"""
import json, resource, sys
from sepconv_cli.cli.app import main
code = None
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.platform == "darwin":
    peak //= 1024  # bytes there, KiB on Linux
with open(sys.argv[1], "w") as handle:
    json.dump({"code": code, "peak_kib": peak}, handle)
"""


def measured_run(tmp_path: Path, argv: list[str]) -> dict[str, Any]:
    """Run the CLI in a fresh interpreter; exit code, stderr, wall time and peak RSS."""
    stats = tmp_path / f"stats-{time.monotonic_ns()}.json"
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", DRIVER, str(stats), *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"sepconv {' '.join(argv)} still running after 60 s")
    wall = time.monotonic() - start
    assert stats.exists(), f"the driver did not finish: {proc.stderr[-2000:]}"
    data: dict[str, Any] = json.loads(stats.read_text())
    data.update(wall_s=wall, stderr=proc.stderr, stdout=proc.stdout)
    return data


@pytest.fixture(scope="module")
def baseline_kib(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak RSS of the same driver profiling a small valid spec."""
    root = tmp_path_factory.mktemp("baseline")
    (root / "ok.yaml").write_text(VALID)
    data = measured_run(root, ["profile", "ok.yaml", "--no-time", "--format", "json"])
    assert data["code"] in (0, None), data["stderr"]
    return int(data["peak_kib"])


def assert_bounded(data: dict[str, Any], baseline_kib: int) -> None:
    """Refused (exit 2, no traceback) within the wall-time and memory bounds."""
    assert "Traceback" not in data["stderr"] + data["stdout"]
    assert data["code"] == 2, data["stderr"]
    assert data["wall_s"] < WALL_LIMIT_S, f"took {data['wall_s']:.1f} s"
    extra_mib = (data["peak_kib"] - baseline_kib) / 1024
    assert extra_mib < EXTRA_MEMORY_LIMIT_MIB, f"peak memory grew by {extra_mib:.0f} MiB"


def assert_refused(data: dict[str, Any], baseline_kib: int, *needles: str) -> str:
    """Bounded, and exactly one ``sepconv: error:`` line containing every needle."""
    assert_bounded(data, baseline_kib)
    lines = data["stderr"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: "), data["stderr"]
    assert "internal error" not in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return str(lines[0])


def assert_validate_lists(data: dict[str, Any], baseline_kib: int, *needles: str) -> str:
    """validate: bounded; the located problem is its report (stdout), a summary on stderr."""
    assert_bounded(data, baseline_kib)
    problems = data["stdout"].splitlines()
    assert len(problems) == 1, data["stdout"] + data["stderr"]
    assert re.match(r"^[^:]+:\d+:\d+: ", problems[0]), problems[0]
    for needle in needles:
        assert needle in problems[0], (needle, problems[0])
    assert re.match(r"^sepconv: 1 problem in 1 file$", data["stderr"].strip()), data["stderr"]
    return str(problems[0])


# ------------------------------------------------------------------------- object tags

PWNED = "PWNED"  # the file a constructed payload would create, relative to the test's cwd

TAG_PAYLOADS = {
    "apply-os-system-top-level": f'!!python/object/apply:os.system ["echo pwned > {PWNED}"]\n',
    "apply-os-system-as-input": f'input: !!python/object/apply:os.system ["echo pwned > {PWNED}"]\n'
    "layers:\n  - {type: conv, kernel: 3, filters: 8}\n",
    "apply-in-a-layer-field": "input: [12, 12, 3]\nlayers:\n  - type: conv\n    kernel: 3\n"
    f'    filters: !!python/object/apply:os.system ["echo pwned > {PWNED}"]\n',
    "apply-subprocess-as-layer": "input: [12, 12, 3]\nlayers:\n"
    f"  - !!python/object/apply:subprocess.check_output [[touch, {PWNED}]]\n",
    "new-object": "input: [12, 12, 3]\nlayers: !!python/object/new:list [[]]\n",
    "python-name": "input: !!python/name:os.system\n"
    "layers:\n  - {type: conv, kernel: 3, filters: 8}\n",
    "python-module": "input: !!python/module:os\n"
    "layers:\n  - {type: conv, kernel: 3, filters: 8}\n",
    "local-tag": "input: !custom [12, 12, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 8}\n",
    "tag-on-a-key": "input: [12, 12, 3]\n!!python/name:os.system layers:\n"
    "  - {type: conv, kernel: 3, filters: 8}\n",
}


@pytest.mark.parametrize("command", ["profile", "validate", "cost"])
@pytest.mark.parametrize("payload", list(TAG_PAYLOADS.values()), ids=list(TAG_PAYLOADS))
def test_object_tags_never_construct(
    payload: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.yaml").write_text(payload)
    argv = {
        "profile": ["profile", "evil.yaml", "--no-time"],
        "validate": ["validate", "evil.yaml"],
        "cost": ["cost", "--spec", "evil.yaml"],
    }[command]
    result = runner.invoke(app, argv)
    assert not (tmp_path / PWNED).exists(), "a Python object tag was constructed"
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code == 2, result.stderr
    message = result.stdout if command == "validate" else result.stderr
    assert re.search(r"evil\.yaml:\d+:\d+: ", message), message
    assert "tag" in message and "not allowed" in message, message
    assert "internal error" not in result.stderr


def test_object_tag_in_a_real_process_creates_nothing(tmp_path: Path) -> None:
    """The same through the installed entry point (no CliRunner in between)."""
    (tmp_path / "evil.yaml").write_text(TAG_PAYLOADS["apply-os-system-top-level"])
    proc = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", "profile", "evil.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert not (tmp_path / PWNED).exists()
    assert proc.returncode == 2
    assert proc.stderr.startswith("sepconv: error: evil.yaml:1:1: ")
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------- alias bombs


def laughs(levels: int = 9, width: int = 10, *, as_mapping: bool = False) -> str:
    """Billion laughs: each level refers ``width`` times to the one below (10**9 leaves)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        if as_mapping:
            refs = ", ".join(f"k{j}: *a{i - 1}" for j in range(width))
            lines.append(f"a{i}: &a{i} {{{refs}}}")
        else:
            lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


BOMBS = {
    "sequences": laughs() + "input: [12, 12, 3]\nlayers: *a9\n",
    "mappings": laughs(as_mapping=True) + "input: [12, 12, 3]\nlayers: [*a9]\n",
    "bomb-as-the-input": laughs() + "input: *a9\nlayers:\n  - {type: global_pool}\n",
    "layers-of-valid-layers":  # every expanded item is a valid layer: no early type error
    "l0: &l0 {type: conv, kernel: 1, filters: 3}\n"
    + "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 9))
    + "input: [12, 12, 3]\nlayers: *l8\n",
}


@pytest.mark.parametrize("command", ["profile", "validate"])
@pytest.mark.parametrize("bomb", list(BOMBS.values()), ids=list(BOMBS))
def test_alias_bomb_refused_fast_with_node_limit(
    bomb: str, command: str, tmp_path: Path, baseline_kib: int
) -> None:
    (tmp_path / "bomb.yaml").write_text(bomb)
    data = measured_run(tmp_path, [command, "bomb.yaml", *NO_TIME[command]])
    check = assert_validate_lists if command == "validate" else assert_refused
    check(data, baseline_kib, "bomb.yaml:", NODE_LIMIT, "nodes")


def test_alias_bomb_in_cost_spec(tmp_path: Path, baseline_kib: int) -> None:
    (tmp_path / "bomb.yaml").write_text(laughs() + "input: [12, 12, 3]\nkernel: *a9\n")
    data = measured_run(tmp_path, ["cost", "--spec", "bomb.yaml"])
    assert_refused(data, baseline_kib, "bomb.yaml:", NODE_LIMIT)


# ------------------------------------------------------------------------- deep nesting

DEEP = {
    "flow-sequences-10000": "[" * 10_000 + "]" * 10_000 + "\n",
    "flow-mappings-10000": "{a: " * 10_000 + "x" + "}" * 10_000 + "\n",
    "block-sequences-10000": "- " * 10_000 + "x\n",
    "block-mappings-1000": "".join(" " * (2 * i) + "a:\n" for i in range(1_000))
    + " " * 2_000
    + "x\n",
    "inside-a-valid-spec": "input: [12, 12, 3]\nlayers:\n  - " + "[" * 10_000 + "]" * 10_000 + "\n",
}


@pytest.mark.parametrize("command", ["profile", "validate"])
@pytest.mark.parametrize("text", list(DEEP.values()), ids=list(DEEP))
def test_deep_nesting_refused_fast_with_depth_limit(
    text: str, command: str, tmp_path: Path, baseline_kib: int
) -> None:
    (tmp_path / "deep.yaml").write_text(text)
    data = measured_run(tmp_path, [command, "deep.yaml", *NO_TIME[command]])
    check = assert_validate_lists if command == "validate" else assert_refused
    message = check(data, baseline_kib, "deep.yaml:", DEPTH_LIMIT)
    assert "nest" in message or "depth" in message, message


def alias_depth_chain(anchors: int = 200, per_anchor: int = 60) -> str:
    """Every anchor is nested only ``per_anchor`` deep in the text (under the limit), but
    each wraps the previous one, so the expanded document is ``anchors * per_anchor`` deep,
    with few nodes (about that many): the text-level depth check cannot see it."""
    lines = ["a0: &a0 [x]"]
    for i in range(1, anchors + 1):
        lines.append(f"a{i}: &a{i} " + "[" * per_anchor + f"*a{i - 1}" + "]" * per_anchor)
    return "\n".join(lines) + "\ninput: [12, 12, 3]\nlayers: [{type: global_pool}]\n"


def test_depth_through_aliases_refused_with_depth_limit(tmp_path: Path, baseline_kib: int) -> None:
    (tmp_path / "deep.yaml").write_text(alias_depth_chain())
    data = measured_run(tmp_path, ["profile", "deep.yaml", "--no-time"])
    assert_refused(data, baseline_kib, "deep.yaml:", DEPTH_LIMIT)


def test_depth_through_aliases_listed_by_validate(tmp_path: Path, baseline_kib: int) -> None:
    """validate lists it as a located problem (its report), like every other bad file."""
    (tmp_path / "deep.yaml").write_text(alias_depth_chain())
    data = measured_run(tmp_path, ["validate", "deep.yaml"])
    assert_validate_lists(data, baseline_kib, "deep.yaml:", DEPTH_LIMIT)


# ------------------------------------------------------------------------- file size


@pytest.mark.parametrize("size", [4 * 1024 * 1024 + 1, 64 * 1024 * 1024], ids=["4MiB+1", "64MiB"])
def test_oversized_file_refused_with_size_limit(
    size: int, tmp_path: Path, baseline_kib: int
) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as handle:  # valid YAML: a spec followed by a comment to the size
        handle.write(VALID + "#")
        handle.write("x" * (size - len(VALID) - 2) + "\n")
    assert path.stat().st_size == size
    data = measured_run(tmp_path, ["profile", "big.yaml", "--no-time"])
    assert_refused(data, baseline_kib, "big.yaml", SIZE_LIMIT)


def test_just_under_the_size_limit_is_read(tmp_path: Path) -> None:
    """The limit is a limit, not a ban on large valid files: 4 MiB exactly is accepted."""
    path = tmp_path / "big.yaml"
    size = 4 * 1024 * 1024
    path.write_text(VALID + "#" + "x" * (size - len(VALID) - 2) + "\n")
    assert path.stat().st_size == size
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.stdout + result.stderr


def test_sparse_huge_file_refused_without_reading_it(tmp_path: Path, baseline_kib: int) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(8 * 1024**3)  # 8 GiB of holes: reading it all would be the bug
    data = measured_run(tmp_path, ["profile", "huge.yaml", "--no-time"])
    assert_refused(data, baseline_kib, "huge.yaml", SIZE_LIMIT)


# ------------------------------------------------------------------------- hostile scalars

SCALARS = {
    "int-5000-digits": "9" * 5000,
    "inf": ".inf",
    "nan": ".nan",
    "timestamp": "2001-01-01",
    "binary": "!!binary aGVsbG8=",
    "set": "!!set {a, b}",
}


@pytest.mark.parametrize("value", list(SCALARS.values()), ids=list(SCALARS))
def test_hostile_scalar_is_a_located_error(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(
        "input: [12, 12, 3]\nlayers:\n  - {type: inverted_residual, filters: 8, "
        f"expansion: {value}}}\n"
    )
    result = runner.invoke(app, ["profile", "m.yaml", "--no-time"])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: m.yaml:3:"), lines
    assert "internal error" not in lines[0]


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure"])
@pytest.mark.parametrize(("char", "code"), [("\x1b", "001b"), ("\x07", "0007"), ("\x7f", "007f")])
def test_a_control_character_is_one_line_at_its_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, libyaml: bool, char: str, code: str
) -> None:
    """A control character in a spec (ESC from a pasted terminal colour) was an internal
    error: the pure parser refuses it while building, outside the error handling. Now one
    line at its line and column (counted by hand below), the same from both parsers."""
    import yaml

    if not libyaml:
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    layer = f'  - {{type: conv, kernel: 3, filters: 8, name: "a{char}b"}}'
    text = f"input: [12, 12, 3]\nlayers:\n{layer}\n"
    spec = tmp_path / "esc.yaml"
    spec.write_text(text, encoding="utf-8")
    column = len('  - {type: conv, kernel: 3, filters: 8, name: "a') + 1
    done = runner.invoke(app, ["cost", "--spec", str(spec)])
    assert done.exit_code == 2
    assert done.stderr == (
        f"sepconv: error: {spec}:3:{column}: YAML error: character #x{code} is not allowed in "
        "YAML text (a control character)\n"
    )
