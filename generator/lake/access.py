"""Access tiers as SQL views, per engine: Engineer (raw events), Analyst (no id a user can be followed by),
Viewer (rollups only).

The Analyst views leave out every ``pii: high`` attribute (the pseudonymised user and session ids): what
is left can be joined within one context (its join key is ``pii: none``), never across a user's events.
Grant on the storage layer to match (README "The event lake"): Engineers read ``events/``, Analysts only
through these views (or a copy they write), Viewers only ``aggregates/``.
"""

from __future__ import annotations

import re

from obsgen.lake.engines import spark_path
from obsgen.lake.layout import AGGREGATES, EVENTS, Lake
from obsgen.lake.sql import DIALECTS, literal
from obsgen.model import Model

TIERS = ("engineer", "analyst", "viewer")


def view_name(tier: str, event: str) -> str:
    return f"{tier}_" + "".join(ch if ch.isalnum() else "_" for ch in event)


def masked(model: Model) -> set[str]:
    """Columns the Analyst and Viewer never see: identifiers of a person (``pii: high``)."""
    return {name for name, attr in model.attributes.items() if attr.pii == "high"}


def _source(engine: str, path: str) -> str:
    """SQL reading the Parquet files under ``path`` (quoted, and glob characters made literal: a lake's path may hold
    any character, and ``/data/lake*`` must not read the lakes beside it)."""
    if engine == "duckdb":
        files = re.sub(r"([*?\[])", r"[\1]", path) + "/**/*.parquet"
        return f"read_parquet({literal(files)}, hive_partitioning = true, union_by_name = true)"
    return f"parquet.{DIALECTS[engine].quote(spark_path(path))}"


def views(model: Model, lake: Lake, engine: str) -> list[str]:
    """``CREATE`` statements of every tier's views over ``lake``, in ``engine``'s SQL."""
    q = DIALECTS[engine].quote
    create = "CREATE OR REPLACE VIEW" if engine == "duckdb" else "CREATE OR REPLACE TEMPORARY VIEW"
    hidden = masked(model)
    out = []
    for event in model.events:
        engineer = view_name("engineer", event.name)
        out.append(f"{create} {engineer} AS SELECT * FROM "
                   f"{_source(engine, lake.url(lake.path(EVENTS, f'event_type={event.name}')))}")
        columns = [q(f) for f in event.fields if f not in hidden] + ["event_date"]
        out.append(f"{create} {view_name('analyst', event.name)} AS SELECT {', '.join(columns)} FROM {engineer}")
    out.append(f"{create} viewer_rollups AS SELECT * FROM {_source(engine, lake.url(lake.path(AGGREGATES)))}")
    return out
