"""OTLP/HTTP protobuf export of the runtime's own encodings: settings, a small sender, the exporter.

The sender takes the settings the SDK's ``OTLPLogExporter``/``OTLPSpanExporter`` take, from the same
places: the endpoint the runtime gives (``RuntimeConfig.endpoint`` + ``/v1/<signal>``), else
``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT``, else ``OTEL_EXPORTER_OTLP_ENDPOINT`` + the path, else
``http://localhost:4318``; headers, timeout, compression (``gzip``/``deflate``), CA certificate and client
certificate/key from ``OTEL_EXPORTER_OTLP_[<SIGNAL>_]*``. It sends with ``requests`` as the SDK's transport
does (so proxies and CA bundles from the environment work alike) and retries like the SDK's client:
up to 6 attempts on 429/502/503/504 and connection errors, exponential back-off with jitter or the
server's ``Retry-After``, all within the timeout, and ``shutdown()`` aborts a back-off at once. A request
body comes in pieces (``otlp_encode``) and goes out with a Content-Length, piece after piece, the GIL
released while each is written. The User-Agent is ``obsgen-runtime/<version>``.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from obsgen import __version__

_log = logging.getLogger("obsgen.runtime")

DEFAULT_ENDPOINT = "http://localhost:4318"
DEFAULT_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 6
RETRYABLE = frozenset({429, 502, 503, 504})
JITTER = 0.2
CREDENTIAL_PROVIDER_VARIABLES = ("OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
                                 "OTEL_PYTHON_EXPORTER_OTLP_HTTP_{signal}_CREDENTIAL_PROVIDER")
"""A ``requests`` session from an entry point: only the SDK's exporters load one, so with either variable
set the runtime uses the SDK's exporter for that signal (``wants_sdk_exporter``)."""


def _env(name: str, signal: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME>``, else ``OTEL_EXPORTER_OTLP_<NAME>`` (empty counts as unset)."""
    return os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}") or os.environ.get(
        f"OTEL_EXPORTER_OTLP_{name}") or None


def wants_sdk_exporter(signal: str) -> bool:
    return any(os.environ.get(v.format(signal=signal.upper())) for v in CREDENTIAL_PROVIDER_VARIABLES)


def _parse_headers(text: str) -> dict[str, str]:
    from opentelemetry.util.re import parse_env_headers

    return parse_env_headers(text, liberal=True)


@dataclass(frozen=True)
class HttpSettings:
    endpoint: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    compression: str = "none"
    verify: bool | str = True
    """``True`` (the system's CA bundle) or a CA certificate file."""
    cert: str | tuple[str, str] | None = None

    @classmethod
    def resolve(cls, signal: str, base_endpoint: str | None, timeout_s: float | None) -> HttpSettings:
        """The settings the SDK's OTLP/HTTP exporter of ``signal`` (``traces``/``logs``) would use."""
        path = f"v1/{signal}"
        if base_endpoint:
            endpoint = f"{base_endpoint.rstrip('/')}/{path}"
        else:
            endpoint = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or (
                f"{(os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT') or DEFAULT_ENDPOINT).removesuffix('/')}/{path}")
        headers = {"content-type": "application/x-protobuf", "user-agent": f"obsgen-runtime/{__version__}"}
        headers.update(_parse_headers(_env("HEADERS", signal) or ""))
        if timeout_s is None:
            raw = _env("TIMEOUT", signal)
            try:
                timeout_s = float(raw) if raw else DEFAULT_TIMEOUT_S  # seconds, as the SDK's exporters read it
            except ValueError:
                _log.warning("obsgen: invalid OTLP timeout %r; using %g s", raw, DEFAULT_TIMEOUT_S)
                timeout_s = DEFAULT_TIMEOUT_S
        compression = (_env("COMPRESSION", signal) or "none").strip().lower()
        if compression not in ("none", "gzip", "deflate"):
            _log.warning("obsgen: unsupported OTLP compression %r; sending uncompressed", compression)
            compression = "none"
        if compression != "none":
            headers["content-encoding"] = compression
        cert_file, key_file = _env("CLIENT_CERTIFICATE", signal), _env("CLIENT_KEY", signal)
        return cls(endpoint=endpoint, headers=headers, timeout_s=timeout_s, compression=compression,
                   verify=_env("CERTIFICATE", signal) or True,
                   cert=(cert_file, key_file) if cert_file and key_file else cert_file)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


class Body:
    """A request body of several pieces with a known length: ``requests`` sends it with a Content-Length,
    piece by piece (and again for a retry)."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = chunks
        self._length = sum(map(len, chunks))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return self._length


class HttpSender:
    """POSTs request bodies to one OTLP/HTTP endpoint, with the SDK client's retries; thread-compatible
    (one export thread uses it)."""

    def __init__(self, settings: HttpSettings, signal: str) -> None:
        import requests

        self.settings = settings
        self._signal = signal
        self._requests = requests
        self._session = requests.Session()
        self._session.verify = settings.verify
        if settings.cert is not None:
            self._session.cert = settings.cert
        self._headers = dict(settings.headers)
        self._stop = threading.Event()

    def _compress(self, chunks: Sequence[bytes]) -> Sequence[bytes]:
        if self.settings.compression == "none":
            return chunks
        # gzip: a gzip member; deflate: the zlib format (as the SDK's zlib.compress). zlib releases the GIL.
        compressor = zlib.compressobj(wbits=31 if self.settings.compression == "gzip" else 15)
        return [*(compressor.compress(chunk) for chunk in chunks), compressor.flush()]

    def _post(self, data: Body, timeout_s: float) -> Any:
        return self._session.post(self.settings.endpoint, data=data, headers=self._headers, timeout=timeout_s,
                                  allow_redirects=False)

    def send(self, chunks: Sequence[bytes]) -> bool:
        """Send a request body given in pieces (never joined: one piece after the other on the socket).

        True once the endpoint answered 2xx/3xx; False after a permanent error, the retries, the timeout or
        ``shutdown()``."""
        data = Body(self._compress(chunks))
        deadline = time.monotonic() + self.settings.timeout_s
        connection_errors = (self._requests.ConnectionError, self._requests.Timeout)
        problem = "no attempt"
        for attempt in range(MAX_ATTEMPTS):
            backoff = 2 ** attempt * random.uniform(1 - JITTER, 1 + JITTER)
            try:
                try:
                    response = self._post(data, max(deadline - time.monotonic(), 0.0))
                except connection_errors:
                    if deadline - time.monotonic() <= 0:
                        raise
                    # At once, once: usually a pooled connection the server had closed.
                    response = self._post(data, max(deadline - time.monotonic(), 0.0))
            except connection_errors as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # not retryable (a bad URL, a TLS file missing, ...)
                _log.error("obsgen: exporting %s failed: %s", self._signal, exc)
                return False
            else:
                if 200 <= response.status_code < 400:
                    return True
                problem = f"HTTP {response.status_code} {response.reason}"
                if response.status_code not in RETRYABLE:
                    _log.error("obsgen: exporting %s failed: %s: %s", self._signal, problem, response.text[:200])
                    return False
                after = _retry_after(response.headers.get("retry-after"))
                if after is not None:
                    backoff = after
            if attempt + 1 == MAX_ATTEMPTS or backoff > deadline - time.monotonic() or self._stop.is_set():
                break
            _log.warning("obsgen: exporting %s: %s; retrying in %.2f s", self._signal, problem, backoff)
            if self._stop.wait(backoff):
                break
        _log.error("obsgen: exporting %s failed (%s) after retries, the timeout or shutdown", self._signal, problem)
        return False

    def shutdown(self) -> None:
        """Aborts a back-off in progress and closes the connections."""
        self._stop.set()
        self._session.close()


PAUSE_S = 0.0001


def pause() -> None:
    """Hand the GIL to a waiting application thread between encoding steps.

    A thread that only computes keeps the GIL until a waiting thread's switch interval (5 ms) runs out;
    ``time.sleep`` releases it, and a short real sleep (not ``sleep(0)``, whose thread usually takes the
    GIL back before the woken waiter can) lets the waiter run now."""
    time.sleep(PAUSE_S)


class OtlpHttpExporter:
    """Encodes a batch with ``encode(batch, pause)`` (a request in pieces) and sends it: what
    ``BoundedExportQueue`` drives."""

    def __init__(self, sender: HttpSender, encode: Callable[[Sequence[Any], Callable[[], None]], list[bytes]],
                 pause: Callable[[], None]) -> None:
        self.sender = sender
        self._encode = encode
        self._pause = pause

    @property
    def endpoint(self) -> str:
        return self.sender.settings.endpoint

    def export(self, batch: Sequence[Any]) -> bool:
        return self.sender.send(self._encode(batch, self._pause))

    def shutdown(self) -> None:
        self.sender.shutdown()
