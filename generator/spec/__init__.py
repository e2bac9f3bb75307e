"""Spec reading: a YAML file (or the built-in demo spec) → the validated, immutable ``Model``."""

from __future__ import annotations

from pathlib import Path

from obsgen.demo import BUILTIN
from obsgen.model import Model
from obsgen.spec.build import build_model
from obsgen.spec.source import Document, load_file, load_text


def default_spec_text() -> str:
    """The built-in spec's YAML (the demo in ``obsgen.demo.BUILTIN``)."""
    return BUILTIN.spec_text()


def load_default() -> Model:
    return load_spec(None)


def read_spec(path: Path | None) -> tuple[Document, str]:
    """The parsed YAML of ``path`` (None: the built-in spec) and how generated headers name it.

    Headers name the spec by file name only, so output is identical whatever the working directory; bytes of
    the name that are not UTF-8 are written as escapes (``\\xff``): the generated files are UTF-8 text.
    """
    if path is None:
        return load_text(default_spec_text(), BUILTIN.SPEC_NAME), BUILTIN.SOURCE
    name = path.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return load_file(path), f"spec {name}"


def load_spec(path: Path | None) -> Model:
    """The validated model of ``path``, or of the default spec when ``path`` is None."""
    return build_model(*read_spec(path))
