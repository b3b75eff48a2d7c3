"""The examples in the package's docstrings run, as doctests, in the default ``pytest``.

The modules are found by walking the *imported* package (``pkgutil``), so CI tests the
installed package, as every other test does, never the source tree by path.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import sepconv_cli


def modules_with_examples() -> list[ModuleType]:
    found = []
    for info in pkgutil.walk_packages(sepconv_cli.__path__, prefix="sepconv_cli."):
        if info.name.endswith(".__main__"):
            continue  # running it is the command line, not an import
        module = importlib.import_module(info.name)
        if any(test.examples for test in doctest.DocTestFinder().find(module)):
            found.append(module)
    return found


MODULES = modules_with_examples()


def test_the_walk_finds_the_examples() -> None:
    # at least these carry examples (ops: theory_ratio; shapes: same_padding, window_output;
    # widths: make_divisible)
    names = {module.__name__ for module in MODULES}
    assert {
        "sepconv_cli.counting.ops",
        "sepconv_cli.counting.shapes",
        "sepconv_cli.counting.widths",
    } <= names


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, verbose=False, report=True)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
