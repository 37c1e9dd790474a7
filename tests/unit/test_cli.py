"""The command line's pure parts: help texts, durations, export names, JSON-lines batching."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import click
import pytest

from supabase_jobs import (
    ConstraintViolationError,
    PruneProgress,
    QueueLimits,
    QueueStats,
    ServiceUnavailableError,
)
from supabase_jobs.cli import cli, main
from supabase_jobs.cli._common import exit_code_for, parse_duration
from supabase_jobs.cli._dispatch import ByteCounter, file_size, send_lines
from supabase_jobs.cli._jobs import progress_json
from supabase_jobs.cli._jsonl import Line, Rejected, batches, parse_line
from supabase_jobs.cli._queues import KEEP, merge_caps
from supabase_jobs.cli._render import elapsed, limits_row, queue_json, queue_row
from supabase_jobs.cli._setup import export_stamps

TENANT = "1521f0ae-4db7-4110-a993-c494535d9b00"


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_command_and_option_has_a_help_text() -> None:
    missing = []
    for name, command in _commands(cli):
        if not command.help:
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option) and not param.help:
                missing.append(f"{name} {param.opts[0]}")
    assert missing == []
    assert {"migrations print", "local start", "jobs list", "jobs show", "prune"} <= {
        name for name, _ in _commands(cli)
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "-1h", "1y", "7 days", "1e9d", "nan"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


NOW = datetime(2026, 12, 8, 1, 2, 3)


def test_export_stamps_follow_the_clock_in_an_empty_folder() -> None:
    assert export_stamps([], 2, NOW) == ["20261208010203", "20261208010204"]


def test_export_stamps_sort_after_a_migration_dated_in_the_future() -> None:
    existing = ["20240101000000_init.sql", "20991231235959_from_the_future.sql", "README.md"]
    stamps = export_stamps(existing, 3, NOW)
    assert stamps == ["21000101000000", "21000101000001", "21000101000002"]
    assert sorted([*existing[:2], *(f"{s}_x.sql" for s in stamps)])[-3:] == [
        f"{s}_x.sql" for s in stamps
    ]


def test_export_stamps_count_up_from_a_version_that_is_not_a_timestamp() -> None:
    assert export_stamps(["20991399999999_odd.sql"], 2, NOW) == ["20991400000000", "20991400000001"]


def test_parse_line_reports_line_numbers_never_content() -> None:
    assert parse_line(1, "   \n", None) is None
    bad = parse_line(3, '{"tenant_id": "hunter2-secret"', None)
    assert bad == Rejected(3, "not valid JSON")
    assert parse_line(4, "[1, 2]", None) == Rejected(4, "must be a JSON object")
    good = parse_line(5, f'{{"tenant_id": "{TENANT}", "type": "test_job"}}', None)
    assert good == Line(5, {"tenant_id": TENANT, "type": "test_job"})


def test_key_field_takes_the_key_from_a_top_level_or_nested_field() -> None:
    line = parse_line(1, f'{{"tenant_id": "{TENANT}", "type": "t", "ref": 42}}', "ref")
    assert isinstance(line, Line)
    assert line.spec == {"tenant_id": TENANT, "type": "t", "idempotency_key": "42"}
    nested = parse_line(2, '{"type": "t", "payload": {"order": {"id": "o-1"}}}', "payload.order.id")
    assert isinstance(nested, Line)
    assert nested.spec["idempotency_key"] == "o-1"
    assert nested.spec["payload"] == {"order": {"id": "o-1"}}  # the payload keeps it


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"type": "t"}', "ref: missing (--key-field names it)"),
        ('{"ref": true}', "ref: must be a string or an integer to serve as the key"),
        ('{"ref": ""}', "ref: must not be empty to serve as the key"),
        ('{"ref": "a", "idempotency_key": "b"}', "idempotency_key: conflicts with --key-field"),
    ],
)
def test_key_field_problems_reject_the_line(text: str, error: str) -> None:
    assert parse_line(7, text, "ref") == Rejected(7, error)


def test_run_at_accepts_iso_times_and_delays() -> None:
    line = parse_line(1, '{"run_at": "2026-12-08T10:00:00Z"}', None)
    assert isinstance(line, Line) and line.spec["run_at"].utcoffset() == timedelta(0)
    delay = parse_line(2, '{"run_at": 60}', None)
    assert isinstance(delay, Line) and delay.spec["run_at"] == timedelta(seconds=60)
    assert isinstance(parse_line(3, '{"run_at": "tomorrow"}', None), Rejected)
    assert isinstance(parse_line(4, '{"run_at": -5}', None), Rejected)


def test_batches_stream_an_endless_input_in_bounded_batches() -> None:
    good = f'{{"tenant_id": "{TENANT}", "type": "test_job"}}'
    endless = itertools.cycle([good, good, "oops"])
    first, second = itertools.islice(batches(endless, 4), 2)
    assert [line.number for line in first[0]] == [1, 2, 4, 5]
    assert first[1] == [Rejected(3, "not valid JSON")]
    assert [line.number for line in second[0]] == [7, 8, 10, 11]


class _FakeClient:
    """Stands in for JobsClient.dispatch_many: refuses batches holding a poisoned line."""

    def __init__(self, poisoned: set[int], fatal: bool = False) -> None:
        self.poisoned = poisoned
        self.fatal = fatal
        self.stored: list[int] = []
        self.calls = 0

    def dispatch_many(self, specs: list[dict[str, Any]]) -> list[Any]:
        self.calls += 1
        if self.fatal:
            raise ServiceUnavailableError("the gateway is down")
        if any(spec["n"] in self.poisoned for spec in specs):
            raise ConstraintViolationError("jobs[0].payload", "violates a check constraint")
        self.stored += [spec["n"] for spec in specs]
        return specs


def test_send_lines_isolates_refused_lines_and_stores_every_other_once() -> None:
    lines = [Line(n, {"n": n}) for n in range(1, 11)]
    client = _FakeClient({3, 8})
    stored, refused = send_lines(client, lines)  # type: ignore[arg-type]
    assert stored == 8
    assert sorted(client.stored) == [1, 2, 4, 5, 6, 7, 9, 10]
    assert [r.number for r in refused] == [3, 8]
    assert all("violates a check constraint" in r.error for r in refused)


def test_send_lines_stops_on_a_backend_failure() -> None:
    client = _FakeClient(set(), fatal=True)
    with pytest.raises(ServiceUnavailableError):
        send_lines(client, [Line(1, {"n": 1}), Line(2, {"n": 2})])  # type: ignore[arg-type]
    assert client.calls == 1  # not retried line by line: the backend is down


def test_exit_codes_by_error_class() -> None:
    from supabase_jobs import (
        ConfigurationError,
        InvalidStateError,
        NotFoundError,
        TransportError,
        ValidationError,
    )

    assert int(exit_code_for(ConfigurationError("x"))) == 3  # ExitCode.CONFIG
    assert int(exit_code_for(NotFoundError())) == 4  # ExitCode.NOT_FOUND
    assert int(exit_code_for(ValidationError("p", "r"))) == 2  # ExitCode.USAGE
    assert int(exit_code_for(TransportError("down"))) == 5  # ExitCode.BACKEND
    assert int(exit_code_for(InvalidStateError("done"))) == 1  # ExitCode.PARTIAL


def test_prune_json_lines_carry_the_batch_and_the_page_progress() -> None:
    step = PruneProgress(deleted=7, batch_deleted=3, batches=2, page=40, total_pages=50)
    assert progress_json(step) == {
        "batch": 2,
        "batch_deleted": 3,
        "deleted": 7,
        "page": 40,
        "total_pages": 50,
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (0, "0s"),
        (42.9, "42s"),
        (192, "3m12s"),
        (3600, "1h00m"),
        (7500, "2h05m"),
        (3 * 86400 + 4 * 3600 + 59, "3d04h"),
        (-3, "0s"),
    ],
)
def test_elapsed_shows_the_two_largest_units(seconds: float | None, text: str) -> None:
    assert elapsed(seconds) == text


def _stats(**overrides: Any) -> QueueStats:
    fields: dict[str, Any] = {
        "queue": "mail",
        "pending": 5,
        "processing": 2,
        "completed": 120,
        "failed": 1,
        "cancelled": 0,
        "oldest_pending_age_seconds": 192.4,
        "finished_last_hour": 90,
        "finished_per_minute": tuple([1] * 61),
    }
    return QueueStats(**{**fields, **overrides})


def test_queue_row_shows_depth_age_running_and_throughput() -> None:
    row = queue_row(_stats())
    assert row == [
        "mail",
        "[cyan]5[/]",
        "[yellow]3m12s[/]",
        "[yellow]2[/]",
        "1.5",
        "120",
        "[red]1[/]",
        "0",
    ]
    idle = queue_row(_stats(pending=0, processing=0, failed=0, oldest_pending_age_seconds=None))
    assert idle[1:4] == ["0", "", "0"] and idle[6] == "0"
    assert queue_row(_stats(oldest_pending_age_seconds=3600))[2] == "[red]1h00m[/]"
    assert queue_row(_stats(queue="q[x]"))[0] == "q\\[x]"  # markup in a name is escaped


def test_queue_json_is_every_stats_field_plus_the_hourly_average() -> None:
    obj = queue_json(_stats())
    assert set(obj) == set(QueueStats.model_fields) | {"finished_per_minute_avg"}
    assert obj["finished_per_minute_avg"] == 1.5
    assert obj["finished_per_minute"] == [1] * 61


def test_limits_row_marks_queue_rows_and_tenant_overrides() -> None:
    queue_wide = QueueLimits(queue="openai", fair=False, max_running=100)
    assert limits_row(queue_wide) == ["openai", "(queue-wide)", "off", "100", ""]
    override = QueueLimits(queue="openai", tenant_id=TENANT, max_running_per_tenant=10)
    assert limits_row(override) == ["openai", TENANT, "", "", "10"]


def test_merge_caps_keeps_what_was_not_given() -> None:
    stored = QueueLimits(queue="q", max_running=100, max_running_per_tenant=3)
    assert merge_caps(stored, KEEP, 5) == (100, 5)
    assert merge_caps(stored, None, KEEP) == (None, 3)  # 'none' removes one cap
    assert merge_caps(None, KEEP, 7) == (None, 7)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["queues", "limits", "set", "Bad Queue", "--max-running", "1"], "invalid queue"),
        (["queues", "limits", "set", "q", "--max-running", "-1"], "--max-running"),
        (["queues", "limits", "set", "q", "--max-running", "²"], "--max-running"),
        (["queues", "limits", "set", "q", "--max-running-per-tenant", "2000000"], "0..1000000"),
        (["queues", "limits", "set", "q"], "--max-running"),
        (
            ["queues", "limits", "set", "q", "--tenant-id", TENANT, "--max-running", "3"],
            "queue-wide",
        ),
        (
            ["queues", "limits", "set", "q", "--max-running-per-tenant", "1", "--tenant-id", "x"],
            "tenant_id",
        ),
        (["queues", "limits", "clear", "q", "--tenant-id", "nope"], "tenant_id"),
        (["queues", "limits", "show", "UPPER"], "QUEUE"),
        (["queues", "fair", "q", "maybe"], "on|off"),
        (["queues", "fair", "Bad.Q", "on"], "invalid queue"),
        (["prune", "--older-than", "7d", "--batch-size", "0"], "--batch-size"),
    ],
)
def test_queue_and_prune_arguments_are_checked_before_any_request(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # An unreachable project: a request would end in exit code 5, not 2.
    monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "x" * 40)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_byte_counter_counts_utf8_bytes_of_the_lines_read(tmp_path: Any) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"a": "é"}\n{"b": 2}\n', encoding="utf-8")
    with path.open(encoding="utf-8") as stream:
        assert file_size(stream) == path.stat().st_size == 21
        reader = ByteCounter(stream)
        seen = []
        for _line in reader:
            seen.append(reader.bytes)
    assert seen == [12, 21]


def test_file_size_is_none_for_a_pipe() -> None:
    import os

    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, encoding="utf-8") as stream:
            assert file_size(stream) is None
    finally:
        os.close(write_end)


class _FailingPruneClient:
    """Stands in for JobsClient.prune: two batches commit, then the gateway goes down."""

    def prune(self, older_than: timedelta, **options: Any) -> int:
        assert options["batch_size"] == 10 and options["statuses"] == ["failed"]
        for batch in (1, 2):
            options["on_progress"](
                PruneProgress(
                    deleted=10 * batch, batch_deleted=10, batches=batch, page=batch, total_pages=9
                )
            )
        raise ServiceUnavailableError("the gateway is down")


def test_a_prune_that_stops_says_what_its_batches_already_deleted(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from contextlib import contextmanager

    import supabase_jobs.cli._jobs as jobs_module

    @contextmanager
    def fake_client(*_: Any) -> Iterator[_FailingPruneClient]:
        yield _FailingPruneClient()

    monkeypatch.setattr(jobs_module, "open_client", fake_client)
    argv = ["prune", "--older-than", "7d", "--status", "failed", "--batch-size", "10", "--json"]
    assert main(argv) == 5
    captured = capsys.readouterr()
    assert [line["batch"] for line in map(json.loads, captured.out.splitlines())] == [1, 2]
    assert "stopped: 20 job(s) were deleted before the error" in captured.err
    assert "gateway is down" in captured.err
