"""Spec reading: a YAML file (or the built-in demo spec) → the validated, immutable ``Model``."""

from __future__ import annotations

from pathlib import Path

from obsgen.demo import movie_recommender
from obsgen.model import Model
from obsgen.spec.build import build_model
from obsgen.spec.source import Document, load_file, load_text

DEFAULT_SOURCE = "obsgen built-in spec movie-recommender.yaml"


def default_spec_text() -> str:
    """The built-in spec's YAML: the movie recommender demo."""
    return movie_recommender.spec_text()


def load_default() -> Model:
    return build_model(load_text(default_spec_text(), movie_recommender.SPEC_NAME), DEFAULT_SOURCE)


def read_spec(path: Path | None) -> tuple[Document, str]:
    """The parsed YAML of ``path`` (None: the built-in spec) and how generated headers name it.

    Headers name the spec by file name only, so output is identical whatever the working directory.
    """
    if path is None:
        return load_text(default_spec_text(), movie_recommender.SPEC_NAME), DEFAULT_SOURCE
    return load_file(path), f"spec {path.name}"


def load_spec(path: Path | None) -> Model:
    """The validated model of ``path``, or of the default spec when ``path`` is None."""
    return build_model(*read_spec(path))
