"""How jobs look on a terminal and as JSON lines (pure: no I/O)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supabase_jobs import Job, QueueLimits, QueueStats

__all__ = [
    "LIMITS_COLUMNS",
    "LIST_COLUMNS",
    "QUEUE_COLUMNS",
    "age",
    "elapsed",
    "error_rows",
    "job_json",
    "limits_row",
    "list_row",
    "per_minute",
    "queue_json",
    "queue_row",
    "show_rows",
]

LIST_COLUMNS = ("id", "status", "type", "queue", "tenant", "attempts", "age", "last error")
_STATUS_STYLE = {
    "pending": "cyan",
    "processing": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}
_ERROR_WIDTH = 60


def job_json(job: Job) -> dict[str, Any]:
    """Every column, JSON-native (ids and times as strings), payload as stored."""
    return job.model_dump(mode="json")


def age(when: datetime | None, now: datetime | None = None) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago ``when`` was."""
    if when is None:
        return ""
    seconds = int(((now or datetime.now(timezone.utc)) - when).total_seconds())
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _status(job: Job) -> str:
    value = str(job.status)
    style = _STATUS_STYLE.get(value)
    return f"[{style}]{value}[/]" if style else value


def _short(text: str | None, width: int = _ERROR_WIDTH) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def list_row(job: Job, now: datetime | None = None) -> list[str]:
    """One table row of ``jobs list`` (rich markup; values escaped)."""
    return [
        str(job.id),
        _status(job),
        _escape(job.type),
        _escape(job.queue or ""),
        str(job.tenant_id)[:8],
        f"{job.attempts}/{job.max_attempts}" if job.max_attempts else str(job.attempts),
        age(job.created_at, now),
        _escape(_short(job.last_error)),
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def show_rows(job: Job) -> list[tuple[str, str]]:
    """``(column, value)`` for every column of the row (``errors`` has its own table)."""
    rows = []
    for name, value in job.model_dump(mode="python").items():
        if name == "errors":
            continue
        text = _status(job) if name == "status" else _escape(_cell(value))
        rows.append((name, text))
    return rows


def error_rows(errors: Sequence[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """``(attempt, at, worker, error type, message)`` per entry of the ``errors`` column."""
    rows = []
    for entry in errors:
        error = entry.get("error")
        kind, message = "", ""
        if isinstance(error, dict):
            kind, message = str(error.get("type") or ""), str(error.get("message") or "")
        elif error is not None:
            message = str(error)
        rows.append(
            (
                str(entry.get("attempt", "")),
                str(entry.get("at", "")),
                _escape(str(entry.get("worker_id") or "")),
                _escape(kind),
                _escape(message),
            )
        )
    return rows


QUEUE_COLUMNS = (
    "queue",
    "pending",
    "oldest pending",
    "running",
    "finished/min",
    "completed",
    "failed",
    "cancelled",
)
LIMITS_COLUMNS = ("queue", "tenant", "fair", "max running", "max running per tenant")
#: An oldest due job waiting longer than this is shown in red (yellow above a minute).
_LATE_SECONDS = 15 * 60


def elapsed(seconds: float | None) -> str:
    """``42s``, ``3m12s``, ``2h05m``, ``3d04h``: a duration in its two largest units."""
    if seconds is None:
        return ""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def per_minute(stats: QueueStats) -> float:
    """Jobs finished per minute, averaged over the last hour."""
    return stats.finished_last_hour / 60


def queue_row(stats: QueueStats) -> list[str]:
    """One table row of ``queues`` (rich markup; the queue name escaped)."""
    wait = stats.oldest_pending_age_seconds
    oldest = elapsed(wait)
    if wait is not None and wait >= _LATE_SECONDS:
        oldest = f"[red]{oldest}[/]"
    elif wait is not None and wait >= 60:
        oldest = f"[yellow]{oldest}[/]"
    return [
        _escape(stats.queue),
        f"[cyan]{stats.pending}[/]" if stats.pending else "0",
        oldest,
        f"[yellow]{stats.processing}[/]" if stats.processing else "0",
        f"{per_minute(stats):.1f}",
        str(stats.completed),
        f"[red]{stats.failed}[/]" if stats.failed else "0",
        str(stats.cancelled),
    ]


def queue_json(stats: QueueStats) -> dict[str, Any]:
    """Every field of ``QueueStats``, plus the hour's average per minute."""
    return {
        **stats.model_dump(mode="json"),
        "finished_per_minute_avg": round(per_minute(stats), 3),
    }


def limits_row(limits: QueueLimits) -> list[str]:
    """One table row of ``queues limits show`` (an empty cell: no cap, or the default)."""

    def cap(value: int | None) -> str:
        return "" if value is None else str(value)

    return [
        _escape(limits.queue),
        "(queue-wide)" if limits.tenant_id is None else str(limits.tenant_id),
        "" if limits.tenant_id is not None else ("off" if limits.fair is False else "on"),
        cap(limits.max_running),
        cap(limits.max_running_per_tenant),
    ]
