"""A small HTTP/1.1 server for JSON endpoints that survives slow and hostile clients (standard library only).

Why not ``http.server.ThreadingHTTPServer``: it gives every connection a thread that blocks reading
the request head with no timeout, has a listen backlog of 5 and prints a traceback per dropped client,
so 1,000 half-written connections starve every real request. Here one asyncio loop (in one thread)
reads every request head and body, so a connection that sends nothing costs a file descriptor, not a
thread, and:

* the whole request (head and body) must arrive within ``read_timeout_s``: a client that trickles bytes
  is cut off just like one that sends nothing;
* at most ``max_connections`` are open; at the cap a new connection evicts the one that has waited the
  longest for its request to arrive (an attacker's idle sockets make way for a real client), or is
  refused with 503 when every open connection is being answered;
* ``Content-Length`` is strict: missing on a request with a body → 411, malformed or negative → 400,
  over ``max_body`` → 413, ``Transfer-Encoding`` → 411 (no chunked bodies);
* the listen backlog is ``backlog`` (the kernel caps it at ``net.core.somaxconn``);
* a client that goes away or times out is one log line and a counter (``stats``), never a traceback.

The handler runs in a small thread pool (it may write files); one request per connection
(``Connection: close``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any

_log = logging.getLogger("obsgen.http")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Limits:
    read_timeout_s: float = 5.0
    """Time a client has to send its whole request (head and body)."""
    max_connections: int = 2048
    backlog: int = 1024
    max_head: int = 16 * 1024
    max_body: int = 1 << 20
    handler_threads: int = 4


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes
    peer: str


class HttpError(Exception):
    """Raised by a handler (or the parser) to answer ``status`` with ``{"error": reason}``."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


Handler = Callable[[Request], tuple[HTTPStatus, Any]]


@dataclass
class _Connection:
    writer: asyncio.StreamWriter
    opened: float
    reading: bool = True


@dataclass
class Stats:
    """What happened to connections; read by tests and benchmarks (``GuardedHttpServer.stats``)."""

    served: int = 0
    timed_out: int = 0
    evicted: int = 0
    refused: int = 0
    bad_requests: int = 0
    dropped: int = 0
    """The client closed or reset the connection before its request was complete."""
    accept_failed: int = 0
    """Connections the kernel queued that could not be accepted at once (out of file descriptors)."""


class GuardedHttpServer:
    """Serves ``handler`` on ``host:port`` (0: a free port); bound at construction, so ``address`` is known."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None,
                 name: str = "obsgen-http") -> None:
        self._handler = handler
        self.limits = _within_descriptors(limits or Limits(), name)
        self._name = name
        self._socket = socket.create_server((host, port), backlog=self.limits.backlog)
        self._socket.setblocking(False)
        self._open: dict[asyncio.Task[None], _Connection] = {}
        self._pool = ThreadPoolExecutor(self.limits.handler_threads, thread_name_prefix=name)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = Stats()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve in a daemon thread; returns once the loop accepts connections."""
        self._thread = threading.Thread(target=self.serve_forever, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def serve_forever(self) -> None:
        asyncio.run(self._serve())

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._socket.close()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        accepting = asyncio.create_task(self._accept_forever())
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            accepting.cancel()
            for task in list(self._open):
                task.cancel()
            await asyncio.gather(*self._open, return_exceptions=True)

    async def _accept_forever(self) -> None:
        """Accept connections one at a time, each served by ``_accept``.

        Not ``asyncio.start_server``: it listens again with its own backlog (100, whatever ``Limits.backlog``
        says), accepts up to that many connections at once before any is counted against
        ``max_connections``, and when the process runs out of file descriptors logs a traceback per
        attempt and stops accepting for a second. Here a failed accept closes the connection idle longest.
        """
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(self._socket)
            except OSError as exc:  # out of file descriptors (EMFILE, ENFILE) or buffers
                self.stats.accept_failed += 1
                if self.stats.accept_failed == 1 or not self._evict_oldest_reader():
                    _log.warning("%s: cannot accept a connection (%s) with %d open", self._name, exc.strerror,
                                 len(self._open))
                await asyncio.sleep(0.01)  # let the evicted connection close, or one finish
                continue
            reader = asyncio.StreamReader(limit=self.limits.max_head, loop=loop)
            protocol = asyncio.StreamReaderProtocol(reader, self._accept, loop=loop)
            try:
                await loop.connect_accepted_socket(lambda made=protocol: made, sock)
            except OSError:
                sock.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._open) >= self.limits.max_connections and not self._evict_oldest_reader():
            self.stats.refused += 1
            _log.info("%s: connection refused: %d connections open", self._name, len(self._open))
            await self._write(writer, HTTPStatus.SERVICE_UNAVAILABLE, {"error": "too many connections"})
            return
        conn = _Connection(writer, time.monotonic())
        self._open[task] = conn
        peer = _peer(writer)
        try:
            try:
                async with asyncio.timeout(self.limits.read_timeout_s):
                    request = await self._read(reader, writer, peer)
            except HttpError as exc:
                self.stats.bad_requests += 1
                _log.info("%s: %s: %d %s", self._name, peer, exc.status, exc.reason)
                await self._write(writer, exc.status, {"error": exc.reason})
                return
            conn.reading = False
            status, body = await asyncio.get_running_loop().run_in_executor(self._pool, self._call, request)
            await self._write(writer, status, body)
            self.stats.served += 1
        except TimeoutError:
            self.stats.timed_out += 1
            _log.info("%s: %s: request not complete within %gs; closed", self._name, peer,
                      self.limits.read_timeout_s)
            writer.transport.abort()
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            self.stats.dropped += 1
            _log.info("%s: %s: client went away (%s)", self._name, peer, type(exc).__name__)
            writer.transport.abort()
        except asyncio.CancelledError:  # evicted, or the server stops
            writer.transport.abort()
        finally:
            self._open.pop(task, None)

    def _evict_oldest_reader(self) -> bool:
        """Close the connection that has waited longest for its request; False if every one is being answered."""
        waiting = [(conn.opened, task) for task, conn in self._open.items() if conn.reading]
        if not waiting:
            return False
        _, task = min(waiting, key=lambda item: item[0])
        _log.info("%s: %s evicted: %d connections open", self._name, _peer(self._open[task].writer), len(self._open))
        self._open.pop(task, None)
        task.cancel()
        self.stats.evicted += 1
        return True

    def _call(self, request: Request) -> tuple[HTTPStatus, Any]:
        try:
            return self._handler(request)
        except HttpError as exc:
            self.stats.bad_requests += 1
            _log.info("%s: %s %s from %s: %d %s", self._name, request.method, request.path, request.peer,
                      exc.status, exc.reason)
            return exc.status, {"error": exc.reason}
        except Exception:  # a bug in the handler: logged once with its traceback, the client gets 500
            _log.exception("%s: %s %s failed", self._name, request.method, request.path)
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> Request:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large") from None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise ConnectionResetError("closed before sending a request") from None
            raise
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        # A control character (a lone \n) in the request line would forge lines in the log that quotes it.
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or _CONTROL.search(lines[0]):
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
        method, path, _ = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header line")
            key = name.lower()
            if key in headers and key in ("content-length", "authorization", "transfer-encoding"):
                raise HttpError(HTTPStatus.BAD_REQUEST, f"repeated {name} header")
            headers[key] = value.strip()
        length = self._content_length(method, headers)
        if length and headers.get("expect", "").lower() == "100-continue":  # curl, for bodies over 1 KiB
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await reader.readexactly(length) if length else b""
        return Request(method, path.split("?", 1)[0], headers, body, peer)

    def _content_length(self, method: str, headers: Mapping[str, str]) -> int:
        if "transfer-encoding" in headers:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Transfer-Encoding is not accepted; send Content-Length")
        text = headers.get("content-length")
        if text is None:
            if method in ("POST", "PUT", "PATCH"):
                raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return 0
        if not text.isascii() or not text.isdigit():
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Content-Length {text[:20]!r} is not a non-negative integer")
        # 19 digits exceed any body limit; int() of 4,300 digits or more raises (a traceback, no answer).
        length = int(text) if len(text) <= 18 else None
        if length is None or length > self.limits.max_body:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"body of {length if length is not None else 'over 10**18'} bytes exceeds the limit of "
                            f"{self.limits.max_body}")
        return length

    async def _write(self, writer: asyncio.StreamWriter, status: HTTPStatus, body: Any) -> None:
        """Send the response and close; a client that does not read it within the timeout is cut off."""
        data = json.dumps(body, sort_keys=True).encode()
        head = (f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
        try:
            async with asyncio.timeout(self.limits.read_timeout_s):
                writer.write(head + data)
                await writer.drain()
            writer.close()
        except (ConnectionError, OSError, TimeoutError):
            writer.transport.abort()


def _within_descriptors(limits: Limits, name: str) -> Limits:
    """``limits`` with ``max_connections`` below the process's file-descriptor limit (keeping a quarter for the
    application). At the cap the server evicts the connection idle longest; past the descriptor limit
    ``accept()`` fails instead, asyncio logs a traceback per attempt, and no client gets in until idle
    connections time out (with a soft limit of 1,024, common, and the default cap of 2,048)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # no such limit on this platform
        return limits
    if soft == resource.RLIM_INFINITY or limits.max_connections <= soft * 3 // 4:
        return limits
    cap = max(1, soft * 3 // 4)
    _log.info("%s: at most %d connections (not %d): the process may open %d files (ulimit -n)", name, cap,
              limits.max_connections, soft)
    return replace(limits, max_connections=cap)


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
