"""Property tests (hypothesis): whatever the input, the CLI never raises past its boundary.

Any outcome is a result (exit 0 with a report) or a clean error: exit 1/2/3, exactly one
``sepconv: error:`` line (or, for ``validate``, the located problems list) and never a
traceback. The last-resort handler's ``internal error`` (exit 3) counts as a failure here:
it is how the CLI reports its own bugs.

Inputs: random flag values for ``sepconv cost`` (text, ints from negative to huge, shapes)
and random YAML documents for ``sepconv profile FILE`` / ``sepconv validate FILE``: random
nested data, and valid specs (MobileNetV1, MobileNetV2) with keys dropped, replaced,
retyped or misspelt. Runs in process (CliRunner) to stay fast.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sepconv_cli.cli.app import app
from sepconv_cli.spec.presets import preset_dir

runner = CliRunner()

# SEPCONV_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py searches harder (default: quick, each
# test 1-3 s: an example is one or two CLI runs in process, about 10-25 ms each).
# Shrinking a failure can take minutes; it is off unless SEPCONV_FUZZ_SHRINK=1, so a failing
# run stays fast and still prints the CLI's message and the (unshrunk) input.
EXAMPLES = int(os.environ.get("SEPCONV_FUZZ_EXAMPLES", "60"))
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
if os.environ.get("SEPCONV_FUZZ_SHRINK"):
    PHASES.append(Phase.shrink)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FORMATS = ["table", "json", "csv", "markdown"]


# ------------------------------------------------------------------------- outcome checks


def lines_of(text: str) -> list[str]:
    """Lines as a script reading the stream sees them: split on newlines only (not on the
    other separators ``str.splitlines`` honours, such as \\x1e or \\x85)."""
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n") if text else []


def clean(result: Any) -> None:
    """No exception escaped, no traceback, no last-resort "internal error"."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stderr, result.stderr


def assert_result_or_clean_error(result: Any) -> None:
    """cost/profile: a report (exit 0) or one ``sepconv: error:`` line (exit 1/2/3)."""
    clean(result)
    assert result.exit_code in (0, 1, 2, 3), result.exit_code
    lines = lines_of(result.stderr)
    if result.exit_code == 0:
        assert result.stdout.strip(), "exit 0 without a report"
        assert not any(line.startswith("sepconv: error:") for line in lines), result.stderr
        return
    if result.exit_code == 1:  # a budget gate: the report, then one line per exceeded budget
        assert result.stdout.strip()
        assert lines and all(line.startswith("sepconv: budget: ") for line in lines), lines
        return
    errors = [line for line in lines if line.startswith("sepconv: error: ")]
    assert len(errors) == 1, result.stderr
    assert all(line in errors or line.startswith("sepconv: note: ") for line in lines), lines
    assert result.stdout == "", "a failed run printed (part of) a report"


def assert_validated(result: Any, path: Path) -> list[str]:
    """validate: exit 0 and no problems, or exit 2 and every problem located, one a line."""
    clean(result)
    problems = lines_of(result.stdout)
    if result.exit_code == 0:
        assert problems == [], problems
        return problems
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert problems, f"exit 2 but no problem listed; stderr: {result.stderr!r}"
    for line in problems:
        assert line.startswith(f"{path}:") or line.startswith(f"{path}: "), line
    assert re.match(r"^sepconv: \d+ problems? in 1 file$", result.stderr.strip()), result.stderr
    return problems


# ------------------------------------------------------------------------- flag values

small_ints = st.integers(-3, 40)
any_ints = st.one_of(
    small_ints,
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**15, 10**15 + 1, 10**40]),
)
shapes = st.lists(st.integers(-2, 64), min_size=0, max_size=5).flatmap(
    lambda dims: st.sampled_from(["x", "×", ",", " x ", "X", "xx"]).map(
        lambda sep: sep.join(str(d) for d in dims)
    )
)
words = st.sampled_from(
    [
        "valid",
        "same",
        "VALID",
        " same ",
        "nan",
        "inf",
        "-inf",
        "1e3",
        "0.5",
        "1_000",
        "0x10",
        "",
        " ",
        "3x",
        "x3",
        "1e-3",
        "true",
        "float32",
        "int8",
        "bfloat16",
        "600M",
        "4.5m",
        "1.2G",
        "0K",
        "-5",
        "١٢",
        "１２x１２x3",
        "\x00",
        "3\n3",
        "∞",
    ]
)
flag_values = st.one_of(
    any_ints.map(str),
    shapes,
    words,
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)

COST_FLAGS = [
    "--input",
    "--kernel",
    "--filters",
    "--stride",
    "--padding",
    "--dilation",
    "--groups",
    "--depth-multiplier",
    "--batch",
    "--dtype",
    "--name",
    "--max-macs",
    "--max-params",
]


@FUZZ
@given(
    flags=st.dictionaries(st.sampled_from(COST_FLAGS), flag_values, max_size=6),
    fmt=st.sampled_from(FORMATS),
    bias=st.sampled_from([[], ["--bias"], ["--no-bias"]]),
)
def test_cost_random_flags(flags: dict[str, str], fmt: str, bias: list[str]) -> None:
    argv = ["cost", *(f"{flag}={value}" for flag, value in flags.items()), *bias, "--format", fmt]
    result = runner.invoke(app, argv)
    assert_result_or_clean_error(result)
    if result.exit_code == 2:
        assert "--" in lines_of(result.stderr)[-1], "the error names no flag"


@FUZZ
@given(
    flags=st.dictionaries(
        st.sampled_from(
            [
                "--input",
                "--kernel",
                "--filters",
                "--stride",
                "--padding",
                "--dilation",
                "--groups",
                "--depth-multiplier",
                "--batch",
            ]
        ),
        st.one_of(
            st.integers(1, 9).map(str),
            st.lists(st.integers(1, 9), min_size=1, max_size=4).map(
                lambda d: "x".join(map(str, d))
            ),
        ),
        max_size=9,
    )
)
# found by this test: a grouped conv whose dilation leaves no output was a traceback
@example(flags={"--filters": "3", "--groups": "3", "--dilation": "6x7"})
def test_cost_plausible_flags(flags: dict[str, str]) -> None:
    """Small positive values: mostly valid layers, so the counting paths run too."""
    argv = ["cost", *(f"{flag}={value}" for flag, value in flags.items()), "--format", "json"]
    result = runner.invoke(app, argv)
    assert_result_or_clean_error(result)
    if result.exit_code == 2:  # the message blames a flag the user gave, not a default
        message = lines_of(result.stderr)[-1]
        assert any(flag in message for flag in flags), (
            f"the error names none of the given flags {sorted(flags)}: {message}"
        )


@FUZZ
@given(
    width=flag_values,
    resolution=flag_values,
    batch=flag_values,
    model=st.sampled_from(["mobilenet_v1", "mobilenet_v2", "seed_example", "xception"]),
)
def test_profile_random_flags(width: str, resolution: str, batch: str, model: str) -> None:
    argv = [
        "profile",
        model,
        f"--width-multiplier={width}",
        f"--resolution={resolution}",
        f"--batch={batch}",
        "--no-time",
        "--format",
        "json",
    ]
    assert_result_or_clean_error(runner.invoke(app, argv))


# ------------------------------------------------------------------------- YAML documents

FIELD_NAMES = [
    "type",
    "name",
    "repeat",
    "kernel",
    "filters",
    "stride",
    "padding",
    "dilation",
    "groups",
    "depth_multiplier",
    "bias",
    "batch_norm",
    "units",
    "expansion",
    "mode",
    "residual",
    "width_floor",
    "expanded",
    "se_channels",
    "se_ratio",
    "se_ratio_of",
    "se_divisor",
    "layers",
    "shortcut",
    "input",
    "batch",
    "dtype",
    "defaults",
    "channel_divisor",
    "source",
    "description",
]
LAYER_TYPES = [
    "conv",
    "separable",
    "depthwise",
    "pointwise",
    "inverted_residual",
    "squeeze_excite",
    "dense",
    "pool",
    "global_pool",
    "residual",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    any_ints,
    st.integers(0, 8),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(
        [*LAYER_TYPES, "valid", "same", "max", "avg", "output", "float16", "12x12x3", "input"]
    ),
)
# keys a script must still be able to read back from a one-line message
ODD_KEYS = ["a\nb", "\n", "x\r", "\x1b[31mred", "k\x00", "\u2028", "filters\t"]
keys = st.one_of(
    st.sampled_from(FIELD_NAMES), st.sampled_from(ODD_KEYS), st.text(min_size=1, max_size=8)
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=40,
)


@st.composite
def random_specs(draw: Any) -> Any:
    """Random nested data, often shaped like a model spec (input + layers)."""
    if draw(st.booleans()):
        return draw(documents)
    layer = st.dictionaries(st.sampled_from(FIELD_NAMES[:18]), scalars, max_size=5).map(
        lambda d: {"type": d.pop("type", None) or "conv", **d}
    )
    spec: dict[str, Any] = {
        "input": draw(st.one_of(st.lists(st.integers(1, 32), min_size=2, max_size=4), scalars)),
        "layers": draw(st.lists(st.one_of(layer, documents), min_size=0, max_size=6)),
    }
    spec.update(draw(st.dictionaries(keys, documents, max_size=2)))
    return spec


def preset_data(name: str) -> Any:
    text = (preset_dir() / f"{name}.yaml").read_text()
    return yaml.safe_load(text)


PRESETS = {name: preset_data(name) for name in ("mobilenet_v1", "mobilenet_v2")}


def paths_in(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``data`` (mapping keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += paths_in(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += paths_in(value, (*prefix, i))
    return out


def retype(value: Any) -> list[Any]:
    """The same value in the types a careless edit gives it."""
    out: list[Any] = [str(value), [value], None, True, False, {"value": value}]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out += [float(value) + 0.5, -value, 0, value * 10**18]
        if math.isfinite(value):  # an earlier mutation may have made it inf or nan
            out.append(int(value) // 2)
    if isinstance(value, list):
        out += [value[:1], value * 2, [*value, 0], value[::-1], "x".join(map(str, value))]
    if isinstance(value, str):
        out += [value.upper(), value[:-1], value + "s", 3]
    return out


@st.composite
def mutated_specs(draw: Any) -> Any:
    """A preset's data with 1-4 random edits: drop, replace, retype or misspell a key."""
    data = copy.deepcopy(PRESETS[draw(st.sampled_from(sorted(PRESETS)))])
    for _ in range(draw(st.integers(1, 4))):
        paths = paths_in(data)
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = draw(
            st.sampled_from(
                ["drop", "replace", "retype", "misspell", "add_key", "duplicate", "retype_layer"]
            )
        )
        if action == "drop":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(documents)
        elif action == "retype":
            parent[last] = draw(st.sampled_from(retype(parent[last])))
        elif action == "misspell" and isinstance(parent, dict):
            parent[
                draw(
                    st.sampled_from(
                        [last[:-1] or "x", last + "s", last.upper(), last.replace("_", "-")]
                    )
                )
            ] = parent.pop(last)
        elif action == "add_key" and isinstance(parent[last], dict):
            parent[last][draw(keys)] = draw(scalars)
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif action == "retype_layer" and isinstance(parent[last], dict):
            parent[last]["type"] = draw(st.sampled_from(LAYER_TYPES))
    return data


def dump(data: Any) -> str | None:
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:  # e.g. a mapping key that is not a scalar
        return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_document(text: str, path: Path, fmt: str) -> None:
    path.write_text(text, encoding="utf-8")
    profiled = runner.invoke(app, ["profile", str(path), "--no-time", "--format", fmt])
    assert_result_or_clean_error(profiled)
    validated = runner.invoke(app, ["validate", str(path)])
    problems = assert_validated(validated, path)
    # validate and profile agree: a valid file profiles, a refused one has problems
    if profiled.exit_code == 2:
        assert problems, (
            f"profile refused it ({profiled.stderr.strip()}) but validate found no problem"
        )
    if profiled.exit_code == 0:
        assert not problems, f"profile accepted it but validate listed {problems}"


@FUZZ
@given(data=random_specs(), fmt=st.sampled_from(FORMATS))
def test_random_yaml_documents(data: Any, fmt: str, workdir: Path) -> None:
    text = dump(data)
    assume(text is not None)
    assert text is not None
    check_document(text, workdir / "random.yaml", fmt)


@settings(FUZZ, max_examples=2 * EXAMPLES)
@given(data=mutated_specs(), fmt=st.sampled_from(FORMATS))
def test_mutated_presets(data: Any, fmt: str, workdir: Path) -> None:
    text = dump(data)
    assume(text is not None)
    assert text is not None
    check_document(text, workdir / "mutated.yaml", fmt)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.sampled_from(
                [
                    "",
                    " ",
                    "\t",
                    "\n",
                    ":",
                    "-",
                    "[",
                    "]",
                    "{",
                    "}",
                    "&a",
                    "*a",
                    "!!",
                    "'",
                    '"',
                    "#",
                    "?",
                    "|",
                    ">",
                    "%",
                    "@",
                    "\x85",
                    "\ufeff",
                    "0",
                    "x",
                ]
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_corrupted_preset_text(edits: list[tuple[int, str]], workdir: Path) -> None:
    """Byte-level damage to a real spec file: syntax errors must be located, never raise."""
    text = (preset_dir() / "mobilenet_v1.yaml").read_text()
    for position, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + (1 if insert == "" else 0) :]
    check_document(text, workdir / "corrupt.yaml", "json")


# ------------------------------------------------------------------------- compare reports

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        any_ints,
        st.text(max_size=8),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def seed_report() -> Any:
    result = runner.invoke(app, ["profile", "seed_example", "--no-time", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


READ_BY_COMPARE = {
    "schema",
    "model",
    "layers",
    "name",
    "type",
    "form",
    "as_specified",
    "standard",
    "macs",
    "params",
    "timing",
    "separable",
    "median_s",
}


@st.composite
def report_edits(draw: Any) -> list[tuple[int, str, Any, bool]]:
    """Edits to apply to a real report: (path choice, action, replacement value, whether to
    aim at ``layers``, the part compare reads)."""
    edits: list[tuple[int, str, Any, bool]] = draw(
        st.lists(
            st.tuples(
                st.integers(0, 10**6),
                st.sampled_from(["drop", "replace", "retype"]),
                json_values,
                st.booleans(),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return edits


def edit_report(report: Any, edits: list[tuple[int, str, Any, bool]]) -> Any:
    data = copy.deepcopy(report)
    for choice, action, value, aim in edits:
        paths = paths_in(data)
        if aim:
            paths = [p for p in paths if p[-1] in READ_BY_COMPARE or p[:-1] == ("layers",)] or paths
        if not paths:
            break
        path = paths[choice % len(paths)]
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if action == "drop":
            del parent[last]
        elif action == "replace":
            parent[last] = value
        else:
            options = retype(parent[last])
            parent[last] = options[choice % len(options)]
    return data


@settings(FUZZ, max_examples=4 * EXAMPLES)
@given(
    edits=report_edits(),
    side=st.sampled_from(["base", "new"]),
    limit=st.one_of(
        st.none(), flag_values, st.sampled_from(["5%", "macs=2%", "time=1%", "params=0%", "0"])
    ),
)
def test_compare_mutated_reports(
    edits: list[tuple[int, str, Any, bool]],
    side: str,
    limit: str | None,
    seed_report: Any,
    workdir: Path,
) -> None:
    """A damaged JSON report (or an odd --max-increase) on either side of compare."""
    good = workdir / "good.json"
    bad = workdir / "bad.json"
    good.write_text(json.dumps(seed_report))
    bad.write_text(json.dumps(edit_report(seed_report, edits)))
    base, new = (bad, good) if side == "base" else (good, bad)
    argv = ["compare", str(base), str(new), "--format", "json"]
    if limit is not None:
        argv.append(f"--max-increase={limit}")
    result = runner.invoke(app, argv)
    clean(result)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    lines = lines_of(result.stderr)
    if result.exit_code == 2:
        errors = [line for line in lines if line.startswith("sepconv: error: ")]
        assert len(errors) == 1, result.stderr
        assert result.stdout == ""
    else:
        json.loads(result.stdout)  # the comparison itself is valid JSON
