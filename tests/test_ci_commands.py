"""Scripting for CI: budget gates, compare, validate, schema, output hygiene and the docs' CI
script, run as written. Expected numbers are hand arithmetic or published figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.spec.presets import preset_dir

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
SEED_MACS = 1_228_800  # 256*3*5*5*8*8
SEED_PARAMS = 19_200  # 256*3*5*5
V1_MACS = 568_740_352  # MobileNet Table 4 (569 M), see test_presets.py


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


# ----------------------------------------------------------------------------- budget gates


@pytest.mark.parametrize(
    "limit,code",
    [
        ("1228800", 0),
        ("1228799", 1),
        ("1.2288M", 0),
        ("1.2M", 1),
        ("1229K", 0),
        ("1228K", 1),
        ("0.0013G", 0),
        ("0.0012G", 1),
    ],
)
def test_max_macs_units(limit: str, code: int) -> None:
    exit_code, out, err = run("cost", "--max-macs", limit, "--format", "json")
    assert exit_code == code, err
    assert json.loads(out)["layers"][0]["standard"]["macs"] == SEED_MACS  # report printed
    if code:
        assert err.strip() == (
            f"sepconv: budget: MACs 1.229 M exceed --max-macs {limit_text(limit)}"
        )


def limit_text(limit: str) -> str:
    from fractions import Fraction

    from sepconv_cli.units import fmt_count, parse_count

    return fmt_count(Fraction(parse_count(limit, "--max-macs")))


@pytest.mark.parametrize("limit,code", [("19200", 0), ("19.1K", 1), ("0.0192M", 0)])
def test_max_params(limit: str, code: int) -> None:
    exit_code, _, err = run("cost", "--max-params", limit, "--format", "json")
    assert exit_code == code, err
    assert ("--max-params" in err) == bool(code)


def test_profile_budgets_on_as_specified_totals() -> None:
    code, _, err = run(
        "profile",
        "mobilenet_v1",
        "--no-time",
        "--max-macs",
        "600M",
        "--max-params",
        "4.5M",
        "--format",
        "json",
    )
    assert code == 0, err
    code, _, err = run(
        "profile",
        "mobilenet_v1",
        "--no-time",
        "--max-macs",
        "500M",
        "--max-params",
        "4M",
        "--format",
        "json",
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert lines == [
        "sepconv: budget: MACs 568.7 M exceed --max-macs 500 M",
        "sepconv: budget: Params 4.232 M exceed --max-params 4 M",
    ]


@pytest.mark.parametrize("limit", ["10ms", "0.2s", "800us", "1000000ns"])
def test_max_latency_units_parse(limit: str) -> None:
    code, _, err = run(
        "cost", "--time", "--time-budget", "0.05s", "--max-latency", limit, "--format", "json"
    )
    assert code in (0, 1), err
    assert "error" not in err


# ----------------------------------------------------------------------------- compare


def spec_with(
    tmp_path: Path,
    name: str,
    change: dict[str, object] | None = None,
    drop: str | None = None,
    add: dict[str, object] | None = None,
) -> Path:
    data = yaml.safe_load((preset_dir() / "mobilenet_v1.yaml").read_text())
    layers = data["layers"]
    if change:
        for layer in layers:
            if layer.get("name") == change["name"]:
                layer.update(change)
    if drop:
        data["layers"] = [layer for layer in layers if layer.get("name") != drop]
    if add:
        data["layers"].insert(1, add)  # right after conv1
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_compare_growth_fails_the_gate(tmp_path: Path) -> None:
    new = spec_with(tmp_path, "new.yaml", {"name": "sep9", "filters": 1280})
    code, out, err = run(
        "compare", "mobilenet_v1", str(new), "--max-increase", "macs=2%", "--format", "json"
    )
    doc = json.loads(out)
    # sep9 at 7x7: depthwise 1024*9*49 unchanged; pointwise 1024*F*49 grows by 1024*256*49;
    # the classifier (F -> 1000) grows by 256*1000
    grown = 1024 * 256 * 49 + 256 * 1000
    assert doc["totals"]["macs"]["delta"] == grown
    assert doc["totals"]["macs"]["base"] == V1_MACS
    assert doc["totals"]["macs"]["percent"] == pytest.approx(100 * grown / V1_MACS, abs=1e-4)
    assert code == 1 and "MACs grew +2.30%" in err and "macs=2%" in err
    changed = {layer["name"]: layer for layer in doc["layers"]}
    assert changed["sep9"]["status"] == "matched"
    assert changed["sep9"]["macs"]["delta"] == 1024 * 256 * 49


def test_compare_shrinkage_passes(tmp_path: Path) -> None:
    new = spec_with(tmp_path, "new.yaml", {"name": "sep9", "filters": 512})
    code, out, err = run(
        "compare", "mobilenet_v1", str(new), "--max-increase", "0%", "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["totals"]["macs"]["delta"] < 0


def test_compare_added_and_removed_layers(tmp_path: Path) -> None:
    new = spec_with(
        tmp_path,
        "new.yaml",
        drop="sep9",
        add={"type": "separable", "name": "extra", "kernel": 3, "filters": 1024},
    )
    code, out, err = run("compare", "mobilenet_v1", str(new), "--format", "json")
    assert code == 0, err
    status = {layer["name"]: layer["status"] for layer in json.loads(out)["layers"]}
    assert status["extra"] == "added" and status["sep9"] == "removed"
    added = next(layer for layer in json.loads(out)["layers"] if layer["name"] == "extra")
    # after conv1, 112x112x32 -> 1024 (same padding): depthwise 32*9*112*112 + pointwise
    # 32*1024*112*112 (matched by name the other layers stay matched; by position the added
    # layer would have paired with a removed one at the same index)
    assert added["macs"]["new"] == 32 * 9 * 112 * 112 + 32 * 1024 * 112 * 112
    assert added["macs"]["base"] == 0


def test_compare_json_reports_and_mismatched_models(tmp_path: Path) -> None:
    base = tmp_path / "v1.json"
    new = tmp_path / "v2.json"
    for name, path in (("mobilenet_v1", base), ("mobilenet_v2", new)):
        code, _, err = run("profile", name, "--no-time", "--format", "json", "-o", str(path))
        assert code == 0, err
    code, out, err = run("compare", str(base), str(new), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["totals"]["macs"]["base"] == V1_MACS
    assert doc["totals"]["macs"]["new"] == 300_774_272  # torchvision MobileNetV2: 300.8 M
    assert "different models" in err


def test_compare_reads_the_as_specified_time_key() -> None:
    """A layer's time is its ``timing.as_specified_s``; reports without the key fall back to
    the median of the form the layer declares."""
    from sepconv_cli.analysis.compare import snapshot_from_json

    def report(timing: Mapping[str, object]) -> dict[str, object]:
        return {
            "schema": "sepconv/profile/v1",
            "layers": [
                {
                    "name": "l",
                    "type": "conv",
                    "form": "standard",
                    "as_specified": {"macs": 10, "params": 2},
                    "timing": timing,
                }
            ],
        }

    parts = {"standard": {"median_s": 1.0}, "separable": {"median_s": 0.5}}
    with_key = snapshot_from_json(report({**parts, "as_specified_s": 0.25}), "a.json")
    assert with_key.layers[0].time_s == 0.25
    without = snapshot_from_json(report(parts), "b.json")
    assert without.layers[0].time_s == 1.0  # the declared (standard) form's median


def test_compare_markdown_is_a_pr_comment(tmp_path: Path) -> None:
    new = spec_with(tmp_path, "new.yaml", {"name": "sep9", "filters": 1280})
    code, out, _ = run(
        "compare", "mobilenet_v1", str(new), "--max-increase", "macs=2%", "--format", "markdown"
    )
    assert code == 1
    assert out.startswith("### sepconv:") and "Budget exceeded" in out and "| `sep9` |" in out


# ----------------------------------------------------------------------------- validate


def test_validate_reports_every_problem_at_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "input: [32, 32, 3]\n"  # line 1
        "layers:\n"  # line 2
        "  - {type: conv, kernel: 3, filter: 16}\n"  # line 3, col 29
        "  - type: separable\n"  # line 4
        "    kernel: true\n"  # line 5, col 13
        "    filters: 8\n"
        "  - {type: sep, kernel: 3}\n"
    )  # line 7, col 12
    good = tmp_path / "good.yaml"
    good.write_text("input: [8, 8, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 4}\n")
    code, out, err = run("validate", str(good), str(bad))
    assert code == 2
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{bad}:3:29: layers[0].filter: unknown key")
    assert lines[1].startswith(f"{bad}:5:13: layers[1].kernel: expected an integer")
    assert lines[2].startswith(f"{bad}:7:12: layers[2].type: unknown layer type 'sep'")
    assert len(lines) == 3
    assert err.strip() == "sepconv: 3 problems in 2 files"


def test_validate_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [8, 8, 3]\nlayers:\n  - {type: conv, kernel: 0, filters: 4}\n")
    code, out, _ = run("validate", str(bad), "--format", "json")
    assert code == 2
    problem = json.loads(out)["problems"][0]
    # "  - {type: conv, kernel: " is 25 characters: the value starts in column 26
    assert (problem["line"], problem["column"]) == (3, 26)


def test_validate_every_preset() -> None:
    code, _, err = run("validate", *map(str, sorted(preset_dir().glob("*.yaml"))))
    assert code == 0, err


# ----------------------------------------------------------------------------- schema


def test_schema_validates_every_preset_and_rejects_broken_specs() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    code, out, _ = run("schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(preset_dir().glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, (path.name, [e.message for e in errors][:3])
    broken = [
        {"layers": [{"type": "conv", "kernel": 3, "filters": 8}]},  # no input
        {"input": [8, 8, 3], "layers": [{"type": "conv", "kernel": 3}]},  # no filters
        {
            "input": [8, 8, 3],
            "layers": [{"type": "conv", "kernel": 3, "filters": 8, "filter": 8}],
        },  # unknown key
        {"input": [8, 8, 3], "layers": [{"type": "conv", "kernel": 0, "filters": 8}]},
        {"input": [8, 8, 3], "layers": [{"type": "spam"}]},
        {"input": [8, 8, 3], "layers": [{"type": "pool", "kernel": 2, "mode": "min"}]},
    ]
    for spec in broken:
        assert list(validator.iter_errors(spec)), spec


# ----------------------------------------------------------------------------- hygiene


@pytest.mark.parametrize(
    "args",
    [
        ["cost"],
        ["profile", "mobilenet_v1", "--no-time"],
        ["compare", "mobilenet_v1", "mobilenet_v2"],
        ["presets"],
        ["sweep"],
        ["spatial", "sobel-x"],
    ],
)
def test_no_escape_codes_when_piped(args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.run(
        [sys.executable, "-m", "sepconv_cli", *args],
        capture_output=True,
        text=True,
        env={**env, "TERM": "xterm-256color"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout and "\x1b[" not in proc.stderr


def test_quiet_silences_notes() -> None:
    code, _, err = run("compare", "mobilenet_v1", "mobilenet_v2", "-q")
    assert code == 0 and err == ""


def test_help_documents_exit_codes_and_every_command_is_in_the_readme() -> None:
    _, out, _ = run("--help")
    assert "Exit codes: 0 ok, 1" in " ".join(out.split())
    readme = (ROOT / "README.md").read_text()
    for command in (
        "cost",
        "profile",
        "presets",
        "compare",
        "validate",
        "schema",
        "sweep",
        "spatial",
        "interactive",
        "machine",
    ):
        assert f"sepconv {command}" in readme, command
        assert run(command, "--help")[0] == 0


# ----------------------------------------------------------------------------- CI script


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_ci_script_runs_as_written(tmp_path: Path) -> None:
    script = ROOT / "examples" / "ci" / "sepconv-gate.sh"
    page = (ROOT / "docs" / "scripting.md").read_text()
    body = [line for line in script.read_text().splitlines() if line and not line.startswith("#")]
    assert all(line in page for line in body), "docs/scripting.md's copy of the script is stale"
    bin_dir = tmp_path / "bin"  # `sepconv` on PATH as the installed console script
    bin_dir.mkdir()
    (bin_dir / "sepconv").write_text(f'#!/bin/sh\nexec {sys.executable} -m sepconv_cli "$@"\n')
    (bin_dir / "sepconv").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    shutil.copy(preset_dir() / "mobilenet_v1.yaml", tmp_path / "base.yaml")
    shutil.copy(preset_dir() / "mobilenet_v1.yaml", tmp_path / "model.yaml")

    ok = subprocess.run(
        ["bash", str(script), "model.yaml", "base.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    report = json.loads((tmp_path / "sepconv-report.json").read_text())
    assert report["totals"]["as_specified"]["macs"] == V1_MACS
    assert "Within budget" in (tmp_path / "sepconv-comment.md").read_text()

    grown = spec_with(tmp_path, "model.yaml", {"name": "sep9", "filters": 1280})
    failed = subprocess.run(
        ["bash", str(script), grown.name, "base.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert failed.returncode == 1
    assert "MACs grew +2.30%" in failed.stderr
    assert "Params 4.751 M exceed --max-params 4.5 M" in failed.stderr
    assert "Budget exceeded" in (tmp_path / "sepconv-comment.md").read_text()

    (tmp_path / "broken.yaml").write_text("input: [8, 8, 3]\nlayers: [{type: spam}]\n")
    invalid = subprocess.run(
        ["bash", str(script), "broken.yaml"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert invalid.returncode == 2
