"""``sepconv profile --plot``: a real image file, and a clear message without matplotlib."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sepconv_cli.cli.app import app

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_counts_only_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "v1.png"
    result = runner.invoke(
        app, ["profile", "mobilenet_v1", "--no-time", "--plot", str(out), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_timed_plot_has_the_roofline_as_svg(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "seed.svg"
    result = runner.invoke(
        app,
        [
            "profile",
            "seed_example",
            "--time-budget",
            "0.05s",
            "--plot",
            str(out),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "Roofline" in text


@pytest.mark.parametrize("name", ["plot.jpg", "plot"])
def test_plot_extension_is_checked_before_any_work(tmp_path: Path, name: str) -> None:
    result = runner.invoke(
        app, ["profile", "mobilenet_v1", "--no-time", "--plot", str(tmp_path / name)]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("sepconv: error: --plot:")
    assert not (tmp_path / name).exists()


def test_missing_matplotlib_says_how_to_install_it(tmp_path: Path) -> None:
    # a child interpreter where importing matplotlib fails, as on an install without the extra
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'matplotlib' or name.startswith('matplotlib.'):\n"
        "            raise ImportError('blocked for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from sepconv_cli.cli.app import main\n"
        f"main(['profile', 'mobilenet_v1', '--no-time', '--plot', {str(tmp_path / 'p.png')!r}])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "pip install 'sepconv[plot]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no report printed before the refusal
