"""Jinja2 templates for generated configs, shipped as the package ``obsgen.templates``."""
