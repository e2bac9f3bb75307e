"""The ``.lint`` file dashboard-linter reads next to the dashboards: each rule obsgen opts out of, and why."""

from __future__ import annotations

from typing import Any

import yaml
from obsgen.emit.render import SafeDumper, Sourced, header_text

JOB_INSTANCE = ("obsgen dashboards show one service as a whole: they read recording rules aggregated across "
                "instances (which keep no job or instance label) and select the service by its metric names, so "
                "a $job/$instance selector would match nothing on recorded series.")
EXCLUSIONS: dict[str, str] = {
    "template-job-rule": JOB_INSTANCE,
    "template-instance-rule": JOB_INSTANCE,
    "target-job-rule": JOB_INSTANCE,
    "target-instance-rule": JOB_INSTANCE,
}
"""Rules that do not fit generated dashboards, with the reason dashboard-linter shows."""


def lint_config(origin: Sourced) -> str:
    config: dict[str, Any] = {"exclusions": {rule: {"reason": reason} for rule, reason in EXCLUSIONS.items()}}
    body = yaml.dump(config, Dumper=SafeDumper, sort_keys=True, width=10_000, allow_unicode=True)
    return f"# {header_text(origin)}\n{body}"
