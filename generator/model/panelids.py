"""Grafana panel ids derived from spec ids, so a panel keeps its id when tiles are added, removed or moved.

Alerts link to their panel (``dashboard_url`` ends in ``viewPanel=<id>``); a notification already sent
must keep opening the same panel after the spec changes. The id is a stable hash of the tile id (of the
row title for a row) into Grafana's positive 31-bit range; two panels of one dashboard hashing alike is
a spec error (``obsgen.spec.dashboards``), never silently resolved.
"""

from __future__ import annotations

import hashlib

MAX_PANEL_ID = 2**31 - 1


def _stable_id(key: str) -> int:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % MAX_PANEL_ID + 1  # 1 .. 2**31 - 1


def tile_panel_id(tile_id: str) -> int:
    return _stable_id(f"tile:{tile_id}")


def row_panel_id(title: str) -> int:
    return _stable_id(f"row:{title}")
