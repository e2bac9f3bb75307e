"""The optional ``stack`` section: how the generated compose stack runs (``tls``: Prometheus and Alertmanager
serve HTTPS and their clients check the stack's CA)."""

from __future__ import annotations

from typing import Any

from obsgen import model as m
from obsgen.spec.reader import Checker


def parse_stack(c: Checker, raw: Any) -> m.Stack:
    p = ("stack",)
    d = c.mapping(raw, p, optional=("tls",))
    if d is None or "tls" not in d:
        return m.Stack()
    return m.Stack(tls=bool(c.boolean(d["tls"], p + ("tls",))))
