"""The stack templates' compiled code cache (Jinja2's file cache in ``$XDG_CACHE_HOME/obsgen/templates``):
the same bytes with and without it, nothing written under ``PYTHONDONTWRITEBYTECODE``, a damaged entry
recompiled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jinja2
from obsgen.emit.stack.servers import TEMPLATE_OPTIONS, TemplateCache

OBSGEN = [sys.executable, "-c", "from obsgen.cli import main; main()"]


def _generate(tmp: Path, cache_home: Path, *extra: str, write_bytecode: bool = True) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"XDG_CACHE_HOME": str(cache_home), "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run([*OBSGEN, "generate", "--target", "compose", "--out", str(tmp / "out"), *extra],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def _entries(cache_home: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (cache_home / "obsgen" / "templates").glob("*.cache")}


def test_the_tree_is_the_same_bytes_with_and_without_the_cache(tmp_path: Path) -> None:
    cache_home = tmp_path / "cache"
    _generate(tmp_path, cache_home, write_bytecode=False)  # without: compiled, nothing written anywhere
    assert not cache_home.exists()
    _generate(tmp_path, cache_home, "--check")  # compiled again, and the cache written
    written = _entries(cache_home)
    assert written
    _generate(tmp_path, cache_home, "--check")  # every template from the cache: every file the same bytes
    assert _entries(cache_home) == written  # nothing was recompiled


def test_a_damaged_entry_is_compiled_anew(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    loader = jinja2.DictLoader({"t.j2": "{{ x }}\n"})
    for damage in (b"", b"\x00 not a cache entry", jinja2.bccache.bc_magic + b"\x00 not a pickle"):
        directory = tmp_path / str(len(damage))
        env = jinja2.Environment(loader=loader, bytecode_cache=TemplateCache(directory), **TEMPLATE_OPTIONS)
        assert env.get_template("t.j2").render(x=1) == "1\n"  # compiled: the entry written
        [entry] = directory.iterdir()
        entry.write_bytes(damage)
        env = jinja2.Environment(loader=loader, bytecode_cache=TemplateCache(directory), **TEMPLATE_OPTIONS)
        assert env.get_template("t.j2").render(x=2) == "2\n"
