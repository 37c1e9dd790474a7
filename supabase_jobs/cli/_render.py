"""How jobs look on a terminal and as JSON lines (pure: no I/O)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supabase_jobs import Job

__all__ = ["LIST_COLUMNS", "age", "error_rows", "job_json", "list_row", "show_rows"]

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
