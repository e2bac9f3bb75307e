"""The stack's secrets, declared once: which files ``obsgen secrets init`` writes under ``secrets/``, where
each container sees them (compose ``secrets:``), and who reads them.

Emitters only name the files (configs use ``password_file``, ``credentials_file``, ``__FILE`` and
Grafana's ``$__file{}``); the random values and the bcrypt hashes of the web configs are made by
``obsgen secrets init`` (``obsgen.secretfiles``), outside the pure, byte-stable tree.

With ``stack.tls`` they serve HTTPS (``TLS_FILES``; ``obsgen secrets init`` makes a private CA and the server
certificate, or keeps the ones you put there) and every client above uses ``https`` and checks ``TLS_CA``.

Authentication in the stack: Prometheus and Alertmanager require HTTP basic auth (user ``BASIC_AUTH_USER``,
their web configs ``*-web.yml``) on every endpoint; their clients (Prometheus → Alertmanager, the
Prometheus self-scrape and Alertmanager scrape, Grafana's data sources, the healthchecks, amtool) read
the password files. Loki has no authentication of its own: it runs multi-tenant (``auth_enabled``) and
every writer and reader names the tenant ``LOKI_TENANT`` (``X-Scope-OrgID``); it is not published
beyond the host's loopback.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from obsgen.emit.render import Services

SECRETS_DIR = "secrets"
"""Where ``obsgen secrets init`` writes the secrets, beside docker-compose.yml (git-ignored, never generated)."""
SECRETS_MOUNT = "/run/secrets"
"""Where compose puts a secret without an explicit target."""
BASIC_AUTH_USER = "obsgen"
LOKI_TENANT = "obsgen"
LOKI_TENANT_HEADER = "X-Scope-OrgID"

PROMETHEUS_PASSWORD = "prometheus-password"
ALERTMANAGER_PASSWORD = "alertmanager-password"
GRAFANA_ADMIN_PASSWORD = "grafana-admin-password"
PROMETHEUS_WEB_CONFIG = "prometheus-web.yml"
ALERTMANAGER_WEB_CONFIG = "alertmanager-web.yml"
AMTOOL_HTTP_CONFIG = "amtool-http.yml"
"""amtool's ``--http.config.file`` (basic auth with the Alertmanager password); not mounted anywhere."""
TLS_CA = "tls-ca.crt"
"""With ``stack.tls``: the CA every client of Prometheus and Alertmanager checks their certificate against."""
TLS_CERT = "tls-server.crt"
TLS_KEY = "tls-server.key"
"""The server certificate and key of Prometheus and Alertmanager (names: ``TLS_NAMES``). Their web configs
name them relative to themselves (``tls_server_config``), so one web config works in a container and natively."""
TLS_FILES = (TLS_CA, TLS_CERT, TLS_KEY)
TLS_NAMES = ("alertmanager", "prometheus", "localhost", "127.0.0.1")
"""The names the server certificate covers: the compose services, and loopback for the self-scrape, the
healthchecks and native runs."""

PASSWORDS = (PROMETHEUS_PASSWORD, ALERTMANAGER_PASSWORD, GRAFANA_ADMIN_PASSWORD)
WEB_CONFIGS = {PROMETHEUS_WEB_CONFIG: PROMETHEUS_PASSWORD, ALERTMANAGER_WEB_CONFIG: ALERTMANAGER_PASSWORD}
"""Each web config and the password whose bcrypt hash it holds."""


@dataclass(frozen=True)
class Secret:
    name: str
    """File name under ``secrets/`` and compose secret name."""
    target: str
    """Where the containers that read it see it."""
    readers: tuple[str, ...]
    """Compose services that mount it."""
    generated: bool = True
    """``obsgen secrets init`` writes a random one; otherwise it comes from its provider (a PagerDuty routing
    key, a Slack webhook URL, an SMTP password) and the operator puts it in ``secrets/``."""


def mounted(name: str) -> str:
    return posixpath.join(SECRETS_MOUNT, name)


def receiver_secrets(specs: Services) -> list[Secret]:
    """The receivers' secret files, named by their file name under ``secrets/``: webhook bearer tokens
    (generated) and the provider secrets of PagerDuty, Slack and e-mail receivers (supplied)."""
    found = {}
    for model in specs.models:
        for r in model.routing.all_receivers:
            for path in r.secret_files:
                found[posixpath.basename(path)] = Secret(posixpath.basename(path), path, ("alertmanager",),
                                                         generated=path == r.bearer_token_file)
    return list(found.values())


def stack_secrets(specs: Services) -> list[Secret]:
    """Every secret of the stack, sorted by name."""
    fixed = [
        Secret(PROMETHEUS_PASSWORD, mounted(PROMETHEUS_PASSWORD), ("grafana", "prometheus")),
        Secret(ALERTMANAGER_PASSWORD, mounted(ALERTMANAGER_PASSWORD), ("alertmanager", "grafana", "prometheus")),
        Secret(GRAFANA_ADMIN_PASSWORD, mounted(GRAFANA_ADMIN_PASSWORD), ("grafana",)),
        Secret(PROMETHEUS_WEB_CONFIG, mounted(PROMETHEUS_WEB_CONFIG), ("prometheus",)),
        Secret(ALERTMANAGER_WEB_CONFIG, mounted(ALERTMANAGER_WEB_CONFIG), ("alertmanager",)),
    ]
    if specs.tls:
        fixed += [Secret(TLS_CA, mounted(TLS_CA), ("grafana", "prometheus"), generated=False),
                  Secret(TLS_CERT, mounted(TLS_CERT), ("alertmanager", "prometheus"), generated=False),
                  Secret(TLS_KEY, mounted(TLS_KEY), ("alertmanager", "prometheus"), generated=False)]
    return sorted([*fixed, *receiver_secrets(specs)], key=lambda s: s.name)


def secrets_of(specs: Services, service: str) -> list[Secret]:
    return [s for s in stack_secrets(specs) if service in s.readers]
