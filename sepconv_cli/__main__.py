"""``python -m sepconv_cli``."""

from .entry import main

main()
