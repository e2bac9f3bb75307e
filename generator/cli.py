"""The ``obsgen`` command: parse arguments, call the core, turn outcomes into exit codes."""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path

import click
from obsgen import __version__
from obsgen import simulate as simulate_core
from obsgen.generate import build_tree, load, load_all
from obsgen.model import Model
from obsgen.spec.source import SpecInvalid
from obsgen.write import STACK, check_tree, write_tree

EXIT_DRIFT = 1
EXIT_BAD_INPUT = 2

SPEC_ARG = click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))
SPECS_ARG = click.argument("specs", metavar="[SPEC]...", nargs=-1, type=click.Path(path_type=Path))


def _invalid(exc: SpecInvalid, shown: str) -> None:
    for error in exc.errors:
        click.echo(str(error), err=True)
    click.echo(f"obsgen: {len(exc.errors)} error(s) in {shown}; nothing was written.", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _shown(specs: tuple[Path, ...]) -> str:
    return ", ".join(map(str, specs)) if specs else "the built-in spec"


def _owner(owner: str) -> str:
    """How drift and removals name the producer of a file (the manifest's owner column)."""
    return "shared files" if owner == STACK else f"service {owner}" if owner else "files of an earlier obsgen"


def _load(spec: Path | None) -> Model:
    try:
        return load(spec)
    except SpecInvalid as exc:
        _invalid(exc, _shown((spec,) if spec else ()))
        raise  # unreachable: _invalid exits


def _load_all(specs: tuple[Path, ...]) -> tuple[Model, ...]:
    try:
        return load_all(specs)
    except SpecInvalid as exc:
        _invalid(exc, _shown(specs))
        raise  # unreachable: _invalid exits


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="obsgen")
def main() -> None:
    """Describe a service's telemetry once; generate its rules, dashboards and configs.

    \b
    Example:
      obsgen generate                 # the built-in demo spec, into .
      obsgen generate my-service.yaml --out deploy/
      obsgen generate specs/ --out deploy/   # every *.yaml/*.yml of specs/: one tree, one stack
      obsgen generate --check         # CI: exit 1 with a diff if committed files drift
    """


@main.command()
@SPECS_ARG
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory the output tree is written to.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a diff if files under --out differ.")
def generate(specs: tuple[Path, ...], out: Path, check: bool) -> None:
    """Generate one output tree from the SPEC files (default: the built-in demo spec).

    A directory stands for its *.yaml and *.yml files. Each service gets its own folders (rules, rule
    tests, schemas, dashboards); the stack's configs (Prometheus, Alertmanager, collector, Loki,
    Grafana, compose) are shared by all. Files of services no longer given are removed; the files of
    the others are left untouched.

    \b
    Example:
      obsgen generate specs/service.yaml --out generated/
      obsgen generate specs/checkout.yaml specs/inventory.yaml --out generated/
      obsgen generate specs/ --check
    """
    models = _load_all(specs)
    tree = build_tree(models)
    source = ", ".join(m.source for m in models)
    if out.exists() and not out.is_dir():
        click.echo(f"obsgen: --out {out}: is not a directory — pass a directory path", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if check:
        drift = check_tree(tree, out)
        if drift.clean:
            click.echo(f"obsgen: {len(tree)} generated files under {out} match {source}.")
            return
        sys.stdout.write(drift.diff)
        for owner, kinds in drift.by_owner().items():
            click.echo(f"{_owner(owner)}: " + ", ".join(f"{len(paths)} {kind}" for kind, paths in kinds.items()))
            for path in kinds.get("missing", []):
                click.echo(f"  missing: {path}")
            for path in kinds.get("stale", []):
                click.echo(f"  stale: {path} (written by obsgen before; no spec given produces it now)")
        click.echo(f"obsgen: {len(drift.changed)} changed, {len(drift.missing)} missing, {len(drift.stale)} stale "
                   f"under {out}; run `obsgen generate` and commit the result.", err=True)
        sys.exit(EXIT_DRIFT)
    try:
        written = write_tree(tree, out)
    except OSError as exc:
        click.echo(f"obsgen: --out {out}: cannot write ({exc.strerror}) — choose a writable directory", err=True)
        sys.exit(EXIT_BAD_INPUT)
    removed = sorted({_owner(owner) for owner, _ in written.removed})
    click.echo(f"obsgen: {len(tree)} files under {out} from {source}: {len(written.written)} written, "
               f"{len(written.unchanged)} unchanged"
               + (f"; removed {len(written.removed)} stale (of {', '.join(removed)})" if written.removed else "")
               + ".")


@main.command()
@SPECS_ARG
def validate(specs: tuple[Path, ...]) -> None:
    """Validate the SPEC files (default: the built-in spec), alone and together; write nothing.

    Together means: no two specs declare the same service, alert, Prometheus series or dashboard uid.

    \b
    Example:
      obsgen validate specs/service.yaml
      obsgen validate specs/
    """
    for model in _load_all(specs):
        click.echo(f"obsgen: {model.source} is valid: {len(model.events)} events, {len(model.metrics)} metrics, "
                   f"{len(model.alerts)} alerts, {len(model.slos)} SLOs.")


# --- obsgen simulate / obsgen killswitch serve (core: generator/simulate/) ---------------------------


@main.command()
@SPEC_ARG
@click.option("--minutes", type=click.FloatRange(0, min_open=True), default=1440.0, show_default=True,
              help="Simulated minutes to run (1440: a whole day).")
@click.option("--start", default="00:00", show_default=True, help="Simulated time of day (UTC) to start at, HH:MM.")
@click.option("--speedup", type=click.FloatRange(0, min_open=True), default=1440.0, show_default=True,
              help="Simulated seconds per wall-clock second (1440: a day in a minute).")
@click.option("--rate", type=click.FloatRange(0, min_open=True), default=None,
              help="Journeys (root events and what follows them) per wall-clock second at the daily peak "
                   "[default: the spec's simulation.roots peak_per_s].")
@click.option("--no-pacing", is_flag=True, help="Send the same journeys as fast as possible, without waiting.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same journeys.")
@click.option("--incident", "incidents", multiple=True, metavar="NAME",
              help="Break something on purpose (repeatable): an incident of the spec's simulation.incidents.")
@click.option("--incident-at", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Simulated minutes after the start when the incident begins.")
@click.option("--incident-minutes", type=click.FloatRange(0, min_open=True), default=None,
              help="How long the incident lasts, in simulated minutes [default: to the end].")
@click.option("--set", "settings", multiple=True, metavar="FIELD=VALUE",
              help="Give every event this value of FIELD (repeatable), e.g. --set region=eu.")
@click.option("--endpoint", default=None, help="OTLP endpoint [default: OTEL_EXPORTER_OTLP_ENDPOINT, else "
              "http://localhost:4318].")
@click.option("--protocol", type=click.Choice(["http/protobuf", "grpc"]), default=None,
              help="OTLP protocol [default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf].")
@click.option("--dev", is_flag=True, help="Runtime dev mode: a fixed, public PII key. Without it the key comes from "
              "OBSGEN_PII_KEY or OBSGEN_PII_KEY_FILE.")
@click.option("--export-interval", type=click.FloatRange(0, min_open=True), default=None,
              help="Metric export interval, seconds [default: OTEL_METRIC_EXPORT_INTERVAL, else 5].")
@click.option("--killswitch-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Watch this kill-switch state file (written by `obsgen killswitch serve`).")
@click.option("--killswitch-port", type=click.IntRange(0, 65535), default=None,
              help="Embed the kill-switch receiver on this port (0: any free port); needs --token-file.")
@click.option("--killswitch-host", default="127.0.0.1", show_default=True, help="Address of the embedded receiver.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Bearer token file of the embedded receiver.")
@click.option("--json", "json_out", metavar="FILE", default=None,
              help="Also write the summary as JSON to FILE (- for stdout; the text summary then goes to stderr).")
def simulate(spec: Path | None, minutes: float, start: str, speedup: float, rate: float | None, no_pacing: bool,
             seed: int, incidents: tuple[str, ...], incident_at: float, incident_minutes: float | None,
             settings: tuple[str, ...], endpoint: str | None, protocol: str | None, dev: bool,
             export_interval: float | None, killswitch_file: Path | None, killswitch_port: int | None,
             killswitch_host: str, token_file: Path | None, json_out: str | None) -> None:
    """Drive the instrumentation runtime with synthetic traffic for SPEC (default: the built-in spec), over OTLP.

    The traffic follows SPEC's `simulation` section (rates, diurnal shape, populations, steps, value
    distributions), with defaults derived from the rest of the spec where it says nothing. --incident
    applies one of its declared incidents; kill-switches that are on (--killswitch-file or
    --killswitch-port) apply their declared reactions. Prints what it sent, per event type. SIGTERM or
    Ctrl-C stops early, still flushing.

    \b
    Example:
      obsgen simulate --dev --minutes 60 --speedup 60 --rate 50 --endpoint http://127.0.0.1:4318
      obsgen simulate my-service.yaml --incident NAME --killswitch-file /var/run/killswitch.json
      obsgen simulate specs/checkout.yaml --dev --set region=eu --no-pacing
    """
    from obsgen.runtime.pii import PiiKeyError  # the runtime loads only for the commands that run it

    model = _load(spec)
    try:
        config = simulate_core.SimulationConfig(
            minutes=minutes, start_minute=simulate_core.parse_clock(start), speedup=speedup, rate=rate,
            pace=not no_pacing, seed=seed, incidents=incidents, incident_at=incident_at,
            incident_minutes=incident_minutes, fixed=dict(simulate_core.parse_setting(model, s) for s in settings))
        app = simulate_core.SimulatedApp(model, config, endpoint=endpoint, protocol=protocol, dev=dev,
                                         export_interval_s=export_interval, killswitch_file=killswitch_file,
                                         killswitch_port=killswitch_port, killswitch_host=killswitch_host,
                                         token_file=token_file)
    except (ValueError, PiiKeyError) as exc:
        click.echo(f"obsgen simulate: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    with app:
        if app.receiver_url:
            click.echo(f"obsgen simulate: kill-switch receiver listening on {app.receiver_url}", err=True)

        def switched(x: simulate_core.Transition) -> None:
            click.echo(f"obsgen simulate: kill-switch {x.name} turned {'on' if x.active else 'off'}", err=True)

        def started() -> None:
            click.echo("obsgen simulate: sending traffic (SIGTERM or Ctrl-C stops early and still reports)", err=True)

        if sys.stderr.isatty():
            with click.progressbar(length=app.ticks, label="simulating", file=sys.stderr) as bar:
                summary = app.run(on_tick=lambda _: bar.update(1), on_switch=switched, on_start=started)
        else:
            summary = app.run(on_switch=switched, on_start=started)
    click.echo(simulate_core.format_summary(summary), err=json_out == "-")
    if json_out is not None:
        text = simulate_core.write_json(summary, json_out)
        if json_out == "-":
            click.echo(text)


@main.group()
def killswitch() -> None:
    """Kill-switches that Alertmanager flips (the spec's kill_switches).

    \b
    Example:
      obsgen killswitch serve --token-file secrets/killswitch-token --state-file /var/run/killswitch.json
    """


@killswitch.command("serve")
@SPEC_ARG
@click.option("--token-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the bearer token Alertmanager sends (credentials_file in alertmanager.yml).")
@click.option("--state-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file mirroring the switches, for apps to watch; loaded at start, so latched switches "
                   "survive a restart.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on [default: the port of the spec's kill_switch_webhook url, else 9095].")
@click.option("--reset-on-resolve", is_flag=True, help="Turn a switch off when its alert resolves (default: latch "
              "until POST /v1/reset).")
def killswitch_serve(spec: Path | None, token_file: Path, state_file: Path, host: str, port: int | None,
                     reset_on_resolve: bool) -> None:
    """Run Alertmanager's kill-switch webhook receiver until SIGTERM or Ctrl-C.

    POST /v1/alertmanager (Alertmanager webhook, bearer token) turns on the switch named by a firing
    alert's kill_switch label; POST /v1/reset turns switches off; GET /v1/state shows them.

    \b
    Example:
      openssl rand -hex 32 > secrets/killswitch-token
      obsgen killswitch serve --token-file secrets/killswitch-token --state-file /var/run/killswitch.json
      obsgen simulate --dev --killswitch-file /var/run/killswitch.json
    """
    model = _load(spec)
    if port is None:
        webhook = model.routing.kill_switch_webhook
        port = (urllib.parse.urlsplit(webhook.url).port if webhook else None) or 9095
    try:
        simulate_core.serve_killswitch(
            model, token_file, state_file, host, port, reset_on_resolve,
            ready=lambda url: click.echo(f"obsgen killswitch: listening on {url}; state in {state_file}"))
    except (ValueError, OSError) as exc:
        click.echo(f"obsgen killswitch serve: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
