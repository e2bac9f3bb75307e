"""Where specs come from: a file the user names, or the built-in default spec."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from generator.loader import load_file, load_text
from generator.model import Model
from generator.validate import build_model

DEFAULT_SPEC = "specs/movie-recommender.yaml"
DEFAULT_SOURCE = "obsgen built-in spec movie-recommender.yaml"


def load_default() -> Model:
    text = resources.files("generator").joinpath(DEFAULT_SPEC).read_text(encoding="utf-8")
    return build_model(load_text(text, DEFAULT_SPEC), DEFAULT_SOURCE)


def load_spec(path: Path | None) -> Model:
    """The validated model of ``path``, or of the default spec when ``path`` is None.

    Headers name the spec by file name only, so output is identical whatever the working directory.
    """
    if path is None:
        return load_default()
    return build_model(load_file(path), f"spec {path.name}")
