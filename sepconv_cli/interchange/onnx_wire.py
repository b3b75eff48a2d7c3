"""An ONNX file's protobuf read without the bytes of its large weights.

Counting reads a weight's dims and type, never its values, yet ``onnx.load`` holds every
weight's bytes twice while it parses (the file's bytes, then the message's) and once after.
So the file is not read whole: its protobuf wire format is walked just far enough to
find the tensors that hold weights inline: the graph's initializers (``ModelProto.graph`` →
``GraphProto.initializer``) and its nodes' tensor attributes (``NodeProto.attribute`` →
``AttributeProto.t``: a ``Constant`` node's value, where paddle2onnx keeps its weights).
Each such tensor of more than ``FOLD_LIMIT`` elements (the rule by which
sepconv leaves a weight's value unread everywhere else) is written without its ``raw_data``,
as a tensor whose data lives *externally, in the model file itself*, at the
offset where its bytes are: ONNX's own external-data fields (``location``, ``offset``,
``length``), which every reader in sepconv already follows
(:func:`~sepconv_cli.interchange.onnx_load.tensor_array` reads the value on demand; the
validation checks the length against the dims). Those bytes are never read, so a 100 MB
model costs its graph, not its weights.

Everything else is copied byte for byte (subgraphs, other fields, fields this module does
not know), so the message parsed is the file's but for those bytes. Any surprise in the
wire format gives None, and the caller reads the file with ``onnx.load``, which says what is
wrong with it in its own words.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, overload

from sepconv_cli.interchange.onnx_load import FOLD_LIMIT

SMALLEST_SKIPPED = FOLD_LIMIT // 2
"""The fewest bytes a skipped tensor's ``raw_data`` holds (more than ``FOLD_LIMIT`` values of
4 bits at least): a message shorter than that holds none, and is copied without a look
inside."""

_LENGTH_DELIMITED = 2
_FIXED_SIZES = {1: 8, 5: 4}  # wire types 1 (64-bit) and 5 (32-bit)
# field numbers of onnx.proto3 on the path down to the tensors
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER = 1, 5
_NODE_ATTRIBUTE = 5
_ATTRIBUTE_TENSOR = 5
_TENSOR_DIMS, _TENSOR_RAW_DATA, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 1, 9, 13, 14
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class _Malformed(Exception):
    """The bytes are not the wire format this walk expects: onnx.load reads them instead."""


def slim_model_bytes(path: Path) -> bytes | None:
    """The ModelProto bytes of ``path`` with every large inline weight moved, by reference,
    to the file itself (module docstring); None when the file cannot be walked so (empty,
    not protobuf, a symbolic link, a field this walk cannot follow)."""
    if path.is_symlink() or not path.is_file():
        return None  # external data is read relative to the link's folder, not the file's
    try:
        with open(path, "rb") as handle:
            data = _File(handle, os.fstat(handle.fileno()).st_size)
            out = bytearray()
            _Walker(path.name).model(data, 0, data.size, out)
            return bytes(out)
    except (OSError, _Malformed):
        return None


class _File:
    """A file's bytes by position, read as asked (``file[i]``, ``file[a:b]``) through one
    cached block: the walk reads the messages' structure and copies what it keeps, and the
    bytes it skips are never read (a mapped file's pages would count as the process's
    memory once touched, and the kernel maps its neighbours with each)."""

    BLOCK = 64 << 10

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle, self.size = handle, size
        self.block_at, self.block = 0, b""

    def _read(self, at: int, count: int) -> bytes:
        if count <= 0 or at < 0:  # read(-1) would read the rest of the file
            raise _Malformed
        self.handle.seek(at)  # seek and read, not os.pread: Windows has no pread
        data = self.handle.read(count)
        if len(data) != count:  # past the end: the file changed under the walk
            raise _Malformed
        return data

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> bytes: ...
    def __getitem__(self, index: int | slice) -> int | bytes:
        if isinstance(index, slice):
            start, stop = index.start, index.stop
            offset = start - self.block_at
            if offset >= 0 and stop - self.block_at <= len(self.block):
                return self.block[offset : stop - self.block_at]
            return self._read(start, stop - start)
        offset = index - self.block_at
        if not 0 <= offset < len(self.block):
            self.block_at = index
            self.block = self._read(index, min(self.BLOCK, self.size - index))
            offset = 0
        return self.block[offset]


Rewrite = Callable[[_File, int, int, bytearray], None]


def _varint(data: _File, at: int, end: int) -> tuple[int, int]:
    """The varint at ``at`` and the position after it."""
    value = shift = 0
    while True:
        if at >= end or shift > 63:
            raise _Malformed
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: _File, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Each field in ``data[start:end]``: its number, wire type, where its tag starts, where
    its value (after a length, for a length-delimited one) starts, and where it ends."""
    at = start
    while at < end:
        tag_at = at
        tag, at = _varint(data, at, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed
        if wire == 0:
            _, stop = _varint(data, at, end)
        elif wire == _LENGTH_DELIMITED:
            length, at = _varint(data, at, end)
            stop = at + length
        elif wire in _FIXED_SIZES:
            stop = at + _FIXED_SIZES[wire]
        else:  # groups (3, 4) are not in onnx.proto, and 6, 7 are no wire type
            raise _Malformed
        if stop > end:
            raise _Malformed
        yield number, wire, tag_at, at, stop
        at = stop


def _elements(data: _File, fields: list[tuple[int, int, int, int, int]]) -> int:
    """The number of elements a TensorProto's ``dims`` (field 1, packed or not) make."""
    count = 1
    for number, wire, _, at, stop in fields:
        if number != _TENSOR_DIMS:
            continue
        if wire == 0:
            dim, _ = _varint(data, at, stop)
            count *= dim
        elif wire == _LENGTH_DELIMITED:
            while at < stop:
                dim, at = _varint(data, at, stop)
                count *= dim
        else:
            raise _Malformed
    return count


def _write_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _write_string(out: bytearray, number: int, text: bytes) -> None:
    _write_varint(out, number << 3 | _LENGTH_DELIMITED)
    _write_varint(out, len(text))
    out += text


class _Walker:
    """Copies a ModelProto, descending only where a large tensor can be."""

    def __init__(self, location: str) -> None:
        self.location = location.encode()

    def _copy(
        self, data: _File, start: int, end: int, out: bytearray, into: dict[int, Rewrite]
    ) -> None:
        """Each field copied as it is, but a length-delimited one named in ``into`` and long
        enough to hold a large tensor, which its rewrite copies."""
        for number, wire, tag_at, at, stop in _fields(data, start, end):
            rewrite = into.get(number)
            if rewrite is None or wire != _LENGTH_DELIMITED or stop - at <= SMALLEST_SKIPPED:
                out += data[tag_at:stop]
                continue
            inner = bytearray()
            rewrite(data, at, stop, inner)
            _write_varint(out, number << 3 | _LENGTH_DELIMITED)
            _write_varint(out, len(inner))
            out += inner

    def model(self, data: _File, start: int, end: int, out: bytearray) -> None:
        self._copy(data, start, end, out, {_MODEL_GRAPH: self.graph})

    def graph(self, data: _File, start: int, end: int, out: bytearray) -> None:
        into: dict[int, Rewrite] = {_GRAPH_NODE: self.node, _GRAPH_INITIALIZER: self.tensor}
        self._copy(data, start, end, out, into)

    def node(self, data: _File, start: int, end: int, out: bytearray) -> None:
        self._copy(data, start, end, out, {_NODE_ATTRIBUTE: self.attribute})

    def attribute(self, data: _File, start: int, end: int, out: bytearray) -> None:
        tensors = sum(1 for field in _fields(data, start, end) if field[0] == _ATTRIBUTE_TENSOR)
        if tensors > 1:  # parts of one tensor, which protobuf merges: kept as written
            out += data[start:end]
            return
        self._copy(data, start, end, out, {_ATTRIBUTE_TENSOR: self.tensor})

    def tensor(self, data: _File, start: int, end: int, out: bytearray) -> None:
        """The tensor without its ``raw_data``, which becomes external data at its offset in
        the model file; as it is when it holds its bytes otherwise or already lives
        elsewhere (the validation judges such a tensor from the file as written)."""
        fields = list(_fields(data, start, end))
        raw = [f for f in fields if f[0] == _TENSOR_RAW_DATA]
        elsewhere = any(f[0] in (_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION) for f in fields)
        small = not raw or _elements(data, fields) <= FOLD_LIMIT
        if len(raw) != 1 or raw[0][1] != _LENGTH_DELIMITED or elsewhere or small:
            out += data[start:end]
            return
        _, _, _, at, stop = raw[0]
        for number, _, tag_at, _, field_end in fields:
            if number != _TENSOR_RAW_DATA:
                out += data[tag_at:field_end]
        for key, value in (
            (b"location", self.location),
            (b"offset", str(at).encode()),
            (b"length", str(stop - at).encode()),
        ):
            entry = bytearray()
            _write_string(entry, 1, key)
            _write_string(entry, 2, value)
            _write_string(out, _TENSOR_EXTERNAL_DATA, bytes(entry))
        _write_varint(out, _TENSOR_DATA_LOCATION << 3)
        _write_varint(out, _EXTERNAL)
