"""The ``obsgen`` command: parse arguments, call the core, map results to exit codes."""

from __future__ import annotations

import shlex
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from obsgen import __version__
from obsgen.generate import TARGETS, build_tree, load, load_all, spec_clash
from obsgen.model import Model
from obsgen.offload import DashboardWorker
from obsgen.spec.source import SpecInvalid
from obsgen.write import JOURNAL, STACK, WriteFailed, check_tree, write_tree

if TYPE_CHECKING:
    from obsgen.diff.changes import TreeDiff

EXIT_DRIFT = 1
EXIT_BAD_INPUT = 2

SPEC_ARG = click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))
SPECS_ARG = click.argument("specs", metavar="[SPEC]...", nargs=-1, type=click.Path(path_type=Path))
FORMATS = ("text", "summary", "json", "github")
TARGET_OPTION = click.option("--target", "targets", multiple=True, type=click.Choice(list(TARGETS)),
                             help="Deployment files to generate (repeatable) [default: compose and kubernetes]: "
                                  "compose = one machine (docker-compose.yml, Prometheus, Loki, Grafana configs); "
                                  "kubernetes = operator resources under kubernetes/.")


def format_option(default: str):
    return click.option("--format", "output_format", type=click.Choice(FORMATS), default=default, show_default=True,
                        help="text: the unified diff; summary: changes in rule terms, then the diff; json: "
                             "changes for bots (shape: obsgen.diff.render); github: Actions ::warning annotations.")


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
      obsgen init --name checkout     # a starting spec: checkout.yaml
    """


@main.command()
@SPECS_ARG
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory the output tree is written to.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a diff if files under --out differ.")
@format_option("text")
@TARGET_OPTION
def generate(specs: tuple[Path, ...], out: Path, check: bool, output_format: str, targets: tuple[str, ...]) -> None:
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
    worker = DashboardWorker.start()  # imports grafanalib on another core while the specs load
    try:
        models = _load_all(specs)
        tree = build_tree(models, targets or TARGETS, worker if any(m.dashboards for m in models) else None)
    finally:
        if worker is not None:
            worker.cancel()
    source = ", ".join(m.source for m in models)
    if out.exists() and not out.is_dir():
        click.echo(f"obsgen: --out {out}: is not a directory — pass a directory path", err=True)
        sys.exit(EXIT_BAD_INPUT)
    clash = spec_clash(specs, tree, out)
    if clash:
        spec, path = clash
        harm = (f"would land among the specs of {spec} and be read as one" if spec.is_dir() else
                f"would overwrite the spec {spec}")
        click.echo(f"obsgen: --out {out}: the generated {path} {harm} — choose another --out", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if check:
        drift = check_tree(tree, out)
        if drift.clean:
            click.echo(f"obsgen: {len(tree)} generated files under {out} match {source}.")
            return
        if output_format != "text":
            from obsgen.diff import diff_trees
            from obsgen.diff.trees import disk_tree

            sys.stdout.write(_render(diff_trees(disk_tree(tree, out), tree, drift.diff), output_format, out))
        else:
            sys.stdout.write(drift.diff)
        for owner, kinds in drift.by_owner().items() if output_format == "text" else ():
            click.echo(f"{_owner(owner)}: " + ", ".join(f"{len(paths)} {kind}" for kind, paths in kinds.items()))
            for path in kinds.get("missing", []):
                click.echo(f"  missing: {path}")
            for path in kinds.get("stale", []):
                click.echo(f"  stale: {path} (written by obsgen before; no spec given produces it now)")
        if drift.interrupted:
            click.echo(f"an earlier `obsgen generate` was interrupted while swapping files in ({JOURNAL} is there); "
                       "the next run rolls it back first")
        command = shlex.join(["obsgen", "generate", *map(str, specs), "--out", str(out)])
        click.echo(f"obsgen: {len(drift.changed)} changed, {len(drift.missing)} missing, {len(drift.stale)} stale "
                   f"under {out}; run `{command}` and commit the result.", err=True)
        sys.exit(EXIT_DRIFT)
    try:
        written = write_tree(tree, out)
    except WriteFailed as exc:
        if exc.fix:
            click.echo(f"obsgen: --out {out}: {exc.path}: {exc.reason}"
                       f"{'; nothing was changed' if exc.rolled_back else ''} — {exc.fix}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        state = ("nothing was changed" if exc.rolled_back else
                 f"the tree is part old, part new until the next `obsgen generate` rolls it back from {JOURNAL}")
        click.echo(f"obsgen: cannot write {exc.path} under --out {out} ({exc.reason}); {state} — make it writable "
                   "or choose another --out", err=True)
        sys.exit(EXIT_BAD_INPUT)
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
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory of the committed tree: compared with (without --base); "
              "where --format github annotations point.")
@click.option("--base", metavar="REV", default=None,
              help="Compare the trees generated from the SPEC files at git revision REV and as they are now.")
@format_option("summary")
@TARGET_OPTION
def diff(specs: tuple[Path, ...], out: Path, base: str | None, output_format: str, targets: tuple[str, ...]) -> None:
    """What regenerating would change, in rule terms: alerts, recording rules, SLOs, routes, receivers,
    dashboard panels, collector pipelines. Exit 1 when anything differs.

    Without --base: the committed tree under --out against the one the SPEC files generate now. With
    --base REV: the SPEC files at git revision REV against the SPEC files now (both generated in memory).

    \b
    Example:
      obsgen diff                                  # the built-in spec against the tree in .
      obsgen diff specs/checkout.yaml --base origin/main --format github
      obsgen diff specs/ --out deploy/ --format json
    """
    from obsgen.diff import diff_trees, text_diff
    from obsgen.diff.revisions import RevisionError, tree_at
    from obsgen.diff.trees import disk_tree

    tree = build_tree(_load_all(specs), targets or TARGETS)
    if base is None:
        old, labels = disk_tree(tree, out), ("on disk", "generated")
    else:
        try:
            old = tree_at(base, specs, targets or TARGETS)
        except RevisionError as exc:
            click.echo(f"obsgen diff: --base {exc} — name a commit, branch or tag", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except SpecInvalid as exc:
            _invalid(exc, f"the specs at {base}")
        labels = (base, "now")
    result = diff_trees(old, tree, text_diff(old, tree, *labels))
    sys.stdout.write(_render(result, output_format, out))
    sys.exit(0 if result.clean else EXIT_DRIFT)


def _render(result: TreeDiff, output_format: str, out: Path) -> str:
    """A diff in one of FORMATS; ``summary`` puts the textual diff after the summary."""
    from obsgen.diff import render

    if output_format == "json":
        return render.as_json(result)
    if output_format == "github":
        return render.github(result, out.as_posix()) + render.summary(result)
    if output_format == "text":
        return result.text
    return render.summary(result) + ("\n" + result.text if result.text else "")


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


def _one_line(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """What goes on the spec's modeline: a line break there would put YAML of its own into the spec."""
    if value is not None and (not value or any(ch < " " or ch == "\x7f" for ch in value)):
        raise click.BadParameter("must be a path or URL on one line, without control characters")
    return value


@main.command()
@click.option("--name", default="my-service", show_default=True,
              help="The service's name (lower case, digits, -); also names its namespace, alerts and dashboard.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write [default: NAME.yaml]; an existing file is never overwritten.")
@click.option("--schema", "schema_ref", default=None, metavar="PATH|URL", callback=_one_line,
              help="What the editor modeline points at [default: the installed obsgen's spec JSON Schema, as a "
                   "path relative to the spec].")
def init(name: str, out: Path | None, schema_ref: str | None) -> None:
    """Write a small commented spec for a plain HTTP service: requests, errors and latency, an availability
    and a latency SLO, two alerts and a dashboard. It validates and generates as written; edit it from there.

    \b
    Example:
      obsgen init --name checkout                 # writes checkout.yaml
      obsgen init --name checkout --out specs/checkout.yaml
      obsgen generate specs/checkout.yaml --out deploy/
    """
    from obsgen.init_spec import init_text, schema_reference
    from obsgen.spec_schema import SCHEMA_FILE

    out = out or Path(f"{name}.yaml")
    try:
        text = init_text(name, schema_ref or schema_reference(out, SCHEMA_FILE))
    except ValueError as exc:
        click.echo(f"obsgen init: --name: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        with open(out, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        click.echo(f"obsgen init: {out} already exists; nothing was written — choose another --out", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        click.echo(f"obsgen init: cannot write {out} ({exc.strerror}) — choose a writable --out", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"obsgen: wrote {out} (service {name}); next: "
               f"{shlex.join(['obsgen', 'generate', str(out), '--out', 'deploy'])}")


@main.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the spec format, for editors and other checkers.

    The same schema ships with obsgen; `obsgen init` points new specs at it with a yaml-language-server
    modeline. `obsgen validate` checks more (references between sections, the queries).

    \b
    Example:
      obsgen schema > obsgen-spec.schema.json
    """
    from obsgen.spec_schema import schema_text

    click.echo(schema_text(), nl=False)


# --- obsgen simulate / obsgen killswitch serve (core: generator/simulate/) ---------------------------


def _new_file(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A file written at the end of a long run: a path that cannot be one is refused before the run, not after."""
    if value not in (None, "-") and (Path(value).is_dir() or not Path(value).parent.is_dir()):
        raise click.BadParameter(f"{value} is a directory, or its folder does not exist — name a file to write")
    return value


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
@click.option("--backpressure", is_flag=True,
              help="Wait while the export queues are over half full instead of dropping (a load test of the "
                   "collector and backends; a queue that stops draining is not waited for).")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same journeys.")
@click.option("--incident", "incidents", multiple=True, metavar="NAME",
              help="Break something on purpose (repeatable): an incident of the spec's simulation.incidents.")
@click.option("--incident-at", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Simulated minutes after the start when the incident begins.")
@click.option("--incident-minutes", type=click.FloatRange(0, min_open=True), default=None,
              help="How long the incident lasts, in simulated minutes [default: to the end].")
@click.option("--set", "settings", multiple=True, metavar="FIELD=VALUE",
              help="Give every event this value of FIELD, a field of the spec (repeatable).")
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
@click.option("--json", "json_out", metavar="FILE", default=None, callback=_new_file,
              help="Also write the summary as JSON to FILE (- for stdout; the text summary then goes to stderr).")
def simulate(spec: Path | None, minutes: float, start: str, speedup: float, rate: float | None, no_pacing: bool,
             backpressure: bool, seed: int, incidents: tuple[str, ...], incident_at: float,
             incident_minutes: float | None, settings: tuple[str, ...], endpoint: str | None, protocol: str | None,
             dev: bool,
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
      obsgen simulate my-service.yaml --dev --set FIELD=VALUE --no-pacing
    """
    from obsgen import simulate as simulate_core  # the runtime loads only for the commands that run it
    from obsgen.runtime.pii import PiiKeyError

    model = _load(spec)
    try:
        config = simulate_core.SimulationConfig(
            minutes=minutes, start_minute=simulate_core.parse_clock(start), speedup=speedup, rate=rate,
            pace=not no_pacing, backpressure=backpressure, seed=seed, incidents=incidents, incident_at=incident_at,
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
        try:
            text = simulate_core.write_json(summary, json_out)
        except OSError as exc:
            click.echo(f"obsgen simulate: --json {json_out}: cannot write ({exc.strerror}) — choose a writable file",
                       err=True)
            sys.exit(EXIT_BAD_INPUT)
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
    alert's kill_switch label, if SPEC maps that alert to that switch (403 otherwise); POST /v1/reset
    turns switches off; GET /v1/state shows them, GET /v1/changes who switched them and when.

    \b
    Example:
      obsgen secrets init --out .     # secrets/killswitch-token, mode 0440 (world-readable is refused)
      obsgen killswitch serve --token-file secrets/killswitch-token --state-file /var/run/killswitch.json
      obsgen simulate --dev --killswitch-file /var/run/killswitch.json
    """
    from obsgen import simulate as simulate_core

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


@main.group("secrets")
def secrets_group() -> None:
    """The stack's passwords, tokens and web configs (secrets/ beside docker-compose.yml).

    \b
    Example:
      obsgen secrets init --out .
    """


@secrets_group.command("init")
@SPECS_ARG
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The generated tree (docker-compose.yml's directory); secrets go to OUT/secrets.")
def secrets_init(specs: tuple[Path, ...], out: Path) -> None:
    """Write the missing secrets of the stack of SPEC (default: the built-in spec) into OUT/secrets.

    Random passwords (Prometheus, Alertmanager, Grafana's admin) and webhook tokens, the bcrypt web
    configs of Prometheus and Alertmanager and amtool's http config; every file mode 0440, the
    directory 0750. An existing password or token is kept: delete its file to rotate it. With the
    spec's `stack: {tls: true}`, also the TLS files (tls-ca.crt, tls-server.crt, tls-server.key):
    yours are kept, else a private CA and server certificate are made with `openssl`.

    \b
    Example:
      obsgen secrets init --out deploy/
      amtool --http.config.file=deploy/secrets/amtool-http.yml --alertmanager.url=http://127.0.0.1:9093 alert
    """
    from obsgen.emit.render import Services
    from obsgen.secretfiles import init_secrets

    try:
        written = init_secrets(Services(_load_all(specs)), out)
    except (OSError, ValueError) as exc:
        click.echo(f"obsgen secrets init: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"obsgen: {written.directory}: {len(written.created)} written"
               + (f" ({', '.join(written.created)})" if written.created else "")
               + f", {len(written.kept)} kept. Set OBSGEN_SECRETS_GID={written.gid} in .env.")


# --- obsgen lake (core: generator/lake/) ------------------------------------------------------------

LAKE_OPT = click.option("--lake", "lake_uri", required=True, metavar="URI",
                        help="The lake's root: a local path or a filesystem URI (file://, s3://, gs://, hdfs://).")
DRY_RUN_OPT = click.option("--dry-run", is_flag=True, help="Print exactly what would change; change nothing.")
TODAY_OPT = click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
                         help="The date ages are counted from [default: today, UTC].")


@main.group()
def lake() -> None:
    """The telemetry lake: landing files → partitioned Parquet → rollups of the spec's indicators.

    \b
    Example (the daily job, README "The event lake"):
      obsgen lake ingest --landing lake/landing --lake lake/
      obsgen lake rollup --lake lake/ --grain day
    """


def _lake_run(action: Callable[[], str]) -> None:
    from obsgen.lake.lock import LakeLocked

    try:
        click.echo(action())
    except (LakeLocked, ValueError, OSError) as exc:
        click.echo(f"obsgen lake: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


@lake.command("ingest")
@SPEC_ARG
@click.option("--landing", required=True, metavar="URI", help="The landing zone the collector writes.")
@LAKE_OPT
def lake_ingest(spec: Path | None, landing: str, lake_uri: str) -> None:
    """Ingest SPEC's landing files (the --landing zone's folder of its service) into the lake.

    Idempotent: files already ingested (by content hash) are skipped, events already in the lake are not
    written twice. Prints what was ingested, de-duplicated, quarantined and set aside as late.

    \b
    Example:
      obsgen lake ingest --landing lake/landing --lake lake/
      obsgen lake ingest specs/checkout.yaml --landing s3://telemetry-landing --lake s3://telemetry-lake
    """
    from obsgen.lake import commands

    model = _load(spec)
    _lake_run(lambda: commands.ingest(model, landing, lake_uri))


@lake.command("rollup")
@SPEC_ARG
@LAKE_OPT
@click.option("--grain", type=click.Choice(["day", "week", "month"]), default="day", show_default=True)
@click.option("--date", "dates", multiple=True, type=click.DateTime(["%Y-%m-%d"]),
              help="A date of the period to roll up (repeatable) [default: every stale period].")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True)
@click.option("--master", default="local[2]", show_default=True, help="Spark master (--engine spark).")
def lake_rollup(spec: Path | None, lake_uri: str, grain: str, dates: tuple, engine: str, master: str) -> None:
    """Compute the spec's indicators per slice for each period into aggregates/ (Gzip Parquet).

    \b
    Example:
      obsgen lake rollup --lake lake/ --grain day              # every stale day
      obsgen lake rollup --lake lake/ --grain week --date 2026-11-20 --engine spark --master local[2]
    """
    from obsgen.lake import commands

    model = _load(spec)
    chosen = [d.date() for d in dates] or None
    _lake_run(lambda: commands.rollup(model, lake_uri, grain, chosen, engine, master))


@lake.command("compact")
@SPEC_ARG
@LAKE_OPT
@click.option("--target-mb", type=click.IntRange(1), default=128, show_default=True,
              help="Files smaller than this are merged.")
@DRY_RUN_OPT
def lake_compact(spec: Path | None, lake_uri: str, target_mb: int, dry_run: bool) -> None:
    """Merge each partition's small files into one.

    \b
    Example:
      obsgen lake compact --lake lake/ --dry-run
    """
    from obsgen.lake import commands

    _lake_run(lambda: commands.compact(lake_uri, target_mb, dry_run))


@lake.command("tier")
@SPEC_ARG
@LAKE_OPT
@click.option("--warm", "warm_uri", required=True, metavar="URI", help="Root of the warm tier.")
@click.option("--cold", "cold_uri", required=True, metavar="URI", help="Root of the cold tier.")
@TODAY_OPT
@DRY_RUN_OPT
def lake_tier(spec: Path | None, lake_uri: str, warm_uri: str, cold_uri: str, today: Any, dry_run: bool) -> None:
    """Move partitions older than retention.hot to the warm root, older than retention.warm to the cold one.

    \b
    Example:
      obsgen lake tier --lake lake/ --warm /mnt/warm/lake --cold s3://archive/lake --dry-run
    """
    from obsgen.lake import commands

    model = _load(spec)
    _lake_run(lambda: commands.tier(model, lake_uri, warm_uri, cold_uri, today and today.date(), dry_run))


@lake.command("retain")
@SPEC_ARG
@LAKE_OPT
@click.option("--landing", default=None, metavar="URI", help="Also delete landing files already ingested.")
@TODAY_OPT
@DRY_RUN_OPT
def lake_retain(spec: Path | None, lake_uri: str, landing: str | None, today: Any, dry_run: bool) -> None:
    """Delete what the spec's retention windows no longer allow (raw events, errors, rollups), and with
    --landing the landing files already ingested (never the collector's live file).

    \b
    Example:
      obsgen lake retain --lake lake/ --landing lake/landing --dry-run
    """
    from obsgen.lake import commands

    model = _load(spec)
    _lake_run(lambda: commands.retain(model, lake_uri, today and today.date(), dry_run, landing))


@lake.command("views")
@SPEC_ARG
@LAKE_OPT
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True)
def lake_views(spec: Path | None, lake_uri: str, engine: str) -> None:
    """Print the Engineer / Analyst / Viewer views of the lake as SQL for ENGINE.

    \b
    Example:
      obsgen lake views --lake lake/ | duckdb lake.duckdb
    """
    from obsgen.lake import commands

    model = _load(spec)
    _lake_run(lambda: commands.views(model, lake_uri, engine))


if __name__ == "__main__":
    main()
