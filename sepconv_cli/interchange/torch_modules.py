"""PyTorch modules as models: ``torchvision:NAME``, ``timm:NAME`` and
``path/to/model.py:CALLABLE`` (a function or class returning an ``nn.Module``, or a module
instance), exported with ``torch.onnx.export`` to a temporary file and read as that file is.

torch is never a dependency of sepconv, and is imported only here, only when a reference
names a module. Weights are never downloaded: torchvision builds its models with
``weights=None``, timm with ``pretrained=False`` (counts do not depend on weight values).

The export is TorchScript's (``dynamo=False``): it runs without onnxscript, takes a few
seconds where the dynamo exporter takes several times as long, and names each node by its
module path (``/features/features.0/features.0.0/Conv``), which the ONNX reader turns into
row names (``features.0.0``); the dynamo exporter's are ``node_Conv_672``. The module is in
eval mode and exported as it is (``TrainingMode.PRESERVE``): each batch-norm stays a node
beside its convolution, so the file's parameters are the module's own, ``sum(p.numel())``,
where ``TrainingMode.EVAL`` folds them into the convolutions (one bias per channel, not a
batch-norm's two). No constant folding: it changes no count here and takes most of the
export's time.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.converted import Converted, one_line, temporary_onnx
from sepconv_cli.interchange.onnx_load import Shape

ZOOS = ("torchvision", "timm")
OPSET = 17
INPUT_NAME = "input"  # the exported graph's input, unless --input-shape names it
IMAGENET = (1, 3, 224, 224)  # a classification model's input where nothing says otherwise
TORCH_LINE = "pip install torch (the CPU-only build is enough)"
Said = tuple[Shape, str] | None  # the input shape a model states, and where it states it


def is_torch_module(ref: str) -> bool:
    """Whether ``ref`` names a PyTorch module: ``torchvision:NAME``, ``timm:NAME``,
    ``model.py:CALLABLE`` (or a bare ``model.py``, refused with how to name its callable).
    A test of the text alone: nothing is imported."""
    zoo, sep, _ = ref.partition(":")
    if sep and zoo in ZOOS:
        return True
    file, sep, _ = ref.rpartition(":")
    return ref.lower().endswith(".py") or (bool(sep) and file.lower().endswith(".py"))


@contextmanager
def exported(
    ref: str, input_shapes: dict[str, Shape], batch: int | None = None
) -> Iterator[Converted]:
    """The module ``ref`` names, exported to a temporary ONNX file (deleted afterwards).
    ``input_shapes`` (``--input-shape NAME=DIMS``, batch first) are the module's inputs in
    order, each graph input named as given; none: the one input the model says (its weights'
    or timm's input size) or 1x3x224x224. ``batch`` (``--batch``) sets that default's batch;
    it must agree with shapes given."""
    if ref.partition(":")[0] not in ZOOS:
        _file_ref(ref)  # a mistyped reference says so before torch loads (seconds)
    torch = _import("torch", ref, TORCH_LINE)
    module, name, says = _build(torch, ref)  # says: (an input shape, where it is from)
    shapes, notes = _inputs(ref, input_shapes, batch, says)
    with temporary_onnx(name) as path:
        _export(torch, module, shapes, path, ref, bool(input_shapes))
        yield Converted(
            path=path,
            ref=ref,
            name=name,
            source=f"PyTorch module {ref}, exported by torch {torch.__version__} "
            f"(TorchScript exporter, opset {OPSET})",
            notes=tuple(notes),
        )


def _import(package: str, ref: str, install: str) -> ModuleType:
    """``package``, or one line: what needs it and how to install it."""
    try:
        return import_module(package)
    except ImportError as exc:
        raise UsageError(
            f"{ref}: a PyTorch module needs {package}, which is not installed "
            f"({exc.msg}): {install}; sepconv never installs it"
        ) from None


def _import_torchvision(torch: Any, ref: str) -> ModuleType:
    """torchvision (timm imports it too), its import made to tolerate a failed fake-kernel
    registration.

    On import torchvision registers "fake" (shape-only) kernels for its compiled C++ ops
    (``torchvision::nms``, ``roi_align``, ...) with ``torch.library.register_fake``. Where
    its compiled extension does not match the installed torch (a wheel built for another
    torch, or installed with ``--no-deps``), those ops do not exist and the registration
    raises ``operator torchvision::nms does not exist``, failing the whole import, although
    the models sepconv builds are pure Python and never call those ops. For the import
    alone, and for that call alone, a refused registration leaves the op unregistered;
    ``register_fake`` is restored afterwards."""
    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    register_fake = torch.library.register_fake

    def tolerant(*args: Any, **kwargs: Any) -> Any:
        try:
            decorate = register_fake(*args, **kwargs)
        except Exception:  # the op does not exist: leave it unregistered
            return lambda fn: fn

        def apply(fn: Any) -> Any:
            try:
                return decorate(fn)
            except Exception:
                return fn

        return apply

    torch.library.register_fake = tolerant
    try:
        return _import("torchvision", ref, "pip install torchvision")
    finally:
        torch.library.register_fake = register_fake


def _build(torch: Any, ref: str) -> tuple[Any, str, Said]:
    """(the module in eval mode, its name in reports, the input shape it states, if any)."""
    zoo, _, name = ref.partition(":")
    if zoo == "torchvision":
        return _torchvision(torch, ref, name)
    if zoo == "timm":
        return _timm(torch, ref, name)
    return _from_file(torch, ref)


def _unknown(ref: str, zoo: str, name: str, known: list[str]) -> UsageError:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    hint = f"close matches: {', '.join(close)}" if close else f"{len(known)} models, none close"
    return UsageError(f"{ref}: {zoo} has no model {name!r} ({hint})")


def _torchvision(torch: Any, ref: str, name: str) -> tuple[Any, str, Said]:
    models = _import_torchvision(torch, ref).models
    known = sorted(models.list_models())
    if name not in known:
        raise _unknown(ref, "torchvision", name, known)
    builder = models.get_model_builder(name)
    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None  # detection, segmentation: no backbone download
    module = _call(lambda: builder(**kwargs), ref, f"torchvision.models.{name}(weights=None)")
    return module.eval(), name, _torchvision_input(models, name, module)


def _torchvision_input(models: Any, name: str, module: Any) -> Said:
    """A classification model's input: its own fixed size (a ViT's ``image_size``), else
    the crop its weights were trained at (299 for Inception, 600 for EfficientNet-B7), read
    from the weights' description: nothing is downloaded."""
    size = getattr(module, "image_size", None)
    if isinstance(size, int):
        return (1, 3, size, size), "its image_size"
    try:
        preset = models.get_model_weights(name).DEFAULT.transforms
    except Exception:  # no weights published: nothing says
        return None
    crop = getattr(preset, "keywords", {}).get("crop_size")
    if getattr(getattr(preset, "func", None), "__name__", "") != "ImageClassification":
        return None  # video, detection, segmentation: not one image of a fixed size
    return ((1, 3, crop, crop), "its weights' crop size") if isinstance(crop, int) else None


def _timm(torch: Any, ref: str, name: str) -> tuple[Any, str, Said]:
    with suppress(UsageError):  # timm imports torchvision: with the same tolerance
        _import_torchvision(torch, ref)
    timm = _import("timm", ref, "pip install timm")
    if not timm.is_model(name):
        raise _unknown(ref, "timm", name, timm.list_models())
    module = _call(
        lambda: timm.create_model(name, pretrained=False),
        ref,
        f"timm.create_model({name!r}, pretrained=False)",
    )
    return module.eval(), name, _timm_input(module)


def _timm_input(module: Any) -> Said:
    """A timm model's ``pretrained_cfg['input_size']`` (C, H, W), batch 1."""
    size = (getattr(module, "pretrained_cfg", None) or {}).get("input_size")
    if isinstance(size, (tuple, list)) and all(isinstance(d, int) and d > 0 for d in size):
        return (1, *size), "its pretrained_cfg input_size"
    return None


def _file_ref(ref: str) -> tuple[Path, str]:
    """``model.py:NAME`` → (the file, NAME), or one line saying what is wrong with it."""
    file, sep, attr = ref.rpartition(":")
    if not sep or not file.lower().endswith(".py"):
        raise UsageError(
            f"{ref}: name what builds the module after the file: {ref}:NAME (a function or "
            "class returning a torch.nn.Module, or a module instance)"
        )
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"{ref}: no such file: {file}")
    if not attr.isidentifier():
        raise UsageError(f"{ref}: {attr!r} is not a Python name (expected {file}:NAME)")
    return path, attr


def _from_file(torch: Any, ref: str) -> tuple[Any, str, Said]:
    """``model.py:NAME``: the file run as a module (its folder importable while it runs),
    then NAME: an ``nn.Module``, or called without arguments to return one."""
    path, attr = _file_ref(ref)
    file = str(path)
    code = _run_file(path, ref)
    if not hasattr(code, attr):
        public = sorted(n for n, v in vars(code).items() if callable(v) and not n.startswith("_"))
        there = f"its names: {', '.join(public[:8])}" if public else "it defines none"
        raise UsageError(f"{ref}: {file} has no {attr!r} ({there})")
    found = getattr(code, attr)
    nn_module = torch.nn.Module
    module = found
    if not isinstance(found, nn_module):
        if not callable(found):
            raise UsageError(
                f"{ref}: {attr} is a value of type {type(found).__name__}, not a torch.nn.Module "
                "or a function or class returning one"
            )
        module = _call(found, ref, f"{attr}()")
    if not isinstance(module, nn_module):
        raise UsageError(
            f"{ref}: {attr}() returned a value of type {type(module).__name__}, not a "
            "torch.nn.Module"
        )
    return module.eval(), path.stem, _timm_input(module)


def _run_file(path: Path, ref: str) -> ModuleType:
    """``path`` executed as a fresh module (never cached: another file of the same name
    is another module); an exception in it is one line."""
    name = f"sepconv_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{ref}: cannot load {path} as Python")
    code = importlib.util.module_from_spec(spec)
    sys.modules[name] = code  # as an import would: dataclasses and pickling look it up
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # its own helper modules, beside it
    try:
        spec.loader.exec_module(code)
    except (Exception, SystemExit) as exc:  # the user's code: what it raises is its failure
        raise UsageError(f"{ref}: running {path} failed: {one_line(exc)}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return code


def _call(build: Callable[[], Any], ref: str, what: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build()
    except Exception as exc:
        raise UsageError(f"{ref}: {what} failed: {one_line(exc)}") from None


def _inputs(
    ref: str, given: dict[str, Shape], batch: int | None, says: Said
) -> tuple[dict[str, Shape], list[str]]:
    """The export's inputs by name, and a note when sepconv chose the shape."""
    if given:
        named = {name or INPUT_NAME: shape for name, shape in given.items()}
        if batch is not None and any(s[0] != batch for s in named.values()):
            raise UsageError(
                f"--batch {batch}: contradicts --input-shape's batch (its first size): "
                "give one or the other"
            )
        return named, []
    shape, why = says or (IMAGENET, "an image classifier's usual input")
    if batch is not None:
        shape = (batch, *shape[1:])
    dims = "x".join(map(str, shape))
    return {INPUT_NAME: shape}, [
        f"sepconv: note: {ref}: input {dims} ({why}; --input-shape {INPUT_NAME}=NxCxHxW to change)"
    ]


def _export(
    torch: Any, module: Any, shapes: dict[str, Shape], path: Path, ref: str, given: bool
) -> None:
    """``module`` on zero inputs of ``shapes``, written to ``path`` (one line on failure)."""
    inputs = tuple(torch.zeros(*shape) for shape in shapes.values())
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation, tracer's
            torch.onnx.export(
                module,
                inputs,
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=list(shapes),
                training=torch.onnx.TrainingMode.PRESERVE,
                do_constant_folding=False,
            )
    except Exception as exc:  # whatever the tracer or exporter refuses
        shown = ", ".join(f"{n}={'x'.join(map(str, s))}" for n, s in shapes.items())
        hint = (
            ""
            if given
            else f"; give the input it takes, batch first: --input-shape {INPUT_NAME}=DIMS"
        )
        raise UsageError(
            f"{ref}: torch.onnx.export failed on input {shown}: {one_line(exc)}{hint}"
        ) from None
