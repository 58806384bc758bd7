"""Reading the YAML files people write: site files, device profiles, scenarios.

Fast (libyaml's C parser where PyYAML has it), bounded, and every problem says the file and
the line. Before a document is turned into Python values its node graph is checked, without
recursion: at most ``MAX_DEPTH`` levels of nesting, and at most ``MAX_VALUES`` values once every
alias is expanded (a "billion laughs" document is refused in microseconds instead of hanging
validation). A file that is not UTF-8 names the line and the byte.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 1_000_000

FAST_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

YamlPath = tuple[Hashable, ...]
KEY = "<key>"  # a mapping key's own node, on the way (it has no path of its own)


class DocumentError(ValueError):
    """A YAML file that cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class Document:
    data: Any
    lines: dict[YamlPath, int] = field(default_factory=dict)

    def line(self, path: YamlPath) -> int | None:
        """The line of ``path`` (keys and indexes), or of the nearest enclosing value."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def read_yaml(path: Path, loader: type[Any] = FAST_LOADER) -> Document:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise DocumentError(f"{path}: {len(raw)} bytes; a site file or profile is at most "
                            f"{MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DocumentError(f"{path}: line {line}: not UTF-8 (byte 0x{raw[exc.start]:02X} at "
                            f"offset {exc.start}); save the file as UTF-8") from None
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return Document(None)
        lines = _check(path, node)
        return Document(parser.construct_document(node), lines)
    except yaml.YAMLError as exc:
        raise DocumentError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise DocumentError(f"{path}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    finally:
        parser.dispose()


def _children(node: yaml.Node) -> list[tuple[Hashable | None, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[Hashable | None, yaml.Node]] = []
        for key, value in node.value:
            out.append((None, key))
            out.append((key.value if isinstance(key, yaml.ScalarNode) else None, value))
        return out
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    return []


def _check(source: Path, root: yaml.Node) -> dict[YamlPath, int]:
    """Refuse a document too deep or too large once expanded; the line of each value."""
    lines: dict[YamlPath, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, YamlPath, int]] = [(root, (), 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            line = node.start_mark.line + 1
            raise DocumentError(f"{source}: line {line}: nested too deeply (at most "
                                f"{MAX_DEPTH} levels)")
        if id(node) in seen:
            continue  # an alias: counted when sizes are added up
        seen.add(id(node))
        if not path or path[-1] != KEY:
            lines[path] = node.start_mark.line + 1
        for name, child in _children(node):
            stack.append((child, (*path, name if name is not None else KEY), depth + 1))
    # values once expanded: every node counts once per reference; children before parents
    size: dict[int, int] = {}
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        if id(node) in size:
            continue
        kids = [child for _, child in _children(node)]
        if not children_done:
            pending.append((node, True))
            pending.extend((child, False) for child in kids if id(child) not in size)
            continue
        total = 1 + sum(size[id(child)] for child in kids)
        if total > MAX_VALUES:
            raise DocumentError(f"{source}: line {node.start_mark.line + 1}: aliases expand "
                                f"to more than {MAX_VALUES:,} values; write the values out")
        size[id(node)] = total
    return lines
