"""The root app's table of command modules (``COMMANDS``) says what the modules define, and a
run of one command imports no other command's module."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import typer

from sepconv_cli.cli.app import COMMANDS, app

ROOT = Path(__file__).resolve().parent.parent


def _names(typer_app: typer.Typer) -> list[str]:
    group = typer.main.get_command(typer_app)
    return list(group.commands)  # type: ignore[attr-defined]


def test_each_module_defines_the_commands_listed() -> None:
    for module, names in COMMANDS.items():
        sub = importlib.import_module(f"sepconv_cli.cli.{module}").app
        defined = [
            info.name or (info.callback.__name__ if info.callback else "")
            for info in sub.registered_commands
        ]
        assert [n.replace("_", "-") for n in defined] == list(names), module


def test_the_whole_app_lists_every_command_in_order() -> None:
    assert _names(app) == [name for names in COMMANDS.values() for name in names]


def test_every_command_module_of_the_package_is_listed() -> None:
    package = ROOT / "sepconv_cli" / "cli"
    modules = {
        p.stem
        for p in package.glob("*.py")
        if "app = typer.Typer(" in p.read_text(encoding="utf-8") and p.stem != "app"
    }
    assert modules == set(COMMANDS)


def test_a_command_imports_no_other_command_module() -> None:
    script = (
        "import sys\n"
        "from sepconv_cli.cli.app import main\n"
        "try:\n"
        "    main(['sweep', '--vary', 'kernel=1..3', '--vary', 'filters=8..16:8', "
        "'--format', 'csv'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "names = ['sepconv_cli.cli.' + m for m in " + repr(sorted(COMMANDS)) + "]\n"
        "print([m for m in names if m in sys.modules], file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stderr.strip().splitlines()[-1] == "['sepconv_cli.cli.sweep']"


def test_the_whole_app_is_built_once() -> None:
    from sepconv_cli.cli import app as module

    assert module.app is module.app
    assert module._app_for([]) is module.app  # the root help: every command
    assert module._app_for(["profle"]) is module.app  # an unknown name: Click's suggestions
    assert module._app_for(["cost"]) is not module.app  # one command: its module alone
