"""The dashboards of a cold ``obsgen generate`` built in a second process, on a second core.

Importing grafanalib costs a cold process about 90 ms of CPU (attrs writing and compiling the methods of its
~100 classes): more than loading and checking a spec. ``DashboardWorker.start`` forks before the specs are
loaded; the child imports the dashboard emitter while the parent loads and checks the specs, then receives the
models (pickled), runs ``emit.grafana.dashboards.emit`` on each and sends the files back. The parent builds the
rest of the tree meanwhile. The instructions are the same (the copy-on-write page faults after the fork add
10–30 ms of CPU); the time the user waits drops by the import. The files are the same bytes as in-process:
the emitter is a pure function of the model.

No worker when it cannot pay or is unsafe: not Linux (macOS system libraries do not survive a fork without
exec), one usable CPU, another thread running (a fork copies no threads, and locks they hold stay locked),
grafanalib already imported (a test session), or ``OBSGEN_WORKER=0``. When the worker fails in any way, the
parent builds the dashboards itself.
"""

from __future__ import annotations

import contextlib
import copyreg
import gc
import io
import os
import pickle
import signal
import sys
import threading
import types
from collections.abc import Sequence

from obsgen.model import Model

ENV = "OBSGEN_WORKER"
"""``0`` builds the dashboards in-process (for comparisons; the output is the same)."""


def _proxy(items: dict) -> types.MappingProxyType:
    return types.MappingProxyType(items)


def _reduce_proxy(value: types.MappingProxyType) -> tuple:
    return _proxy, (dict(value),)


def _dumps(value: object) -> bytes:
    """Pickle, with the model's read-only mappings (``MappingProxyType``) as what they wrap."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, types.MappingProxyType: _reduce_proxy}
    pickler.dump(value)
    return buffer.getvalue()


def _read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as stream:
        return stream.read()


def _write_all(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def _useful() -> bool:
    return (os.environ.get(ENV) != "0" and sys.platform.startswith("linux") and "grafanalib" not in sys.modules
            and threading.active_count() == 1 and len(os.sched_getaffinity(0)) > 1)


def _child(parents: tuple[int, ...], models_in: int, files_out: int) -> None:
    """The worker: import, wait for the models, emit, send, exit (never returns)."""
    code = 1
    try:
        for fd in parents:  # the parent's ends of the pipes: EOF reaches each side when the other is done
            os.close(fd)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the worker with the parent
        from obsgen.emit.grafana import board  # noqa: F401 - the import this process exists to do early
        from obsgen.emit.grafana.dashboards import emit

        payload = _read_all(models_in)
        if payload:
            models: tuple[Model, ...] = pickle.loads(payload)
            _write_all(files_out, pickle.dumps([emit(model) for model in models], protocol=pickle.HIGHEST_PROTOCOL))
            code = 0
    finally:
        os._exit(code)  # no atexit handlers, no flushing of buffers inherited from the parent


class DashboardWorker:
    """A forked process that builds the dashboard files of the models it is given, once."""

    def __init__(self, pid: int, models_out: int, files_in: int) -> None:
        self.pid, self.models_out, self.files_in = pid, models_out, files_in
        self.done = False
        self.count = 0

    @classmethod
    def start(cls) -> DashboardWorker | None:
        """A worker already importing the dashboard emitter, or None where one does not pay (see the module)."""
        if not _useful():
            return None
        models_in, models_out = os.pipe()
        files_in, files_out = os.pipe()
        gc.freeze()  # the collector then never writes to the pages both processes share (copy-on-write)
        pid = os.fork()
        if pid == 0:
            _child((models_out, files_in), models_in, files_out)
        os.close(models_in)
        os.close(files_out)
        return cls(pid, models_out, files_in)

    def send(self, models: Sequence[Model]) -> bool:
        """Hand the worker its models; False if it is gone (the caller builds the dashboards)."""
        self.count = len(models)
        try:
            payload = _dumps(tuple(models))
        except pickle.PickleError:
            self.cancel()
            return False
        models_out, self.models_out = self.models_out, -1  # closed by ``_write_all``, whatever happens
        try:
            _write_all(models_out, payload)
        except OSError:  # the worker is gone
            self.cancel()
            return False
        return True

    def receive(self) -> list[dict[str, str]] | None:
        """``dashboards.emit`` of each model sent, in order; None if the worker failed (the caller builds them)."""
        try:
            files = pickle.loads(_read_all(self.files_in))
        except (OSError, pickle.PickleError, EOFError, ValueError):  # a worker that died while writing
            files = None
        self.done = True
        _, status = os.waitpid(self.pid, 0)
        return files if status == 0 and isinstance(files, list) and len(files) == self.count else None

    def cancel(self) -> None:
        """End a worker whose result is not wanted (the specs had errors, or no dashboards)."""
        if self.done:
            return
        self.done = True
        for fd in (self.models_out, self.files_in):
            if fd >= 0:
                os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
