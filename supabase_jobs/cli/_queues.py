"""``supabase-jobs queues``: per-queue depth and throughput, caps and the fairness switch.

``queues`` reads ``queue_stats()`` (counters the database maintains, so it costs the same at
10M rows as at 10). ``queues limits show|set|clear`` and ``queues fair`` go through the
client's ``queue_limits`` / ``set_queue_limits`` / ``clear_queue_limits`` /
``set_queue_fair``. Every argument is checked before any request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from supabase_jobs._constants import MAX_QUEUE_CAP

from ._common import ExitCode, Output, json_option, open_client
from ._render import LIMITS_COLUMNS, QUEUE_COLUMNS, limits_row, queue_json, queue_row

if TYPE_CHECKING:
    from supabase_jobs import QueueLimits

__all__ = ["CAP", "merge_caps", "queues"]


class _Keep:
    """The value of a cap option that was not given: keep what is stored."""


KEEP = _Keep()


class CapType(click.ParamType[object]):
    """A cap: a whole number 0..1000000, or ``none`` to remove it."""

    name = "N|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, (int, _Keep)):
            return value
        text = str(value).strip().lower()
        if text in ("none", "off"):
            return None
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_QUEUE_CAP:
            self.fail(f"must be a whole number 0..{MAX_QUEUE_CAP}, or 'none'", param, ctx)
        return int(text)


CAP = CapType()


def merge_caps(
    stored: QueueLimits | None, max_running: object, max_running_per_tenant: object
) -> tuple[int | None, int | None]:
    """The caps to send: the options given, and the stored values of those left out."""

    def pick(given: object, kept: int | None) -> int | None:
        if isinstance(given, _Keep):
            return kept
        assert given is None or isinstance(given, int)
        return given

    return (
        pick(max_running, None if stored is None else stored.max_running),
        pick(max_running_per_tenant, None if stored is None else stored.max_running_per_tenant),
    )


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@json_option
@click.pass_context
def queues(ctx: click.Context, as_json: bool | None) -> int:
    """Per queue: pending depth, oldest pending age, running, finished per minute.

    Without a subcommand, prints one row (or JSON object) per queue. Finished per minute is
    averaged over the last hour.
    """
    if ctx.invoked_subcommand is not None:
        return ExitCode.OK
    out = Output(as_json)
    with open_client() as client:
        stats = client.queue_stats()
    if out.json:
        out.records(queue_json(q) for q in stats)
        return ExitCode.OK
    out.table(QUEUE_COLUMNS, (queue_row(q) for q in stats))
    if not stats:
        out.note("no queues hold jobs")
    return ExitCode.OK


@queues.group(context_settings={"help_option_names": ["-h", "--help"]})
def limits() -> None:
    """Show, set and clear concurrency caps per queue and per tenant."""


def _print_limits(out: Output, rows: list[QueueLimits]) -> None:
    if out.json:
        out.records(row.model_dump(mode="json") for row in rows)
    else:
        out.table(LIMITS_COLUMNS, (limits_row(row) for row in rows))


@limits.command("show")
@click.argument("queue", required=False)
@json_option
def show_limits(queue: str | None, as_json: bool | None) -> int:
    """The stored settings of QUEUE (or of every queue), tenant overrides included.

    A queue with no row is fair and uncapped.
    """
    from supabase_jobs._validate import validate_queue_name

    out = Output(as_json)
    if queue is not None:
        queue = validate_queue_name(queue, path="QUEUE")
    with open_client() as client:
        rows = client.queue_limits(queue)
    _print_limits(out, rows)
    if not rows and not out.json:
        out.note("no settings stored: every queue is fair and uncapped")
    return ExitCode.OK


@limits.command("set")
@click.argument("queue")
@click.option(
    "--max-running",
    type=CAP,
    default=KEEP,
    help="At most N running jobs in the queue ('none' removes the cap). Queue-wide only.",
)
@click.option(
    "--max-running-per-tenant",
    type=CAP,
    default=KEEP,
    help="At most N running jobs per tenant ('none' removes the cap).",
)
@click.option(
    "--tenant-id",
    metavar="UUID",
    help="Set this tenant's override of --max-running-per-tenant instead of the queue's.",
)
@json_option
def set_limits(
    queue: str,
    max_running: object,
    max_running_per_tenant: object,
    tenant_id: str | None,
    as_json: bool | None,
) -> int:
    """Set caps of QUEUE; a cap not given keeps its stored value.

    Prints the row as stored (nothing when no cap is left on it).
    """
    from supabase_jobs._admin_core import queue_limits_params

    out = Output(as_json)
    if isinstance(max_running, _Keep) and isinstance(max_running_per_tenant, _Keep):
        raise click.UsageError("give --max-running and/or --max-running-per-tenant")
    if tenant_id is not None and not isinstance(max_running, _Keep):
        raise click.BadParameter(
            "is queue-wide; a tenant override sets --max-running-per-tenant only",
            param_hint="--max-running",
        )
    # Check every argument (as the SDK will) before the first request.
    probe = queue_limits_params(
        queue,
        max_running=None if isinstance(max_running, _Keep) else max_running,
        max_running_per_tenant=None
        if isinstance(max_running_per_tenant, _Keep)
        else max_running_per_tenant,
        tenant_id=tenant_id,
    )
    queue, tenant_id = probe["p_queue"], probe["p_tenant_id"]
    with open_client() as client:
        stored = next(
            (
                row
                for row in client.queue_limits(queue)
                if (None if row.tenant_id is None else str(row.tenant_id)) == tenant_id
            ),
            None,
        )
        cap_all, cap_tenant = merge_caps(stored, max_running, max_running_per_tenant)
        row = client.set_queue_limits(
            queue,
            max_running=cap_all,
            max_running_per_tenant=cap_tenant,
            tenant_id=tenant_id,
        )
    if row is not None:
        _print_limits(out, [row])
    elif not out.json:
        out.note(f"no caps left on {queue}" + ("" if tenant_id is None else f" for {tenant_id}"))
    return ExitCode.OK


@limits.command("clear")
@click.argument("queue")
@click.option("--tenant-id", metavar="UUID", help="Remove only this tenant's override.")
def clear_limits(queue: str, tenant_id: str | None) -> int:
    """Remove the caps of QUEUE (or one tenant's override). Fairness is kept."""
    from supabase_jobs._admin_core import queue_limits_params

    probe = queue_limits_params(
        queue, max_running=None, max_running_per_tenant=None, tenant_id=tenant_id
    )
    with open_client() as client:
        client.clear_queue_limits(probe["p_queue"], tenant_id=probe["p_tenant_id"])
    whose = "" if probe["p_tenant_id"] is None else f" for tenant {probe['p_tenant_id']}"
    Output(None).note(f"cleared the caps of {probe['p_queue']}{whose}")
    return ExitCode.OK


@queues.command()
@click.argument("queue")
@click.argument("switch", metavar="on|off", type=click.Choice(["on", "off"]))
def fair(queue: str, switch: str) -> int:
    """Switch fair claiming across tenants on (the default) or off (strict FIFO) for QUEUE."""
    from supabase_jobs._admin_core import queue_fair_params

    params = queue_fair_params(queue, switch == "on")
    with open_client() as client:
        client.set_queue_fair(params["p_queue"], params["p_fair"])
    Output(None).note(f"fair claiming {switch} for {params['p_queue']}")
    return ExitCode.OK
