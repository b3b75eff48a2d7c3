"""Built-in model specs shipped in ``layer_specs/`` (installed as ``sepconv_cli.layer_specs``)."""

from __future__ import annotations

import difflib
import gc
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sepconv_cli.errors import UsageError
from sepconv_cli.spec.layers import ModelSpec
from sepconv_cli.spec.reader import load_yaml_or_error, model_from_document
from sepconv_cli.spec.yaml_loader import load


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    path: Path


def preset_dir() -> Path:
    """Installed: the ``sepconv_cli.layer_specs`` package data. Run from a source checkout
    without installing (``python -m sepconv_cli`` in the repository), ``layer_specs/``
    beside the package."""
    try:
        return Path(str(resources.files("sepconv_cli.layer_specs")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "layer_specs"


def preset_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted(preset_dir().glob("*.yaml"))}


def list_presets() -> list[Preset]:
    out = []
    for name, path in preset_paths().items():
        spec = load_model(path, display=f"preset {name}")
        out.append(Preset(name, spec.description or spec.source, path))
    return out


def load_model(path: Path, display: str | None = None) -> ModelSpec:
    """The spec in ``path``. Loading builds a tree of small objects that all live on, so
    Python's cyclic collector, which would traverse the growing tree again and again (a
    third of a 10,000-layer load), is paused while it is built. No collection is forced
    afterwards: the document (a position for every value) is acyclic and freed as soon as
    the spec is read, and a full collection then (a tenth of a second at 10,000 layers,
    for about 30 objects of the parser's) would traverse every live object of the process."""
    paused = gc.isenabled()
    gc.disable()
    try:
        doc = load_yaml_or_error(lambda: load(path, display))
        return model_from_document(doc)
    finally:
        if paused:
            gc.enable()


def resolve_model(ref: str, flag: str = "MODEL") -> ModelSpec:
    """A model spec from a file path, or a preset name (``mobilenet_v1``)."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in ref:
        if not path.exists():
            raise UsageError(f"{flag}: no such file: {ref}")
        return load_model(path)
    presets = preset_paths()
    if ref in presets:
        return load_model(presets[ref], display=f"{presets[ref]}")
    close = difflib.get_close_matches(ref, presets, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(
        f"{flag}: {ref!r} is neither a file nor a preset{hint}; presets: {', '.join(presets)}"
    )
