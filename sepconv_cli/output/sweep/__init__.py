"""Every rendering of a sweep; :data:`sepconv_cli.output.reports.SWEEP` maps each
``Format`` to one of them, so the command never branches on the format.

JSON and CSV live in ``data.py``, markdown in ``markdown.py``, the Rich table and coloured
chart in ``table.py`` (imported only for the table format, so the machine formats never load
Rich), the chart model in ``chart.py`` and the title in ``captions.py``.
"""
