"""The ``obsgen`` command: parse arguments, call the core, turn outcomes into exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from generator import __version__, contract
from generator.emit import build_tree
from generator.loader import SpecInvalid
from generator.model import Model
from generator.spec import load_spec
from generator.writer import check_tree, write_tree

EXIT_DRIFT = 1
EXIT_BAD_INPUT = 2

SPEC_ARG = click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))


def _load(spec: Path | None) -> Model:
    try:
        model = load_spec(spec)
        if errors := contract.check(model):  # every query must select series the spec produces
            raise SpecInvalid(errors)
        return model
    except SpecInvalid as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        shown = spec if spec is not None else "the built-in spec"
        click.echo(f"obsgen: {len(exc.errors)} error(s) in {shown}; nothing was written.", err=True)
        sys.exit(EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="obsgen")
def main() -> None:
    """Describe a service's telemetry once; generate its rules, dashboards and configs.

    \b
    Example:
      obsgen generate                 # the built-in movie-recommender spec, into .
      obsgen generate my-service.yaml --out deploy/
      obsgen generate --check         # CI: exit 1 with a diff if committed files drift
    """


@main.command()
@SPEC_ARG
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory the output tree is written to.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a diff if files under --out differ.")
def generate(spec: Path | None, out: Path, check: bool) -> None:
    """Generate the output tree from SPEC (default: the built-in movie-recommender spec).

    \b
    Example:
      obsgen generate specs/service.yaml --out generated/
      obsgen generate --check
    """
    model = _load(spec)
    tree = build_tree(model)
    if out.exists() and not out.is_dir():
        click.echo(f"obsgen: --out {out}: is not a directory — pass a directory path", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if check:
        drift = check_tree(tree, out)
        if drift.clean:
            click.echo(f"obsgen: {len(tree)} generated files under {out} match {model.source}.")
            return
        sys.stdout.write(drift.diff)
        for path in drift.missing:
            click.echo(f"missing: {path}")
        for path in drift.stale:
            click.echo(f"stale: {path} (written by obsgen before; the spec no longer produces it)")
        click.echo(f"obsgen: {len(drift.changed)} changed, {len(drift.missing)} missing, {len(drift.stale)} stale "
                   f"under {out}; run `obsgen generate` and commit the result.", err=True)
        sys.exit(EXIT_DRIFT)
    try:
        removed = write_tree(tree, out)
    except OSError as exc:
        click.echo(f"obsgen: --out {out}: cannot write ({exc.strerror}) — choose a writable directory", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"obsgen: wrote {len(tree)} files under {out} from {model.source}"
               + (f"; removed {len(removed)} stale" if removed else "") + ".")


@main.command()
@SPEC_ARG
def validate(spec: Path | None) -> None:
    """Validate SPEC (default: the built-in spec) and report every problem; write nothing.

    \b
    Example:
      obsgen validate specs/service.yaml
    """
    model = _load(spec)
    click.echo(f"obsgen: {model.source} is valid: {len(model.events)} events, {len(model.metrics)} metrics, "
               f"{len(model.alerts)} alerts, {len(model.slos)} SLOs.")


if __name__ == "__main__":
    main()
