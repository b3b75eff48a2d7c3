"""Which renderer draws which report in which format: one :class:`ReportFormats` per report.

The one place a format meets its renderer. A command renders its report with the matching
``render_*`` below and emits the result; a format a report lacks is refused with the list of
those it has. The Rich tables are imported on first use (the ``_*_table`` wrappers), so a
JSON, CSV or markdown report never loads Rich, and registering the commands stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sepconv_cli.counting.report import LayerReport, ProfileReport
from sepconv_cli.output import compare_formats, csv, json, markdown, validation
from sepconv_cli.output.formats import Format, Rendered, ReportFormats

if TYPE_CHECKING:
    from sepconv_cli.analysis.compare import Comparison
    from sepconv_cli.execution.machine import Machine
    from sepconv_cli.spec.presets import Preset


def _cost_table(layers: Sequence[LayerReport]) -> Rendered:
    from sepconv_cli.output.cost_table import cost_tables

    return cost_tables(layers)


def _profile_table(report: ProfileReport) -> Rendered:
    from sepconv_cli.output.profile_table import profile_table

    return profile_table(report)


def _presets_table(items: Sequence[Preset]) -> Rendered:
    from sepconv_cli.output.tables import presets_table

    return presets_table(items)


def _compare_table(result: Comparison) -> Rendered:
    from sepconv_cli.output.compare_table import compare_table

    return compare_table(result)


def _machine_table(info: Machine) -> Rendered:
    from sepconv_cli.output.tables import machine_table

    return machine_table(info)


COST: ReportFormats[Sequence[LayerReport]] = ReportFormats(
    "cost",
    {
        Format.table: _cost_table,
        Format.json: json.cost_json,
        Format.csv: csv.layers_csv,
        Format.markdown: markdown.cost_markdown,
    },
)
PROFILE: ReportFormats[ProfileReport] = ReportFormats(
    "profile",
    {
        Format.table: _profile_table,
        Format.json: json.profile_json,
        Format.csv: lambda report: csv.layers_csv(report.layers),
        Format.markdown: markdown.profile_markdown,
    },
)
PRESETS: ReportFormats[Sequence[Preset]] = ReportFormats(
    "presets",
    {
        Format.table: _presets_table,
        Format.json: json.presets_json,
        Format.csv: csv.presets_csv,
        Format.markdown: markdown.presets_markdown,
    },
)
COMPARE: ReportFormats[Comparison] = ReportFormats(
    "compare",
    {
        Format.table: _compare_table,
        Format.json: compare_formats.compare_json,
        Format.markdown: compare_formats.compare_markdown,
    },
)
VALIDATE: ReportFormats[validation.Validation] = ReportFormats(
    "validate",
    {Format.table: validation.validation_text, Format.json: validation.validation_json},
)
MACHINE: ReportFormats[Machine] = ReportFormats(
    "machine",
    {
        Format.table: _machine_table,
        Format.json: json.machine_json,
        Format.markdown: markdown.machine_markdown,
    },
    notes={
        Format.table: "Layers whose FLOPs per byte fall below the ridge point are memory-bound: "
        "bandwidth, not arithmetic, sets their best-case time."
    },
)

render_cost = COST.render
render_profile = PROFILE.render
render_presets = PRESETS.render
render_compare = COMPARE.render
render_validation = VALIDATE.render
render_machine = MACHINE.render
