"""Safe, bounded YAML loading that remembers where every value came from.

Only plain data is built: mappings, sequences, strings, ints, floats, booleans and null.
Python object tags and other non-standard tags are refused, never constructed. Limits on
file size, nesting depth and node count (aliases count every time they are expanded) make
anchor/alias bombs and deeply nested documents fail fast with bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"

PathKey = tuple[str | int, ...]


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
        raise YamlError(f"file is larger than the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit",
                        file=name)
    if b"\x00" in raw:
        raise YamlError("binary file (contains NUL bytes), expected YAML text", file=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text (invalid byte at offset {exc.start})",
                        file=name) from None


def load(path: Path, display_name: str | None = None) -> Document:
    """Load one YAML document from ``path``."""
    return loads(read_text(path), display_name or str(path))


def loads(text: str, file: str = "<string>") -> Document:
    """Parse ``text`` as one YAML document with positions; empty documents are errors."""
    import yaml  # imported here: counting from flags never needs it

    _check_depth(text, file)
    try:
        node = yaml.compose(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = _mark(file, exc.problem_mark) if exc.problem_mark else None
        raise YamlError(f"YAML syntax error: {exc.problem or exc.context}", mark, file) from None
    except yaml.YAMLError as exc:  # e.g. more than one document
        raise YamlError(f"YAML error: {exc}".splitlines()[0], file=file) from None
    if node is None:
        raise YamlError("empty document", file=file)
    doc = Document(data=None, file=file)
    builder = _Builder(doc)
    doc.data = builder.build(node, ())
    return doc


def _check_depth(text: str, file: str) -> None:
    """Walk the event stream (iteratively) so deep nesting never reaches the recursive composer."""
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=_loader()):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlError(f"nesting deeper than the limit of {MAX_DEPTH} levels",
                                    _mark(file, event.start_mark), file)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        mark = _mark(file, exc.problem_mark) if exc.problem_mark else None
        raise YamlError(f"YAML syntax error: {exc.problem or exc.context}", mark, file) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML error: {exc}".splitlines()[0], file=file) from None


def _loader() -> Any:
    """libyaml's parser when PyYAML was built with it (10-20x faster), else pure Python.
    Both only parse and compose here: construction is ours (plain data only)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mark(file: str, mark: Any) -> Mark:
    return Mark(file, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns composed nodes into plain data, counting every node visited (so aliases that
    expand a shared subtree many times hit MAX_NODES) and recording positions."""

    def __init__(self, doc: Document) -> None:
        import yaml

        self.doc = doc
        self.nodes = 0
        constructor = yaml.SafeLoader("")
        self.scalars = {  # PyYAML's own rules for each implicit scalar type (YAML 1.1)
            "tag:yaml.org,2002:int": constructor.construct_yaml_int,
            "tag:yaml.org,2002:float": constructor.construct_yaml_float,
            "tag:yaml.org,2002:bool": constructor.construct_yaml_bool,
            "tag:yaml.org,2002:null": constructor.construct_yaml_null,
        }
        self.ScalarNode = yaml.ScalarNode
        self.SequenceNode = yaml.SequenceNode
        self.MappingNode = yaml.MappingNode

    def mark(self, node: Any) -> Mark:
        return _mark(self.doc.file, node.start_mark)

    def build(self, node: Any, path: PathKey) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlError(
                f"document expands to more than {MAX_NODES:,} nodes (alias expansion counts)",
                self.mark(node),
            )
        start = node.start_mark
        self.doc.positions.setdefault(path, (start.line, start.column))
        cls = type(node)
        if cls is self.ScalarNode:
            return self.scalar(node)
        if cls is self.SequenceNode:
            if node.tag != _SEQ:
                raise YamlError(f"tag {node.tag!r} is not allowed (plain data only)",
                                self.mark(node))
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if cls is self.MappingNode:
            if node.tag != _MAP:
                raise YamlError(f"tag {node.tag!r} is not allowed (plain data only)",
                                self.mark(node))
            return self.mapping(node, path)
        raise YamlError("unsupported YAML node", self.mark(node))  # pragma: no cover

    def mapping(self, node: Any, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not self.ScalarNode:
                raise YamlError("mapping keys must be plain strings", self.mark(key_node))
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError("merge keys (<<) are not supported", self.mark(key_node))
            self.nodes += 1
            key = self.scalar(key_node)
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in out:
                raise YamlError(f"duplicate key {key!r}", self.mark(key_node))
            key_path = (*path, key)
            start = key_node.start_mark
            self.doc.keys[key_path] = (start.line, start.column)
            out[key] = self.build(value_node, key_path)
        return out

    def scalar(self, node: Any) -> Any:
        tag = node.tag
        if tag == "tag:yaml.org,2002:str":
            return node.value
        construct = self.scalars.get(tag)
        if construct is None:
            raise YamlError(f"tag {tag!r} is not allowed (plain data only)", self.mark(node))
        try:
            return construct(node)
        except ValueError as exc:  # e.g. an int with thousands of digits
            raise YamlError(f"cannot read value {node.value[:40]!r}: "
                            f"{str(exc).splitlines()[0]}", self.mark(node)) from None
