"""``obsgen secrets init``: the stack's secret files, made where the stack runs (never generated, never committed).

Writes into ``<out>/secrets/`` (mode 0750) every secret of ``emit.stack.credentials.stack_secrets``
that is missing: random passwords and webhook tokens (32 random bytes, hex), and the web configs of
Prometheus and Alertmanager holding the bcrypt hashes of their passwords, plus amtool's http config.
Every file is mode 0440 (owner and group read, nobody else): the compose services read them through
the group (``OBSGEN_SECRETS_GID``). An existing password or token is kept (delete it to rotate); the
web configs are rewritten when they no longer match their password.

With the spec's ``stack.tls`` it also provides HTTPS for Prometheus and Alertmanager: the CA, server
certificate and key you put in ``secrets/`` (``tls-ca.crt``, ``tls-server.crt``, ``tls-server.key``) are kept;
without them it makes a private CA and a server certificate for the stack's names with the ``openssl``
command (EC P-256, ``TLS_DAYS`` days), and the web configs get ``tls_server_config``.

Randomness, bcrypt and certificates belong here, not in the emitters, which stay pure and byte-stable.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import tempfile
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
TLS_DAYS = 825
"""Validity of the server certificate (the longest clients accept for a leaf); the private CA lasts 10 years."""


@dataclass
class Written:
    directory: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def gid(self) -> int:
        return self.directory.stat().st_gid


TLS_SERVER_CONFIG = {"cert_file": credentials.TLS_CERT, "key_file": credentials.TLS_KEY}
"""Relative to the web config (the servers resolve them so): the files beside it, in a container or natively."""


def web_config(password: str, tls: bool = False) -> str:
    """A Prometheus/Alertmanager ``--web.config.file``: basic auth for ``BASIC_AUTH_USER`` with a bcrypt hash,
    and with ``tls`` the server certificate and key beside it."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
    config: dict[str, object] = {"basic_auth_users": {credentials.BASIC_AUTH_USER: hashed}}
    if tls:
        config["tls_server_config"] = TLS_SERVER_CONFIG
    return ("# Written by `obsgen secrets init`: basic auth for every endpoint (bcrypt hash of the password file\n"
            + ("# beside it), served over HTTPS with the certificate and key beside it (spec stack.tls).\n" if tls else
               "# beside it). HTTPS: set `stack: {tls: true}` in the spec and run `obsgen secrets init` again.\n")
            + yaml.safe_dump(config, sort_keys=True))


def matches(config: Path, password: str, tls: bool) -> bool:
    """Whether a web config holds the hash of ``password`` and serves TLS exactly when ``tls``."""
    try:
        parsed = yaml.safe_load(config.read_text(encoding="utf-8"))
        users = parsed["basic_auth_users"]
        return (parsed.get("tls_server_config") == (TLS_SERVER_CONFIG if tls else None)
                and bcrypt.checkpw(password.encode(), users[credentials.BASIC_AUTH_USER].encode()))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False


def amtool_config(password_file: Path, ca_file: Path | None = None) -> str:
    config: dict[str, object] = {"basic_auth": {"username": credentials.BASIC_AUTH_USER,
                                                "password_file": str(password_file.resolve())}}
    if ca_file is not None:
        config["tls_config"] = {"ca_file": str(ca_file.resolve())}
    return yaml.safe_dump(config, sort_keys=True)


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise ValueError("stack.tls needs the `openssl` command to make a private CA — install it, or put "
                         f"{', '.join(credentials.TLS_FILES)} (your own CA and server certificate) in secrets/")
    result = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise ValueError(f"openssl {args[0]} failed: {result.stderr.strip()[-500:]}")


def make_tls(directory: Path) -> list[str]:
    """A private CA and a server certificate for ``credentials.TLS_NAMES``, signed by it, in ``directory``.

    The CA's key is discarded once the certificate is signed. To renew, delete the three files and run
    ``obsgen secrets init`` again (a new CA: restart the clients too)."""
    names = ",".join(f"IP:{n}" if n[0].isdigit() else f"DNS:{n}" for n in credentials.TLS_NAMES)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        work = Path(tmp)
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
        _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
                 "-subj", "/CN=obsgen stack CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=work)
        _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=obsgen stack", cwd=work)
        (work / "server.ext").write_text(f"subjectAltName={names}\nextendedKeyUsage=serverAuth\n"
                                         "keyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", str(TLS_DAYS), "-extfile", "server.ext", "-out", "server.crt", cwd=work)
        made = {credentials.TLS_CA: "ca.crt", credentials.TLS_CERT: "server.crt", credentials.TLS_KEY: "server.key"}
        for name, source in made.items():
            _write(directory / name, (work / source).read_text(encoding="utf-8"))
    return list(made)  # the CA's key goes with the temporary directory: nothing can be signed with it again


def _tls(directory: Path, tls: bool | None, written: Written) -> bool:
    """Whether the servers serve TLS; with ``tls``, the CA, certificate and key are there (kept or made).
    ``tls=None`` keeps what the directory holds (all three files: TLS)."""
    present = [name for name in credentials.TLS_FILES if (directory / name).exists()]
    if tls is None:
        return len(present) == len(credentials.TLS_FILES)
    if not tls:
        return False
    if not present:
        written.created += make_tls(directory)
    elif len(present) < len(credentials.TLS_FILES):
        missing = sorted(set(credentials.TLS_FILES) - set(present))
        raise ValueError(f"{directory}: {', '.join(missing)} missing beside {', '.join(present)} — put your CA "
                         "certificate, server certificate and key there, or delete them all to have a private "
                         "CA made")
    else:
        key = directory / credentials.TLS_KEY
        if not _private(key):
            raise ValueError(f"{key}: the TLS server key is open to every user (mode "
                             f"{stat.S_IMODE(key.stat().st_mode):04o}) — run `chmod o-rwx {key}` (0440 or 0640)")
        written.kept += present
    return True


def _private(path: Path) -> bool:
    """Whether other users have no access at all: a web config every user can read gives away the password's
    hash, one every user can write lets anyone replace it."""
    return not path.stat().st_mode & 0o007


def _write(path: Path, text: str, mode: int = FILE_MODE) -> None:
    """Atomically, created with ``mode`` (never readable by others, not even for a moment)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def init_secrets(specs: Services, out: Path) -> Written:
    """Create what is missing under ``out/secrets`` (see the module docstring); what was created and kept."""
    names = [s.name for s in credentials.stack_secrets(specs)
             if s.name not in credentials.WEB_CONFIGS and s.generated]
    return write_secrets(out / credentials.SECRETS_DIR, names, specs.tls)


def write_secrets(directory: Path, names: list[str], tls: bool | None = None) -> Written:
    """The random secrets ``names`` (kept where they exist), the TLS files (``tls``: kept or made; ``None``:
    TLS when the directory holds them) and the web and amtool configs, in ``directory``."""
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: is a file, where the secrets' directory goes — move it out of the way")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, DIR_MODE)
    written = Written(directory)
    serve_tls = _tls(directory, tls, written)
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
        if path.exists() and _private(path) and matches(path, values[password], serve_tls):
            written.kept.append(name)
        else:
            _write(path, web_config(values[password], serve_tls))
            written.created.append(name)
    amtool = directory / credentials.AMTOOL_HTTP_CONFIG
    text = amtool_config(directory / credentials.ALERTMANAGER_PASSWORD,
                         directory / credentials.TLS_CA if serve_tls else None)
    if amtool.exists() and _private(amtool) and amtool.read_text(encoding="utf-8") == text:
        written.kept.append(amtool.name)
    else:
        _write(amtool, text)
        written.created.append(amtool.name)
    return written
