"""Bad input is one clean line: exit 2, ``sepconv: error: ...`` naming the flag or the
``file:line:col: field``, and never a traceback (docs/exit-codes.md).

One table drives the in-process cases (Typer's CliRunner: fast, and an exception that
escapes the CLI shows up as ``result.exception``). Inputs that could hang are run in a
subprocess with a timeout instead, so a regression fails the test instead of the suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()

DIR = object()  # a files-table value: make a directory instead of a file

SPEC_HEAD = "input: [12, 12, 3]\nlayers:\n"
CONV = "  - {type: conv, kernel: 3, filters: 8}\n"


def model(*layer_lines: str, head: str = SPEC_HEAD) -> str:
    """A model spec: ``input`` on line 1, ``layers:`` on line 2, layers from line 3."""
    return head + "".join(layer_lines)


# A report compare accepts (one layer, 1 MAC), and some that it must refuse cleanly.
ONE_JSON = json.dumps(
    {
        "schema": "sepconv/profile/v1",
        "model": "one",
        "layers": [{"name": "a", "standard": {"macs": 1, "params": 1}}],
    }
)


def report_json(layers: Any) -> str:
    return json.dumps({"schema": "sepconv/profile/v1", "model": "m", "layers": layers})


def case(
    case_id: str,
    argv: list[str],
    expected: list[str],
    *,
    files: dict[str, Any] | None = None,
    code: int = 2,
) -> Any:
    return pytest.param(argv, files or {}, code, expected, id=case_id)


CASES = [
    # ---------------------------------------------------------------- flags: sizes
    case("kernel-zero", ["cost", "--kernel", "0"], ["--kernel", "0"]),
    case("kernel-negative", ["cost", "--kernel", "-3"], ["--kernel", "-3"]),
    case("filters-negative", ["cost", "--filters", "-3"], ["--filters", "-3"]),
    case("input-zero-dim", ["cost", "--input", "0x12x3"], ["--input", "0"]),
    case("kernel-larger-than-input", ["cost", "--kernel", "13"], ["--kernel", "13"]),
    case(
        "kernel-larger-than-padded-input",
        ["cost", "--input", "12x12x3", "--padding", "1", "--kernel", "15"],
        ["--kernel", "15"],
    ),
    case("groups-not-dividing-channels", ["cost", "--groups", "2"], ["--groups", "2"]),
    case(
        "groups-not-dividing-filters",
        ["cost", "--input", "12x12x8", "--filters", "10", "--groups", "4"],
        ["--groups", "4", "10"],
    ),
    case("groups-zero", ["cost", "--groups", "0"], ["--groups", "0"]),
    case("groups-word", ["cost", "--groups", "abc"], ["--groups", "abc"]),
    case("stride-zero", ["cost", "--stride", "0"], ["--stride", "0"]),
    case("dilation-zero", ["cost", "--dilation", "0"], ["--dilation", "0"]),
    case("multiplier-zero", ["cost", "--depth-multiplier", "0"], ["--depth-multiplier", "0"]),
    case("batch-zero", ["cost", "--batch", "0"], ["--batch", "0"]),
    case("dilation-too-large", ["cost", "--dilation", "3"], ["--dilation", "3"]),
    case("kernel-3d-for-2d-input", ["cost", "--kernel", "3x3x3"], ["--kernel", "3x3x3"]),
    case("stride-3d-for-2d-input", ["cost", "--stride", "2x2x2"], ["--stride", "2x2x2"]),
    case("padding-3d-for-2d-input", ["cost", "--padding", "1x2x3"], ["--padding", "1x2x3"]),
    # ---------------------------------------------------------------- flags: malformed
    case("shape-trailing-x", ["cost", "--input", "12x"], ["--input", "12x"]),
    case("shape-leading-x", ["cost", "--input", "x3"], ["--input", "x3"]),
    case("shape-double-x", ["cost", "--input", "12xx3"], ["--input", "12xx3"]),
    case("shape-negative", ["cost", "--input", "-3"], ["--input", "-3"]),
    case("shape-empty", ["cost", "--input", ""], ["--input"]),
    case("shape-too-many-dims", ["cost", "--input", "12x12x3x3x3"], ["--input", "5"]),
    case("kernel-float-exponent", ["cost", "--kernel", "1e3"], ["--kernel", "1000"]),
    case("filters-huge", ["cost", "--filters", str(10**20)], ["--filters", str(10**20)]),
    case("filters-float", ["cost", "--filters", "2.5"], ["--filters", "2.5"]),
    case("padding-word", ["cost", "--padding", "foo"], ["--padding", "foo"]),
    case("dtype-word", ["cost", "--dtype", "float8"], ["--dtype", "float8"]),
    case("format-unknown", ["cost", "--format", "xml"], ["--format", "xml"]),
    case("option-unknown", ["cost", "--bogus"], ["--bogus"]),
    case("option-missing-value", ["cost", "--kernel"], ["--kernel"]),
    case("max-macs-word", ["cost", "--max-macs", "lots"], ["--max-macs", "lots"]),
    case("max-params-negative", ["cost", "--max-params", "-5"], ["--max-params", "-5"]),
    case(
        "spec-and-layer-flag",
        ["cost", "--spec", "c.yaml", "--kernel", "3"],
        ["--kernel", "--spec"],
        files={"c.yaml": "input: [12, 12, 3]\nkernel: 3\nfilters: 8\n"},
    ),
    # ---------------------------------------------------------------- files: reading
    case("spec-missing-file", ["cost", "--spec", "nosuch.yaml"], ["nosuch.yaml", "no such file"]),
    case(
        "spec-empty-file",
        ["cost", "--spec", "empty.yaml"],
        ["empty.yaml", "empty"],
        files={"empty.yaml": ""},
    ),
    case(
        "spec-comments-only",
        ["profile", "c.yaml"],
        ["c.yaml", "empty"],
        files={"c.yaml": "# nothing here\n"},
    ),
    case(
        "spec-binary-file",
        ["profile", "bin.yaml"],
        ["bin.yaml", "binary"],
        files={"bin.yaml": b"\x7fELF\x02\x01\x01\x00\x00\x00"},
    ),
    case(
        "spec-not-utf8",
        ["profile", "latin1.yaml"],
        ["latin1.yaml", "UTF-8"],
        files={"latin1.yaml": "input: [12, 12, 3]\nname: caf\xe9\n".encode("latin-1")},
    ),
    case(
        "spec-is-directory",
        ["cost", "--spec", "specdir"],
        ["specdir", "directory"],
        files={"specdir": DIR},
    ),
    case(
        "model-is-directory",
        ["profile", "specdir"],
        ["specdir", "directory"],
        files={"specdir": DIR},
    ),
    case("model-missing-file", ["profile", "nosuch.yaml"], ["MODEL", "nosuch.yaml"]),
    case(
        "model-unknown-preset",
        ["profile", "mobilenet_v3"],
        ["MODEL", "mobilenet_v3", "did you mean 'mobilenet_v2'"],
    ),
    case(
        "yaml-two-documents",
        ["profile", "m.yaml"],
        ["m.yaml:4"],
        files={"m.yaml": model(CONV, "---\n{}\n")},
    ),
    # ---------------------------------------------------------------- files: syntax
    case(
        "yaml-unclosed-flow-list",
        ["profile", "m.yaml"],
        ["m.yaml:5:", "syntax"],
        files={"m.yaml": model("  - type: conv\n    kernel: [3, 3\n    filters: 8\n")},
    ),
    case(
        "yaml-bad-indentation",
        ["profile", "m.yaml"],
        ["m.yaml:4:", "syntax"],
        files={"m.yaml": model("  - type: conv\n   kernel: 3\n    filters: 8\n")},
    ),
    case(
        "yaml-tab-indentation",
        ["profile", "m.yaml"],
        ["m.yaml:6:", "tab"],
        files={"m.yaml": model(CONV, "  - type: conv\n    kernel: 3\n\tfilters: 8\n")},
    ),
    # ---------------------------------------------------------------- files: types
    case(
        "kernel-true",
        ["profile", "m.yaml"],
        ["m.yaml:4:13", "layers[0].kernel", "true"],
        files={"m.yaml": model("  - type: conv\n    kernel: true\n    filters: 8\n")},
    ),
    case(
        "filters-float-yaml",
        ["profile", "m.yaml"],
        ["m.yaml:5:14", "layers[0].filters", "2.5"],
        files={"m.yaml": model("  - type: conv\n    kernel: 3\n    filters: 2.5\n")},
    ),
    case(
        "filters-string",
        ["profile", "m.yaml"],
        ["m.yaml:5:14", "layers[0].filters", "'32'"],
        files={"m.yaml": model('  - type: conv\n    kernel: 3\n    filters: "32"\n')},
    ),
    case(
        "input-as-flag-string",
        ["profile", "m.yaml"],
        ["m.yaml:1:8", "input", "12x12x3"],
        files={"m.yaml": model(CONV, head="input: 12x12x3\nlayers:\n")},
    ),
    case(
        "repeat-zero",
        ["profile", "m.yaml"],
        ["m.yaml:4:", "layers[1].repeat", "0"],
        files={"m.yaml": model(CONV, "  - {type: conv, kernel: 1, filters: 8, repeat: 0}\n")},
    ),
    case(
        "pool-mode-word",
        ["profile", "m.yaml"],
        ["m.yaml:3:", "layers[0].mode", "median"],
        files={"m.yaml": model("  - {type: pool, kernel: 2, mode: median}\n")},
    ),
    case(
        "name-not-a-string",
        ["profile", "m.yaml"],
        ["m.yaml:3:", "layers[0].name"],
        files={"m.yaml": model("  - {type: conv, kernel: 3, filters: 8, name: 5}\n")},
    ),
    # ---------------------------------------------------------------- files: keys
    case(
        "unknown-key",
        ["profile", "m.yaml"],
        ["m.yaml:5:5", "layers[0].filter", "did you mean 'filters'"],
        files={"m.yaml": model("  - type: conv\n    kernel: 3\n    filter: 32\n")},
    ),
    case(
        "unknown-layer-type",
        ["profile", "m.yaml"],
        ["m.yaml:3:11", "layers[0].type", "'sep'", "did you mean 'separable'"],
        files={"m.yaml": model("  - type: sep\n    kernel: 3\n    filters: 32\n")},
    ),
    case(
        "unknown-top-level-key",
        ["profile", "m.yaml"],
        ["m.yaml:4:1", "imput", "did you mean 'input'"],
        files={"m.yaml": model(CONV, head="input: [12, 12, 3]\nlayers:\n") + "imput: 3\n"},
    ),
    case(
        "unknown-defaults-key",
        ["profile", "m.yaml"],
        ["m.yaml:2:", "defaults.paddin", "did you mean 'padding'"],
        files={"m.yaml": "input: [12, 12, 3]\ndefaults: {paddin: same}\nlayers:\n" + CONV},
    ),
    case(
        "field-of-other-type",
        ["profile", "m.yaml"],
        ["m.yaml:3:", "layers[0].kernel", "dense"],
        files={"m.yaml": model("  - {type: dense, units: 10, kernel: 3}\n")},
    ),
    case(
        "missing-type",
        ["profile", "m.yaml"],
        ["m.yaml:3:5", "layers[0]", "type"],
        files={"m.yaml": model("  - {kernel: 3, filters: 8}\n")},
    ),
    case(
        "missing-required-field",
        ["profile", "m.yaml"],
        ["m.yaml:3:5", "layers[0]", "units"],
        files={"m.yaml": model("  - {type: dense}\n")},
    ),
    case(
        "duplicate-key-in-layer",
        ["profile", "dup.yaml"],
        ["dup.yaml:6:5", "layers[0].kernel", "duplicate"],
        files={"dup.yaml": model("  - type: conv\n    kernel: 3\n    filters: 8\n    kernel: 5\n")},
    ),
    case(
        "duplicate-top-level-key",
        ["profile", "dup.yaml"],
        ["dup.yaml:2:1", "input", "duplicate"],
        files={"dup.yaml": "input: [12, 12, 3]\ninput: [1, 1, 1]\nlayers:\n" + CONV},
    ),
    case(
        "key-with-newline",
        ["profile", "m.yaml"],
        ["m.yaml:2:1", "unknown key"],
        files={"m.yaml": 'input: [12, 12, 3]\n"a\\nb": 1\nlayers:\n' + CONV},
    ),
    case(
        "key-with-newline-validate",
        ["validate", "m.yaml"],
        ["m.yaml:2:1"],
        files={"m.yaml": 'input: [12, 12, 3]\n"a\\nb": 1\nlayers:\n' + CONV},
    ),
    case(
        "merge-key",
        ["profile", "m.yaml"],
        ["m.yaml:3:", "<<"],
        files={"m.yaml": model("  - {type: conv, kernel: 3, filters: 8, <<: {a: 1}}\n")},
    ),
    case(
        "missing-input",
        ["profile", "m.yaml"],
        ["m.yaml:1", "'input'"],
        files={"m.yaml": "layers:\n" + CONV},
    ),
    case(
        "missing-layers",
        ["profile", "m.yaml"],
        ["m.yaml:1", "'layers'"],
        files={"m.yaml": "input: [12, 12, 3]\n"},
    ),
    case(
        "empty-layers",
        ["profile", "m.yaml"],
        ["m.yaml:2:", "layers"],
        files={"m.yaml": "input: [12, 12, 3]\nlayers: []\n"},
    ),
    case(
        "spec-missing-input",
        ["cost", "--spec", "c.yaml"],
        ["c.yaml:1", "'input'"],
        files={"c.yaml": "kernel: 3\nfilters: 8\n"},
    ),
    case(
        "spec-second-layer-bad",
        ["cost", "--spec", "c.yaml"],
        ["c.yaml:6:12", "[1].filters", "0"],
        files={
            "c.yaml": "- input: [12, 12, 3]\n  kernel: 3\n  filters: 6\n"
            "- input: [12, 12, 3]\n  kernel: 3\n  filters: 0\n"
        },
    ),
    case(
        "spec-not-a-mapping",
        ["cost", "--spec", "c.yaml"],
        ["c.yaml:1:", "mapping"],
        files={"c.yaml": "just a string\n"},
    ),
    # ---------------------------------------------------------------- files: shapes
    case(
        "spec-kernel-larger-than-input",
        ["cost", "--spec", "c.yaml"],
        ["c.yaml:2:9", "kernel", "13"],
        files={"c.yaml": "input: [12, 12, 3]\nkernel: 13\nfilters: 8\n"},
    ),
    case(
        "spec-kernel-3d-for-2d",
        ["cost", "--spec", "c.yaml"],
        ["c.yaml:2:9", "kernel", "3x3x3"],
        files={"c.yaml": "input: [12, 12, 3]\nkernel: [3, 3, 3]\nfilters: 8\n"},
    ),
    case(
        "spec-groups-not-dividing",
        ["cost", "--spec", "c.yaml"],
        ["c.yaml:4:9", "groups"],
        files={"c.yaml": "input: [12, 12, 4]\nkernel: 3\nfilters: 6\ngroups: 4\n"},
    ),
    case(
        "model-kernel-3d-for-2d",
        ["profile", "m.yaml"],
        ["m.yaml:3:", "layers[0].kernel"],
        files={"m.yaml": model("  - {type: conv, kernel: [3, 3, 3], filters: 8}\n")},
    ),
    case(
        "model-groups-not-dividing",
        ["profile", "m.yaml"],
        ["m.yaml:3:", "layers[0].groups"],
        files={"m.yaml": model("  - {type: conv, kernel: 3, filters: 8, groups: 2}\n")},
    ),
    case(
        "model-shrinks-to-nothing",
        ["profile", "shrink.yaml"],
        ["shrink.yaml:5:", "layers[2]"],
        files={
            "shrink.yaml": model(
                "  - {type: conv, kernel: 3, filters: 8, stride: 2}\n"
                "  - {type: conv, kernel: 3, filters: 8, stride: 2}\n"
                "  - {type: conv, kernel: 3, filters: 8}\n"
            )
        },
    ),
    case(
        "model-repeat-shrinks-to-nothing",
        ["profile", "m.yaml"],
        ["m.yaml:3:", "layers[0]"],
        files={"m.yaml": model("  - {type: conv, kernel: 3, filters: 8, repeat: 1000000000}\n")},
    ),
    case(
        "residual-shape-mismatch",
        ["profile", "res.yaml"],
        ["res.yaml:3:5", "layers[0]", "residual"],
        files={
            "res.yaml": model(
                "  - type: residual\n    layers:\n"
                "      - {type: conv, kernel: 3, filters: 8, padding: same}\n"
            )
        },
    ),
    # ---------------------------------------------------------------- profile flags
    case(
        "width-multiplier-zero",
        ["profile", "mobilenet_v1", "--width-multiplier", "0"],
        ["--width-multiplier", "0"],
    ),
    case(
        "width-multiplier-word",
        ["profile", "mobilenet_v1", "--width-multiplier", "abc"],
        ["--width-multiplier", "abc"],
    ),
    case(
        "width-multiplier-nan",
        ["profile", "mobilenet_v1", "--width-multiplier", "nan"],
        ["--width-multiplier", "nan"],
    ),
    case(
        "resolution-zero", ["profile", "mobilenet_v1", "--resolution", "0"], ["--resolution", "0"]
    ),
    case(
        "resolution-too-many-dims",
        ["profile", "mobilenet_v1", "--resolution", "1x2x3"],
        ["--resolution", "1x2x3"],
    ),
    case("profile-batch-negative", ["profile", "mobilenet_v1", "--batch", "-1"], ["--batch", "-1"]),
    case(
        "profile-format-unknown",
        ["profile", "mobilenet_v1", "--format", "yaml"],
        ["--format", "yaml"],
    ),
    case(
        "time-budget-word",
        ["profile", "mobilenet_v1", "--time-budget", "abc"],
        ["--time-budget", "abc"],
    ),
    case(
        "time-budget-zero",
        ["profile", "mobilenet_v1", "--time-budget", "0s"],
        ["--time-budget", "0s"],
    ),
    case(
        "max-memory-zero", ["profile", "mobilenet_v1", "--max-memory", "0"], ["--max-memory", "0"]
    ),
    case(
        "max-memory-word",
        ["profile", "mobilenet_v1", "--max-memory", "lots"],
        ["--max-memory", "lots"],
    ),
    case(
        "max-latency-no-unit",
        ["profile", "mobilenet_v1", "--max-latency", "50"],
        ["--max-latency", "50"],
    ),
    case(
        "max-latency-without-timing",
        ["profile", "mobilenet_v1", "--no-time", "--max-latency", "50ms"],
        ["--max-latency"],
    ),
    case("threads-zero", ["profile", "mobilenet_v1", "--threads", "0"], ["--threads", "0"]),
    case(
        "plot-unknown-extension",
        ["profile", "mobilenet_v1", "--no-time", "--plot", "p.xyz"],
        ["--plot", "p.xyz"],
    ),
    case(
        "time-layer-too-large-for-memory",
        ["cost", "--time", "--input", "100000x100000x64", "--kernel", "3", "--filters", "64"],
        ["memory", "GiB"],
        code=3,
    ),
    case(
        "output-missing-directory",
        ["cost", "--output", "missing/out.json"],
        ["--output", "missing"],
    ),
    case(
        "output-missing-directory-profile",
        ["profile", "mobilenet_v1", "-o", "no/dir/r.json"],
        ["--output", "no/dir"],
    ),
    case(
        "output-is-directory",
        ["cost", "--output", "outdir"],
        ["--output", "outdir"],
        files={"outdir": DIR},
    ),
    # ---------------------------------------------------------------- compare
    case(
        "compare-not-a-sepconv-report",
        ["compare", "other.json", "one.json"],
        ["other.json", "not a sepconv JSON report"],
        files={"other.json": '{"hello": 1}\n', "one.json": ONE_JSON},
    ),
    case(
        "compare-broken-json",
        ["compare", "broken.json", "one.json"],
        ["broken.json", "JSON"],
        files={"broken.json": "[1, 2\n", "one.json": ONE_JSON},
    ),
    case(
        "compare-layer-missing-counts",
        ["compare", "one.json", "bad.json"],
        ["bad.json"],
        files={"bad.json": report_json([{"name": "a"}]), "one.json": ONE_JSON},
    ),
    case(
        "compare-layers-not-a-list",
        ["compare", "one.json", "bad.json"],
        ["bad.json"],
        files={"bad.json": report_json({"a": 1}), "one.json": ONE_JSON},
    ),
    case(
        "compare-layer-null",
        ["compare", "one.json", "bad.json"],
        ["bad.json"],
        files={"bad.json": report_json([None]), "one.json": ONE_JSON},
    ),
    case(
        "compare-macs-infinity",
        ["compare", "one.json", "bad.json"],
        ["bad.json"],
        files={
            "bad.json": report_json(
                [{"name": "a", "standard": {"macs": float("inf"), "params": 1}}]
            ),
            "one.json": ONE_JSON,
        },
    ),
    case(
        "compare-5000-digit-count",
        ["compare", "bad.json", "one.json"],
        ["bad.json"],
        files={
            "bad.json": '{"schema": "sepconv/profile/v1", "layers": [{"standard": '
            '{"macs": ' + "9" * 5000 + ', "params": 1}}]}',
            "one.json": ONE_JSON,
        },
    ),
    case(
        "compare-deeply-nested-json",
        ["compare", "deep.json", "one.json"],
        ["deep.json"],
        files={
            "deep.json": '{"schema": "sepconv/x", "layers": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "one.json": ONE_JSON,
        },
    ),
    case(
        "compare-max-increase-garbage",
        ["compare", "one.json", "one.json", "--max-increase", "garbage"],
        ["--max-increase", "garbage"],
        files={"one.json": ONE_JSON},
    ),
    case(
        "compare-max-increase-unknown-metric",
        ["compare", "one.json", "one.json", "--max-increase", "flops=5%"],
        ["--max-increase", "flops"],
        files={"one.json": ONE_JSON},
    ),
    case(
        "compare-format-csv",
        ["compare", "one.json", "one.json", "--format", "csv"],
        ["--format"],
        files={"one.json": ONE_JSON},
    ),
    case(
        "compare-missing-argument", ["compare", "one.json"], ["NEW"], files={"one.json": ONE_JSON}
    ),
    # ---------------------------------------------------------------- validate
    case(
        "validate-one-file-every-problem",
        ["validate", "multi.yaml"],
        [
            "multi.yaml:2:1: nmae",
            "multi.yaml:4:26: layers[0].kernel",
            "multi.yaml:5:12: layers[1].type",
            "multi.yaml:6:29: layers[2].filtres",
        ],
        files={
            "multi.yaml": "input: [12, 12, 3]\nnmae: x\nlayers:\n"
            "  - {type: conv, kernel: 0, filters: 8}\n"
            "  - {type: sep, kernel: 3, filters: 8}\n"
            "  - {type: conv, kernel: 3, filtres: 8}\n" + CONV
        },
    ),
    case(
        "validate-several-files",
        ["validate", "a.yaml", "b.yaml", "c.yaml", "d.yaml", "nosuch.yaml"],
        [
            "a.yaml:5:5: layers[0].filter",
            "b.yaml:4:13: layers[0].kernel",
            "c.yaml:5:",
            "d.yaml:5:",
            "nosuch.yaml",
        ],
        files={
            "a.yaml": model("  - type: conv\n    kernel: 3\n    filter: 32\n"),
            "b.yaml": model("  - type: conv\n    kernel: true\n    filters: 8\n"),
            "c.yaml": model("  - type: conv\n    kernel: [3, 3\n    filters: 8\n"),
            "d.yaml": model(
                "  - {type: conv, kernel: 3, filters: 8, stride: 2}\n"
                "  - {type: conv, kernel: 3, filters: 8, stride: 2}\n"
                "  - {type: conv, kernel: 3, filters: 8}\n"
            ),
        },
    ),
    case(
        "validate-format-csv",
        ["validate", "m.yaml", "--format", "csv"],
        ["--format"],
        files={"m.yaml": model(CONV)},
    ),
    # ---------------------------------------------------------------- usage
    case("unknown-command", ["costs"], ["costs"]),
    case("extra-argument", ["cost", "extra"], ["extra"]),
]

LOCATED = re.compile(r"^(?P<file>[^:\s]+)(:\d+:\d+)?: ")


def write_files(root: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = root / name
        if content is DIR:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def lines_of(text: str) -> list[str]:
    """Newline-separated lines, as a script reading the stream sees them."""
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n") if text else []


def assert_no_traceback(result: Any) -> None:
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream
    # an exception that escaped the CLI boundary (CliRunner catches it instead of printing)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )


def test_enough_cases() -> None:
    assert len(CASES) >= 45


@pytest.mark.parametrize(("argv", "files", "code", "expected"), CASES)
def test_bad_input_is_one_clean_error(
    argv: list[str],
    files: dict[str, Any],
    code: int,
    expected: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEPCONV_DEBUG", raising=False)
    write_files(tmp_path, files)
    result = runner.invoke(app, argv)
    assert_no_traceback(result)
    assert "internal error" not in result.stderr, result.stderr
    assert result.exit_code == code, (result.stdout, result.stderr)

    if argv[0] == "validate" and "--format" not in argv:
        # the report (stdout) is every problem, one per line, located; stderr a summary
        problems = lines_of(result.stdout)
        assert len(problems) == len(expected), problems
        for line, want in zip(problems, expected, strict=True):
            assert want in line, (want, line)
            assert LOCATED.match(line), line
        summary = lines_of(result.stderr)
        assert len(summary) == 1 and re.match(
            r"^sepconv: \d+ problems? in \d+ files?$", summary[0]
        ), result.stderr
        assert f"{len(expected)} problem" in summary[0]
        return

    lines = lines_of(result.stderr)
    errors = [line for line in lines if line.startswith("sepconv: error: ")]
    assert len(errors) == 1, result.stderr
    # anything else on stderr is a note (e.g. compare's "different models" note)
    assert all(line.startswith("sepconv: note: ") for line in lines if line not in errors), (
        result.stderr
    )
    for want in expected:
        assert want in errors[0], (want, errors[0])
    assert result.stdout == "", "a failed run must not print a (partial) report"


# ------------------------------------------------------------------- could-hang inputs
# Run in a subprocess with a timeout: a hang must fail this test, not stall the suite.

HANG_CASES = [
    pytest.param(
        ["cost", "--max-macs", "1e999999999"], 2, ["--max-macs"], id="max-macs-huge-exponent"
    ),
    pytest.param(
        ["cost", "--max-params", "1e-999999999"], 2, ["--max-params"], id="max-params-tiny-exponent"
    ),
    pytest.param(
        ["compare", "mobilenet_v1", "mobilenet_v1", "--max-increase", "1e999999999%"],
        2,
        ["--max-increase"],
        id="max-increase-huge-exponent",
    ),
    pytest.param(
        ["profile", "mobilenet_v1", "--time-budget", "1e999999999s"],
        2,
        ["--time-budget"],
        id="time-budget-huge-exponent",
    ),
    pytest.param(
        ["profile", "mobilenet_v1", "--no-time", "--max-memory", "1e999999999G"],
        2,
        ["--max-memory"],
        id="max-memory-huge-exponent",
    ),
]


@pytest.mark.parametrize(("argv", "code", "expected"), HANG_CASES)
def test_number_parsing_never_hangs(
    argv: list[str], code: int, expected: list[str], tmp_path: Path
) -> None:
    """``Decimal('1e999999999')`` is cheap; turning it into an exact Fraction is not."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sepconv_cli", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=6,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"sepconv {' '.join(argv)} still running after 6 s (expected a quick "
            f"exit {code} naming {expected[0]})"
        )
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sepconv: error: "), proc.stderr
    for want in expected:
        assert want in lines[0]


# ------------------------------------------------------------------- valid but extreme
# Valid inputs with extreme numbers: a result (or a gate), never an internal error.


def test_compare_counts_beyond_float_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts are exact ints of any size (docs/conventions.md); percentages must not overflow."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.json").write_text(ONE_JSON)
    (tmp_path / "huge.json").write_text(
        report_json([{"name": "a", "standard": {"macs": 10**400, "params": 1}}])
    )
    for fmt in ("table", "json", "markdown"):
        result = runner.invoke(app, ["compare", "one.json", "huge.json", "-q", "--format", fmt])
        assert_no_traceback(result)
        assert "internal error" not in result.stderr, result.stderr
        assert result.exit_code == 0, result.stderr


def test_compare_gate_from_zero_with_huge_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base of 0 MACs that grows fails any limit ("grew from zero"): exit 1, one message."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "zero.json").write_text(report_json([]))
    result = runner.invoke(
        app,
        [
            "compare",
            "zero.json",
            "mobilenet_v1",
            "-q",
            "--max-increase",
            "1e400",
            "--format",
            "json",
        ],
    )
    assert_no_traceback(result)
    assert "internal error" not in result.stderr, result.stderr
    assert result.exit_code == 1, result.stderr
    assert "--max-increase" in result.stderr
