"""``export-spec``'s safety net (issue 21, item 5): the spec it wrote, read back, counts what
the file counts, or nothing is written.

Rules:

- The spec text is loaded with the spec reader and built, as ``profile SPEC`` does; its
  three forms' total MACs and parameters (as specified, standard, separable) are compared
  with the file's, as ``profile FILE`` counts them. Equal in all six: the text is written.
- Any difference is a sepconv bug, not a fault of the file (a spec that would be partial
  is refused before, naming its node): a :class:`RoundTripError` (exit 3), one line naming
  the first form that differs (as specified, then standard, then separable; MACs before
  parameters), both totals, and the first row whose counts in that form have no equal on
  the other side (the spec's rows in order, then the file's), and the output file is not
  written.
- A spec written with ``--partial`` and a part not expressed counts a lower bound by
  design: it is not checked.
- A row is matched by its (MACs, parameters) in the form, not by its name or place: the
  spec's rows have the walk's names and its data order, the file's the graph's.
"""

from __future__ import annotations

from collections import Counter

from sepconv_cli.counting.network import Model
from sepconv_cli.counting.report import LayerReport, profile_report
from sepconv_cli.errors import EXIT_RUNTIME, SepconvError

FORMS = ("as specified", "standard", "separable")


class RoundTripError(SepconvError):
    """The written spec does not count what the file counts: a sepconv bug (exit 3)."""

    exit_code = EXIT_RUNTIME


def spec_model(text: str, display: str) -> Model:
    """The spec ``text`` read and built as ``profile`` reads and builds a spec file."""
    import gc

    from sepconv_cli.counting.network import build
    from sepconv_cli.spec.reader import load_yaml_or_error, model_from_document
    from sepconv_cli.spec.yaml_loader import loads

    paused = gc.isenabled()
    gc.disable()  # as presets.load_model: the tree it builds lives on
    try:
        spec = model_from_document(load_yaml_or_error(lambda: loads(text, display)))
    finally:
        if paused:
            gc.enable()
    return build(spec)


def _counts(layer: LayerReport, form: int) -> tuple[int, int]:
    cost = (layer.as_specified, layer.standard, layer.separable.total)[form]
    return cost.macs, cost.params


def check_round_trip(text: str, counted: Model, display: str) -> None:
    """Raise :class:`RoundTripError` when the spec ``text`` does not count ``counted``'s
    totals in every form (module rules); ``display`` names the file in the message."""
    try:
        written = spec_model(text, display)
    except SepconvError as exc:  # the spec does not even load: the same bug, said so
        raise RoundTripError(
            f"{display}: sepconv bug: the spec export-spec wrote does not load ({exc}); "
            "nothing written"
        ) from None
    file_report, spec_report = profile_report(counted), profile_report(written)
    ours = (file_report.totals.as_specified, file_report.totals.standard)
    theirs = (spec_report.totals.as_specified, spec_report.totals.standard)
    totals = [
        *zip(ours, theirs, strict=True),
        (file_report.totals.separable, spec_report.totals.separable),
    ]
    for form, (file_total, spec_total) in enumerate(totals):
        for what in ("macs", "params"):
            a, b = getattr(file_total, what), getattr(spec_total, what)
            if a == b:
                continue
            row = _first_unmatched(file_report.layers, spec_report.layers, form)
            unit = "MACs" if what == "macs" else "params"
            raise RoundTripError(
                f"{display}: sepconv bug: {FORMS[form]}, the written spec counts {b:,} "
                f"{unit}, the file {a:,} (first differing row: {row}); nothing written"
            )


def _first_unmatched(
    file_rows: tuple[LayerReport, ...], spec_rows: tuple[LayerReport, ...], form: int
) -> str:
    """The first spec row whose (MACs, params) in ``form`` no file row has (each file row
    matches once), else the first such file row; rows counting nothing are passed over."""
    return (
        _first_alone(spec_rows, file_rows, form, "spec")
        or _first_alone(file_rows, spec_rows, form, "file")
        or "none alone: the rows differ only in sum"
    )


def _first_alone(
    rows: tuple[LayerReport, ...], others: tuple[LayerReport, ...], form: int, side: str
) -> str | None:
    """The first of ``rows`` whose counts in ``form`` none of ``others`` has (each of them
    matching once), as ``side row 'name': …``; None when every one is matched."""
    left = Counter(_counts(r, form) for r in others)
    for layer in rows:
        key = _counts(layer, form)
        if key == (0, 0):
            continue
        if left[key]:
            left[key] -= 1
            continue
        return f"{side} row {layer.row.name!r}: {key[0]:,} MACs, {key[1]:,} params"
    return None
