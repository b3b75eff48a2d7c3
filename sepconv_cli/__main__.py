"""``python -m sepconv_cli``."""

from sepconv_cli.cli.entry import main

main()
