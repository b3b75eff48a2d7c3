"""A loaded YAML document is freed as soon as its last reference goes, without the cyclic
collector: its builder keeps no reference cycle (spec/presets.py forces no collection after
a load, so a cycle would keep a big document's positions alive until one ran)."""

from __future__ import annotations

import gc
import weakref

from sepconv_cli.spec.yaml_loader import loads


def test_document_is_freed_by_reference_counting() -> None:
    text = "input: [8, 8, 4]\nlayers:\n" + "  - {type: conv, kernel: 3, filters: 8}\n" * 50
    enabled = gc.isenabled()
    gc.disable()
    try:
        doc = loads(text, "m.yaml")
        assert doc.positions  # a position for every value
        gone = weakref.ref(doc)
        del doc
        assert gone() is None
    finally:
        if enabled:
            gc.enable()
