"""``obsgen secrets init``: the stack's secret files, made where the stack runs (never generated, never committed).

Writes into ``<out>/secrets/`` (mode 0750) every secret of ``emit.stack.credentials.stack_secrets``
that is missing: random passwords and webhook tokens (32 random bytes, hex), and the web configs of
Prometheus and Alertmanager holding the bcrypt hashes of their passwords, plus amtool's http config.
Every file is mode 0440 (owner and group read, nobody else): the compose services read them through
the group (``OBSGEN_SECRETS_GID``). An existing password or token is kept (delete it to rotate); the
web configs are rewritten when they no longer match their password.

Randomness and bcrypt belong here, not in the emitters, which stay pure and byte-stable.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import yaml
from obsgen.emit.render import Services
from obsgen.emit.stack import credentials
from obsgen.runtime.secretfile import read_secret

FILE_MODE = 0o440
DIR_MODE = 0o750
BCRYPT_ROUNDS = 10
"""Prometheus' own example cost; the servers cache verified credentials, so a request pays it rarely."""


@dataclass
class Written:
    directory: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def gid(self) -> int:
        return self.directory.stat().st_gid


def web_config(password: str) -> str:
    """A Prometheus/Alertmanager ``--web.config.file``: basic auth for ``BASIC_AUTH_USER`` with a bcrypt hash."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
    return ("# Written by `obsgen secrets init`: basic auth for every endpoint (bcrypt hash of the password file\n"
            "# beside it). Add tls_server_config here (cert_file, key_file) to serve HTTPS.\n"
            + yaml.safe_dump({"basic_auth_users": {credentials.BASIC_AUTH_USER: hashed}}, sort_keys=True))


def matches(config: Path, password: str) -> bool:
    """Whether a web config's hash is the one of ``password``."""
    try:
        users = yaml.safe_load(config.read_text(encoding="utf-8"))["basic_auth_users"]
        return bcrypt.checkpw(password.encode(), users[credentials.BASIC_AUTH_USER].encode())
    except (OSError, ValueError, TypeError, KeyError):
        return False


def amtool_config(password_file: Path) -> str:
    return yaml.safe_dump({"basic_auth": {"username": credentials.BASIC_AUTH_USER,
                                          "password_file": str(password_file.resolve())}}, sort_keys=True)


def _write(path: Path, text: str) -> None:
    """Atomically, created with FILE_MODE (never readable by others, not even for a moment)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


def init_secrets(specs: Services, out: Path) -> Written:
    """Create what is missing under ``out/secrets`` (see the module docstring); what was created and kept."""
    names = [s.name for s in credentials.stack_secrets(specs)
             if s.name not in credentials.WEB_CONFIGS and s.generated]
    return write_secrets(out / credentials.SECRETS_DIR, names)


def write_secrets(directory: Path, names: list[str]) -> Written:
    """The random secrets ``names`` (kept where they exist) and the web and amtool configs, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, DIR_MODE)
    written = Written(directory)
    values: dict[str, str] = {}
    for name in names:
        path = directory / name
        if path.exists():
            values[name] = read_secret(path, name)
            written.kept.append(name)
        else:
            values[name] = secrets.token_hex(32)
            _write(path, values[name] + "\n")
            written.created.append(name)
    for name, password in credentials.WEB_CONFIGS.items():
        path = directory / name
        if path.exists() and matches(path, values[password]):
            written.kept.append(name)
        else:
            _write(path, web_config(values[password]))
            written.created.append(name)
    amtool = directory / credentials.AMTOOL_HTTP_CONFIG
    text = amtool_config(directory / credentials.ALERTMANAGER_PASSWORD)
    if amtool.exists() and amtool.read_text(encoding="utf-8") == text:
        written.kept.append(amtool.name)
    else:
        _write(amtool, text)
        written.created.append(amtool.name)
    return written
