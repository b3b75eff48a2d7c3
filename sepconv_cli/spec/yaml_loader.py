"""Safe, bounded YAML loading that remembers where every value came from.

Only plain data is built: mappings, sequences, strings, ints, floats, booleans and null.
Python object tags and other non-standard tags are refused, never constructed. Limits on
file size, nesting depth and node count (aliases count every time they are expanded) make
anchor/alias bombs and deeply nested documents fail fast with bounded memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"

PathKey = tuple[str | int, ...]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def path_text(path: PathKey) -> str:
    """``("layers", 2, "kernel")`` → ``layers[2].kernel``; odd keys quoted (``["a\\nb"]``),
    so a message stays on one line whatever the file's keys contain."""
    out = ""
    for part in path:
        out = extend_path_text(out, part)
    return out


def extend_path_text(text: str, part: str | int) -> str:
    """The :func:`path_text` of a path one ``part`` longer than the one ``text`` renders
    (a reader naming every field of a layer extends the layer's text, not rebuilds it)."""
    if isinstance(part, int):
        return f"{text}[{part}]"
    if _NAME.match(part):
        return f"{text}.{part}" if text else part
    return f"{text}[{part[:60]!r}]"


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class YamlError(ValueError):
    """The file cannot be read as a YAML document within the limits."""

    def __init__(self, message: str, mark: Mark | None = None, file: str = "") -> None:
        self.mark = mark
        where = str(mark) if mark else file
        super().__init__(f"{where}: {message}" if where else message)


@dataclass
class Document:
    """Plain data plus the position of every value (``positions``) and mapping key (``keys``)."""

    data: Any
    file: str
    # 0-based (line, column) as the parser reports them; Marks are made only when asked for
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def mark(self, path: PathKey) -> Mark | None:
        """Position of ``path``'s value, else of the nearest enclosing value that has one."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found:
                return Mark(self.file, found[0] + 1, found[1] + 1)
        return None

    def key_mark(self, path: PathKey) -> Mark | None:
        """Position of the key naming ``path`` (for unknown-key errors), else of its value."""
        found = self.keys.get(path)
        return Mark(self.file, found[0] + 1, found[1] + 1) if found else self.mark(path)


def read_text(path: Path) -> str:
    """Read a spec file as UTF-8 text, refusing directories, binaries and oversized files."""
    name = str(path)
    if not path.exists():
        raise YamlError("no such file", file=name)
    if path.is_dir():
        raise YamlError("is a directory, not a YAML file", file=name)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlError(f"cannot read: {exc.strerror or exc}", file=name) from None
    if len(raw) > MAX_FILE_BYTES:
        raise YamlError(
            f"file is larger than the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit", file=name
        )
    if b"\x00" in raw:
        raise YamlError("binary file (contains NUL bytes), expected YAML text", file=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text (invalid byte at offset {exc.start})", file=name) from None


def load(path: Path, display_name: str | None = None) -> Document:
    """Load one YAML document from ``path``."""
    return loads(read_text(path), display_name or str(path))


def loads(text: str, file: str = "<string>") -> Document:
    """Parse ``text`` as one YAML document with positions; empty documents are errors.

    One pass over the parser's event stream (no recursive composer, so nesting depth is
    checked before it can matter). libyaml parses where PyYAML was built with it, else
    PyYAML's pure-Python parser; both give the same documents, positions and errors:

    * the events, and so the values, positions and our own limits' errors, are the same;
    * a syntax error is worded, and sometimes placed, differently by libyaml, so a file
      libyaml refuses within its first ``REPARSE_BYTES`` is read again by the pure-Python
      parser, whose error (or limit) is the one reported. The pure parser stops at the
      same error, so this costs at most a pure parse of ``REPARSE_BYTES``; past it,
      libyaml's own wording is kept rather than spend seconds re-reading a broken file;
    * libyaml takes a tab after ``key:`` as a separator where PyYAML refuses it, so a
      text with a tab (up to ``REPARSE_BYTES``) is parsed by the pure parser alone;
    * libyaml scans ahead and can meet its own nesting limit (1000) before our builder sees
      our 65th level; the text it had read then nests past our limit, so libyaml reads
      that text again alone (below its limit now) and our limit's error, at the event the
      pure parser would stop at, is reported. (The pure parser is quadratic in flow
      nesting: re-reading 1000 levels with it takes most of a second.)
    """
    import yaml  # imported here: counting from flags never needs it

    parser = _loader()
    pure = yaml.SafeLoader
    if "\t" in text and len(text) <= REPARSE_BYTES:
        parser = pure  # libyaml reads "key:<tab>value", PyYAML refuses it: PyYAML decides
    try:
        return _parse(text, file, parser)
    except _SyntaxFailure as failure:
        if parser is not pure and failure.too_deep:
            try:
                _parse(text[: failure.index], file, parser)
            except YamlError as ours:  # our limit, met before the cut's own syntax error
                raise ours from None
            except _SyntaxFailure:
                pass
        if parser is not pure and failure.index <= REPARSE_BYTES:
            try:
                _parse(text, file, pure)  # raises a limit's YamlError itself
            except _SyntaxFailure as again:
                raise again.error from None
        raise failure.error from None


# a file libyaml refuses this early is read again by the pure parser for its wording (about
# 0.1 s per 10 KiB on a slow machine: under a second)
REPARSE_BYTES = 64 * 1024


class _SyntaxFailure(Exception):
    """The parser refused the text: ``error`` to report, at character ``index``."""

    def __init__(self, error: YamlError, index: int, too_deep: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.index = index
        self.too_deep = too_deep  # libyaml's own nesting limit


def _parse(text: str, file: str, parser: Any) -> Document:
    import yaml

    builder = _EventBuilder(file)
    try:
        # the pure parser checks every character as it is built, libyaml as it reads
        loader = parser(text)
    except yaml.reader.ReaderError as exc:
        raise _SyntaxFailure(_unreadable(exc, text, file), exc.position) from None
    try:
        builder.run(loader.get_event)
    except yaml.reader.ReaderError as exc:
        raise _SyntaxFailure(_unreadable(exc, text, file), exc.position) from None
    except yaml.MarkedYAMLError as exc:
        mark = _mark(file, exc.problem_mark) if exc.problem_mark else None
        index = exc.problem_mark.index if exc.problem_mark else len(text)
        too_deep = "nesting depth" in str(exc.problem)
        error = YamlError(_syntax_problem(exc), mark, file)
        raise _SyntaxFailure(error, index, too_deep) from None
    except yaml.YAMLError as exc:
        error = YamlError(f"YAML error: {str(exc).splitlines()[0]}", file=file)
        raise _SyntaxFailure(error, len(text)) from None
    finally:
        loader.dispose()
    return builder.document()


def _unreadable(exc: Any, text: str, file: str) -> YamlError:
    """A character YAML does not allow in a file (a control character, ESC included), at
    its line and column, in one wording for both parsers (libyaml says "control", the pure
    one "special")."""
    position = max(0, min(int(exc.position), len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    return YamlError(
        f"YAML error: character #x{code:04x} is not allowed in YAML text (a control character)",
        Mark(file, line, column),
        file,
    )


def _syntax_problem(exc: Any) -> str:
    problem = str(exc.problem or exc.context)
    if "nesting depth" in problem:  # libyaml's own guard (1000), met while scanning ahead
        return f"nesting deeper than the limit of {MAX_DEPTH} levels"
    if "tab character" in problem or "'\\t'" in problem:
        # libyaml: "found a tab character that violates indentation"; pure PyYAML:
        # "found character '\t' that cannot start any token" (after "key:" too)
        return (
            "YAML syntax error: a tab character; tabs are not allowed in YAML "
            "indentation (indent with spaces)"
        )
    return f"YAML syntax error: {problem}"


def _loader() -> Any:
    """libyaml's parser when PyYAML was built with it (10-20x faster), else pure Python.
    Either only parses here: building values is ours (plain data only)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mark(file: str, mark: Any) -> Mark:
    return Mark(file, mark.line + 1, mark.column + 1)


class _Frame:
    """An open mapping or sequence while its events arrive."""

    __slots__ = ("anchor", "deepest", "depth", "key", "key_start", "nodes_before", "path", "value")

    def __init__(
        self,
        value: dict[str, Any] | list[Any],
        path: PathKey,
        anchor: str | None,
        nodes_before: int,
        depth: int,
    ) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.nodes_before = nodes_before
        self.depth = depth  # nesting level of this container (1 = the root)
        self.deepest = depth  # deepest level reached inside it, aliases included
        self.key: str | None = None  # mappings: the key waiting for its value
        self.key_start: Any = None


class _EventBuilder:
    """Builds plain data from parser events with positions and limits.

    Every node counts towards MAX_NODES, and an alias counts the whole subtree it repeats,
    so anchor/alias bombs stop early. Only the standard scalar types are constructed (with
    PyYAML's YAML 1.1 rules); any other tag is refused.

    Per event the work is constant: a dict dispatch on the event's type, and an untagged
    plain scalar resolved once per distinct text (``plain``: resolution reads only the
    text, and the values built are immutable), since a big spec repeats the same few
    values (``3``, ``same``, ``conv``) tens of thousands of times.
    """

    def __init__(self, file: str) -> None:
        import yaml
        from yaml.resolver import Resolver

        self.yaml = yaml
        self.doc = Document(data=None, file=file)
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.documents = 0
        self.root_set = False
        # anchor name -> (value, nodes in its subtree, levels of nesting it adds)
        self.anchors: dict[str, tuple[Any, int, int]] = {}
        self.resolver = Resolver()
        constructor = yaml.SafeLoader("")
        self.scalars = {
            "tag:yaml.org,2002:int": constructor.construct_yaml_int,
            "tag:yaml.org,2002:float": constructor.construct_yaml_float,
            "tag:yaml.org,2002:bool": constructor.construct_yaml_bool,
            "tag:yaml.org,2002:null": constructor.construct_yaml_null,
        }
        self.plain: dict[str, Any] = {}  # untagged plain scalar text -> its value
        self.positions = self.doc.positions
        self.keys = self.doc.keys

    def error(self, message: str, event: Any) -> YamlError:
        return YamlError(message, _mark(self.doc.file, event.start_mark))

    def document(self) -> Document:
        if not self.root_set:
            raise YamlError("empty document", file=self.doc.file)
        return self.doc

    def run(self, get_event: Any) -> None:
        """Feed every event ``get_event`` gives until it gives None (the stream's end).

        The dispatch table is local, not an attribute: bound methods of the builder kept on
        the builder would make it a reference cycle, and the document it holds (a position
        for every value) would then outlive the load until a cyclic collection, instead of
        being freed when its last reference goes."""
        yaml = self.yaml
        handlers: dict[type, Any] = {
            yaml.ScalarEvent: self.on_scalar,
            yaml.MappingStartEvent: self.on_mapping,
            yaml.SequenceStartEvent: self.on_sequence,
            yaml.MappingEndEvent: self.close,
            yaml.SequenceEndEvent: self.close,
            yaml.AliasEvent: self.alias,
            yaml.DocumentStartEvent: self.start_document,
        }
        event = get_event()
        while event is not None:
            handler = handlers.get(type(event))
            if handler is not None:  # stream start/end and document end carry nothing
                handler(event)
            event = get_event()

    def on_scalar(self, event: Any) -> None:
        if event.tag is None and event.implicit[0]:  # the common case, inline: plain text
            value = self.plain.get(event.value, _UNKNOWN)
            if value is _UNKNOWN:
                value = self.scalar(event)
        else:
            value = self.scalar(event)
        self.add(value, event, 1)

    def on_mapping(self, event: Any) -> None:
        self.open(event, True)

    def on_sequence(self, event: Any) -> None:
        self.open(event, False)

    def close(self, event: Any) -> None:
        frame = self.stack.pop()
        if self.stack:
            self.stack[-1].deepest = max(self.stack[-1].deepest, frame.deepest)
        if frame.anchor is not None:
            height = frame.deepest - frame.depth + 1
            self.anchors[frame.anchor] = (frame.value, self.nodes - frame.nodes_before, height)

    def alias(self, event: Any) -> None:
        if event.anchor not in self.anchors:
            raise self.error(f"alias *{event.anchor} has no complete anchor before it", event)
        value, size, height = self.anchors[event.anchor]
        depth = len(self.stack) + height
        if depth > MAX_DEPTH:
            raise self.error(
                f"nesting deeper than the limit of {MAX_DEPTH} levels "
                f"(through alias *{event.anchor})",
                event,
            )
        if self.stack and height:
            self.stack[-1].deepest = max(self.stack[-1].deepest, depth)
        self.add(value, event, size)

    def start_document(self, event: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            raise self.error("more than one YAML document in the file", event)

    def open(self, event: Any, is_mapping: bool) -> None:
        expected = _MAP if is_mapping else _SEQ
        if event.tag not in (None, "!", expected):
            raise self.error(f"tag {event.tag!r} is not allowed (plain data only)", event)
        if len(self.stack) >= MAX_DEPTH:
            raise self.error(f"nesting deeper than the limit of {MAX_DEPTH} levels", event)
        value: dict[str, Any] | list[Any] = {} if is_mapping else []
        nodes_before = self.nodes
        path = self.add(value, event, 1)
        self.stack.append(_Frame(value, path, event.anchor, nodes_before, len(self.stack) + 1))

    def add(self, value: Any, event: Any, size: int) -> PathKey:
        """Place a finished value (or a new container) where the stream is; returns its path."""
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise self.error(
                f"document expands to more than {MAX_NODES:,} nodes (alias expansion counts)", event
            )
        start = event.start_mark
        if not self.stack:
            self.doc.data = value
            self.root_set = True
            path: PathKey = ()
        else:
            frame = self.stack[-1]
            container = frame.value
            if type(container) is list:
                path = (*frame.path, len(container))
                container.append(value)
            elif frame.key is None:
                self.set_key(frame, value, event)
                return frame.path
            else:
                path = (*frame.path, frame.key)
                container[frame.key] = value  # type: ignore[call-overload]
                self.keys[path] = frame.key_start
                frame.key = None
        self.positions.setdefault(path, (start.line, start.column))
        if event.anchor is not None and type(event) is self.yaml.ScalarEvent:
            self.anchors[event.anchor] = (value, 1, 0)
        return path

    def set_key(self, frame: _Frame, key: Any, event: Any) -> None:
        if isinstance(key, (dict, list)):
            raise self.error("mapping keys must be plain strings", event)
        if key is _MERGE:
            where = path_text(frame.path)
            raise self.error(
                f"{where + ': ' if where else ''}merge keys (<<) are not supported", event
            )
        if not isinstance(key, str):
            key = str(key).lower() if isinstance(key, bool) else str(key)
        assert isinstance(frame.value, dict)
        if key in frame.value:
            raise self.error(f"{path_text((*frame.path, key))}: duplicate key {key[:60]!r}", event)
        frame.key = key
        frame.key_start = (event.start_mark.line, event.start_mark.column)

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None:
            if not event.implicit[0]:  # quoted, untagged: a string, whatever it reads like
                return event.value
            known = self.plain.get(event.value, _UNKNOWN)
            if known is not _UNKNOWN:
                return known
            value = self.resolved(event)
            self.plain[event.value] = value
            return value
        return self.resolved(event)

    def resolved(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(  # type: ignore[no-untyped-call]
                self.yaml.ScalarNode, event.value, event.implicit
            )
        if tag == "tag:yaml.org,2002:str":
            return event.value
        if tag == "tag:yaml.org,2002:merge":
            return _MERGE
        construct = self.scalars.get(tag)
        if construct is None:
            raise self.error(f"tag {tag!r} is not allowed (plain data only)", event)
        try:
            return construct(self.yaml.ScalarNode(tag, event.value))
        except ValueError as exc:  # e.g. an int with thousands of digits
            raise self.error(
                f"cannot read value {event.value[:40]!r}: {str(exc).splitlines()[0]}", event
            ) from None


_UNKNOWN = object()
_MERGE = object()
