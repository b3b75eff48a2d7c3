"""Shared pytest options, and a reproducible hypothesis profile for CI."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI (CI=true) replays the same examples every run, so a red build always means a change,
# never an unlucky draw; locally hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ from the current output "
        "instead of comparing against them.",
    )
