"""OpenTelemetry tracing and metrics for dispatch and workers (the ``[otel]`` extra).

Switch it on once at start-up, after configuring your tracer and meter providers::

    from supabase_jobs import otel

    otel.instrument()        # global providers; or instrument(tracer_provider=..., ...)

Then every ``dispatch`` / ``dispatch_many`` opens a PRODUCER span and stores its W3C trace
context with each job (the ``trace_context`` column, which the scrubber never touches and
which holds only ``traceparent`` / ``tracestate``). Every worker attempt opens a CONSUMER
span whose parent is the producer's context, with a link to it too, so one trace shows the
API request, its dispatch and each execution of the job, retries included. Spans follow
OpenTelemetry's messaging conventions; a payload or result value is never recorded.

Metrics (counters by ``messaging.destination.name`` = queue and ``supabase_jobs.type``):
``supabase_jobs.jobs.dispatched``, ``.completed``, ``.failed``, ``.retried``,
``.lease_lost``; histograms ``supabase_jobs.job.duration`` (handler time) and
``supabase_jobs.job.queue_wait`` (due time to start), in seconds; and, when
``instrument(depth_from=jobs)`` is given a sync client, the observable gauge
``supabase_jobs.queue.depth`` (pending jobs per queue, read from ``queue_stats()`` at each
collection).

Without the extra this module fails to import with a one-line hint; nothing else in the
SDK imports OpenTelemetry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, MutableMapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.propagate import extract, inject
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the no-extra test
    raise ModuleNotFoundError(
        "supabase_jobs.otel needs OpenTelemetry: pip install 'supabase-jobs[otel]'"
    ) from exc

from . import _observe
from ._version import __version__
from ._worker._hooks import WorkerHooks

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, TracerProvider

    from ._models import Job
    from ._worker import JobOutcome

__all__ = ["Instrumentation", "instrument", "uninstrument"]

#: ``messaging.system``: not one of the well-known values, so the library's own name.
SYSTEM = "supabase_jobs"
_SCOPE = "supabase_jobs"
#: Only these carrier keys are stored: W3C trace context, nothing a user put in baggage.
_CARRIER_KEYS = ("traceparent", "tracestate")

_installed: Instrumentation | None = None
_install_lock = threading.Lock()


def _queue(value: object) -> str:
    return str(value) if value else "default"


def _common(job: Job) -> dict[str, Any]:
    return {
        "messaging.system": SYSTEM,
        "messaging.destination.name": _queue(job.queue),
        "messaging.message.id": str(job.id),
        "supabase_jobs.type": job.type,
        "supabase_jobs.tenant_id": str(job.tenant_id),
        "supabase_jobs.attempt": job.attempts,
    }


class _DispatchScope:
    """One dispatch's PRODUCER span, as a context manager (a class, not a generator: this
    runs on every dispatch, and the overhead budget is a few microseconds)."""

    __slots__ = ("_owner", "_span", "_token")

    def __init__(self, owner: Instrumentation, span: Span) -> None:
        self._owner = owner
        self._span = span
        self._token: object = None

    def __enter__(self) -> _DispatchScope:
        # Current while the insert runs, so an HTTP client span nests under it; skipped when
        # the span is a no-op (no SDK configured), which costs more than everything else.
        if self._span.get_span_context().is_valid:
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        span = self._span
        try:
            if isinstance(exc, Exception) and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            span.end()

    def dispatched(self, jobs: Sequence[Job]) -> None:
        if len(jobs) == 1:
            job = jobs[0]
            if self._span.is_recording():
                self._span.set_attribute("messaging.message.id", str(job.id))
                self._span.set_attribute("supabase_jobs.tenant_id", str(job.tenant_id))
            self._owner._dispatched.add(
                1, {"messaging.destination.name": _queue(job.queue), "supabase_jobs.type": job.type}
            )
            return
        counts: dict[tuple[str, str], int] = {}
        for job in jobs:
            key = (_queue(job.queue), job.type)
            counts[key] = counts.get(key, 0) + 1
        for (queue, type_), n in counts.items():
            self._owner._dispatched.add(
                n, {"messaging.destination.name": queue, "supabase_jobs.type": type_}
            )


class Instrumentation:
    """The tracer, meter and worker hooks behind :func:`instrument`.

    Args:
        tracer_provider: Defaults to the global provider.
        meter_provider: Defaults to the global provider.
        depth_from: A sync ``JobsClient`` whose ``queue_stats()`` feeds the queue-depth
            gauge; ``None`` registers no gauge.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        depth_from: Any = None,
    ) -> None:
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self._dispatched = meter.create_counter(
            "supabase_jobs.jobs.dispatched", unit="{job}", description="Jobs dispatched"
        )
        self._outcomes = {
            kind: meter.create_counter(
                f"supabase_jobs.jobs.{kind}", unit="{job}", description=f"Jobs {kind}"
            )
            for kind in ("completed", "failed", "retried", "lease_lost")
        }
        self._duration = meter.create_histogram(
            "supabase_jobs.job.duration", unit="s", description="Handler run time per attempt"
        )
        self._wait = meter.create_histogram(
            "supabase_jobs.job.queue_wait", unit="s", description="From due time to start"
        )
        self._depth_from = depth_from
        if depth_from is not None:
            meter.create_observable_gauge(
                "supabase_jobs.queue.depth",
                callbacks=[self._observe_depth],
                unit="{job}",
                description="Pending jobs per queue",
            )
        self._hooks = _TracingHooks(self)

    # -- dispatch (PRODUCER) -------------------------------------------------------------

    def dispatch(self, rows: Sequence[MutableMapping[str, Any]]) -> _DispatchScope:
        """Open the PRODUCER span and stamp its context on every row (see the module doc)."""
        if len(rows) == 1:
            queue: str | None = _queue(rows[0].get("queue"))
        else:
            queues = {_queue(row.get("queue")) for row in rows}
            queue = queues.pop() if len(queues) == 1 else None
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": "dispatch",
        }
        if queue is not None:
            attributes["messaging.destination.name"] = queue
        if len(rows) == 1:
            attributes["supabase_jobs.type"] = rows[0].get("type")
            if "id" in rows[0]:
                attributes["messaging.message.id"] = str(rows[0]["id"])
        else:
            attributes["messaging.batch.message_count"] = len(rows)
        name = f"send {queue}" if queue is not None else "send"
        span = self._tracer.start_span(name, kind=SpanKind.PRODUCER, attributes=attributes)
        if span.get_span_context().is_valid:
            carrier: dict[str, str] = {}
            inject(carrier, context=trace.set_span_in_context(span))
            context = {k: carrier[k] for k in _CARRIER_KEYS if k in carrier}
            if context:
                for row in rows:
                    row["trace_context"] = context
        return _DispatchScope(self, span)

    def hooks(self) -> _TracingHooks:
        """The worker hooks that open CONSUMER spans and record job metrics."""
        return self._hooks

    def _observe_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        for row in self._depth_from.queue_stats():
            yield Observation(row.pending, {"messaging.destination.name": row.queue})


class _TracingHooks(WorkerHooks):
    """Worker hooks: a CONSUMER span per attempt, current while the handler runs."""

    def __init__(self, owner: Instrumentation) -> None:
        self._owner = owner
        # job_started and job_finished run in the same thread (sync) or task (async);
        # keyed by lease so a job re-claimed by this worker never meets a stale span.
        self._open: dict[tuple[str, str], tuple[Span, object, float]] = {}
        self._lock = threading.Lock()

    def job_started(self, job: Job) -> None:
        """Open the CONSUMER span, parented on and linked to the producer's context."""
        attributes = _common(job)
        attributes["messaging.operation.type"] = "process"
        attributes["messaging.operation.name"] = "process"
        parent = extract(job.trace_context) if job.trace_context else None
        producer = trace.get_current_span(parent).get_span_context() if parent else None
        links = [Link(producer)] if producer is not None and producer.is_valid else []
        span = self._owner._tracer.start_span(
            f"process {_queue(job.queue)}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        with self._lock:
            self._open[(str(job.id), str(job.lease_id))] = (span, token, time.monotonic())
        due = job.run_at or job.created_at
        if due is not None:
            wait = (datetime.now(timezone.utc) - due).total_seconds()
            self._owner._wait.record(max(wait, 0.0), _metric_attrs(job))

    def job_finished(self, job: Job, outcome: JobOutcome) -> None:
        """Close the span with the outcome; record duration and outcome counters."""
        with self._lock:
            entry = self._open.pop((str(job.id), str(job.lease_id)), None)
        attrs = _metric_attrs(job)
        self._owner._duration.record(outcome.duration, attrs)
        counter = self._owner._outcomes.get(outcome.kind)
        if counter is not None:
            counter.add(1, attrs)
        if entry is None:
            return
        span, token, _ = entry
        span.set_attribute("supabase_jobs.outcome", outcome.kind)
        if outcome.kind in ("failed", "retried", "lease_lost"):
            # The error text was scrubbed by the worker; the type is enough for grouping.
            span.set_status(Status(StatusCode.ERROR, outcome.error or outcome.kind))
        span.end()
        otel_context.detach(token)  # type: ignore[arg-type]

    def lease_lost(self, job: Job) -> None:
        """Count a lost lease (the outcome of the attempt is dropped)."""
        self._owner._outcomes["lease_lost"].add(1, _metric_attrs(job))

    def worker_idle(self) -> None:
        """Nothing to record: idleness shows as the absence of spans."""
        return None


def _metric_attrs(job: Job) -> dict[str, str]:
    return {"messaging.destination.name": _queue(job.queue), "supabase_jobs.type": job.type}


def instrument(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    depth_from: Any = None,
) -> Instrumentation:
    """Trace and measure every dispatch and worker in this process (replaces an earlier call).

    Args:
        tracer_provider: Defaults to the global provider.
        meter_provider: Defaults to the global provider.
        depth_from: A sync ``JobsClient`` for the queue-depth gauge (optional).

    Returns:
        The active :class:`Instrumentation`.
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            _observe.unregister(_installed)
        _installed = Instrumentation(
            tracer_provider=tracer_provider, meter_provider=meter_provider, depth_from=depth_from
        )
        _observe.register(_installed)
        return _installed


def uninstrument() -> None:
    """Stop tracing and measuring (spans already open still end normally)."""
    global _installed
    with _install_lock:
        if _installed is not None:
            _observe.unregister(_installed)
            _installed = None
