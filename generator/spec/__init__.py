"""Spec reading: a YAML file (or the built-in demo spec) → the validated, immutable ``Model``."""

from __future__ import annotations

from pathlib import Path

from obsgen.demo import BUILTIN
from obsgen.model import Model
from obsgen.spec.build import build_model
from obsgen.spec.source import load_file, load_text


def default_spec_text() -> str:
    """The built-in spec's YAML (the demo in ``obsgen.demo.BUILTIN``)."""
    return BUILTIN.spec_text()


def load_default() -> Model:
    return build_model(load_text(default_spec_text(), BUILTIN.SPEC_NAME), BUILTIN.SOURCE)


def load_spec(path: Path | None) -> Model:
    """The validated model of ``path``, or of the default spec when ``path`` is None.

    Headers name the spec by file name only, so output is identical whatever the working directory.
    """
    if path is None:
        return load_default()
    return build_model(load_file(path), f"spec {path.name}")
