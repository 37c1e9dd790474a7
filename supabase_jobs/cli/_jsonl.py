"""Reading ``dispatch --from-file``: JSON lines to dispatch options, in bounded batches.

Pure (no network): the caller validates each line with the SDK and sends the batches. A
file of any size is read one line at a time and held one batch at a time, so memory is
bounded by ``batch_size``, never by the file. A bad line becomes a :class:`Rejected`
naming its line number and the field, never its content (it may hold secrets).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["Line", "Rejected", "batches", "parse_line"]


@dataclass(frozen=True)
class Line:
    """A parsed line: its 1-based number and the ``dispatch_many`` item it asks for."""

    number: int
    spec: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """A line that was not dispatched, and why (a field path and a reason, no value)."""

    number: int
    error: str


def _key_of(obj: Mapping[str, Any], key_field: str) -> tuple[str | None, str | None]:
    """``(key, None)`` from a dotted path into the line, or ``(None, error)``."""
    node: Any = obj
    for part in key_field.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None, f"{key_field}: missing (--key-field names it)"
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (str, int)):
        return None, f"{key_field}: must be a string or an integer to serve as the key"
    key = str(node)
    if not key:
        return None, f"{key_field}: must not be empty to serve as the key"
    return key, None


def _run_at(value: Any) -> tuple[Any, str | None]:
    """Accept an ISO 8601 time or a delay in seconds, as JSON can carry them."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")), None
        except ValueError:
            return None, "run_at: must be an ISO 8601 time with a UTC offset"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 <= value <= 31_536_000:
            return None, "run_at: a delay must be 0..31536000 seconds"
        return timedelta(seconds=value), None
    if value is None:
        return None, None
    return None, "run_at: must be an ISO 8601 time or a delay in seconds"


def parse_line(number: int, text: str, key_field: str | None) -> Line | Rejected | None:
    """Parse one line of the file; ``None`` for a blank line.

    Args:
        number: The line's 1-based number (for the report).
        text: The line.
        key_field: Dotted path of the field whose value becomes the idempotency key
            (``ref`` or ``payload.order_id``); a top-level field that is not a dispatch
            option is used for the key and then dropped.
    """
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return Rejected(number, "not valid JSON")
    if not isinstance(obj, dict):
        return Rejected(number, "must be a JSON object")
    spec = dict(obj)
    if key_field is not None:
        key, error = _key_of(obj, key_field)
        if error is not None:
            return Rejected(number, error)
        if "idempotency_key" in spec and key_field != "idempotency_key":
            return Rejected(number, "idempotency_key: conflicts with --key-field")
        if "." not in key_field and key_field not in _OPTIONS:
            spec.pop(key_field)
        spec["idempotency_key"] = key
    if "run_at" in spec:
        run_at, error = _run_at(spec["run_at"])
        if error is not None:
            return Rejected(number, error)
        spec["run_at"] = run_at
    return Line(number, spec)


#: The fields of a line that are dispatch options (anything else is refused by the SDK).
_OPTIONS = frozenset(
    {"tenant_id", "type", "payload", "run_at", "priority", "queue", "max_attempts"}
    | {"idempotency_key"}
)


def batches(
    lines: Iterable[str], size: int, key_field: str | None = None
) -> Iterator[tuple[list[Line], list[Rejected]]]:
    """Group the parsed lines into batches of at most ``size``, with the rejects seen.

    Each yielded pair holds the good lines of one batch and every line rejected while
    filling it; the final pair may have fewer lines (or none, with only rejects).
    """
    good: list[Line] = []
    bad: list[Rejected] = []
    for number, text in enumerate(lines, start=1):
        parsed = parse_line(number, text, key_field)
        if isinstance(parsed, Line):
            good.append(parsed)
        elif isinstance(parsed, Rejected):
            bad.append(parsed)
        if len(good) >= size:
            yield good, bad
            good, bad = [], []
    if good or bad:
        yield good, bad
