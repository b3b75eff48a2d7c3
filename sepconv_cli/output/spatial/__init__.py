"""Every rendering of a spatial analysis; :data:`sepconv_cli.output.reports.SPATIAL` maps
each ``Format`` to one of them, so the command never branches on the format.

JSON and CSV live in ``data.py``, markdown in ``markdown.py``, the Rich table in ``table.py``
(imported only for the table format, so the machine formats never load Rich), and the words
the table and markdown share in ``cells.py``.
"""
