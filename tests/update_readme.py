"""Rewrite the outputs of README.md's examples from the real commands.

    python tests/update_readme.py          # every example not marked "output varies"
    python tests/update_readme.py --all    # the timed and machine-specific ones too
    python tests/update_readme.py --check  # exit 1 if any output is stale; write nothing
    python tests/update_readme.py --all --only "cost -i 56x56x128"   # one example

Each ``$ sepconv …`` line of a ```` ```text ```` block is run in an 80-column pseudo-terminal
from this checkout (``python -m sepconv_cli``) and the lines below it are replaced by what it
printed; nothing else in the README changes. The rules and markers are in
``tests/readme_examples.py``; ``tests/test_readme.py`` fails when an output is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import readme_examples as rx  # this folder, put on the path above


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--all", action="store_true", help='also the examples marked "output varies"'
    )
    parser.add_argument("--check", action="store_true", help="report stale outputs only")
    parser.add_argument(
        "--only", metavar="TEXT", help="only the examples whose first command line contains TEXT"
    )
    parser.add_argument("readme", nargs="?", type=Path, default=rx.README)
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = [
                example.title
                for example in rx.parse(args.readme.read_text(encoding="utf-8"))
                if args.all or not example.varies
                if not args.only or args.only in example.title
                if [rx.normalise(c.output) for c in example.commands] != rx.run_example(example)
            ]
            for title in stale:
                print(f"stale: {title}")
            return 1 if stale else 0
        changed = rx.update(args.readme, include_varying=args.all, only=args.only)
    except rx.ExampleError as exc:
        print(f"update_readme: {exc}", file=sys.stderr)
        return 2
    for title in changed:
        print(f"rewrote: {title}")
    print(f"{len(changed)} example(s) rewritten in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
