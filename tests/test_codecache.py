"""obsgen's code cache (``obsgen.codecache``): generated source's compiled code kept like bytecode, never
changing what is generated, written only where Python writes bytecode, and harmless when broken."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from obsgen.codecache import CodeCache, cached_compile

OBSGEN = [sys.executable, "-c", "from obsgen.cli import main; main()"]


def _generate(prefix: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    return subprocess.run([*OBSGEN, "generate", "--target", "compose", "--out", str(out), *extra], capture_output=True,
                          text=True, env=env)


def _caches(prefix: Path) -> dict[str, bytes]:
    return {p.name.split(".")[0]: p.read_bytes() for p in prefix.rglob("*.codecache")}


def test_cached_runs_generate_the_same_tree_and_a_broken_cache_is_compiled_anew(tmp_path: Path) -> None:
    prefix = tmp_path / "pycache"
    assert _generate(prefix, tmp_path / "out").returncode == 0
    first = _caches(prefix)
    assert set(first) == {"dataclasses", "grafanalib", "templates"}
    checked = _generate(prefix, tmp_path / "out", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr  # every file the same bytes
    assert _caches(prefix) == first  # nothing was missing: every compile came from the cache
    for path in prefix.rglob("*.codecache"):
        path.write_bytes(b"\x00 not marshal data")
    checked = _generate(prefix, tmp_path / "out", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert _caches(prefix) == first  # compiled anew: the same code


@pytest.mark.parametrize("future", [True, False])
def test_cached_code_is_compiled_with_the_future_flags_of_the_calling_module(tmp_path: Path, monkeypatch,
                                                                            future: bool) -> None:
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    module = types.ModuleType("caller")
    if future:
        exec("from __future__ import annotations", vars(module))
    source = "def f(x: int) -> None: pass"
    for _ in range(2):  # compiled, then from the cache
        cache = CodeCache("test")
        with cached_compile(module, cache):
            namespace: dict[str, object] = {}
            exec(module.compile(source, "<generated>", "exec"), namespace)
        assert namespace["f"].__annotations__["x"] == ("int" if future else int)  # type: ignore[attr-defined]
    assert not hasattr(module, "compile") and cache.used and not cache.added


def test_an_exec_of_source_takes_its_code_from_the_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    module = types.ModuleType("caller")
    for _ in range(2):  # compiled, then from the cache
        cache = CodeCache("test-exec")
        namespace: dict[str, object] = {}
        with cached_compile(module, cache, "exec"):
            module.exec("def f(x):\n    return x + 1", {}, namespace)
        assert namespace["f"](1) == 2  # type: ignore[operator]
    assert not hasattr(module, "exec") and cache.used and not cache.added


def test_nothing_is_written_where_python_writes_no_bytecode(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # PYTHONDONTWRITEBYTECODE, as for .pyc files
    cache = CodeCache("test-nowrite")
    cache.put(CodeCache.key("x"), compile("x = 1", "<generated>", "exec"))
    cache.save()
    assert not list(tmp_path.rglob("*.codecache"))
