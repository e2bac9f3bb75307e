"""Fork safety: what a pre-fork server's workers (gunicorn/uWSGI with preload) need from the runtime.

Threads do not survive ``fork()``, and everything the parent had queued or aggregated is the parent's to
export: a child that exported it again, under the parent's ``service.instance.id``, would make colliding
cumulative series. So, in the child, the runtime abandons the inherited SDK pipeline without exporting
anything from it, builds a new one under its own instance id, and restarts the kill-switch watcher.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry.sdk.metrics import MeterProvider

T = TypeVar("T")
_log = logging.getLogger("obsgen.runtime")


def after_fork_in_child(owner: T, method: Callable[[T], None]) -> None:
    """Call ``method(owner)`` in every child forked from now on while ``owner`` is alive (a weak reference:
    the hook keeps nothing alive). A failure is logged, never raised into the forking application."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(owner)

    def hook() -> None:
        target = ref()
        if target is None:
            return
        try:
            method(target)
        except Exception:
            _log.exception("obsgen: resetting the runtime after fork() failed")

    os.register_at_fork(after_in_child=hook)


def abandon(pipeline: Any, own_readers: bool) -> None:
    """In a forked child: stop the inherited pipeline (``pipeline.Pipeline``) without exporting from it.

    Span and log queues drop the parent's items and stop their workers; the exporters stay open (they
    may be the application's own, reused by the child's pipeline). Metric exporters the runtime made are
    shut down *before* their provider, so its final collection goes nowhere; metric readers the
    application passed (``RuntimeConfig.metric_readers``) are released for the child's new provider.
    """
    for queue in pipeline.queues:
        queue.abandon()
    if own_readers:
        for exporter in pipeline.metric_exporters:
            try:
                exporter.shutdown(timeout_millis=0)
            except Exception:
                _log.debug("obsgen: closing an inherited metric exporter failed", exc_info=True)
        try:
            pipeline.meter_provider.shutdown(timeout_millis=0)
        except Exception:
            _log.debug("obsgen: stopping the inherited meter provider failed", exc_info=True)
    else:
        # The SDK lets a reader belong to one provider per process; the parent's provider is dead here.
        readers = getattr(MeterProvider, "_all_metric_readers", None)
        for reader in getattr(pipeline.meter_provider, "_metric_readers", ()):
            if readers is not None:
                readers.discard(reader)
