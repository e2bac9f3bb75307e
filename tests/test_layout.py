"""The package layout shows the pipeline: no import cycles, the runtime apart, no demo words in the library."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "generator"
DEMO = SOURCE / "demo"
DOMAIN_WORDS = re.compile(r"recsys|movie|ranking|impression|canonical_id|experiment_id|"
                          r"""["']bucket["']|\bbucket\s*=|["']click["']|\.click\(|\bclicks\b""", re.IGNORECASE)
"""The demo's event and field names. `bucket` and `click` only as names (histogram buckets and the
CLI library `click` are fine)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(("obsgen", *parts[:-1])) if parts[-1] == "__init__" else ".".join(("obsgen", *parts))


def imports(path: Path) -> set[str]:
    """obsgen modules imported by ``path``, at any depth except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree)
               if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("obsgen"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""  # obsgen uses absolute imports only
            if base.startswith("obsgen"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
    return found


MODULES = {module_name(p): p for p in SOURCE.rglob("*.py")}
GRAPH = {name: {i for i in imports(path) if i in MODULES and i != name} for name, path in MODULES.items()}


def test_there_is_no_import_cycle() -> None:
    """Package ``__init__`` files excepted as targets: importing a submodule runs its package first."""
    graph = {name: {i for i in deps if not MODULES[i].name == "__init__.py" or i == "obsgen.model"}
             for name, deps in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_runtime_depends_on_the_model_and_spec_reading_only() -> None:
    allowed = ("obsgen.runtime", "obsgen.model", "obsgen.spec")
    for name, deps in GRAPH.items():
        if name.startswith("obsgen.runtime"):
            bad = sorted(d for d in deps if not d.startswith(allowed) and d != "obsgen")
            assert not bad, f"{name} imports {bad}"


def test_emitters_do_not_import_the_cli_writer_or_runtime() -> None:
    for name, deps in GRAPH.items():
        if name.startswith("obsgen.emit"):
            bad = sorted(d for d in deps if d.startswith(("obsgen.cli", "obsgen.write", "obsgen.runtime",
                                                          "obsgen.generate", "obsgen.simulat")))
            assert not bad, f"{name} imports {bad}"


def test_library_code_names_no_demo_event_or_field() -> None:
    hits = []
    for path in sorted(SOURCE.rglob("*.py")):
        if DEMO in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DOMAIN_WORDS.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "demo words in library code:\n" + "\n".join(hits)
