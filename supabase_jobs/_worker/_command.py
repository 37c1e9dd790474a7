"""``supabase-jobs worker PKG.MODULE:ATTR``: import a ``Worker`` / ``AsyncWorker`` and run it.

The module builds its own client (usually ``JobsClient.from_env()``) and worker, and
registers its handlers at import time. Options given here override the worker's.

Exit codes: 0 stopped on request (SIGTERM/SIGINT) or drained, every outcome written;
1 a fatal error (import, configuration, permissions); 2 bad usage; 3 stopped with outcomes
that could not be written (those jobs wait out their leases); 128 + N forced by a second
signal N. SIGTERM and SIGINT are handled even when inherited as ignored.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import sys
import threading
from typing import Any

import click

from ._async import AsyncWorker
from ._base import WorkerBase
from ._sync import Worker

__all__ = ["JsonFormatter", "load_worker", "worker_command"]

_FIELDS = (
    "action",
    "job_id",
    "job_type",
    "tenant_id",
    "queue",
    "attempt",
    "duration",
    "outcome",
    "error",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                data[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            data["exception"] = record.exc_info[0].__name__
        return json.dumps(data, default=str)


def load_worker(spec: str) -> WorkerBase:
    """Import ``PKG.MODULE:ATTR`` and return the worker it names.

    Raises:
        click.UsageError: The spec is malformed or does not name a worker.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise click.UsageError(f"expected PKG.MODULE:ATTR, got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the current directory imports
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise click.UsageError(f"{module_name} has no attribute {attr!r}")
    if not isinstance(target, WorkerBase):
        raise click.UsageError(f"{spec} is a {type(target).__name__}, not a Worker/AsyncWorker")
    return target


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    return names or None


def _configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("supabase_jobs")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


@click.command("worker")
@click.argument("target", metavar="PKG.MODULE:ATTR")
@click.option("--concurrency", type=click.IntRange(min=1), help="handler slots")
@click.option("--queues", help="comma-separated queues to claim from")
@click.option("--types", help="comma-separated job types to claim")
@click.option("--drain", is_flag=True, help="exit once nothing is due and nothing runs")
@click.option(
    "--no-realtime",
    "no_realtime",
    is_flag=True,
    help="Poll only: no Realtime wake-up subscription.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per job outcome as text, or as one JSON object per line.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="The lowest level logged (outcomes are INFO, outages WARNING).",
)
def worker_command(
    target: str,
    concurrency: int | None,
    queues: str | None,
    types: str | None,
    drain: bool,
    no_realtime: bool,
    log_format: str,
    log_level: str,
) -> None:
    """Run the Worker or AsyncWorker named PKG.MODULE:ATTR until SIGTERM/SIGINT."""
    _configure_logging(log_format, log_level)
    from .._errors import JobsError

    try:
        worker = load_worker(target)
        if concurrency is not None:
            worker.concurrency = concurrency
        if queues is not None:
            worker.queues = _split(queues)
        if types is not None:
            worker.types = _split(types)
        if no_realtime:
            worker.realtime = False
        if isinstance(worker, AsyncWorker):
            stats = asyncio.run(worker.run(drain=drain))
        else:
            assert isinstance(worker, Worker)
            stats = worker.run(drain=drain)
    except click.ClickException:
        raise
    except (JobsError, ImportError) as exc:
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        _exit(1)
    code = stats.exit_code or 0
    click.echo(
        f"worker stopped ({stats.reason}): completed={stats.completed} retried={stats.retried} "
        f"failed={stats.failed} snoozed={stats.snoozed} cancelled={stats.cancelled} "
        f"released={stats.released} lease_lost={stats.lease_lost} unsettled={stats.unsettled}",
        err=True,
    )
    _exit(code, stuck=stats.stuck > 0)


def _exit(code: int, *, stuck: bool = False) -> None:
    """Exit now; with handler threads still running (stuck past a timeout or a hand-back),
    skip the interpreter's join of them, which would hang the process."""
    sys.stdout.flush()
    sys.stderr.flush()
    if stuck or any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        os._exit(code)
    raise SystemExit(code)
