"""The record of one counting rule and its phrasings (:class:`Convention`), for
:mod:`sepconv_cli.counting.conventions` and the rules split out of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Convention:
    """One counting rule and every phrasing of it.

    ``json`` is the value under ``conventions[key]`` in the JSON reports (empty: the rule
    has no JSON entry); ``help`` the clause in ``--help``; ``footer`` the phrase under the
    tables; ``short`` a terser phrase where a table has less room; ``doc`` the full statement
    (markdown) for ``docs/conventions.md``. Texts carry no final full stop: the assembled
    sentences below add the punctuation.
    """

    key: str
    title: str
    doc: str
    json: str = ""
    help: str = ""
    footer: str = ""
    short: str = ""
    in_report_json: bool = True  # False: only ``sweep`` JSON carries it
