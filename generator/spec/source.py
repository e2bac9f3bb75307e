"""YAML loading that remembers where every value came from, within bounds no input can break.

Validation errors must name ``FILE:LINE``, so the spec is built from the parser's event stream into plain
Python values while recording the line of each field path. Building from events (not PyYAML's recursive
composer) keeps the stack flat, and lets the loader refuse, before any value is expanded, what would make
a small file cost gigabytes or a ``RecursionError``: files over ``MAX_BYTES``, nesting deeper than
``MAX_DEPTH`` and more than ``MAX_VALUES`` values once aliases are expanded (the "billion laughs" shape).
libyaml's C parser is used when PyYAML was built with it (``yaml.CSafeLoader``), else the pure-Python one;
both give the same events and line numbers.

Problems the loader can name precisely without stopping (a duplicate key, a non-string key, ``.inf``/``.nan``,
an unsupported tag) are kept in ``Document.errors``; the section readers then skip the paths they mark, so a
problem is reported once.
"""

from __future__ import annotations

import codecs
import copy
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
MAX_BYTES = 5 * 1024 * 1024
"""A spec is a few hundred lines; anything this large is not one (and would only cost memory)."""
MAX_DEPTH = 64
"""The deepest nesting a spec needs is about 10 levels."""
MAX_VALUES = 50_000
"""Values (mappings, lists, scalars) after expanding aliases: a spec has a few thousand."""
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # type: ignore[assignment]
"""libyaml's C parser when available (several times faster), else PyYAML's pure-Python one."""
STANDARD_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
SCALAR_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null")}
"""The scalar types a spec holds; other tags (binary, timestamps, set, Python objects) are refused."""
TIMESTAMP = "tag:yaml.org,2002:timestamp"
STR = "tag:yaml.org,2002:str"
MERGE = "tag:yaml.org,2002:merge"
YAML_TAG = "tag:yaml.org,2002:"


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
    """A loaded spec: its values, the file it came from, and the line of each field path.

    ``spans`` holds the first and last line of each multi-line text value (by dotted path), so an error
    about one token inside it names that token's line; ``errors`` are the loader's own findings, at
    ``reported`` paths, which the section readers do not report again.
    """

    data: Any
    source: str
    lines: dict[Path_, int] = field(default_factory=dict)
    text_lines: list[str] = field(default_factory=list)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors: list[SpecError] = field(default_factory=list)
    reported: set[Path_] = field(default_factory=set)

    def line_of(self, path: Path_) -> int:
        """Line of ``path``, or of its nearest ancestor that has one (a missing key's parent)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def token_line(self, dotted_path: str, token: str, default: int) -> int:
        """The line of the first ``token`` in the multi-line value at ``dotted_path``, else ``default``."""
        span = self.spans.get(dotted_path)
        if span is None or not token:
            return default
        first, last = span
        for number in range(first, min(last, len(self.text_lines)) + 1):
            if token in self.text_lines[number - 1]:
                return number
        return default

    def token_field(self, item: Path_, token: str) -> tuple[Path_, int] | None:
        """The field of ``item`` whose line first shows ``token`` as a whole word, and that line: of the paths
        starting on the line, the one whose key or value is ``token``, else the deepest. None when no line
        where a field of ``item`` starts shows it."""
        fields = [(line, path) for path, line in self.lines.items() if path[:len(item)] == item]
        if not token or not fields:
            return None
        word = re.compile(rf"(?<![\w.]){re.escape(token)}(?![\w.])")
        for line in sorted({line for line, _ in fields}):
            if 0 < line <= len(self.text_lines) and word.search(self.text_lines[line - 1]):
                paths = [path for at, path in fields if at == line]
                named = [path for path in paths if token in (path[-1], self.value_at(path))]
                return max(named or paths, key=len), line
        return None

    def value_at(self, path: Path_) -> Any:
        """The value at ``path``, None where there is none."""
        value = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def was_reported(self, path: Path_) -> bool:
        """Whether the loader already reported ``path`` or a value containing it."""
        return any(path[:i] in self.reported for i in range(len(path) + 1)) if self.reported else False


def dotted(path: Path_) -> str:
    """``("alerts", 3, "for")`` → ``alerts[3].for``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fatal(source: str, line: int, problem: str, fix: str) -> SpecInvalid:
    return SpecInvalid([SpecError(source, line, "", problem, fix)])


def load_text(text: str, source: str) -> Document:
    """Parse YAML ``text`` into a ``Document``.

    Raises ``SpecInvalid`` for what stops reading (syntax, size, depth, alias expansion); keeps the rest
    in ``Document.errors``.
    """
    if len(text) > MAX_BYTES:
        raise _fatal(source, 1, f"the spec is {len(text):,} characters, over the limit of {MAX_BYTES:,}",
                     "split it into one spec per service (a spec is usually a few hundred lines)")
    doc = Document(data=None, source=source, text_lines=text.splitlines())
    try:
        doc.data = _Builder(doc).run(yaml.parse(text, Loader=LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or str(exc).splitlines()[0]
        raise _fatal(source, mark.line + 1 if mark else 1, f"YAML syntax error: {problem}",
                     "fix the YAML syntax at this line (indentation, quoting, a missing ':')") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise _fatal(source, line, f"YAML cannot hold the character {exc.character!r}",
                     "remove it or write it as an escape in a double-quoted string") from None
    except yaml.YAMLError as exc:
        raise _fatal(source, 1, f"YAML error: {str(exc).splitlines()[0]}", "fix the YAML syntax") from None
    return doc


def load_file(path: Path, display: str | None = None) -> Document:
    """Load a spec file; an unreadable, oversized or not regular file is reported in the same error form.

    Only a regular file is read (a FIFO would block forever, ``/dev/zero`` never end), and never more than
    ``MAX_BYTES`` of it, even if it grows while being read.
    """
    shown = display or str(path)
    too_big = "split it into one spec per service (a spec is usually a few hundred lines)"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: opening a FIFO must not wait for a writer
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _fatal(shown, 1, "cannot read the spec: it is not a regular file (a device, FIFO or socket)",
                             "pass the path of a YAML spec file")
            if info.st_size > MAX_BYTES:
                raise _fatal(shown, 1, f"the spec is {info.st_size:,} bytes, over the limit of {MAX_BYTES:,}", too_big)
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise _fatal(shown, 1, f"the spec is over the limit of {MAX_BYTES:,} bytes", too_big)
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise _fatal(shown, 1, "cannot read the spec: it is UTF-16 or UTF-32 text (it starts with a byte order "
                         "mark)", "save it as UTF-8")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fatal(shown, 1, f"cannot read the spec: {exc}", "pass the path of a readable UTF-8 YAML file") from None
    return load_text(text, shown)


class _Limit(Exception):
    """Raised inside the builder when a bound is exceeded; carries the line and the message."""

    def __init__(self, line: int, problem: str, fix: str):
        super().__init__(problem)
        self.line, self.problem, self.fix = line, problem, fix


@dataclass
class _Frame:
    """A mapping or list being built: where it is, and (for a mapping) the key waiting for its value."""

    value: dict[str, Any] | list[Any]
    path: Path_
    anchor: str | None
    line: int
    first_line: int
    """Index in ``_Builder.order`` of this value's first line entry (for anchors)."""
    values: int = 1
    height: int = 1
    key: Any = None
    key_line: int = 0
    has_key: bool = False
    skip: bool = False
    """The value under a bad key is built (to keep the event stream in step) but not stored."""


@dataclass
class _Anchor:
    value: Any
    lines: list[tuple[Path_, int]]
    values: int
    height: int


class _Builder:
    """Turns parser events into Python values, line map and loader errors, without recursion."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.resolver = yaml.SafeLoader("")
        self.anchors: dict[str, _Anchor] = {}
        self.order: list[tuple[Path_, int]] = []
        self.stack: list[_Frame] = []
        self.total = 0
        self.result: Any = None
        self.documents = 0

    def run(self, events: Any) -> Any:
        # By the event's exact class (PyYAML's parsers make no subclasses); stream and document ends say nothing.
        handlers = {yaml.ScalarEvent: self.scalar, yaml.MappingStartEvent: self.open,
                    yaml.SequenceStartEvent: self.open, yaml.MappingEndEvent: self.close,
                    yaml.SequenceEndEvent: self.close, yaml.AliasEvent: self.alias,
                    yaml.DocumentStartEvent: self.document}
        try:
            for event in events:
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(event, event.start_mark.line + 1 if event.start_mark is not None else 1)
        except _Limit as limit:
            raise _fatal(self.doc.source, limit.line, limit.problem, limit.fix) from None
        for path, line in self.order:
            self.doc.lines.setdefault(path, line)
        return self.result

    def document(self, event: yaml.DocumentStartEvent, line: int) -> None:
        self.documents += 1
        if self.documents > 1:
            raise _Limit(line, "the file holds more than one YAML document",
                         "keep one spec per file (remove the second `---`)")

    # -- where the next value goes -------------------------------------------------------------------------

    def slot(self) -> tuple[Path_, bool]:
        """The path of the next value and whether it is a mapping key."""
        if not self.stack:
            return (), False
        top = self.stack[-1]
        if isinstance(top.value, list):
            return top.path + (len(top.value),), False
        if not top.has_key:
            return top.path, True
        return top.path + (top.key,), False

    def count(self, values: int, height: int, line: int) -> None:
        self.total += values
        if self.total > MAX_VALUES:
            raise _Limit(line, f"the spec expands to more than {MAX_VALUES:,} values (YAML aliases are expanded "
                         "in full)", "write the repeated parts out, or use fewer aliases of large anchors")
        if len(self.stack) + height > MAX_DEPTH:
            raise _Limit(line, f"values are nested more than {MAX_DEPTH} levels deep",
                         "flatten the structure (a spec needs about 10 levels)")

    def store(self, value: Any, line: int, values: int, height: int, lines: list[tuple[Path_, int]] = ()) -> None:
        """Put a finished value in its slot (a key, a mapping value, a list item or the document)."""
        path, is_key = self.slot()
        if is_key:
            top = self.stack[-1]
            top.has_key, top.key, top.key_line, top.skip = True, value, line, False
            # The entry is left out; nothing refers to it, so no path is marked as reported.
            if not isinstance(value, str):
                problem = ("a mapping or list cannot be a key" if isinstance(value, (dict, list))
                           else f"key `{_clip(str(value))}` is not a string")
                fix = "write a plain name as the key" if isinstance(value, (dict, list)) else "quote the key"
                self.report(top.path, line, problem, fix, mark=False)
                top.key, top.skip = "(a key that is not a string)", True  # paths under it must stay hashable
            elif value in top.value:  # type: ignore[operator]
                self.report(top.path + (value,), line, "duplicate key", "remove one of the two entries", mark=False)
                top.skip = True
            return
        if not self.stack:
            self.result = value
            self.order.append(((), line))
            self.order.extend(lines)
            return
        top = self.stack[-1]
        top.values += values
        top.height = max(top.height, height + 1)
        if isinstance(top.value, list):
            top.value.append(value)
        else:
            top.has_key = False
            if top.skip:
                return
            top.value[top.key] = value
            line = top.key_line
        self.order.append((path, line))
        self.order.extend(lines)

    def report(self, path: Path_, line: int, problem: str, fix: str, mark: bool = True) -> None:
        """Record a loader error; ``mark``: the value at ``path`` stands in for a bad one, so readers skip it.

        Nothing is recorded under a key that is left out (a duplicate or non-string key): the entry is gone."""
        if any(frame.skip and frame.has_key for frame in self.stack):
            return
        self.doc.errors.append(SpecError(self.doc.source, line, dotted(path), problem, fix))
        if mark:
            self.doc.reported.add(path)

    # -- events --------------------------------------------------------------------------------------------

    def open(self, event: yaml.CollectionStartEvent, line: int) -> None:
        self.count(1, 1, line)
        path, _ = self.slot()
        if event.tag not in (None, "!") and event.tag not in STANDARD_TAGS:
            self.report(path, line, f"YAML tag `{_tag(event.tag)}` is not supported", "remove the tag")
        value: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        frame = _Frame(value, path, event.anchor, line, len(self.order))
        self.stack.append(frame)

    def close(self, event: yaml.CollectionEndEvent, line: int) -> None:
        frame = self.stack.pop()
        inner = self.order[frame.first_line:]
        if frame.anchor is not None:
            depth = len(frame.path)
            self.anchors[frame.anchor] = _Anchor(frame.value, [(p[depth:], n) for p, n in inner], frame.values,
                                                 frame.height)
        del self.order[frame.first_line:]
        self.store(frame.value, frame.line, frame.values, frame.height, inner)

    def scalar(self, event: yaml.ScalarEvent, line: int) -> None:
        self.count(1, 0, line)
        path, is_key = self.slot()
        value = self.construct(event, path, is_key, line)
        end = line if event.end_mark is None else event.end_mark.line + (event.end_mark.column > 0)
        if end > line and not is_key and isinstance(value, str):
            self.doc.spans[dotted(path)] = (line, end)
        self.store(value, line, 1, 0)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchor(value, [], 1, 0)

    def construct(self, event: yaml.ScalarEvent, path: Path_, is_key: bool, line: int) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
            if tag == TIMESTAMP:
                return event.value  # a date is text to a spec (a description, a label value), never a datetime
        if tag == STR:
            return event.value  # what PyYAML's constructor returns for a string, without building its node
        if tag == MERGE:
            self.report(path + ("<<",), line, "YAML merge keys (`<<: *anchor`) are not supported",
                        "write the keys out, or alias the whole mapping")
            return "<<"
        if tag not in SCALAR_TAGS:
            self.report(path + ((event.value,) if is_key else ()), line, f"YAML tag `{_tag(tag)}` is not supported",
                        "remove the tag")
            return event.value if is_key else None
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self.resolver.yaml_constructors[tag](self.resolver, node)
        except Exception as exc:  # noqa: BLE001 - any constructor failure is the input's fault, reported at its line
            self.report(path, line, f"`{_clip(event.value)}` cannot be read as {tag.rsplit(':', 1)[-1]}: "
                        f"{_clip(str(exc).splitlines()[0], 80)}", "write a plain value")
            return event.value if is_key else None
        if isinstance(value, float) and not math.isfinite(value):
            self.report(path, line, f"`{_clip(event.value)}` is not a finite number",
                        "write a finite number (infinity and NaN cannot be written to JSON or PromQL tests)")
        return value

    def alias(self, event: yaml.AliasEvent, line: int) -> None:
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            raise _Limit(line, f"alias *{event.anchor} names no anchor", "define `&name` before using `*name`")
        self.count(anchor.values, anchor.height, line)
        value = anchor.value if not isinstance(anchor.value, (dict, list)) else copy.deepcopy(anchor.value)
        path, _ = self.slot()
        self.store(value, line, anchor.values, anchor.height, [(path + rel, n) for rel, n in anchor.lines])


def _tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG):] if tag.startswith(YAML_TAG) else tag


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
