"""The console-script entry point, kept free of heavy imports so that a Ctrl-C that lands
while Typer and the commands are still being imported ends as cleanly as one during work:
one line on stderr, exit code 130, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    try:
        from sepconv_cli.cli.app import main as run

        run(argv)
    except KeyboardInterrupt:
        print("sepconv: error: interrupted", file=sys.stderr)
        sys.exit(130)
