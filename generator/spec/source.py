"""YAML loading that remembers where every value came from.

Validation errors must name ``FILE:LINE``, so the spec is composed into PyYAML nodes and turned
into plain Python values while recording the line of each field path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass
class SpecError:
    """One problem in a spec, rendered as ``FILE:LINE: field.path: what is wrong — how to fix``."""

    file: str
    line: int
    path: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path or '(top level)'}: {self.problem} — {self.fix}"


class SpecInvalid(Exception):
    """Raised with every error found in a spec, so the user fixes them all in one pass."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class Document:
    """A loaded spec: its values, the file it came from, and the line of each field path."""

    data: Any
    source: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """Line of ``path``, or of its nearest ancestor that has one (a missing key's parent)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def dotted(path: Path_) -> str:
    """``("alerts", 3, "for")`` → ``alerts[3].for``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_text(text: str, source: str) -> Document:
    """Parse YAML ``text``; syntax errors, duplicate keys and non-string keys become SpecInvalid."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecInvalid(
            [SpecError(source, line, "", f"YAML syntax error: {problem}",
                       "fix the YAML syntax at this line (indentation, quoting, a missing ':')")]
        ) from None
    doc = Document(data=None, source=source)
    errors: list[SpecError] = []
    constructor = yaml.SafeLoader("")
    doc.data = _build(node, (), doc, errors, constructor) if node is not None else None
    if errors:
        raise SpecInvalid(errors)
    return doc


def load_file(path: Path, display: str | None = None) -> Document:
    """Load a spec file; an unreadable file is reported in the same error form."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecInvalid([SpecError(shown, 1, "", f"cannot read the spec: {exc}",
                                     "pass the path of a readable UTF-8 YAML file")]) from None
    return load_text(text, shown)


def _build(node: yaml.Node, path: Path_, doc: Document, errors: list[SpecError],
           constructor: yaml.SafeLoader) -> Any:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                errors.append(SpecError(doc.source, line, dotted(path), f"key {key!r} is not a string",
                                        "quote the key"))
                continue
            if key in result:
                errors.append(SpecError(doc.source, line, dotted(path + (key,)), "duplicate key",
                                        "remove one of the two entries"))
                continue
            result[key] = _build(value_node, path + (key,), doc, errors, constructor)
            doc.lines[path + (key,)] = line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), doc, errors, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)
