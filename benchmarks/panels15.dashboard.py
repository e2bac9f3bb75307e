"""The baseline of benchmarks/generate_bench.py: a 15-panel grafanalib dashboard, as a grafanalib user writes one.

Generated with grafanalib's own CLI: ``generate-dashboard -o out.json benchmarks/panels15.dashboard.py``.
"""

from grafanalib.core import Dashboard, GridPos, Target, TimeSeries

ROUTES = ("checkout", "cart", "search", "login", "catalog")
SIGNALS = (
    ("Requests", 'sum by (route) (rate(http_requests_total{{route="{route}"}}[5m]))', "reqps"),
    ("Errors", 'sum(rate(http_requests_total{{route="{route}", code=~"5.."}}[5m])) '
               '/ sum(rate(http_requests_total{{route="{route}"}}[5m]))', "percentunit"),
    ("p95 latency", 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
                    '{{route="{route}"}}[5m])))', "s"),
)

dashboard = Dashboard(
    title="Fifteen panels",
    uid="fifteen-panels",
    panels=[
        TimeSeries(title=f"{title}: {route}", dataSource="prometheus", unit=unit,
                   targets=[Target(expr=expr.format(route=route), legendFormat="{{route}}", refId="A")],
                   gridPos=GridPos(h=8, w=8, x=8 * (i % 3), y=8 * (i // 3)))
        for i, (route, (title, expr, unit)) in enumerate((r, s) for r in ROUTES for s in SIGNALS)
    ],
).auto_panel_ids()
