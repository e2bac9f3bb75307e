"""Helpers for tests that drive real tools: a synthetic day of telemetry, Prometheus, Grafana-like queries."""
