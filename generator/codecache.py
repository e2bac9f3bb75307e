"""Compiled code of generated Python source, cached the way Python caches modules' bytecode.

Python code writes and compiles Python source at run time: ``dataclasses`` the methods of each dataclass
(465 for obsgen's modules), attrs those of grafanalib's 103 classes when ``grafanalib.core`` is imported,
Jinja2 each stack template on first use. Compiling that source is most of what they cost a cold ``obsgen
generate`` (about 40, 45 and 25 ms of 0.4 s). A ``CodeCache`` keeps the code objects in one ``marshal``
file, like a ``.pyc``:

* where Python keeps obsgen's own bytecode: ``__pycache__`` next to the package, or under
  ``sys.pycache_prefix`` (``PYTHONPYCACHEPREFIX``); named with the interpreter's cache tag;
* read whenever it exists, written only where Python would write bytecode (not under
  ``sys.dont_write_bytecode``, i.e. ``PYTHONDONTWRITEBYTECODE``), atomically, and never an error: an
  unwritable or corrupt cache just means compiling, as without it;
* keyed by a hash of everything the code is compiled from (source, file name, flags; for templates the
  template's checksum and the environment's options), so a stale entry is never used: it is only left
  unused, and dropped once unused entries outnumber the used ones.
"""

from __future__ import annotations
import __future__

import hashlib
import marshal
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any


def cache_dir() -> Path:
    """Where Python keeps obsgen's bytecode (``importlib.util.cache_from_source``'s directory)."""
    package = Path(__file__).resolve().parent
    if sys.pycache_prefix:
        return Path(sys.pycache_prefix) / package.relative_to(package.anchor)
    return package / "__pycache__"


class CodeCache:
    """One file of code objects by key; ``save`` writes it back if something was compiled."""

    def __init__(self, name: str) -> None:
        self.path = cache_dir() / f"{name}.{sys.implementation.cache_tag}.codecache"
        self.entries: dict[bytes, CodeType] = {}
        self.used: set[bytes] = set()
        self.added = False
        with suppress(OSError, EOFError, ValueError, TypeError):
            entries = marshal.loads(self.path.read_bytes())
            if isinstance(entries, dict) and all(isinstance(c, CodeType) for c in entries.values()):
                self.entries = entries

    @staticmethod
    def key(*parts: str | int) -> bytes:
        return hashlib.sha256("\0".join(map(str, parts)).encode("utf-8", "surrogatepass")).digest()[:20]

    def get(self, key: bytes) -> CodeType | None:
        code = self.entries.get(key)
        if code is not None:
            self.used.add(key)
        return code

    def put(self, key: bytes, code: CodeType) -> None:
        self.entries[key] = code
        self.used.add(key)
        self.added = True

    def save(self) -> None:
        if not self.added or sys.dont_write_bytecode:
            return
        entries = self.entries
        if len(entries) > 2 * len(self.used):  # mostly entries of other versions: keep what this run used
            entries = {key: code for key, code in entries.items() if key in self.used}
        with suppress(OSError, ValueError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(marshal.dumps(entries))
                os.replace(temporary, self.path)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temporary)
                raise
        self.added = False


def _future_flags(module: ModuleType) -> int:
    """The ``__future__`` flags a ``compile`` call inside ``module`` inherits."""
    return sum(value.compiler_flag for value in vars(module).values() if isinstance(value, __future__._Feature))


@contextmanager
def cached_compile(module: ModuleType, cache: CodeCache, builtin: str = "compile") -> Iterator[None]:
    """While inside, the ``compile(source, filename, mode)`` (or, with ``builtin="exec"``, the ``exec(source,
    globals, locals)``) that ``module``'s functions call takes the code of a source string from ``cache``
    (compiling and adding what is missing), with the ``__future__`` flags it would have inherited there."""
    if builtin in vars(module):  # the module has one of its own: leave it alone
        yield
        return
    inherited = _future_flags(module)

    def compile_(source: Any, filename: str, mode: str, flags: int = 0, dont_inherit: bool = False,
                 optimize: int = -1, **kwargs: Any) -> CodeType:
        flags |= 0 if dont_inherit else inherited
        if not isinstance(source, str) or kwargs:
            return compile(source, filename, mode, flags, True, optimize, **kwargs)
        key = CodeCache.key(source, filename, mode, flags, optimize if optimize >= 0 else sys.flags.optimize)
        code = cache.get(key)
        if code is None:
            code = compile(source, filename, mode, flags, True, optimize)
            cache.put(key, code)
        return code

    def exec_(source: Any, globals: dict[str, Any] | None = None, locals: Any = None, /, **kwargs: Any) -> None:
        code = compile_(source, "<string>", "exec") if isinstance(source, str) else source
        exec(code, globals, locals, **kwargs)

    setattr(module, builtin, {"compile": compile_, "exec": exec_}[builtin])  # a module global shadows the builtin
    try:
        yield
    finally:
        delattr(module, builtin)
        cache.save()
