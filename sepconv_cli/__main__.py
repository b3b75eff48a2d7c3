"""``python -m sepconv_cli``."""

from .cli import main

main()
