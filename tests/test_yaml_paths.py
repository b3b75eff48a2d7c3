"""libyaml and the pure-Python parser give the same documents, positions and errors.

``spec/yaml_loader`` parses with libyaml where PyYAML was built with it and falls back to
PyYAML's pure-Python parser; ``pure`` below forces the fallback by hiding ``CSafeLoader``,
as a PyYAML without libyaml has none. Every corpus text is loaded both ways: presets,
examples, the hostile-YAML corpus of ``test_hostile_yaml``, every YAML-like string in the
tests, and syntax errors (whose wording libyaml and PyYAML do not share, so the loader
reports the pure parser's). Positions are also checked against hand-counted columns.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_hostile_yaml as hostile
import yaml

from sepconv_cli.spec import yaml_loader
from sepconv_cli.spec.yaml_loader import YamlError, loads

ROOT = Path(__file__).resolve().parent.parent
HAS_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))

SYNTAX_ERRORS = {
    "mapping-value-here": "input: [1, 2]\nlayers: a: b\n",
    "unclosed-flow": "input: [12, 12, 3\nlayers: []\n",
    "unclosed-quote": 'name: "abc\nlayers: []\n',
    "bad-indent": "layers:\n  - type: conv\n   kernel: 3\n",
    "tab-indent": "layers:\n\t- {type: conv}\n",
    "tab-after-key": "name:\tx\n",
    "backtick": "`x`: 1\n",
    "stray-close": "input: [1, 2]]\n",
    "lone-dash-end": "input: [8, 8, 3]\nlayers:\n  - {type: conv, kernel: 3,\n",
    "key-without-colon": "name: a\nfoo\nbar: 1\n",
    "two-documents": "a: 1\n---\nb: 2\n",
    "undefined-alias": "a: *nothing\n",
    "merge-key": "base: &b {kernel: 3}\nlayer: {<<: *b, filters: 8}\n",
    "duplicate-key": "name: a\nname: b\n",
    "non-string-key": "? [1, 2]\n: x\n",
    "empty": "",
    "comment-only": "# nothing\n",
    "deep-then-error": "[" * 900 + "}" + "]" * 900 + "\n",
}


def _yaml_like_strings() -> Iterator[tuple[str, str]]:
    """Every multi-line string constant with a ``key:`` in the tests' sources."""
    for source in sorted((ROOT / "tests").glob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if "\n" in text and ": " in text:
                    yield f"{source.name}:{node.lineno}", text


def corpus() -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted((ROOT / "layer_specs").glob("*.yaml")):
        texts[f"preset {path.stem}"] = path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        texts[f"example {path.name}"] = path.read_text(encoding="utf-8")
    groups = {
        "tag": hostile.TAG_PAYLOADS,
        "bomb": hostile.BOMBS,
        "deep": hostile.DEEP,
        "syntax": SYNTAX_ERRORS,
    }
    for group, items in groups.items():
        for name, text in items.items():
            texts[f"{group} {name}"] = text
    texts["alias-depth-chain"] = hostile.alias_depth_chain()
    for name, value in hostile.SCALARS.items():
        texts[f"scalar {name}"] = (
            "input: [12, 12, 3]\nlayers:\n  - {type: inverted_residual, filters: 8, "
            f"expansion: {value}}}\n"
        )
    for name, text in _yaml_like_strings():
        texts.setdefault(f"tests {name}", text)
    return texts


def outcome(text: str) -> tuple[Any, ...]:
    """The document (data, positions, key positions) or the error message."""
    try:
        doc = loads(text, "f.yaml")
    except YamlError as exc:
        return ("error", str(exc))
    return ("ok", repr(doc.data), doc.positions, doc.keys)


def pure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback, as on a PyYAML built without libyaml (which has no CSafeLoader)."""
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)


def parsers_used(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The parser classes the loader parses with, in order, from now on."""
    used: list[Any] = []
    real = yaml_loader._parse

    def spy(text: str, file: str, parser: Any) -> Any:
        used.append(parser)
        return real(text, file, parser)

    monkeypatch.setattr(yaml_loader, "_parse", spy)
    return used


CORPUS = corpus()


def test_the_corpus_is_the_one_described() -> None:
    assert sum(key.startswith("preset ") for key in CORPUS) >= 10
    assert sum(key.startswith("tests ") for key in CORPUS) > 100
    assert all(f"deep {name}" in CORPUS for name in hostile.DEEP)


def test_libyaml_is_used_when_present_and_the_fallback_when_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if HAS_LIBYAML:
        assert yaml_loader._loader() is yaml.CSafeLoader
    pure(monkeypatch)
    assert yaml_loader._loader() is yaml.SafeLoader


@pytest.mark.skipif(not HAS_LIBYAML, reason="PyYAML without libyaml: one path only")
def test_both_parsers_give_the_same_documents_positions_and_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_libyaml = {name: outcome(text) for name, text in CORPUS.items()}
    pure(monkeypatch)
    differ = [name for name, text in CORPUS.items() if outcome(text) != with_libyaml[name]]
    assert not differ, differ[:10]
    errors = [name for name, result in with_libyaml.items() if result[0] == "error"]
    assert len(errors) > 50  # the comparison covers errors, not only documents


@pytest.mark.parametrize("path", ["libyaml", "pure"])
def test_positions_are_the_hand_counted_ones(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "libyaml" and not HAS_LIBYAML:
        pytest.skip("PyYAML without libyaml")
    if path == "pure":
        pure(monkeypatch)
    doc = loads("input: [12, 12, 3]\nlayers:\n  - {type: conv, kernel: 3, filters: 8}\n", "m")
    # 0-based (line, column): "  - {" is columns 0-4, "type: conv, " 5-16, "kernel: " 17-24
    assert doc.positions[("layers", 0, "kernel")] == (2, 25)
    assert doc.keys[("layers", 0, "kernel")] == (2, 17)
    assert doc.positions[("input", 2)] == (0, 16)  # "input: [12, 12, " is 0-15
    assert str(doc.mark(("layers", 0, "filters"))) == "m:3:38"  # 1-based: "filters: " is 28-36
    assert doc.data == {
        "input": [12, 12, 3],
        "layers": [{"type": "conv", "kernel": 3, "filters": 8}],
    }


@pytest.mark.parametrize("path", ["libyaml", "pure"])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        # hand-placed: the 65th "[" is column 65; the second "name" key starts line 2
        ("[" * 10_000 + "]" * 10_000 + "\n", "f.yaml:1:65: nesting deeper than the limit of 64"),
        ("name: a\nname: b\n", "f.yaml:2:1: name: duplicate key 'name'"),
        ("input: [1, 2]\nlayers: a: b\n", "f.yaml:2:10: YAML syntax error: mapping values"),
        ("a: 1\n---\nb: 2\n", "f.yaml:2:1: more than one YAML document in the file"),
    ],
)
def test_errors_are_the_same_on_both_paths(
    path: str, text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "libyaml" and not HAS_LIBYAML:
        pytest.skip("PyYAML without libyaml")
    if path == "pure":
        pure(monkeypatch)
    with pytest.raises(YamlError) as caught:
        loads(text, "f.yaml")
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.skipif(not HAS_LIBYAML, reason="PyYAML without libyaml")
def test_libyaml_nesting_limit_is_not_reread_by_the_pure_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pure parser is quadratic in flow nesting: libyaml re-reads its own text instead."""
    used = parsers_used(monkeypatch)
    with pytest.raises(YamlError, match=r"f\.yaml:1:65: nesting deeper"):
        loads("[" * 10_000 + "]" * 10_000 + "\n", "f.yaml")
    assert used == [yaml.CSafeLoader, yaml.CSafeLoader]


@pytest.mark.skipif(not HAS_LIBYAML, reason="PyYAML without libyaml")
def test_a_late_syntax_error_keeps_libyaml_wording_without_a_slow_reread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past REPARSE_BYTES the pure parser is not run (seconds per MB); libyaml's message,
    still located, is reported."""
    filler = "".join(f"k{i}: {i}\n" for i in range(10_000))
    assert len(filler) > yaml_loader.REPARSE_BYTES
    lines = filler.count("\n")
    used = parsers_used(monkeypatch)
    with pytest.raises(YamlError, match=rf"f\.yaml:{lines + 1}:\d+: YAML syntax error"):
        loads(filler + "bad: a: b\n", "f.yaml")
    assert used == [yaml.CSafeLoader]


def test_an_early_syntax_error_is_reread_by_the_pure_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not HAS_LIBYAML:
        pytest.skip("PyYAML without libyaml")
    used = parsers_used(monkeypatch)
    with pytest.raises(YamlError, match=r"mapping values are not allowed here"):
        loads("bad: a: b\n", "f.yaml")
    assert used == [yaml.CSafeLoader, yaml.SafeLoader]
