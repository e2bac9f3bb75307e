"""The telemetry lake: the spec's events as partitioned Parquet, and rollups of the spec's indicators.

Landing files (the collector's ``file/landing`` exporter) → ``ingest`` (validated, de-duplicated, late
arrivals handled) → ``events/event_type=…/event_date=…`` (Snappy Parquet) → ``rollup`` (SQL generated from
the spec's indicators and joins, run by DuckDB or Spark) → ``aggregates/grain=…/period=…`` (Gzip Parquet).
``maintain`` compacts, tiers and retains by the spec's ``retention`` windows; ``access`` writes the
Engineer/Analyst/Viewer views. Nothing here names an event, field or indicator: all of it comes from the spec.
"""
