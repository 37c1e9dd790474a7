"""OpenTelemetry end to end: an app span -> ``dispatch`` through the local gateway -> a
``Worker`` runs the job twice (a retry, then success). One trace holds all of it, the trace
context is stored on the row, and the counters saw each outcome. Also: OpenTelemetry stays
out of ``import supabase_jobs``, and ``supabase_jobs.otel`` without it fails with a hint."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from supabase_jobs import Fail, Job, JobsClient, Worker, otel
from supabase_jobs.local import LocalStack

pytestmark = pytest.mark.e2e

TENANT = "00000000-0000-4000-8000-0000000000a7"
ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk_live_" + "Q1w2E3r4" * 4


class Telemetry:
    """In-memory span exporter and metric reader on private providers."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def metrics(self) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
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


def _run_until(worker: Worker, done: Any, timeout: float = 60.0) -> None:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.1)
    finally:
        worker.stop()
        thread.join(timeout=60)
    assert not thread.is_alive()


def test_one_trace_from_the_request_through_dispatch_to_each_attempt(
    telemetry: Telemetry, jobs_client: JobsClient, supabase_jobs_stack: LocalStack
) -> None:
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("POST /documents") as request:
        job = jobs_client.dispatch(TENANT, "test_job", {"doc": 7, "api_key": SECRET})
    app = request.get_span_context()

    worker = Worker(jobs_client, poll_interval=0.2, install_signal_handlers=False)
    attempts: list[int] = []

    @worker.handler("test_job")
    def handle(claimed: Job) -> dict[str, int]:
        attempts.append(claimed.attempts)
        if claimed.attempts == 1:
            raise Fail("flaky upstream", retry_in=0.1)
        return {"pages": 3}

    _run_until(worker, lambda: jobs_client.get(job.id).status == "completed")
    assert attempts == [1, 2]

    spans = telemetry.spans.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {app.trace_id}, "one trace"
    [producer] = [s for s in spans if s.kind is SpanKind.PRODUCER]
    consumers = sorted(
        (s for s in spans if s.kind is SpanKind.CONSUMER),
        key=lambda s: str((s.attributes or {}).get("supabase_jobs.attempt")),
    )
    assert producer.name == "send default"
    assert producer.parent is not None and producer.parent.span_id == app.span_id
    p_attrs = dict(producer.attributes or {})
    assert p_attrs["messaging.system"] == "supabase_jobs"
    assert p_attrs["messaging.operation.type"] == "send"
    assert p_attrs["messaging.destination.name"] == "default"
    assert p_attrs["messaging.message.id"] == str(job.id)
    assert p_attrs["supabase_jobs.type"] == "test_job"
    assert p_attrs["supabase_jobs.tenant_id"] == TENANT

    assert len(consumers) == 2
    for attempt, (span, outcome) in enumerate(
        zip(consumers, ["retried", "completed"], strict=True), 1
    ):
        assert span.name == "process default"
        assert span.parent is not None and span.parent.span_id == producer.context.span_id
        assert [link.context.span_id for link in span.links] == [producer.context.span_id]
        attrs = dict(span.attributes or {})
        assert attrs == {
            "messaging.system": "supabase_jobs",
            "messaging.destination.name": "default",
            "messaging.message.id": str(job.id),
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "supabase_jobs.type": "test_job",
            "supabase_jobs.tenant_id": TENANT,
            "supabase_jobs.attempt": attempt,
            "supabase_jobs.outcome": outcome,
        }
    assert consumers[0].status.status_code is StatusCode.ERROR
    assert consumers[1].status.status_code is StatusCode.UNSET
    for span in spans:  # no payload or result value, scrubbed or not
        text = str(dict(span.attributes or {})) + str(span.status.description)
        assert SECRET not in text and "pages" not in text and "doc" not in text

    with psycopg.connect(supabase_jobs_stack.database_url) as conn:
        [(stored, payload)] = conn.execute(
            "select trace_context, payload from public.jobs where id = %s", [job.id]
        ).fetchall()
    trace_id, span_id = format(app.trace_id, "032x"), format(producer.context.span_id, "016x")
    assert set(stored) == {"traceparent"}
    assert stored["traceparent"].startswith(f"00-{trace_id}-{span_id}-")
    assert SECRET not in str(payload)  # the scrubber ran; it left trace_context alone

    metrics = telemetry.metrics()
    labels = {"messaging.destination.name": "default", "supabase_jobs.type": "test_job"}

    def total(name: str) -> int:
        return sum(p.value for p in metrics.get(name, []) if dict(p.attributes) == labels)

    assert total("supabase_jobs.jobs.dispatched") == 1
    assert total("supabase_jobs.jobs.retried") == 1
    assert total("supabase_jobs.jobs.completed") == 1
    assert total("supabase_jobs.jobs.failed") == 0
    [duration] = metrics["supabase_jobs.job.duration"]
    [wait] = metrics["supabase_jobs.job.queue_wait"]
    assert duration.count == 2 and wait.count == 2


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_importing_the_sdk_does_not_import_opentelemetry() -> None:
    done = _python(
        """
        import sys
        import supabase_jobs, supabase_jobs.testing
        from supabase_jobs import JobsClient, Worker, AsyncWorker, ScheduleSet
        Worker(object())
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        print(loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_otel_without_opentelemetry_fails_with_a_one_line_hint() -> None:
    done = _python(
        """
        import sys

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Blocker())
        import supabase_jobs  # the SDK itself is fine without it
        try:
            import supabase_jobs.otel
        except ModuleNotFoundError as exc:
            print(str(exc))
        else:
            print("imported")
        """
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines == ["supabase_jobs.otel needs OpenTelemetry: pip install 'supabase-jobs[otel]'"]
