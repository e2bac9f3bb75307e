"""The spec's `dashboards` section: an SRE adds a tile in YAML, and every mistake is a clear spec error."""

from __future__ import annotations

import json

import pytest
from obsgen.emit.grafana.board import dashboard_json
from obsgen.model.panelids import row_panel_id, tile_panel_id
from obsgen.spec import default_spec_text
from obsgen.spec.build import build_model
from obsgen.spec.source import SpecInvalid, load_text

SPEC = default_spec_text()
FIRST_TILE = "    tiles:\n      - id: latency\n"


def _with_tile(tile: str, board: str = "health") -> str:
    """The default spec with ``tile`` (YAML at tile indentation) added first to ``board``."""
    anchor = "    tiles:\n      - id: ctr\n" if board == "outcomes" else FIRST_TILE
    assert anchor in SPEC
    return SPEC.replace(anchor, "    tiles:\n" + tile + anchor.split("\n", 1)[1], 1)


def _errors(text: str) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        build_model(load_text(text, "spec.yaml"), "spec.yaml")
    return [str(e) for e in info.value.errors]


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_an_sre_adds_a_tile_in_yaml_and_it_becomes_a_panel() -> None:
    text = _with_tile(
        "      - id: engaged\n"
        "        title: Engaged Requests\n"
        "        row: Serving\n"
        "        description: Requests with at least one engagement, per second.\n"
        "        unit: reqps\n"
        "        queries:\n"
        "          - expr: sum by (bucket) (rate(recsys_requests_engaged_total{shadow!=\"true\", "
        "bucket=~\"$bucket\"}[$__rate_interval]))\n"
        "            legend: \"{{bucket}}\"\n")
    model = build_model(load_text(text, "spec.yaml"), "spec.yaml")
    board = next(b for b in model.dashboards if b.name == "health")
    tile = board.tiles[0]
    assert (tile.id, tile.panel, tile.unit) == ("engaged", "timeseries", "reqps")
    panel = next(p for p in dashboard_json(model, board)["panels"] if p["id"] == tile.panel_id)
    assert panel["title"] == "Engaged Requests"
    assert panel["targets"][0]["expr"].startswith("sum by (bucket) (rate(recsys_requests_engaged_total")
    assert json.dumps(panel)  # plain JSON data


def test_a_text_tile_renders_its_markdown_without_queries() -> None:
    text = _with_tile("      - {id: notes, title: Notes, row: Serving, description: How to read this board., "
                      "panel: text, content: '**Start** with latency.'}\n")
    model = build_model(load_text(text, "spec.yaml"), "spec.yaml")
    tile = model.dashboards[0].tiles[0]
    panel = next(p for p in dashboard_json(model, model.dashboards[0])["panels"] if p["id"] == tile.panel_id)
    assert panel["type"] == "text" and panel["options"]["content"] == "**Start** with latency."
    assert "targets" not in panel and "datasource" not in panel
    assert panel["fieldConfig"]["defaults"]["unit"] == "none"


def test_a_tile_reading_an_indicator_takes_its_unit_from_the_metric() -> None:
    text = _with_tile("      - id: p99\n        title: p99\n        row: Serving\n        description: p99.\n"
                      "        queries:\n          - {indicator: ranking_latency, match: {quantile: 0.99}, "
                      "legend: \"{{user_state}}\"}\n")
    model = build_model(load_text(text, "spec.yaml"), "spec.yaml")
    assert model.dashboards[0].tiles[0].unit == "ms"


@pytest.mark.parametrize(("tile", "message"), [
    ("      - {id: x, title: X, row: Serving, queries: [{expr: up, legend: a}], unit: ms}\n",
     "missing required key `description`"),
    ("      - {id: x, title: X, row: Serving, description: d, panel: graph, unit: ms, "
     "queries: [{expr: up, legend: a}]}\n",
     "`graph` is not one of timeseries"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: milliseconds, queries: [{expr: up, legend: a}]}\n",
     "`milliseconds` is not one of none"),
    ("      - {id: x, title: X, row: Serving, description: d, queries: [{expr: up, legend: a}]}\n",
     "the tile has no `unit`"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms}\n",
     "a timeseries tile needs at least one query"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, queries: [{expr: up}]}\n",
     "queries[0].legend: expected a non-empty string"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, queries: [{expr: up, indicator: errors, "
     "legend: a}]}\n", "exactly one of `expr` and `indicator`"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, queries: [{indicator: eror, legend: a}]}\n",
     "did you mean `errors`?"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, queries: [{indicator: errors, legend: a, "
     "match: {bucket: control}}]}\n", "indicator `errors` is not split by `bucket`"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, queries: [{expr: 'up{a=~\"$buckt\"}', "
     "legend: a}]}\n", "`$buckt` is not a variable of this dashboard"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, slos: [latency_p95], "
     "queries: [{expr: up, legend: a}]}\n", "`latency_p95` is not an SLO declared under `slos`"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, slos: [latency_p95_warm, coverage], "
     "queries: [{expr: up, legend: a}]}\n", "the SLOs mix upper bounds"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, slos: [coverage], "
     "thresholds: [{color: green}], queries: [{expr: up, legend: a}]}\n", "not both"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, thresholds: [{color: green}, "
     "{value: 5, color: red}, {value: 2, color: blue}], queries: [{expr: up, legend: a}]}\n",
     "threshold values must increase"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, thresholds: [{color: grene}], "
     "queries: [{expr: up, legend: a}]}\n", "`grene` is not a valid Grafana color"),
    ("      - {id: x, title: X, row: Serving, description: d, unit: ms, width: 30, queries: [{expr: up, legend: a}]}\n",
     "width: expected a whole number from 1 to 24"),
    ("      - {id: x, title: X, row: Serving, description: d, panel: text}\n", "content: expected a non-empty"),
    ("      - {id: x, title: X, row: Serving, description: d, panel: text, content: hi, "
     "queries: [{expr: up, legend: a}]}\n", "a text tile has no queries"),
    ("      - {id: x, title: X, row: Serving, description: d, panel: logs, queries: [{expr: 'up'}]}\n",
     "needs a LogQL stream selector"),
    ("      - {id: x, title: X, description: d, unit: ms, queries: [{expr: up, legend: a}]}\n",
     "some tiles name a `row` and others do not"),
    ("      - {id: latency, title: X, row: Serving, description: d, unit: ms, queries: [{expr: up, legend: a}]}\n",
     "tile id `latency` is used twice"),
], ids=lambda value: value if not value.startswith(" ") else None)
def test_a_bad_tile_field_is_a_spec_error_at_its_line(tile: str, message: str) -> None:
    text = _with_tile(tile)
    errors = _errors(text)
    matching = [e for e in errors if message in e]
    assert matching, errors
    tile_line = _line(text, "      - {id: ")
    assert any(e.startswith(f"spec.yaml:{tile_line}: dashboards.health.tiles[0]") or
               e.startswith(f"spec.yaml:{tile_line - 1}: dashboards.health.tiles:") or
               "dashboards.health.tiles[1].id" in e for e in matching), matching


def test_a_slice_on_a_label_its_metric_lacks_is_an_error() -> None:
    text = SPEC.replace("      client: {metric: recsys.impressions, label: device_type}",
                        "      client: {metric: recsys.clicks, label: device_type}")
    errors = _errors(text)
    assert any("`device_type` is not a label of metric `recsys.clicks`" in e for e in errors), errors


def test_an_unused_slice_is_an_error() -> None:
    text = SPEC.replace("      provider: {metric: recsys.impressions}\n    tiles:",
                        "      provider: {metric: recsys.impressions}\n      algo: {metric: recsys.ranking.duration, "
                        "label: algorithm}\n    tiles:", 1)
    errors = _errors(text)
    assert any("no tile query uses `$algo`" in e for e in errors), errors


def test_inserting_a_tile_keeps_every_panel_id_and_alert_link() -> None:
    before = build_model(load_text(SPEC, "spec.yaml"), "spec.yaml")
    after = build_model(load_text(_with_tile("      - {id: notes, title: Notes, row: Serving, description: Read me., "
                                             "panel: text, content: Start here.}\n"), "spec.yaml"), "spec.yaml")
    old, new = before.dashboards[0], after.dashboards[0]
    assert new.tiles[1:] == old.tiles and new.tiles[0].id == "notes"  # the inserted tile comes first
    ids = {p["title"]: p["id"] for p in dashboard_json(before, old)["panels"]}
    assert {title: i for title, i in ((p["title"], p["id"]) for p in dashboard_json(after, new)["panels"])
            if title != "Notes"} == ids  # tiles and rows alike
    urls = {a.name: before.tile_url(a.dashboard_tile) for a in before.alerts if a.dashboard_tile}
    assert len(urls) == 10
    assert urls == {a.name: after.tile_url(a.dashboard_tile) for a in after.alerts if a.dashboard_tile}
    assert all(0 < i < 2**31 for i in ids.values()) and len(set(ids.values())) == len(ids)


def test_panel_ids_come_from_the_tile_id_not_the_position() -> None:
    assert tile_panel_id("latency") == tile_panel_id("latency") != row_panel_id("latency")
    board = build_model(load_text(SPEC, "spec.yaml"), "spec.yaml").dashboards[0]
    assert [t.panel_id for t in board.tiles] == [tile_panel_id(t.id) for t in board.tiles]


def test_two_tile_ids_hashing_to_one_panel_id_are_a_spec_error() -> None:
    assert tile_panel_id("t39161") == tile_panel_id("t74647")  # found by search: a real collision
    text = _with_tile("".join(f"      - {{id: {t}, title: {t}, row: Serving, description: x, panel: text, "
                              f"content: x}}\n" for t in ("t39161", "t74647")))
    errors = [e for e in _errors(text) if "same panel id" in e]
    assert errors == [f"spec.yaml:{_line(text, '    tiles:')}: dashboards.health.tiles: tile `t74647` and "
                      f"tile `t39161` get the same panel id 774056116 — rename the tile (or row): panel ids are "
                      f"hashes of tile ids and row titles"]
