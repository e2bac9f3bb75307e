"""Prometheus recording and alerting rules, their promtool unit tests, PromQL helpers."""
