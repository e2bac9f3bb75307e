"""Grafana dashboards (``dashboards/<folder>/<uid>.json``) from the spec's ``dashboards`` section.

Each dashboard group (a dashboard's ``folder``, by default the service name) is a sub-directory, which the
provisioning provider turns into a Grafana folder; dashboard-linter's ``.lint`` sits beside the files.
The emitter is ``obsgen.emit.grafana.dashboards``. This ``__init__`` imports nothing on purpose: loading a
spec reads ``dashboards.spec``, and that must not pull grafanalib into an application running the runtime.
"""
