"""What ``obsgen generate`` does, for the CLI and Python callers alike: load → check → build the tree.

One tree holds any number of services. Each per-service emitter is a pure function ``Model -> {path:
text}`` writing only under its service's folders (``alerting/<service>/``, ``schemas/<service>/``,
``dashboards/<folder>/<uid>.json``); each shared emitter is a pure function ``Services -> {path: text}``
writing the one Prometheus, Alertmanager, collector, Loki, Grafana and compose config of all services.
A new artifact kind joins by being added to ``SERVICE_EMITTERS`` or ``SHARED_EMITTERS``; what only one
deployment kind needs (docker-compose's configs, Kubernetes resources) belongs to its entry of
``TARGETS``. The PromQL contract check and the cross-service conflict check run in ``load_all``, so a
Python caller gets exactly the errors the CLI reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from obsgen import conflicts, contract, testable
from obsgen.emit import alertmanager, kubernetes, schemas
from obsgen.emit.grafana import dashboards, provisioning
from obsgen.emit.prometheus import rules, ruletests
from obsgen.emit.render import Services
from obsgen.emit.stack import collector, compose, jaeger, servers
from obsgen.model import Model
from obsgen.offload import DashboardWorker
from obsgen.spec import read_spec
from obsgen.spec.build import read_model
from obsgen.spec.source import SpecError, SpecInvalid
from obsgen.write import MANIFEST, STACK, manifest_text

ServiceEmitter = Callable[[Model], dict[str, str]]
SharedEmitter = Callable[[Services], dict[str, str]]
ServiceWrapper = Callable[[Model, dict[str, str]], dict[str, str]]
SharedWrapper = Callable[[Services, dict[str, str]], dict[str, str]]
SERVICE_EMITTERS: tuple[ServiceEmitter, ...] = (rules.emit, ruletests.emit, schemas.emit, dashboards.emit)
SHARED_EMITTERS: tuple[SharedEmitter, ...] = (alertmanager.emit, dashboards.emit_lint, collector.emit)


@dataclass(frozen=True)
class Target:
    """Where the configs run: what a deployment kind adds to the files every target shares. Wrappers run
    last and read the tree built so far: they package its files (``emit.kubernetes``), never re-emit them."""

    shared: tuple[SharedEmitter, ...] = ()
    service_wrappers: tuple[ServiceWrapper, ...] = ()
    shared_wrappers: tuple[SharedWrapper, ...] = ()


TARGETS: dict[str, Target] = {
    "compose": Target(shared=(provisioning.emit, jaeger.emit, servers.emit, compose.emit)),
    "kubernetes": Target(service_wrappers=(kubernetes.emit,), shared_wrappers=(kubernetes.emit_shared,)),
}
"""``--target``: compose = Prometheus/Loki/Grafana configs and docker-compose.yml for one machine;
kubernetes = operator resources under ``kubernetes/``. Both by default, so ``--check`` covers both."""
SPEC_SUFFIXES = (".yaml", ".yml")


def spec_paths(paths: Iterable[Path]) -> list[Path]:
    """The spec files named by ``paths``: a file as given, a directory as its ``*.yaml``/``*.yml`` files, sorted;
    a file named twice (``specs/ specs/a.yaml``) once, else it would conflict with itself on every name.

    Raises ``SpecInvalid`` for a directory without specs.
    """
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())
        if not found:
            raise SpecInvalid([SpecError(str(path), 1, "", "the directory holds no *.yaml or *.yml spec",
                                         "pass spec files, or a directory that holds them")])
        out += found
    unique: dict[Path, Path] = {}
    for path in out:
        unique.setdefault(_real(path), path)
    return list(unique.values())


def _real(path: Path) -> Path:
    """``path`` with symbolic links followed; unlike ``Path.resolve`` never raises on a link loop."""
    return Path(os.path.realpath(path))


def spec_clash(paths: Iterable[Path], tree: dict[str, str], out: Path) -> tuple[Path, str] | None:
    """A spec the tree under ``out`` would overwrite, or a directory of specs it would add a spec-named file to
    (``docker-compose.yml`` when ``--out`` is that directory: the next run would read it as a spec); with the
    tree's path, else None."""
    targets = {_real(out / path): path for path in tree}
    for path in paths:
        where = _real(path)
        if not path.is_dir() and where in targets:
            return path, targets[where]
        if path.is_dir():
            for target, relative in targets.items():
                if target.parent == where and target.suffix in SPEC_SUFFIXES:
                    return path, relative
    return None


def _checked(path: Path | None) -> conflicts.Spec:
    """Structure and references, the PromQL contract (on the valid parts, so both kinds of errors come in one
    run) and, for a spec without errors, whether every alert and SLO can be tested."""
    doc, source = read_spec(path)
    reading = read_model(doc, source)
    if reading.model is None:
        raise SpecInvalid(reading.errors)
    errors = reading.errors + contract.check(reading.model, doc, reading.tolerated)
    if not errors:
        errors = testable.check(reading.model, doc)
    if errors:
        raise SpecInvalid(sorted(errors, key=lambda e: (e.file, e.line)))
    return conflicts.Spec(doc, reading.model)


def load(path: Path | None) -> Model:
    """The validated model of ``path`` (None: the built-in spec), its queries checked against its series.

    Raises ``SpecInvalid`` with every problem found.
    """
    return _checked(path).model


def load_all(paths: Sequence[Path] = ()) -> tuple[Model, ...]:
    """The models of ``paths`` (files or directories of specs; none: the built-in spec), each checked as
    ``load`` does and all checked against each other (``obsgen.conflicts``).

    Raises ``SpecInvalid`` with every problem of every spec.
    """
    specs: list[conflicts.Spec] = []
    errors: list[SpecError] = []
    for path in spec_paths(paths) if paths else [None]:
        try:
            specs.append(_checked(path))
        except SpecInvalid as exc:
            errors += exc.errors
    errors += conflicts.check(specs)
    if errors:
        raise SpecInvalid(errors)
    return tuple(spec.model for spec in specs)


def build_tree(models: Model | Iterable[Model], targets: Iterable[str] = tuple(TARGETS),
               worker: DashboardWorker | None = None) -> dict[str, str]:
    """The whole output tree of one or more services in memory, manifest included, keyed by POSIX relative path.

    ``targets`` (names of ``TARGETS``) add their files to the ones every target shares. A ``worker`` (the
    CLI's, ``obsgen.offload``) builds the dashboards in another process meanwhile; the files are the same.

    Services are ordered by name, so shared files do not depend on the order the specs were given in.
    """
    ordered = sorted([models] if isinstance(models, Model) else models, key=lambda m: m.service.name)
    services = Services(tuple(ordered))
    tree: dict[str, str] = {}
    owners: dict[str, str] = {}

    def add(owner: str, files: dict[str, str]) -> None:
        for path, text in files.items():
            if path in tree:  # a programming error: folders are per service, names are checked by load_all
                raise RuntimeError(f"{owners[path]} and {owner} both produce {path}")
            tree[path], owners[path] = text, owner

    chosen = [TARGETS[name] for name in TARGETS if name in set(targets)]
    offloaded = worker is not None and worker.send(ordered)
    for model in ordered:
        for emitter in SERVICE_EMITTERS:
            if not (offloaded and emitter is dashboards.emit):
                add(model.service.name, emitter(model))
    for shared in (*SHARED_EMITTERS, *(e for t in chosen for e in t.shared)):
        add(STACK, shared(services))
    if offloaded:
        assert worker is not None
        files = worker.receive() or [dashboards.emit(model) for model in ordered]
        for model, dashboard_files in zip(ordered, files, strict=True):
            add(model.service.name, dashboard_files)
    for target in chosen:
        for model in ordered:
            for wrapper in target.service_wrappers:
                add(model.service.name, wrapper(model, tree))
        for shared_wrapper in target.shared_wrappers:
            add(STACK, shared_wrapper(services, tree))
    tree[MANIFEST] = manifest_text(services, owners)
    return dict(sorted(tree.items()))
