"""``supabase-jobs stats`` and ``supabase-jobs prune``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from ._common import DURATION, ExitCode, Output, json_option, open_client

if TYPE_CHECKING:
    from supabase_jobs import JobsClient

__all__ = ["prune", "prune_counts", "stats", "sum_progress"]

_STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
_FINISHED = ("completed", "failed", "cancelled")


@click.command()
@click.option("--tenant-id", metavar="UUID", help="Count only this tenant's jobs.")
@json_option
def stats(tenant_id: str | None, as_json: bool | None) -> int:
    """Job counts by status and by type."""
    out = Output(as_json)
    with open_client() as client:
        result = client.stats(tenant_id=tenant_id)
    if out.json:
        out.record(result.model_dump(mode="json"))
        return ExitCode.OK
    by_status = {str(status): count for status, count in result.by_status.items()}
    rows = [
        [job_type, *(str({str(k): v for k, v in counts.items()}.get(s, 0)) for s in _STATUSES)]
        for job_type, counts in sorted(result.by_type.items())
    ]
    rows.append(["[bold]total[/]", *(f"[bold]{by_status.get(s, 0)}[/]" for s in _STATUSES)])
    out.table(("type", *_STATUSES), rows, title=f"{result.total} job(s)")
    return ExitCode.OK


def prune_counts(
    client: JobsClient, older_than: timedelta, statuses: Iterable[str] | None
) -> Iterator[int]:
    """How many jobs each step of a prune deleted, as it goes.

    Today ``prune()`` is one request, so this yields once; a batched prune yields once
    per batch and the progress bar follows it with no change to the command.
    """
    yield client.prune(older_than, statuses=statuses)


def sum_progress(counts: Iterable[int], advance: Callable[[int], None]) -> int:
    """Drain ``counts`` (jobs done per step), advancing a progress bar; returns the total."""
    total = 0
    for count in counts:
        total += count
        advance(count)
    return total


@click.command()
@click.option(
    "--older-than",
    type=DURATION,
    required=True,
    help="Delete jobs that finished more than this long ago (e.g. 7d, 12h).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(_FINISHED),
    help="Only jobs in this finished status (repeatable; default: all three).",
)
@json_option
def prune(older_than: timedelta, statuses: tuple[str, ...], as_json: bool | None) -> int:
    """Delete finished jobs (completed, failed, cancelled) older than a given age.

    Pending and processing jobs are never pruned.
    """
    out = Output(as_json)
    with open_client() as client, out.progress("pruning", total=None) as advance:
        deleted = sum_progress(prune_counts(client, older_than, list(statuses) or None), advance)
    if out.json:
        out.record({"deleted": deleted})
    else:
        out.stdout.print(f"deleted {deleted} job(s) that finished more than {older_than} ago")
    return ExitCode.OK
