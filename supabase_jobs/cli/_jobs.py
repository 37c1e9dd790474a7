"""``supabase-jobs jobs`` (list, show, retry, cancel, delete), ``stats`` and ``prune``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import click

from supabase_jobs._constants import DEFAULT_PRUNE_BATCH, MAX_PRUNE_BATCH
from supabase_jobs._models import JobStatus

from ._common import DURATION, ExitCode, Output, exit_code_for, json_option, open_client
from ._render import LIST_COLUMNS, error_rows, job_json, list_row, show_rows

if TYPE_CHECKING:
    from supabase_jobs import Job, JobsClient, PruneProgress

__all__ = ["jobs", "progress_json", "prune", "stats"]

_STATUSES = tuple(status.value for status in JobStatus)
_TENANT_HELP = "Only jobs of this tenant (UUID)."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def jobs() -> None:
    """List, inspect, retry, cancel and delete jobs."""


@jobs.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(_STATUSES),
    help="Only jobs in this status (repeatable).",
)
@click.option("--type", "job_type", metavar="TYPE", help="Only jobs of this type.")
@click.option("--queue", metavar="QUEUE", help="Only jobs in this queue.")
@click.option("--tenant-id", metavar="UUID", help=_TENANT_HELP)
@click.option(
    "--older-than", type=DURATION, help="Only jobs created more than this long ago (e.g. 1h)."
)
@click.option(
    "--newer-than", type=DURATION, help="Only jobs created less than this long ago (e.g. 15m)."
)
@click.option(
    "--after",
    metavar="JOB_ID",
    help="Continue after this job: the cursor printed at the end of the previous page.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Jobs per page (1..1000).",
)
@json_option
def list_(
    statuses: tuple[str, ...],
    job_type: str | None,
    queue: str | None,
    tenant_id: str | None,
    older_than: timedelta | None,
    newer_than: timedelta | None,
    after: str | None,
    limit: int,
    as_json: bool | None,
) -> int:
    """List jobs, newest first, one page at a time.

    The last line names the cursor of the next page (in JSON mode: an object
    {"next_after": ID}; null on the last page).
    """
    out = Output(as_json)
    now = datetime.now(timezone.utc)
    with open_client() as client:
        page = client.list_page(
            tenant_id=tenant_id,
            status=list(statuses) or None,
            type=job_type,
            queue=queue,
            created_before=None if older_than is None else now - older_than,
            created_after=None if newer_than is None else now - newer_than,
            after=after,
            limit=limit,
        )
    if out.json:
        out.records(job_json(job) for job in page.jobs)
        out.record({"next_after": page.next_after})
        return ExitCode.OK
    out.table(LIST_COLUMNS, (list_row(job, now) for job in page.jobs))
    if page.next_after is not None:
        out.note(f"next page: --after {page.next_after}")
    else:
        out.note(f"{len(page.jobs)} job(s); last page")
    return ExitCode.OK


@jobs.command()
@click.argument("job_id", metavar="JOB_ID")
@click.option("--tenant-id", metavar="UUID", help="Only find the job in this tenant.")
@json_option
def show(job_id: str, tenant_id: str | None, as_json: bool | None) -> int:
    """Show every column of one job, its error history and its payload as stored."""
    from supabase_jobs._validate import validate_uuid

    out = Output(as_json)
    job_id = validate_uuid(job_id, path="JOB_ID")  # a typo is a usage error, not a lookup
    with open_client() as client:
        job = client.get(job_id, tenant_id=tenant_id)
    if out.json:
        out.record(job_json(job))
        return ExitCode.OK
    out.table(("column", "value"), show_rows(job), title=f"job {job.id}")
    if job.errors:
        out.table(
            ("attempt", "at", "worker", "error", "message"),
            error_rows(job.errors),
            title="errors, one per failed attempt",
        )
    else:
        out.note("no errors recorded")
    return ExitCode.OK


def _each(
    ids: Sequence[str],
    action: Callable[[JobsClient, str], Job],
    out: Output,
    verb: str,
) -> int:
    """Run ``action`` per id; report each outcome; never stop at a failed one."""
    from supabase_jobs._errors import JobsError, NotFoundError
    from supabase_jobs._validate import validate_uuid

    checked = [validate_uuid(job_id, path=f"JOB_ID[{i}]") for i, job_id in enumerate(ids)]
    outcomes: list[dict[str, Any]] = []
    failures: list[JobsError] = []
    with open_client() as client:
        for job_id in checked:
            try:
                job = action(client, job_id)
                outcomes.append({"id": job_id, "ok": True, "status": str(job.status)})
            except JobsError as exc:
                if exit_code_for(exc) in (ExitCode.CONFIG, ExitCode.BACKEND):
                    raise  # the next id would fail the same way: stop here
                failures.append(exc)
                outcomes.append({"id": job_id, "ok": False, "error": str(exc)})
    _report(outcomes, out, verb)
    if not failures:
        return ExitCode.OK
    if all(isinstance(exc, NotFoundError) for exc in failures):
        return ExitCode.NOT_FOUND
    return ExitCode.PARTIAL


def _report(outcomes: Sequence[dict[str, Any]], out: Output, verb: str) -> None:
    if out.json:
        out.records(outcomes)
        return
    from rich.markup import escape

    rows = [
        (
            o["id"],
            f"[green]{verb}[/] ({o['status']})" if o["ok"] else f"[red]{escape(o['error'])}[/]",
        )
        for o in outcomes
    ]
    out.table(("id", "outcome"), rows)


@jobs.command()
@click.argument("job_ids", metavar="JOB_ID...", nargs=-1, required=True)
@click.option(
    "--in",
    "delay",
    type=DURATION,
    help="Make the jobs due after this delay instead of now (e.g. 10m).",
)
@json_option
def retry(job_ids: tuple[str, ...], delay: timedelta | None, as_json: bool | None) -> int:
    """Requeue failed or cancelled jobs with a fresh attempt budget."""
    return _each(job_ids, lambda c, i: c.retry(i, run_at=delay), Output(as_json), "retried")


@jobs.command()
@click.argument("job_ids", metavar="JOB_ID...", nargs=-1, required=True)
@click.option("--reason", help="Stored as the jobs' last error (scrubbed of secrets).")
@json_option
def cancel(job_ids: tuple[str, ...], reason: str | None, as_json: bool | None) -> int:
    """Cancel pending or processing jobs (a running handler loses its lease)."""
    return _each(job_ids, lambda c, i: c.cancel(i, reason=reason), Output(as_json), "cancelled")


@jobs.command()
@click.argument("job_ids", metavar="JOB_ID...", nargs=-1, required=True)
@click.option("--tenant-id", metavar="UUID", help="Only delete jobs of this tenant.")
@json_option
def delete(job_ids: tuple[str, ...], tenant_id: str | None, as_json: bool | None) -> int:
    """Delete jobs whatever their status (finished ones are better pruned)."""
    from supabase_jobs._paging import MAX_DELETE_IDS
    from supabase_jobs._validate import validate_uuid

    out = Output(as_json)
    # Every id is checked before any request; a repeated id counts once.
    ids = list(dict.fromkeys(validate_uuid(j, path=f"JOB_ID[{i}]") for i, j in enumerate(job_ids)))
    deleted: dict[str, Job] = {}
    with open_client() as client:
        for start in range(0, len(ids), MAX_DELETE_IDS):
            chunk = ids[start : start + MAX_DELETE_IDS]
            deleted.update((str(j.id), j) for j in client.delete_many(chunk, tenant_id=tenant_id))
    outcomes: list[dict[str, Any]] = [
        {"id": i, "ok": True, "status": str(deleted[i].status)}
        if i in deleted
        else {"id": i, "ok": False, "error": "the job does not exist"}
        for i in ids
    ]
    _report(outcomes, out, "deleted")
    if len(deleted) == len(ids):
        return ExitCode.OK
    return ExitCode.NOT_FOUND


_FINISHED = tuple(status.value for status in JobStatus if status.is_terminal)


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
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_PRUNE_BATCH),
    default=DEFAULT_PRUNE_BATCH,
    show_default=True,
    help=f"Rows deleted per transaction (one request each), 1..{MAX_PRUNE_BATCH}.",
)
@json_option
def prune(
    older_than: timedelta, statuses: tuple[str, ...], batch_size: int, as_json: bool | None
) -> int:
    """Delete finished jobs (completed, failed, cancelled) older than a given age.

    Pending and processing jobs are never pruned. It deletes in batches, each its own
    short transaction that skips rows a worker holds, so it can run next to busy workers.
    In JSON mode each batch prints one object (with a "batch" key) and the last line is
    {"deleted": N}.
    """
    from supabase_jobs._admin_core import prune_batch_params

    out = Output(as_json)
    prune_batch_params(older_than, list(statuses) or None, batch_size=batch_size)
    reached: list[PruneProgress] = []
    with out.progress("pruning", total=None) as bar:

        def on_progress(step: PruneProgress) -> None:
            reached.append(step)
            if out.json:
                out.record(progress_json(step))
            bar.update(
                step.page,
                total=step.total_pages,
                description=f"pruning: {step.deleted} deleted",
            )

        try:
            with open_client() as client:
                deleted = client.prune(
                    older_than,
                    statuses=list(statuses) or None,
                    batch_size=batch_size,
                    on_progress=on_progress,
                )
        except Exception:
            if reached:  # each batch committed on its own: say what is already gone
                out.note(f"stopped: {reached[-1].deleted} job(s) were deleted before the error")
            raise
    if out.json:
        out.record({"deleted": deleted})
    else:
        out.stdout.print(f"deleted {deleted} job(s) that finished more than {older_than} ago")
    return ExitCode.OK


def progress_json(step: PruneProgress) -> dict[str, int]:
    """One JSON line per prune batch (``batch`` tells it from the final ``{"deleted": N}``)."""
    return {
        "batch": step.batches,
        "batch_deleted": step.batch_deleted,
        "deleted": step.deleted,
        "page": step.page,
        "total_pages": step.total_pages,
    }
