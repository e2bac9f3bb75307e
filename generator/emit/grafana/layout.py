"""Panels placed on Grafana's 24-column grid by code: rows stacked, tiles flowing left to right.

Placement never overlaps by construction: a panel goes right of the previous one when it fits,
otherwise on a new line below the tallest panel of the current line.
"""

from __future__ import annotations

from dataclasses import dataclass

from obsgen.model import Dashboard, Tile

GRID_COLUMNS = 24
ROW_HEIGHT = 1
DEFAULT_HEIGHT = 8
DEFAULT_WIDTH = {"timeseries": 12, "stat": 6, "gauge": 6, "bargauge": 12, "table": 12, "heatmap": 12,
                 "state-timeline": 24, "logs": 24, "text": 24}


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Placed:
    """A row header (``tile`` is None, ``title`` its text) or a tile, with its grid box."""

    box: Box
    tile: Tile | None = None
    title: str = ""


def rows(board: Dashboard) -> list[tuple[str | None, list[Tile]]]:
    """Tiles grouped by ``row`` in order of first appearance (one unnamed group when tiles name no row)."""
    groups: dict[str | None, list[Tile]] = {}
    for tile in board.tiles:
        groups.setdefault(tile.row, []).append(tile)
    return list(groups.items())


def layout(board: Dashboard) -> list[Placed]:
    placed: list[Placed] = []
    y = 0
    for title, tiles in rows(board):
        if title is not None:
            placed.append(Placed(Box(0, y, GRID_COLUMNS, ROW_HEIGHT), title=title))
            y += ROW_HEIGHT
        x, line_height = 0, 0
        for tile in tiles:
            w = tile.width or DEFAULT_WIDTH[tile.panel]
            h = tile.height or DEFAULT_HEIGHT
            if x + w > GRID_COLUMNS:
                x, y, line_height = 0, y + line_height, 0
            placed.append(Placed(Box(x, y, w, h), tile=tile))
            x += w
            line_height = max(line_height, h)
        y += line_height
    return placed
