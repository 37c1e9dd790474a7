"""OpenTelemetry: span kinds, parent/link structure, attributes and metrics, in memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from supabase_jobs import JobOutcome, _observe, otel
from supabase_jobs._models import Job
from supabase_jobs._worker._outcomes import OutcomeKind

TENANT = uuid.UUID("1521f0ae-4db7-4110-a993-c494535d9b00")


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer_provider = provider
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def metrics(self) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        if data is None:  # nothing recorded yet
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = list(metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    otel.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    try:
        yield t
    finally:
        otel.uninstrument()


def _job(**fields: Any) -> Job:
    row = {
        "id": uuid.uuid4(),
        "tenant_id": TENANT,
        "type": "ai_generation",
        "status": "processing",
        "payload": {"prompt": "never recorded"},
        "attempts": 1,
        "created_at": datetime.now(timezone.utc) - timedelta(seconds=2),
        "queue": "media",
        "lease_id": uuid.uuid4(),
    }
    row.update(fields)
    return Job.model_validate(row)


def _dispatch(rows: list[dict[str, Any]], **job_fields: Any) -> list[Job]:
    with _observe.observe_dispatch(rows) as scope:
        jobs = [
            _job(id=row.get("id", uuid.uuid4()), trace_context=row.get("trace_context"))
            for row in rows
        ]
        scope.dispatched(jobs)
    return jobs


def test_nothing_registered_means_no_observer_and_no_column() -> None:
    assert _observe.registered() == ()
    rows: list[dict[str, Any]] = [{"type": "ai_generation", "payload": {}}]
    _dispatch(rows)
    assert "trace_context" not in rows[0]
    assert _observe.worker_hooks() == []


def test_dispatch_opens_a_producer_span_and_stamps_its_context(telemetry: Telemetry) -> None:
    rows: list[dict[str, Any]] = [{"type": "ai_generation", "queue": "media", "payload": {}}]
    [job] = _dispatch(rows)
    [span] = telemetry.spans.get_finished_spans()
    assert span.kind is SpanKind.PRODUCER
    assert span.name == "send media"
    attrs = dict(span.attributes or {})
    assert attrs["messaging.system"] == "supabase_jobs"
    assert attrs["messaging.destination.name"] == "media"
    assert attrs["messaging.operation.type"] == "send"
    assert attrs["messaging.message.id"] == str(job.id)
    assert attrs["supabase_jobs.type"] == "ai_generation"
    assert attrs["supabase_jobs.tenant_id"] == str(TENANT)
    context = rows[0]["trace_context"]
    assert set(context) == {"traceparent"}
    trace_id = format(span.context.trace_id, "032x")
    span_id = format(span.context.span_id, "016x")
    assert context["traceparent"].startswith(f"00-{trace_id}-{span_id}-")
    counts = telemetry.metrics()["supabase_jobs.jobs.dispatched"]
    assert [(p.value, dict(p.attributes)) for p in counts] == [
        (1, {"messaging.destination.name": "media", "supabase_jobs.type": "ai_generation"})
    ]


def test_a_batch_is_one_span_with_a_message_count(telemetry: Telemetry) -> None:
    rows: list[dict[str, Any]] = [
        {"type": "ai_generation", "payload": {}, "id": str(uuid.uuid4())} for _ in range(3)
    ]
    _dispatch(rows)
    [span] = telemetry.spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["messaging.batch.message_count"] == 3
    assert "messaging.message.id" not in attrs
    assert len({str(r["trace_context"]) for r in rows}) == 1


def test_a_failed_insert_ends_the_span_with_the_error(telemetry: Telemetry) -> None:
    rows: list[dict[str, Any]] = [{"type": "ai_generation", "payload": {}}]
    with pytest.raises(RuntimeError), _observe.observe_dispatch(rows):
        raise RuntimeError("insert refused")
    [span] = telemetry.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert "supabase_jobs.jobs.dispatched" not in telemetry.metrics()


def test_each_attempt_is_a_consumer_span_parented_on_and_linked_to_the_producer(
    telemetry: Telemetry,
) -> None:
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("POST /documents") as request:
        rows: list[dict[str, Any]] = [{"type": "ai_generation", "queue": "media", "payload": {}}]
        [dispatched] = _dispatch(rows)
    [hooks] = _observe.worker_hooks()
    attempts: list[tuple[int, OutcomeKind]] = [(1, "retried"), (2, "completed")]
    for attempt, kind in attempts:
        job = _job(id=dispatched.id, trace_context=dispatched.trace_context, attempts=attempt)
        hooks.job_started(job)
        hooks.job_finished(job, JobOutcome(kind=kind, duration=0.25, error=None, retry_in=None))
    spans = {s.name: s for s in telemetry.spans.get_finished_spans() if s.name != "process media"}
    consumers = [s for s in telemetry.spans.get_finished_spans() if s.name == "process media"]
    producer = spans["send media"]
    assert producer.parent is not None
    assert producer.parent.span_id == request.get_span_context().span_id
    assert len(consumers) == 2
    for attempt, span in enumerate(consumers, start=1):
        assert span.kind is SpanKind.CONSUMER
        assert span.context.trace_id == request.get_span_context().trace_id
        assert span.parent is not None and span.parent.span_id == producer.context.span_id
        assert [link.context.span_id for link in span.links] == [producer.context.span_id]
        attrs = dict(span.attributes or {})
        assert attrs["messaging.operation.type"] == "process"
        assert attrs["messaging.message.id"] == str(dispatched.id)
        assert attrs["supabase_jobs.attempt"] == attempt
        assert attrs["supabase_jobs.tenant_id"] == str(TENANT)
    assert consumers[0].status.status_code is StatusCode.ERROR
    assert consumers[1].status.status_code is StatusCode.UNSET
    for span in telemetry.spans.get_finished_spans():
        assert "never recorded" not in str(dict(span.attributes or {}))


def test_the_consumer_span_is_current_while_the_handler_runs(telemetry: Telemetry) -> None:
    from opentelemetry import trace

    [hooks] = _observe.worker_hooks()
    job = _job()
    hooks.job_started(job)
    current = trace.get_current_span()
    hooks.job_finished(job, JobOutcome(kind="completed", duration=0.1, error=None, retry_in=None))
    [span] = telemetry.spans.get_finished_spans()
    assert current.get_span_context().span_id == span.context.span_id
    assert not trace.get_current_span().get_span_context().is_valid


def test_outcomes_feed_counters_and_histograms(telemetry: Telemetry) -> None:
    [hooks] = _observe.worker_hooks()
    kinds: list[OutcomeKind] = [
        "completed",
        "completed",
        "failed",
        "retried",
        "lease_lost",
        "snoozed",
    ]
    for kind in kinds:
        job = _job(run_at=datetime.now(timezone.utc) - timedelta(seconds=5))
        hooks.job_started(job)
        hooks.job_finished(job, JobOutcome(kind=kind, duration=0.5, error="boom", retry_in=None))
    hooks.lease_lost(_job())
    found = telemetry.metrics()
    assert sum(p.value for p in found["supabase_jobs.jobs.completed"]) == 2
    assert sum(p.value for p in found["supabase_jobs.jobs.failed"]) == 1
    assert sum(p.value for p in found["supabase_jobs.jobs.retried"]) == 1
    assert sum(p.value for p in found["supabase_jobs.jobs.lease_lost"]) == 2
    [duration] = found["supabase_jobs.job.duration"]
    assert duration.count == len(kinds) and duration.sum == pytest.approx(0.5 * len(kinds))
    [wait] = found["supabase_jobs.job.queue_wait"]
    assert wait.count == len(kinds) and wait.min >= 5.0
    assert dict(duration.attributes) == {
        "messaging.destination.name": "media",
        "supabase_jobs.type": "ai_generation",
    }


def test_queue_depth_gauge_reads_queue_stats(telemetry: Telemetry) -> None:
    class Depth:
        def __init__(self, queue: str, pending: int) -> None:
            self.queue = queue
            self.pending = pending

    class Stats:
        calls = 0

        def queue_stats(self) -> list[Depth]:
            Stats.calls += 1
            return [Depth("default", 7), Depth("media", 2)]

    otel.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        depth_from=Stats(),
    )
    points = telemetry.metrics()["supabase_jobs.queue.depth"]
    assert sorted((dict(p.attributes)["messaging.destination.name"], p.value) for p in points) == [
        ("default", 7),
        ("media", 2),
    ]
    assert Stats.calls == 1


def test_instrument_twice_keeps_one_observer(telemetry: Telemetry) -> None:
    otel.instrument(tracer_provider=telemetry.tracer_provider)
    assert len(_observe.registered()) == 1
    otel.uninstrument()
    assert _observe.registered() == ()
