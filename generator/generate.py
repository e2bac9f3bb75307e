"""What ``obsgen generate`` does, for the CLI and Python callers alike: load → check → build the tree.

Each emitter is a pure function ``Model -> {path: text}``; a new artifact kind joins by being added to
``EMITTERS``. The PromQL contract check runs in ``load``, so a Python caller gets exactly the errors the
CLI reports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from obsgen import contract
from obsgen.emit import alertmanager, schemas
from obsgen.emit.grafana import dashboards, provisioning
from obsgen.emit.prometheus import rules, ruletests
from obsgen.emit.stack import collector, compose, servers
from obsgen.model import Model
from obsgen.spec import load_spec
from obsgen.spec.source import SpecInvalid
from obsgen.write import MANIFEST, manifest_text

Emitter = Callable[[Model], dict[str, str]]
EMITTERS: tuple[Emitter, ...] = (rules.emit, ruletests.emit, alertmanager.emit, schemas.emit, dashboards.emit,
                                  provisioning.emit, collector.emit, servers.emit, compose.emit)


def load(path: Path | None) -> Model:
    """The validated model of ``path`` (None: the built-in spec), its queries checked against its series.

    Raises ``SpecInvalid`` with every problem found.
    """
    model = load_spec(path)
    if errors := contract.check(model):  # every query must select series the spec produces
        raise SpecInvalid(errors)
    return model


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
