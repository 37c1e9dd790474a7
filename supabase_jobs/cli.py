"""The ``supabase-jobs`` command line.

Commands::

    supabase-jobs migrations print                       # pipe to psql
    supabase-jobs migrations export --to supabase/migrations
    supabase-jobs migrations apply --db-url postgresql://...
    supabase-jobs local start [--env-file .env.local]    # like `supabase start`, no Docker
    supabase-jobs dispatch TENANT_ID TYPE '{"json": "payload"}'
    supabase-jobs stats [--tenant-id TENANT_ID]
    supabase-jobs worker PKG.MODULE:ATTR [--concurrency N] [--queues a,b] [--drain]

Exit codes: 0 success, 1 a ``JobsError`` (message printed, never a traceback), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

__all__ = ["main"]

_EXPORT_NAME = re.compile(r"^\d{14}_supabase_jobs_(\d{4})_[a-z0-9_]+\.sql$")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["worker"]:  # the click command (the lead mounts it at merge)
        from ._worker._command import worker_command

        try:
            worker_command.main(args_list[1:], prog_name="supabase-jobs worker")
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        return 0
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    from ._errors import JobsError

    try:
        code: int = args.handler(args)
    except JobsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supabase-jobs", description="A job queue for Supabase: SQL, local stack, jobs."
    )
    commands = parser.add_subparsers(title="commands")

    migrations = commands.add_parser("migrations", help="print, export or apply the SQL")
    migrations.set_defaults(handler=_usage(migrations))
    mig = migrations.add_subparsers(title="migrations commands")
    p = mig.add_parser("print", help="print every migration in order (pipe it to psql)")
    p.set_defaults(handler=_migrations_print)
    p = mig.add_parser("export", help="write timestamped files for `supabase db push`")
    p.add_argument("--to", type=Path, default=Path("supabase/migrations"), help="target folder")
    p.set_defaults(handler=_migrations_export)
    p = mig.add_parser("apply", help="apply pending migrations with psycopg")
    p.add_argument(
        "--db-url",
        default=os.environ.get("SUPABASE_JOBS_DB_URL"),
        help="postgresql:// URL of the schema's owner (default: $SUPABASE_JOBS_DB_URL)",
    )
    p.set_defaults(handler=_migrations_apply)

    local = commands.add_parser("local", help="the local Supabase-compatible stack")
    local.set_defaults(handler=_usage(local))
    loc = local.add_subparsers(title="local commands")
    p = loc.add_parser("start", help="start Postgres + the gateway in the foreground")
    p.add_argument("--env-file", type=Path, help="also write the NAME=value lines to this file")
    p.add_argument("--port", type=int, default=0, help="gateway port (default: ephemeral)")
    p.set_defaults(handler=_local_start)

    p = commands.add_parser("dispatch", help="dispatch one job (reads SUPABASE_* from env/.env)")
    p.add_argument("tenant_id")
    p.add_argument("type")
    p.add_argument("payload", nargs="?", default="{}", help="a JSON object")
    p.add_argument("--queue")
    p.add_argument("--priority", type=int)
    p.add_argument("--idempotency-key")
    p.set_defaults(handler=_dispatch)

    p = commands.add_parser("stats", help="job counts by status and type")
    p.add_argument("--tenant-id")
    p.set_defaults(handler=_stats)
    return parser


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A handler for a command group run without its subcommand: its help, exit code 2."""

    def handler(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


def _migrations_print(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from . import sql

    for migration in sql.migrations():
        out.write(f"-- supabase-jobs migration {migration.name}\n")
        out.write(migration.sql.rstrip() + "\n\n")
    return 0


def _migrations_export(args: argparse.Namespace) -> int:
    from . import sql

    target: Path = args.to
    target.mkdir(parents=True, exist_ok=True)
    # Files already exported keep their timestamps: re-running export must not make
    # `supabase db push` see the same migration twice under a new name.
    done = {int(m.group(1)) for f in target.iterdir() if (m := _EXPORT_NAME.match(f.name))}
    stamp = datetime.now(timezone.utc)
    written = 0
    for migration in sql.migrations():
        if migration.version in done:
            continue
        ts = stamp.strftime("%Y%m%d%H%M") + f"{written:02d}"
        path = target / f"{ts}_supabase_jobs_{migration.name}.sql"
        path.write_text(migration.sql, encoding="utf-8")
        print(f"wrote {path}")
        written += 1
    if not written:
        print(f"{target}: already up to date")
    return 0


def _migrations_apply(args: argparse.Namespace) -> int:
    from . import sql
    from ._errors import ConfigurationError

    if not args.db_url:
        raise ConfigurationError(
            "migrations apply needs --db-url or SUPABASE_JOBS_DB_URL",
            variables=("SUPABASE_JOBS_DB_URL",),
        )
    try:
        import psycopg
    except ImportError as exc:  # psycopg comes with the [local] extra
        raise ConfigurationError(
            "migrations apply needs psycopg: pip install 'supabase-jobs[local]'"
        ) from exc
    try:
        with psycopg.connect(args.db_url) as conn:
            applied = sql.apply_migrations(conn)
    except psycopg.Error as exc:
        # The URL may carry a password: name the failure, never echo the URL.
        raise ConfigurationError(
            f"could not apply migrations with --db-url ({type(exc).__name__})"
        ) from exc
    names = ", ".join(m.name for m in applied)
    print(f"applied {len(applied)} migration(s)" + (f": {names}" if names else ""))
    return 0


def _local_start(args: argparse.Namespace) -> int:
    from .local import LocalStack

    stop = threading.Event()
    # Handle both explicitly: a process started in the background by a non-interactive
    # shell inherits SIGINT as *ignored*, and Ctrl-C / `kill -INT` must still stop it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalStack(gateway_options={"port": args.port}) as stack:
        lines = [f"{name}={value}" for name, value in stack.env().items()]
        print("\n".join(lines), flush=True)
        if args.env_file is not None:
            args.env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"# wrote {args.env_file}", flush=True)
        print("# local stack running; press Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive
            pass
    print("# local stack stopped", file=sys.stderr)
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    from . import JobsClient
    from ._errors import PayloadValidationError

    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise PayloadValidationError("payload", "is not valid JSON") from exc
    with JobsClient.from_env() as jobs:
        job = jobs.dispatch(
            args.tenant_id,
            args.type,
            payload,
            queue=args.queue,
            priority=args.priority,
            idempotency_key=args.idempotency_key,
        )
    print(job.model_dump_json(indent=2))
    return 0


def _stats(args: argparse.Namespace) -> int:
    from . import JobsClient

    with JobsClient.from_env() as jobs:
        stats = jobs.stats(tenant_id=args.tenant_id)
    print(stats.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
