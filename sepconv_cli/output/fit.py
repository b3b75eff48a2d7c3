"""Tables that fit the console: their columns are chosen when printed; numbers are never cut.

Rule: a report describes its table as :class:`FitTable` columns and rows plus a stated order
of steps that make it narrower, least important first:

* :func:`narrow` switches columns to their narrower rendering: the same exact numbers
  without a convenience (human units, the "× fewer" text, the share bar);
* :func:`drop` leaves columns out (a column in no step, such as the repeat column, stays);
* :func:`shorten` cuts names with … down to a minimum width (names only, never numbers),
  keeping the end that tells rows apart (:func:`~sepconv_cli.output.fit_parts.cut_names`).

When printed, the steps are applied in order until the table fits the console's width; then
the steps that later ones made unnecessary are undone, most important first, and shortened
names take back any width left. A one-line note names what was left out and the width that
shows everything. Past the last step, number cells fold onto a second line instead of being
cut. Piped output is printed at the full width of its content unless ``COLUMNS`` is set
(``cli/console.console``), so nothing is left out there.

Big tables: Rich lays a table out cell by cell (about 0.4 ms a row of eleven columns, 13.9 s
for a 10,000-layer profile, measured with cProfile). A table of more than :data:`LEAN_ROWS`
rows whose layout fits the width is drawn by :func:`_lean_lines` instead: the same characters
Rich draws (the same box, padding, widths and justification, from the same column widths
:meth:`FitTable.width` computes), one string per line. Tables it cannot draw the same way (a
multi-line or multi-style cell, a row or column style, folded numbers) go to Rich whatever
their size; tests/test_big_tables.py holds the two paths to the same text.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import replace

from rich import box as boxes
from rich.box import Box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.control import strip_control_codes
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from sepconv_cli.names import shown
from sepconv_cli.output.fit_parts import (
    Both,
    Cell,
    Step,
    _Column,
    _Layout,
    _Row,
    cell_texts,
    cut_names,
    drop,
    middle_ellipsis,
    narrow,
    shorten,
)

# the parts' names, as the table's modules and tests import them from here
__all__ = [
    "LEAN_ROWS",
    "Both",
    "Cell",
    "FitTable",
    "Step",
    "_Layout",
    "drop",
    "is_terminal",
    "middle_ellipsis",
    "narrow",
    "shorten",
]

LEAN_ROWS = 200  # more rows than this: the lean path (tables this small take Rich < 0.1 s)
_UNLIMITED = 100_000  # a width no table reaches: measures a table's natural width


class FitTable:
    """A Rich table whose columns are chosen for the console's width when it is printed.

    ``compact`` tables separate columns by two spaces and draw no outer padding (the
    profile's look); otherwise Rich's default padding. Rows are added in order; a row with
    ``end_section`` draws a rule below it.
    """

    def __init__(
        self,
        *,
        title: str | None = None,
        steps: Sequence[Step] = (),
        compact: bool = True,
        box: Box = boxes.SIMPLE_HEAD,
        show_header: bool = True,
    ) -> None:
        # a title is lines the caller wrote, the names in them already shown (sepconv_cli.names)
        self.title = None if title is None else "\n".join(map(shown, title.split("\n")))
        self.steps = tuple(steps)
        self.compact = compact
        self.box = box
        self.show_header = show_header
        self.columns: list[_Column] = []
        self.rows: list[_Row] = []
        self._widths: dict[tuple[int, bool, int | None], int] = {}
        self._cuts: dict[tuple[str, int], dict[str, str]] = {}  # (column, width): cut names
        self._overheads: dict[int, int] = {}

    def add_column(
        self,
        key: str,
        header: str | None = None,
        *,
        justify: JustifyMethod = "right",
        style: str = "",
        narrow_header: str | None = None,
        name: bool = False,
        min_width: int | None = None,
    ) -> None:
        """A column; ``name`` columns hold names (shortened in the middle when a
        :func:`shorten` step asks), every other cell is kept whole. ``min_width`` holds the
        full rendering steady (not the narrow one)."""
        self._widths.clear()
        self._cuts.clear()
        self.columns.append(
            _Column(
                key,
                key if header is None else header,
                justify,
                style,
                narrow_header,
                name,
                min_width,
            )
        )

    def add_row(
        self, *cells: Cell | Both, style: str | None = None, end_section: bool = False
    ) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self._widths.clear()
        self._cuts.clear()
        shown_cells = (
            Both(_shown(c.wide), _shown(c.narrow)) if isinstance(c, Both) else _shown(c)
            for c in cells
        )
        self.rows.append(_Row(tuple(shown_cells), style, end_section))

    # ------------------------------------------------------------------ layout

    def table(self, layout: _Layout | None = None) -> Table:
        """The Rich table of ``layout`` (everything, at full width, when None)."""
        layout = layout or _Layout()
        table = Table(
            box=self.box,
            header_style="bold",
            show_header=self.show_header,
            collapse_padding=self.compact,
            pad_edge=not self.compact,
        )
        kept = [i for i, c in enumerate(self.columns) if c.key not in layout.dropped]
        for i in kept:
            column = self.columns[i]
            narrowed = column.key in layout.narrowed
            header = self._header_of(column, layout)
            wraps = layout.fold and not column.name
            table.add_column(
                header,
                justify=column.justify,
                style=column.style or None,
                no_wrap=not wraps,
                overflow="fold" if wraps else "ellipsis",
                min_width=None if narrowed else column.min_width,
            )
        for row in self.rows:
            cells = [_text(self._cell(row.cells[i], self.columns[i], layout)) for i in kept]
            table.add_row(*cells, style=row.style, end_section=row.end_section)
        return table

    def _cell(self, cell: Cell | Both, column: _Column, layout: _Layout) -> Cell:
        if isinstance(cell, Both):
            cell = cell.narrow if column.key in layout.narrowed else cell.wide
        width = layout.name_width.get(column.key)
        if width is None or not column.name:
            return cell
        cuts = self._cut_names(column, width)
        if isinstance(cell, Text):
            cut = cuts.get(cell.plain) if cell.cell_len > width else None
            return cell if cut is None else Text(cut, style=cell.style)
        return cuts.get(cell, cell)

    def _cut_names(self, column: _Column, width: int) -> dict[str, str]:
        """The column's names cut to ``width`` together (:func:`cut_names`: one cut that
        keeps rows told apart), once per width."""
        if (column.key, width) not in self._cuts:
            i = self.columns.index(column)
            names = cell_texts(row.cells[i] for row in self.rows)
            self._cuts[column.key, width] = cut_names(names, width)
        return self._cuts[column.key, width]

    def width(self, layout: _Layout | None = None) -> int:
        """The table's natural width in ``layout``: its columns' widths plus the padding and
        rules Rich adds for that many columns (measured once per count)."""
        layout = layout or _Layout()
        kept = [i for i, c in enumerate(self.columns) if c.key not in layout.dropped]
        return sum(self._column_width(i, layout) for i in kept) + self._overhead(len(kept))

    def measured_width(self, layout: _Layout | None = None) -> int:
        """The same, measured by Rich on the whole table (slower; :meth:`width` must agree)."""
        console = _measuring_console()
        return Measurement.get(console, console.options, self.table(layout)).maximum

    def _column_width(self, index: int, layout: _Layout) -> int:
        column = self.columns[index]
        narrowed = column.key in layout.narrowed
        key = (index, narrowed, layout.name_width.get(column.key))
        if key not in self._widths:
            header = self._header_of(column, layout)
            cells = [self._cell(row.cells[index], column, layout) for row in self.rows]
            widths = [_cell_width(header), *(_cell_width(c) for c in cells)]
            if column.min_width is not None and not narrowed:
                widths.append(column.min_width)
            self._widths[key] = max(widths)
        return self._widths[key]

    def _overhead(self, count: int) -> int:
        if count not in self._overheads:
            # the same box and padding as the table, one column a character wide
            probe = Table(
                box=self.box,
                show_header=False,
                collapse_padding=self.compact,
                pad_edge=not self.compact,
            )
            for _ in range(count):
                probe.add_column(no_wrap=True)
            probe.add_row(*("x" * count))
            console = _measuring_console()
            measured = Measurement.get(console, console.options, probe).maximum
            self._overheads[count] = measured - count
        return self._overheads[count]

    def _names_width(self, key: str) -> int:
        i = next(i for i, c in enumerate(self.columns) if c.key == key)
        return self._column_width(i, _Layout())

    def _apply(self, layout: _Layout, step: Step, target: int) -> _Layout:
        if step.action == "narrow":
            return replace(layout, narrowed=layout.narrowed | set(step.keys))
        if step.action == "drop":
            return replace(layout, dropped=layout.dropped | set(step.keys))
        key = step.keys[0]
        current = layout.name_width.get(key, self._names_width(key))
        excess = self.width(layout) - target
        width = max(step.min_width, current - excess, 1)
        return replace(layout, name_width={**layout.name_width, key: min(width, current)})

    @staticmethod
    def _undo(layout: _Layout, step: Step) -> _Layout:
        if step.action == "narrow":
            return replace(layout, narrowed=layout.narrowed - set(step.keys))
        if step.action == "drop":
            return replace(layout, dropped=layout.dropped - set(step.keys))
        widths = {k: v for k, v in layout.name_width.items() if k not in step.keys}
        return replace(layout, name_width=widths)

    def layout(self, target: int) -> _Layout:
        """The widest layout that fits ``target`` columns (see the module's rule)."""
        layout = _Layout()
        applied: list[Step] = []
        for step in self.steps:
            if self.width(layout) <= target:
                break
            layout = self._apply(layout, step, target)
            applied.append(step)
        if self.width(layout) > target:
            return replace(layout, fold=True)
        for step in reversed(applied[:-1]):  # most important first
            if step.action == "shorten":
                continue
            trial = self._undo(layout, step)
            if self.width(trial) <= target:
                layout = trial
        for key, width in list(layout.name_width.items()):  # names take back what is left
            slack = target - self.width(layout)
            full = self._names_width(key)
            layout.name_width[key] = min(full, width + max(slack, 0))
        return layout

    def left_out(self, layout: _Layout) -> list[str]:
        """What ``layout`` does not show, as the note names it."""
        out: list[str] = []
        for step in self.steps:
            if step.action == "drop" and set(step.keys) <= layout.dropped:
                out.append(step.label or ", ".join(self._header(k) for k in step.keys))
            elif (
                step.action == "narrow"
                and set(step.keys) <= layout.narrowed
                and not set(step.keys) <= layout.dropped
            ):
                out.append(step.label)
        if layout.name_width and any(
            w < self._names_width(k) for k, w in layout.name_width.items()
        ):
            out.append("the middle of long names")
        return out

    @staticmethod
    def _header_of(column: _Column, layout: _Layout) -> str:
        """The header ``column`` shows in ``layout``."""
        if column.key in layout.narrowed and column.narrow_header is not None:
            return column.narrow_header
        return column.header

    def _header(self, key: str) -> str:
        return next(c.header for c in self.columns if c.key == key).replace("\n", " ")

    def note(self, layout: _Layout, target: int) -> str:
        """One line naming what ``layout`` leaves out and the width that shows it all."""
        missing = self.left_out(layout)
        if not missing:
            return ""
        return f"Left out at {target} columns: {'; '.join(missing)}. All shown at {self.width()}."

    # ------------------------------------------------------------------ Rich protocol

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        target = options.max_width
        layout = self.layout(target)
        if self.title:
            yield Text(self.title, style="table.title")
        lean = self._lean(console, options, layout) if len(self.rows) > LEAN_ROWS else None
        yield self.table(layout) if lean is None else lean
        note = self.note(layout, target)
        if note:
            yield Text(note, style="dim")

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widths = [self.width()]
        if self.title:
            widths += [Text(line).cell_len for line in self.title.splitlines()]
        return Measurement(min(widths), max(widths))

    # ------------------------------------------------------------------ lean path

    def _lean(self, console: Console, options: ConsoleOptions, layout: _Layout) -> _Lines | None:
        """The table of ``layout`` as lines of segments, as Rich would draw it; None where
        only Rich can (see the module's rule)."""
        if layout.fold or self.width(layout) > options.max_width:
            return None
        kept = [i for i, c in enumerate(self.columns) if c.key not in layout.dropped]
        if any(self.columns[i].style for i in kept) or any(r.style for r in self.rows):
            return None
        box = self.box.substitute(options, safe=console.safe_box)
        if not self.show_header:
            box = box.get_plain_headed_box()
        widths = [self._column_width(i, layout) for i in kept]
        # Rich's padding of one space each side: compact tables collapse it to one space
        # between columns and none at the edges (collapse_padding, pad_edge=False)
        lefts = [0 if self.compact else 1] * len(kept)
        rights = [1] * (len(kept) - 1) + [0 if self.compact else 1]
        padded = [w + lefts[j] + rights[j] for j, w in enumerate(widths)]
        justifies = [self.columns[i].justify for i in kept]
        coloured = console.color_system is not None and not console.no_color
        styles: dict[str, Style] = {}

        def style_of(name: str | Style) -> Style | None:
            if isinstance(name, Style):
                return name
            if not name:
                return None
            if name not in styles:
                styles[name] = console.get_style(name)
            return styles[name]

        def line(
            cells: list[Cell], edges: tuple[str, str, str], style: str = ""
        ) -> list[Segment] | None:
            left_edge, right_edge, divider = edges
            parts: list[str] = [left_edge]
            part_styles: list[Style | None] = [None]
            for j, cell in enumerate(cells):
                plain = _plain(cell)
                if "\n" in plain or "\t" in plain or (isinstance(cell, Text) and cell.spans):
                    return None  # more than one line or one style: Rich's to draw
                excess = widths[j] - (len(plain) if plain.isascii() else cell_len(plain))
                justify = justifies[j]
                before = excess if justify == "right" else excess // 2 if justify == "center" else 0
                # as Rich: the justified text in the cell's style, the padding in the row's
                parts += (
                    " " * lefts[j],
                    " " * before + plain + " " * (excess - before),
                    " " * rights[j],
                    divider,
                )
                if coloured:
                    base = style_of(style)
                    own = style_of(cell.style) if isinstance(cell, Text) else None
                    text_style = base + own if base and own else own or base
                    part_styles += (base, text_style, base, None)
            parts[-1] = right_edge  # the last divider is the right edge
            if not coloured:
                return [Segment("".join(parts)), Segment.line()]
            # unstyled neighbours in one segment: a long table's lines stay few objects
            segments: list[Segment] = []
            run: list[str] = []
            for text, part_style in zip(parts, part_styles, strict=True):
                if not text:
                    continue
                if part_style is None:
                    run.append(text)
                    continue
                if run:
                    segments.append(Segment("".join(run)))
                    run = []
                segments.append(Segment(text, part_style))
            if run:
                segments.append(Segment("".join(run)))
            return [*segments, Segment.line()]

        out: list[list[Segment]] = []

        def rule(text: str) -> list[Segment]:
            return [Segment(text), Segment.line()]

        out.append(rule(box.get_top(padded)))
        if self.show_header:
            headers: list[Cell] = [self._header_of(self.columns[i], layout) for i in kept]
            header = line(headers, (box.head_left, box.head_right, box.head_vertical), "bold")
            if header is None:
                return None
            out.append(header)
            out.append(rule(box.get_row(padded, "head", edge=True)))
        last = len(self.rows) - 1
        for index, row in enumerate(self.rows):
            edges = (
                (box.foot_left, box.foot_right, box.foot_vertical)
                if index == last
                else (box.mid_left, box.mid_right, box.mid_vertical)
            )
            drawn = line([self._cell(row.cells[i], self.columns[i], layout) for i in kept], edges)
            if drawn is None:
                return None
            out.append(drawn)
            if row.end_section and index != last:
                out.append(rule(box.get_row(padded, "row", edge=True)))
        out.append(rule(box.get_bottom(padded)))
        return _Lines(out)


class _Lines:
    """Lines of segments already laid out: Rich prints them as they are."""

    def __init__(self, lines: list[list[Segment]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield from line


def is_terminal(console: Console) -> bool:
    """Whether ``console`` prints to a terminal (not ``--output``, a pipe or a file): the
    stream's own answer, which FORCE_COLOR does not change."""
    isatty = getattr(console.file, "isatty", None)
    return bool(isatty is not None and isatty())


def _shown(cell: Cell) -> Cell:
    """A cell with any name in it shown (:func:`sepconv_cli.names.shown`: a newline would
    start a row of its own, an escape sequence recolour the terminal); sepconv's own pass."""
    if isinstance(cell, Text):
        return cell if cell.plain.isprintable() else Text(shown(cell.plain), style=cell.style)
    return shown(cell)


def _text(cell: Cell) -> Text:
    return Text(cell) if isinstance(cell, str) else cell


def _plain(cell: Cell) -> str:
    """The characters a cell shows (Rich's Text drops control codes)."""
    if isinstance(cell, Text):
        return cell.plain
    return cell if cell.isprintable() else strip_control_codes(cell)  # the first: fast


def _cell_width(cell: Cell) -> int:
    plain = _plain(cell)
    if "\n" not in plain:  # the common case, without a Text per line
        return cell_len(plain)
    return max((cell_len(line) for line in plain.splitlines()), default=0)


@functools.cache
def _measuring_console() -> Console:
    return Console(width=_UNLIMITED, file=io.StringIO(), color_system=None)  # measures only
