"""Batching span and log-record processors that never block the application and count what they lose.

They work like the SDK's ``BatchSpanProcessor``/``BatchLogRecordProcessor`` (a bounded deque, newest in
on the left, a background thread exporting batches from the right) and differ where the host needs it:

* a full queue drops its *oldest* item and counts it; items in a failed export are counted too, and
  the counts feed ``obsgen.telemetry.dropped`` (the SDK only logs a warning);
* ``shutdown(timeout_s)`` returns within its deadline even when the collector is down: it aborts the
  exporter's retry back-off instead of waiting 30 s per signal, as the SDK's processors do;
* only public SDK interfaces are used, so an SDK upgrade cannot silently break the drop accounting.

The application thread only ever appends to a deque and, once per batch, sets an event. The runtime's
own log records go in unbuilt (``BoundedBatchLogRecordProcessor.emit_later``) and are encoded on the
export thread.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordLimits, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

T = TypeVar("T")
_log = logging.getLogger("obsgen.runtime")
_SUCCESS_NAMES = ("SUCCESS",)


class BoundedExportQueue(Generic[T]):
    """A drop-oldest queue drained by one daemon thread into ``exporter.export(batch)``."""

    def __init__(self, exporter: Any, signal: str, max_queue_size: int = 2048, max_export_batch_size: int = 512,
                 schedule_delay_s: float = 1.0, prepare: Callable[[list[T]], list[Any]] | None = None) -> None:
        if max_queue_size < 1 or max_export_batch_size < 1:
            raise ValueError("queue and batch sizes must be at least 1")
        self.exporter = exporter
        self.signal = signal
        self._prepare = prepare
        """Turns a batch into what the exporter takes, on the export thread (a failure drops the batch, counted)."""
        self.max_queue_size = max_queue_size
        self._batch_size = min(max_export_batch_size, max_queue_size)
        self._delay = schedule_delay_s
        self._queue: deque[T] = deque(maxlen=max_queue_size)
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._shutdown = False
        self._exporter_closed = False
        self._start_worker()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def _after_fork_in_child() -> None:
                queue = ref()
                if queue is not None:
                    queue._start_worker()

            os.register_at_fork(after_in_child=_after_fork_in_child)

    def _start_worker(self) -> None:
        self._queue.clear()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name=f"obsgen-export-{self.signal}", daemon=True)
        self._worker.start()

    @property
    def dropped(self) -> int:
        """Items lost so far: pushed out of a full queue, in a failed export, or left at shutdown."""
        return self._dropped

    def count_dropped(self, n: int) -> None:
        with self._dropped_lock:
            self._dropped += n

    def put(self, item: T) -> None:
        queue = self._queue
        if self._shutdown:
            self.count_dropped(1)
            return
        if len(queue) >= self.max_queue_size:
            self.count_dropped(1)
        queue.appendleft(item)  # a full deque silently pops the oldest item from the right
        if len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    def _run(self) -> None:
        while not self._shutdown:
            woken = self._wake.wait(self._delay)
            self._wake.clear()
            if self._shutdown:
                break
            # Woken by a full batch: send full batches only, so a busy service makes few large requests.
            # The schedule delay passed: send what is queued now, so nothing waits much longer than one
            # delay; what arrives meanwhile waits for the next full batch or delay (sending "until empty"
            # while the application keeps adding would make many tiny requests).
            self._export_batches(deadline=None, full_only=woken, limit=None if woken else len(self._queue))
        self._export_batches(deadline=None)

    def _export_batches(self, deadline: float | None, full_only: bool = False, limit: int | None = None) -> bool:
        """Export until the queue is empty (or ``limit`` items went, or the deadline passed); False if time ran out."""
        with self._export_lock:
            queue = self._queue
            left = math.inf if limit is None else limit
            while queue and left > 0 and not (full_only and len(queue) < self._batch_size):
                if self._exporter_closed:  # shutdown ran out of time: what is left is lost, not retried
                    lost = len(queue)
                    queue.clear()
                    self.count_dropped(lost)
                    return False
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                batch = []
                for _ in range(int(min(self._batch_size, len(queue), left))):
                    try:
                        batch.append(queue.pop())
                    except IndexError:
                        break
                left -= len(batch)
                if batch:
                    self._export(batch)
        return True

    def _export(self, batch: list[T]) -> None:
        try:
            result = self.exporter.export(self._prepare(batch) if self._prepare is not None else batch)
        except Exception:  # an exporter must not kill the worker
            _log.exception("obsgen: exporting %d %s failed", len(batch), self.signal)
            self.count_dropped(len(batch))
            return
        if result is False or getattr(result, "name", "SUCCESS") not in _SUCCESS_NAMES:
            self.count_dropped(len(batch))

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        if self._shutdown:
            return False
        return self._export_batches(deadline=time.monotonic() + timeout_s)

    def abandon(self) -> None:
        """In a forked child: drop the parent's items and stop the worker, exporting nothing and leaving the
        exporter open (it may serve the child's new pipeline)."""
        self._shutdown = True
        self._queue.clear()
        self._wake.set()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Flush what fits in ``timeout_s``, then stop; never waits longer than the timeout (plus a little)."""
        if self._shutdown:
            return
        deadline = time.monotonic() + max(timeout_s, 0.0)
        self._shutdown = True
        self._wake.set()
        self._worker.join(max(deadline - time.monotonic(), 0.0))
        # Aborts a retry back-off in progress (the OTLP exporters wake up on shutdown) and closes connections.
        self._exporter_closed = True
        try:
            self.exporter.shutdown()
        except Exception:
            _log.exception("obsgen: shutting down the %s exporter failed", self.signal)
        self._worker.join(min(0.5, max(deadline - time.monotonic(), 0.05)))
        left = len(self._queue)
        if left:
            self._queue.clear()
            self.count_dropped(left)


class BoundedBatchSpanProcessor(SpanProcessor):
    """``BatchSpanProcessor`` with drop-oldest accounting and a bounded shutdown."""

    def __init__(self, exporter: Any, **queue_options: Any) -> None:
        self.queue: BoundedExportQueue[ReadableSpan] = BoundedExportQueue(exporter, "traces", **queue_options)

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is not None and context.trace_flags.sampled:
            self.queue.put(span)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self.queue.shutdown(timeout_s)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.queue.force_flush(timeout_millis / 1000)


class BoundedBatchLogRecordProcessor:
    """The runtime's log records: ``BatchLogRecordProcessor``'s batching with drop-oldest accounting and a
    bounded shutdown.

    ``emit_later`` queues the fields of a record from the runtime's hot path; the export thread turns a
    batch into what the exporter takes (``prepare``): nothing for the runtime's own OTLP/HTTP exporter,
    which encodes the queued fields itself (``otlp_encode.LogEncoder``); SDK records (``sdk_log_records``)
    for an SDK exporter (``RuntimeConfig.log_exporter``, gRPC).
    """

    def __init__(self, exporter: Any, prepare: Callable[[list[Any]], list[Any]] | None = None,
                 **queue_options: Any) -> None:
        self.queue: BoundedExportQueue[tuple[Any, ...]] = BoundedExportQueue(exporter, "logs", prepare=prepare,
                                                                             **queue_options)

    def emit_later(self, timestamp: int | None, observed_timestamp: int, context: Context,
                   severity: SeverityNumber, severity_text: str, body: str, attributes: dict[str, Any]) -> None:
        """Queue a record whose ``attributes`` nobody changes any more; ``body`` is also its event name."""
        self.queue.put((timestamp, observed_timestamp, context, severity, severity_text, body, attributes))

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self.queue.shutdown(timeout_s)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.queue.force_flush(timeout_millis / 1000)


def sdk_log_records(resource: Resource, scope: InstrumentationScope) -> Callable[[list[Any]], list[ReadableLogRecord]]:
    """Builds SDK log records (attribute limits and cleaning, trace ids from the context) of queued ones."""
    limits = LogRecordLimits()

    def build(batch: list[Any]) -> list[ReadableLogRecord]:
        out = []
        for timestamp, observed, context, severity, text, body, attributes in batch:
            record = ReadWriteLogRecord(LogRecord(
                timestamp=timestamp, observed_timestamp=observed, context=context, severity_text=text,
                severity_number=severity, body=body, attributes=attributes, event_name=body),
                resource=resource, instrumentation_scope=scope, limits=limits).log_record
            record.context = Context()  # a queued record must not pin the (possibly large) context
            out.append(ReadableLogRecord(log_record=record, resource=resource, instrumentation_scope=scope,
                                         limits=limits))
        return out

    return build
