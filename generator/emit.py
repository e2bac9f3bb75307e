"""Every artifact kind obsgen makes: each emitter is a pure function ``Model -> {path: text}``.

Later artifact kinds (dashboards, collector, compose) join by being added to ``EMITTERS``.
"""

from __future__ import annotations

from collections.abc import Callable

from generator import alertmanager, collector, compose, provisioning, rules, ruletests, schemas, stack
from generator.dashboards import emit as dashboards
from generator.model import Model
from generator.render import header_text

Emitter = Callable[[Model], dict[str, str]]
EMITTERS: tuple[Emitter, ...] = (rules.emit, ruletests.emit, alertmanager.emit, schemas.emit, dashboards.emit,
                                  provisioning.emit, collector.emit, stack.emit, compose.emit)
MANIFEST = ".obsgen-manifest"
"""Lists the files obsgen wrote, so a later run can find files the spec no longer produces."""


def build_tree(model: Model) -> dict[str, str]:
    """The whole output tree in memory, manifest included, keyed by POSIX relative path."""
    tree: dict[str, str] = {}
    for emitter in EMITTERS:
        for path, text in emitter(model).items():
            if path in tree:
                raise RuntimeError(f"two emitters produce {path}")  # a programming error, not bad input
            tree[path] = text
    tree[MANIFEST] = manifest_text(model, tree)
    return dict(sorted(tree.items()))


def manifest_text(model: Model, tree: dict[str, str]) -> str:
    return f"# {header_text(model)}\n" + "".join(f"{path}\n" for path in sorted(tree))


def manifest_paths(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]
