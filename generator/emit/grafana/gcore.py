"""grafanalib's ``core`` (imported as ``g``), its attrs classes' generated methods taken from obsgen's code cache.

Importing ``grafanalib.core`` makes attrs write and compile the methods of 103 classes: 80 ms, a fifth of
a cold ``obsgen generate``; with their compiled code cached (``obsgen.codecache``) it takes 35 ms.
"""

from __future__ import annotations

import sys

from obsgen.codecache import CodeCache, cached_compile

if "grafanalib.core" in sys.modules:
    from grafanalib import core as g
else:
    try:
        from attr import _make as attrs_make  # where attrs compiles the methods it writes
    except ImportError:  # another layout of attrs: compile as usual
        from grafanalib import core as g
    else:
        with cached_compile(attrs_make, CodeCache("grafanalib")):
            from grafanalib import core as g

__all__ = ["g"]
