"""The spec's ``dashboards`` section → ``Dashboard`` models (called by ``validate._dashboards``).

A dashboard declares its slices (``variables``: multi-select template variables over a metric label) and
its tiles. A tile is one Grafana panel: a ``panel`` type, a ``unit``, a ``description``, ``queries``
(PromQL as written, with ``$slice`` filters, or an ``indicator`` whose recording rule it reads) and
thresholds taken from ``slos`` or written out. Whether each query names real series is checked later,
against the finished model and the emitted rules, by ``obsgen.contract``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from obsgen import model as m
from obsgen.model.panelids import row_panel_id
from obsgen.model.units import grafana_unit
from obsgen.spec.reader import NAME, SLUG, Checker, kind_of
from obsgen.spec.source import dotted

GRAFANA_GLOBALS = ("__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms", "__auto")
"""Grafana's built-in variables a tile query may use besides the dashboard's own slices."""
VARIABLE_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}|([A-Za-z_][A-Za-z0-9_]*))")
COLOR = (r"((dark|semi-dark|light|super-light)-)?(green|red|yellow|orange|blue|purple)|text|transparent"
         r"|#[0-9a-fA-F]{6}")
TILE_KEYS = ("panel", "description", "unit", "row", "queries", "slos", "thresholds", "mappings", "width", "height",
             "min", "max", "stack", "content")
DEFAULT_TIME = m.parse_duration("6h")
MAX_QUERIES = 26


def parse_dashboards(c: Checker, raw: Any, indicators: dict[str, m.Indicator]) -> list[m.Dashboard]:
    """The ``dashboards`` section: each dashboard's slices (template variables) and tiles (panels).

    SLOs and metrics are looked up by name in the raw document, because this section is read before
    SLOs, and a section with errors still declares its names; the emitters resolve the names against the
    finished model. ``indicators`` are the valid ones, which give a tile its unit.
    """
    out: list[m.Dashboard] = []
    if c.mapping(raw, ("dashboards",)) is None:
        return out
    declared = {**declared_names(c.doc.data), "typed_indicators": indicators}
    for name, spec in raw.items():
        p = ("dashboards", name)
        d = c.mapping(spec, p, required=("title", "refresh", "tiles"),
                      optional=("time", "folder", "description", "variables"))
        if d is None or c.string(name, p, SLUG, "dashboard name") is None:
            continue
        refresh = c.duration(d.get("refresh"), p + ("refresh",))
        time = c.duration(d["time"], p + ("time",)) if "time" in d else DEFAULT_TIME
        folder = c.string(d["folder"], p + ("folder",), SLUG, "folder name") if "folder" in d else ""
        description = c.string(d["description"], p + ("description",)) if "description" in d else ""
        variables = _variables(c, d.get("variables", {}), p + ("variables",), declared)
        tiles: list[m.Tile] = []
        if not isinstance(d.get("tiles"), list) or not d["tiles"]:
            c.error(p + ("tiles",), "expected a non-empty list of tiles", "write `tiles:` as a list of panels")
            continue
        for i, raw_tile in enumerate(d["tiles"]):
            tile = _tile(c, raw_tile, p + ("tiles", i), _slices(variables, d.get("variables")), declared)
            if tile is None:
                continue
            if any(t.id == tile.id for t in tiles):
                c.error(p + ("tiles", i, "id"), f"tile id `{tile.id}` is used twice", "give each tile a unique id")
                continue
            tiles.append(tile)
        _check_rows(c, tiles, p)
        _check_panel_ids(c, tiles, p)
        _check_variables_used(c, variables, d["tiles"], p)
        if refresh is not None and time is not None and folder is not None and description is not None \
                and isinstance(d.get("title"), str):
            out.append(m.Dashboard(name=name, title=d["title"], refresh=refresh, tiles=tuple(tiles), time=time,
                                   folder=folder, description=description, variables=tuple(variables),
                                   spec_file=c.doc.source))
    return out


def declared_names(data: Any) -> dict[str, dict[str, Any]]:
    """Names the dashboards may refer to, read defensively from the raw spec (other sections report errors)."""
    def section(key: str) -> dict[str, Any]:
        value = data.get(key) if isinstance(data, dict) else None
        return value if isinstance(value, dict) else {}

    metrics: dict[str, Any] = {}
    for event in section("events").values():
        raw_metrics = event.get("metrics") if isinstance(event, dict) else None
        for metric in raw_metrics if isinstance(raw_metrics, list) else []:
            if isinstance(metric, dict) and isinstance(metric.get("name"), str):
                labels = metric.get("labels")
                metrics[metric["name"]] = [x for x in labels if isinstance(x, str)] if isinstance(labels, list) else []
    indicators = {k: v if isinstance(v, dict) else {} for k, v in section("indicators").items()}
    slos = {k: v if isinstance(v, dict) else {} for k, v in section("slos").items()}
    return {"metrics": metrics, "indicators": indicators, "slos": slos}


def _variables(c: Checker, raw: Any, p: tuple, declared: dict[str, dict[str, Any]]) -> list[m.Variable]:
    out: list[m.Variable] = []
    if c.mapping(raw, p) is None:
        return out
    for name, spec in raw.items():
        vp = p + (name,)
        if c.string(name, vp, NAME, "variable name") is None:
            continue
        if name.endswith("_datasource"):
            c.error(vp, "names ending in `_datasource` are the data-source variables obsgen adds",
                    "choose another name")
            continue
        d = c.mapping(spec, vp, required=("metric",), optional=("label", "title"))
        if d is None:
            continue
        metric = c.reference(d.get("metric"), vp + ("metric",), declared["metrics"], "events", "a metric")
        label = d.get("label", name)
        title = d.get("title", name.replace("_", " ").capitalize())
        if c.string(title, vp + ("title",)) is None or metric is None:
            continue
        labels = declared["metrics"][metric]
        if label not in labels:
            c.error(vp + ("label",) if "label" in d else vp, f"`{label}` is not a label of metric `{metric}`",
                    f"use one of {', '.join(labels) or '(none)'} or pick a metric that carries it")
            continue
        out.append(m.Variable(name=name, label=str(label), metric=metric, title=str(title),
                              line=c.doc.line_of(vp), path=dotted(vp)))
    return out


def _tile(c: Checker, raw: Any, p: tuple, slices: set[str],
          declared: dict[str, dict[str, Any]]) -> m.Tile | None:
    d = c.mapping(raw, p, required=("id", "title", "description"), optional=TILE_KEYS)
    if d is None:
        return None
    tile_id = c.string(d.get("id"), p + ("id",), SLUG, "tile id")
    title = c.string(d.get("title"), p + ("title",))
    description = c.string(d.get("description"), p + ("description",))
    panel = c.choice(d.get("panel", "timeseries"), p + ("panel",), m.PANEL_TYPES)
    row = c.string(d["row"], p + ("row",)) if "row" in d else None
    queries = _tile_queries(c, d, p, panel, slices, declared)
    unit = _tile_unit(c, d, p, panel, queries, declared)
    slos = _tile_slos(c, d, p, declared)
    thresholds = _thresholds(c, d["thresholds"], p + ("thresholds",)) if "thresholds" in d else ()
    if slos and thresholds:
        c.error(p + ("thresholds",), "a tile takes its thresholds from `slos` or from `thresholds`, not both",
                "remove one of the two")
    mappings = _mappings(c, d["mappings"], p + ("mappings",)) if "mappings" in d else ()
    sizes = {k: _int(c, d[k], p + (k,), 1, 24 if k == "width" else 40) for k in ("width", "height") if k in d}
    bounds = {k: c.number(d[k], p + (k,)) for k in ("min", "max") if k in d}
    if None not in (bounds.get("min"), bounds.get("max")) and bounds["min"] >= bounds["max"]:  # type: ignore[operator]
        c.error(p + ("max",), "`max` is not above `min`", "make the axis range non-empty")
    stack = c.boolean(d.get("stack", False), p + ("stack",))
    if stack and panel != "timeseries":
        c.error(p + ("stack",), f"a {panel} tile does not stack series", "remove `stack` or use a timeseries tile")
    content = d.get("content", "")
    if panel == "text":
        content = c.string(content, p + ("content",)) or ""
    elif "content" in d:
        c.error(p + ("content",), f"a {panel} tile shows queries, not text", "remove `content` or use `panel: text`")
    if tile_id is None or title is None:
        return None
    # A tile with errors is still returned (the errors are recorded), so alerts linking to it and slices
    # its queries use do not report follow-on errors.
    return m.Tile(id=tile_id, title=title, panel=panel or "timeseries",
                  description=description or "", unit=unit or "none", row=row, queries=tuple(queries or ()),
                  slos=tuple(slos), thresholds=thresholds,
                  mappings=mappings, width=sizes.get("width"), height=sizes.get("height"), min=bounds.get("min"),
                  max=bounds.get("max"), stack=bool(stack), content=str(content), line=c.doc.line_of(p),
                  path=dotted(p))


def _int(c: Checker, value: Any, p: tuple, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        c.error(p, f"expected a whole number from {low} to {high}, got {kind_of(value)}",
                f"write a number from {low} to {high}")
        return None
    return value


def _tile_queries(c: Checker, d: dict, p: tuple, panel: str | None, slices: set[str],
                  declared: dict[str, dict[str, Any]]) -> list[m.TileQuery] | None:
    """``queries``: each an ``expr`` (PromQL, or LogQL on a logs tile) or an ``indicator`` reference."""
    if panel == "text":
        if "queries" in d:
            c.error(p + ("queries",), "a text tile has no queries", "remove `queries` or pick another `panel`")
        return []
    raw = d.get("queries")
    if not isinstance(raw, list) or not raw:
        c.error(p + ("queries",) if "queries" in d else p, f"a {panel or 'data'} tile needs at least one query",
                "add `queries:` with `- {expr: ..., legend: ...}` or `- {indicator: ..., legend: ...}`")
        return None
    if len(raw) > MAX_QUERIES:
        c.error(p + ("queries",), f"a tile has at most {MAX_QUERIES} queries (refIds A-Z)", "split the tile")
        return None
    out: list[m.TileQuery] = []
    loki = panel in m.LOKI_PANEL_TYPES
    for i, q in enumerate(raw):
        qp = p + ("queries", i)
        qd = c.mapping(q, qp, optional=("expr", "indicator", "legend", "window", "match", "instant", "format", "unit"))
        if qd is None:
            continue
        if ("expr" in qd) == ("indicator" in qd):
            c.error(qp, "a query needs exactly one of `expr` and `indicator`",
                    "write PromQL in `expr`, or name an indicator to read its recording rule")
            continue
        legend = qd.get("legend", "")
        if not loki and c.string(legend, qp + ("legend",)) is None:
            continue
        unit = qd.get("unit")
        if unit is not None and c.choice(unit, qp + ("unit",), m.GRAFANA_UNITS) is None:
            continue
        fmt = c.choice(qd.get("format", "time_series"), qp + ("format",), m.QUERY_FORMATS)
        instant = c.boolean(qd.get("instant", False), qp + ("instant",))
        if fmt is None or instant is None:
            continue
        if "expr" in qd:
            expr = c.string(qd["expr"], qp + ("expr",))
            for key in ("window", "match"):
                if key in qd:
                    c.error(qp + (key,), f"`{key}` narrows an indicator query", f"remove `{key}` or use `indicator`")
            if expr is None or not _check_refs(c, expr, qp + ("expr",), slices):
                continue
            if loki and not expr.lstrip().startswith("{"):
                c.error(qp + ("expr",), "a logs tile queries Loki and needs a LogQL stream selector",
                        'start with one, e.g. {service_name="my-service"} | event_name="error"')
                continue
            out.append(m.TileQuery(legend=str(legend), expr=expr.strip(), instant=instant, format=fmt, unit=unit,
                                   line=c.doc.line_of(qp + ("expr",)), path=dotted(qp)))
            continue
        if loki:
            c.error(qp + ("indicator",), "indicators are Prometheus recording rules; a logs tile queries Loki",
                    "write a LogQL `expr`")
            continue
        indicator = c.reference(qd["indicator"], qp + ("indicator",), declared["indicators"], "indicators",
                                "an indicator")
        window = c.duration(qd.get("window", "5m"), qp + ("window",))
        if indicator is None or window is None:
            continue
        by = declared["indicators"][indicator].get("by") or []
        match: dict[str, str] = {}
        if "match" in qd and c.mapping(qd["match"], qp + ("match",)) is not None:
            for label, value in qd["match"].items():
                typed = declared["typed_indicators"].get(indicator)
                allowed = list(by) + (["quantile"] if isinstance(typed, m.Quantile) else [])
                if label not in allowed:
                    c.error(qp + ("match", label), f"indicator `{indicator}` is not split by `{label}`",
                            f"match one of {', '.join(allowed) or '(none: it has no labels)'}")
                elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    match[label] = str(value)
                else:
                    c.error(qp + ("match", label), f"expected a label value, got {kind_of(value)}",
                            "write a text value")
        out.append(m.TileQuery(legend=str(legend), indicator=indicator, window=window.text,
                               match=m.frozen_map(match), instant=instant, format=fmt, unit=unit,
                               line=c.doc.line_of(qp + ("indicator",)), path=dotted(qp)))
    return out if len(out) == len(raw) else None


def _slices(variables: list[m.Variable], raw: Any) -> set[str]:
    """Names a query may use as ``$slice``: the variables, counting those with errors of their own (reported once,
    where they are declared)."""
    return {v.name for v in variables} | {name for name in raw if isinstance(name, str)} if isinstance(raw, dict) \
        else {v.name for v in variables}


def _check_refs(c: Checker, expr: str, p: tuple, known: set[str]) -> bool:
    """Every ``$var`` in a query is one of the dashboard's slices or a Grafana built-in."""
    ok = True
    for name in dict.fromkeys(match.group(1) or match.group(2) for match in VARIABLE_REF.finditer(expr)):
        if name not in known and name not in GRAFANA_GLOBALS:
            close = difflib.get_close_matches(name, sorted(known | set(GRAFANA_GLOBALS)), n=1)
            hint = f"did you mean `${close[0]}`?" if close else "declare it under the dashboard's `variables`"
            c.error(p, f"`${name}` is not a variable of this dashboard", f"use a declared variable ({hint})",
                    token=f"${name}")
            ok = False
    return ok


def _tile_unit(c: Checker, d: dict, p: tuple, panel: str | None, queries: list[m.TileQuery] | None,
               declared: dict[str, dict[str, Any]]) -> str | None:
    """The tile's Grafana unit: as written, else from its first indicator's metric unit."""
    if "unit" in d:
        return c.choice(d["unit"], p + ("unit",), m.GRAFANA_UNITS)
    if panel in ("text", "logs"):
        return "none"
    for query in queries or ():
        if query.indicator is not None:
            return _indicator_unit(declared, query.indicator)
    if queries is not None:
        c.error(p, "the tile has no `unit`", "add `unit:` with a Grafana unit id such as ms, s, percentunit, reqps "
                "or short")
    return None


def _indicator_unit(declared: dict[str, dict[str, Any]], name: str) -> str:
    """Grafana unit of an indicator's value (fractions: ``percentunit``; rates: ``ops``, ``reqps``, …)."""
    typed = declared["typed_indicators"].get(name)
    return "none" if typed is None else grafana_unit(typed.unit)  # "none": the indicator's errors are reported


def _tile_slos(c: Checker, d: dict, p: tuple, declared: dict[str, dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(c.string_list(d.get("slos", []), p + ("slos",))):
        if c.reference(name, p + ("slos", i), declared["slos"], "slos", "an SLO") is not None:
            out.append(name)
    objectives = [declared["slos"][n].get("objective") for n in out]
    ops = {str(o.get("op", ""))[:1] for o in objectives if isinstance(o, dict)}
    if len(ops) > 1:
        c.error(p + ("slos",), "the SLOs mix upper bounds (<) and lower bounds (>), so one color scale cannot show "
                "both", "split them over two tiles, or write explicit `thresholds`")
    return out


def _thresholds(c: Checker, raw: Any, p: tuple) -> tuple[m.ThresholdStep, ...]:
    if not isinstance(raw, list) or not raw:
        c.error(p, "expected a list of steps", "write e.g. [{color: green}, {value: 3, color: red}]")
        return ()
    steps: list[m.ThresholdStep] = []
    for i, step in enumerate(raw):
        sp = p + (i,)
        sd = c.mapping(step, sp, required=("color",), optional=("value",))
        if sd is None:
            continue
        color = c.string(sd.get("color"), sp + ("color",), COLOR, "Grafana color (green, red, #rrggbb, ...)")
        if i == 0 and "value" in sd:
            c.error(sp + ("value",), "the first step is the base color below every value", "remove its `value`")
            continue
        if i > 0 and "value" not in sd:
            c.error(sp, "every step after the first needs a `value`", "add `value:` where this color starts")
            continue
        value = c.number(sd["value"], sp + ("value",)) if i > 0 else None
        if i > 0 and value is None:
            continue
        if value is not None and len(steps) > 1 and steps[-1].value is not None and value <= steps[-1].value:
            c.error(sp + ("value",), "threshold values must increase", "sort the steps by value")
            continue
        if color is not None:
            steps.append(m.ThresholdStep(color=color, value=value))
    return tuple(steps)


def _mappings(c: Checker, raw: Any, p: tuple) -> tuple[m.ValueMapping, ...]:
    if not isinstance(raw, list):
        c.error(p, "expected a list of value mappings", "write e.g. [{value: 1, text: up, color: green}]")
        return ()
    out: list[m.ValueMapping] = []
    for i, item in enumerate(raw):
        ip = p + (i,)
        d = c.mapping(item, ip, required=("value", "text", "color"))
        if d is None:
            continue
        value = d.get("value")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            c.error(ip + ("value",), f"expected a value to map, got {kind_of(value)}", "write a number or text")
            continue
        text = c.string(d.get("text"), ip + ("text",))
        color = c.string(d.get("color"), ip + ("color",), COLOR, "Grafana color (green, red, #rrggbb, ...)")
        if text and color:
            out.append(m.ValueMapping(value=str(value), text=text, color=color))
    return tuple(out)


def _check_rows(c: Checker, tiles: list[m.Tile], p: tuple) -> None:
    with_row = [t for t in tiles if t.row is not None]
    if with_row and len(with_row) != len(tiles):
        c.error(p + ("tiles",), "some tiles name a `row` and others do not",
                "give every tile a `row` (tiles of a row are laid out together) or none")


def _check_panel_ids(c: Checker, tiles: list[m.Tile], p: tuple) -> None:
    """Panel ids are hashes of tile ids and row titles (``model.panelids``); two alike in one dashboard are
    reported rather than renumbered, so no id ever depends on the other panels."""
    seen: dict[int, str] = {}
    for tile in tiles:
        for panel_id, what in ((tile.panel_id, f"tile `{tile.id}`"),
                               *(((row_panel_id(tile.row), f"row `{tile.row}`"),) if tile.row is not None else ())):
            first = seen.setdefault(panel_id, what)
            if first != what:
                c.error(p + ("tiles",), f"{what} and {first} get the same panel id {panel_id}",
                        "rename the tile (or row): panel ids are hashes of tile ids and row titles")


def _check_variables_used(c: Checker, variables: list[m.Variable], raw_tiles: list, p: tuple) -> None:
    """Every slice filters some query (read from the raw tiles, so a broken tile does not hide its uses)."""
    exprs = [q["expr"] for t in raw_tiles if isinstance(t, dict) and isinstance(t.get("queries"), list)
             for q in t["queries"] if isinstance(q, dict) and isinstance(q.get("expr"), str)]
    used = {match.group(1) or match.group(2) for expr in exprs for match in VARIABLE_REF.finditer(expr)}
    for variable in variables:
        if variable.name not in used:
            c.error(p + ("variables", variable.name), f"no tile query uses `${variable.name}`",
                    f"filter a query with {m.prometheus_label_name(variable.label)}=~\"${variable.name}\", or remove "
                    "the variable")
