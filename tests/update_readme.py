"""Rewrite the outputs of the examples in README.md and docs/*.md from the real commands.

    python tests/update_readme.py          # every example not marked "output varies"
    python tests/update_readme.py --all    # the timed and machine-specific ones too
    python tests/update_readme.py --check  # exit 1 if any output is stale; write nothing
    python tests/update_readme.py --all --only "cost -i 56x56x128"   # one example
    python tests/update_readme.py docs/cost.md docs/sweep.md          # some pages only

Each ``$ sepconv …`` line of a ```` ```text ```` block is run in an 80-column pseudo-terminal
from this checkout (``python -m sepconv_cli``) and the lines below it are replaced by what it
printed; nothing else on the page changes. The rules and markers are in
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
    parser.add_argument(
        "pages",
        nargs="*",
        type=Path,
        metavar="PAGE",
        help="the pages to update (default: README.md and every docs/*.md page)",
    )
    args = parser.parse_args(argv)
    pages: list[Path] = args.pages or rx.pages()
    stale: list[str] = []
    changed: list[str] = []
    try:
        for page in pages:
            name = rx.page_name(page)
            if args.check:
                stale += [
                    f"{name}: {example.title}"
                    for example in rx.read(page)
                    if args.all or not example.varies
                    if not args.only or args.only in example.title
                    if [rx.normalise(c.output) for c in example.commands] != rx.run_example(example)
                ]
                continue
            rewritten = rx.update(page, include_varying=args.all, only=args.only)
            changed += [f"{name}: {title}" for title in rewritten]
    except (rx.ExampleError, OSError) as exc:
        print(f"update_readme: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for title in stale:
            print(f"stale: {title}")
        return 1 if stale else 0
    for title in changed:
        print(f"rewrote: {title}")
    print(f"{len(changed)} example(s) rewritten in {len(pages)} page(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
