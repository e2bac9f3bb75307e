"""What ``obsgen lake …`` does, as functions returning the text it prints (the CLI only parses arguments)."""

from __future__ import annotations

import datetime as dt
import json

from obsgen.lake import access, maintain
from obsgen.lake import rollup as rollups
from obsgen.lake.ingest import Ingest
from obsgen.lake.layout import Lake, Windows
from obsgen.model import Model


def ingest(model: Model, landing: str, lake_uri: str) -> str:
    summary = Ingest(model, Lake.at(lake_uri)).run(landing)
    report = summary.to_dict(Windows.of(model)["late_arrival"])
    lines = [f"obsgen lake ingest: {summary.files_read} landing files read, {summary.files_skipped} already "
             f"ingested; into {lake_uri}:", f"  {'event':<24}{'written':>10}{'duplicate':>11}{'quarantined':>13}"
             f"{'late':>7}"]
    names = sorted(set(summary.ingested) | set(summary.duplicates) | set(summary.quarantined) | set(summary.late))
    for name in names:
        lines.append(f"  {name:<24}{summary.ingested[name]:>10}{summary.duplicates[name]:>11}"
                     f"{summary.quarantined[name]:>13}{summary.late[name]:>7}")
    lines.append(f"  stale dates: {', '.join(report['stale_dates']) or 'none'}")
    lines.append(f"  timeliness: {json.dumps(report['timeliness'])}")
    return "\n".join(lines)


def rollup(model: Model, lake_uri: str, grain: str, dates: list[dt.date] | None, engine: str, master: str) -> str:
    lake = Lake.at(lake_uri)
    done = rollups.run(model, lake, grain, dates, engine, master)
    if not done:
        return f"obsgen lake rollup: no stale {grain} periods in {lake_uri}."
    return "\n".join(f"obsgen lake rollup: {grain} {start}: {rows} rows → {lake.aggregate(grain, start)}"
                     for start, rows in done)


def _maintain(lake: Lake, actions: list[maintain.Action], dry_run: bool, verb: str,
              tiers: dict[str, Lake] | None = None) -> str:
    if not actions:
        return f"obsgen lake {verb}: nothing to do."
    lines = [str(a) for a in actions]
    if dry_run:
        return "\n".join([*lines, f"obsgen lake {verb}: dry run, {len(actions)} change(s) not made."])
    maintain.apply(lake, actions, tiers)
    return "\n".join([*lines, f"obsgen lake {verb}: {len(actions)} change(s) made."])


def compact(lake_uri: str, target_mb: int, dry_run: bool) -> str:
    lake = Lake.at(lake_uri)
    return _maintain(lake, maintain.plan_compact(lake, target_mb), dry_run, "compact")


def _today(today: dt.date | None) -> dt.date:
    return today or dt.datetime.now(dt.UTC).date()


def tier(model: Model, lake_uri: str, warm_uri: str, cold_uri: str, today: dt.date | None, dry_run: bool) -> str:
    lake, warm, cold = Lake.at(lake_uri), Lake.at(warm_uri), Lake.at(cold_uri)
    actions = maintain.plan_tier(model, lake, warm, cold, _today(today))
    return _maintain(lake, actions, dry_run, "tier", {t.uri: t for t in (lake, warm, cold)})


def retain(model: Model, lake_uri: str, today: dt.date | None, dry_run: bool, landing: str | None = None) -> str:
    lake = Lake.at(lake_uri)
    actions = (maintain.plan_landing(lake, landing) if landing else []) + maintain.plan_retain(model, lake,
                                                                                                _today(today))
    return _maintain(lake, actions, dry_run, "retain")


def views(model: Model, lake_uri: str, engine: str) -> str:
    return ";\n".join(access.views(model, Lake.at(lake_uri), engine)) + ";"
