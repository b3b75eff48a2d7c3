"""Which renderer draws which report in which format: one :class:`ReportFormats` per report.

The one place a format meets its renderer. A command renders its report with the matching
``render_*`` below and emits the result; a format a report lacks is refused with the list of
those it has. Every renderer is imported on first use (:func:`_lazy`): registering the
commands loads none of them, a JSON, CSV or markdown report never loads Rich, and
``sepconv cost`` starts no slower for the renderers of the other commands.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sepconv_cli.output.formats import Format, Rendered, ReportFormats

if TYPE_CHECKING:
    from sepconv_cli.analysis.bench import BenchReport
    from sepconv_cli.analysis.compare import Comparison
    from sepconv_cli.analysis.grid import GridReport
    from sepconv_cli.analysis.spatial.model import Analysis
    from sepconv_cli.analysis.sweep import SweepReport
    from sepconv_cli.counting.report import LayerReport, ProfileReport
    from sepconv_cli.execution.machine import Machine
    from sepconv_cli.output.validation import Validation
    from sepconv_cli.spec.presets import Preset


def _lazy(name: str) -> Callable[[Any], Rendered]:
    """The renderer ``module.function`` (in this package), imported when first called."""
    module, function = name.rsplit(".", 1)

    def render(report: Any) -> Rendered:
        renderer = getattr(importlib.import_module(f"sepconv_cli.output.{module}"), function)
        result: Rendered = renderer(report)
        return result

    render.__qualname__ = render.__name__ = function
    return render


def _profile_csv(report: ProfileReport) -> Rendered:
    from sepconv_cli.output.csv import layers_csv

    return layers_csv(report.layers)


COST: ReportFormats[Sequence[LayerReport]] = ReportFormats(
    "cost",
    {
        Format.table: _lazy("cost_table.cost_tables"),
        Format.json: _lazy("json.cost_json"),
        Format.csv: _lazy("csv.layers_csv"),
        Format.markdown: _lazy("markdown.cost_markdown"),
    },
)
PROFILE: ReportFormats[ProfileReport] = ReportFormats(
    "profile",
    {
        Format.table: _lazy("profile_table.profile_table"),
        Format.json: _lazy("json.profile_json"),
        Format.csv: _profile_csv,
        Format.markdown: _lazy("markdown.profile_markdown"),
    },
)
PRESETS: ReportFormats[Sequence[Preset]] = ReportFormats(
    "presets",
    {
        Format.table: _lazy("tables.presets_table"),
        Format.json: _lazy("json.presets_json"),
        Format.csv: _lazy("csv.presets_csv"),
        Format.markdown: _lazy("markdown.presets_markdown"),
    },
)
COMPARE: ReportFormats[Comparison] = ReportFormats(
    "compare",
    {
        Format.table: _lazy("compare_table.compare_table"),
        Format.json: _lazy("compare_formats.compare_json"),
        Format.markdown: _lazy("compare_formats.compare_markdown"),
    },
)
VALIDATE: ReportFormats[Validation] = ReportFormats(
    "validate",
    {
        Format.table: _lazy("validation.validation_text"),
        Format.json: _lazy("validation.validation_json"),
    },
)
MACHINE: ReportFormats[Machine] = ReportFormats(
    "machine",
    {
        Format.table: _lazy("tables.machine_table"),
        Format.json: _lazy("json.machine_json"),
        Format.markdown: _lazy("markdown.machine_markdown"),
    },
    notes={
        Format.table: "Layers whose FLOPs per byte fall below the ridge point are memory-bound: "
        "bandwidth, not arithmetic, sets their best-case time."
    },
)

SWEEP: ReportFormats[SweepReport] = ReportFormats(
    "sweep",
    {
        Format.table: _lazy("sweep.table.sweep_table"),
        Format.json: _lazy("sweep.data.sweep_json"),
        Format.csv: _lazy("sweep.data.sweep_csv"),
        Format.markdown: _lazy("sweep.markdown.sweep_markdown"),
    },
)
GRID: ReportFormats[GridReport] = ReportFormats(
    "sweep",
    {
        Format.table: _lazy("sweep.grid_table.grid_table"),
        Format.json: _lazy("sweep.grid_data.grid_json"),
        Format.csv: _lazy("sweep.grid_data.grid_csv"),
        Format.markdown: _lazy("sweep.grid_markdown.grid_markdown"),
    },
)
SPATIAL: ReportFormats[Analysis] = ReportFormats(
    "spatial",
    {
        Format.table: _lazy("spatial.table.spatial_table"),
        Format.json: _lazy("spatial.data.spatial_json"),
        Format.csv: _lazy("spatial.data.spatial_csv"),
        Format.markdown: _lazy("spatial.markdown.spatial_markdown"),
    },
)

BENCH: ReportFormats[BenchReport] = ReportFormats(
    "bench",
    {
        Format.table: _lazy("bench.bench_table"),
        Format.json: _lazy("bench.bench_json"),
        Format.csv: _lazy("bench.bench_csv"),
        Format.markdown: _lazy("bench.bench_markdown"),
    },
)

render_cost = COST.render
render_profile = PROFILE.render
render_presets = PRESETS.render
render_compare = COMPARE.render
render_validation = VALIDATE.render
render_machine = MACHINE.render
render_sweep = SWEEP.render
render_grid = GRID.render
render_spatial = SPATIAL.render
render_bench = BENCH.render
