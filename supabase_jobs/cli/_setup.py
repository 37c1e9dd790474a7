"""Setting a project up: ``supabase-jobs migrations`` and ``supabase-jobs local``.

``migrations print`` and ``export`` only read files, so they work with the base install;
``migrations apply`` and ``local start`` need the ``local`` extra and say so in one line
when it is missing.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from ._common import ExitCode, missing_extra

__all__ = ["export_stamps", "local", "migrations"]

_EXPORT_NAME = re.compile(r"^\d{14}_supabase_jobs_(\d{4})_[a-z0-9_]+\.sql$")
# `supabase db push` orders files by this leading version (14 digits by convention).
_VERSION = re.compile(r"^(\d{14})_.*\.sql$")
_STAMP = "%Y%m%d%H%M%S"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def migrations() -> None:
    """Print, export or apply the SQL migrations (forward-only, numbered)."""


@migrations.command("print")
def print_() -> int:
    """Print every migration in order (pipe it to psql)."""
    from supabase_jobs import sql

    for migration in sql.migrations():
        click.echo(f"-- supabase-jobs migration {migration.name}")
        click.echo(migration.sql.rstrip() + "\n")
    return ExitCode.OK


def export_stamps(existing: Iterable[str], count: int, now: datetime) -> list[str]:
    """``count`` 14-digit versions that sort after every migration in ``existing``.

    ``supabase db push`` applies files in version order and refuses a version older than
    the newest one it applied, so a new file must sort after the newest file in the
    folder, even when that one is dated in the future (a clock-skewed teammate).

    Args:
        existing: File names already in the folder.
        count: How many versions to make.
        now: The current time (UTC).
    """
    start = now.replace(microsecond=0, tzinfo=None)
    newest = max((m.group(1) for name in existing if (m := _VERSION.match(name))), default=None)
    if newest is not None:
        try:
            start = max(start, datetime.strptime(newest, _STAMP) + timedelta(seconds=1))
        except ValueError:  # not a timestamp (e.g. 20991399999999): count up from it
            return [f"{int(newest) + 1 + i:014d}" for i in range(count)]
    return [(start + timedelta(seconds=i)).strftime(_STAMP) for i in range(count)]


@migrations.command()
@click.option(
    "--to",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("supabase/migrations"),
    show_default=True,
    help="Target folder (your Supabase project's migrations folder).",
)
def export(to: Path) -> int:
    """Write timestamped files for `supabase db push` (only those not exported yet)."""
    from supabase_jobs import sql

    to.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in to.iterdir()]
    # Files already exported keep their names: re-running export must not make
    # `supabase db push` see the same migration twice under a new version.
    done = {int(m.group(1)) for name in names if (m := _EXPORT_NAME.match(name))}
    pending = [m for m in sql.migrations() if m.version not in done]
    if not pending:
        click.echo(f"{to}: already up to date")
        return ExitCode.OK
    stamps = export_stamps(names, len(pending), datetime.now(timezone.utc))
    for stamp, migration in zip(stamps, pending, strict=True):
        path = to / f"{stamp}_supabase_jobs_{migration.name}.sql"
        path.write_text(migration.sql, encoding="utf-8")
        click.echo(f"wrote {path}")
    return ExitCode.OK


@migrations.command()
@click.option(
    "--db-url",
    envvar="SUPABASE_JOBS_DB_URL",
    show_envvar=True,
    help="postgresql:// URL of the schema's owner (the `postgres` user on Supabase).",
)
def apply(db_url: str | None) -> int:
    """Apply pending migrations with psycopg (needs the `local` extra)."""
    from supabase_jobs._errors import ConfigurationError

    if not db_url:
        raise ConfigurationError(
            "migrations apply needs --db-url or SUPABASE_JOBS_DB_URL",
            variables=("SUPABASE_JOBS_DB_URL",),
        )
    try:
        import psycopg

        from supabase_jobs import sql
    except ImportError as exc:
        raise missing_extra("migrations apply", exc) from None
    try:
        with psycopg.connect(db_url) as conn:
            applied = sql.apply_migrations(conn)
    except psycopg.Error as exc:
        # The URL may carry a password: name the failure, never echo the URL.
        raise ConfigurationError(
            f"could not apply migrations with --db-url ({type(exc).__name__})"
        ) from None
    names = ", ".join(m.name for m in applied)
    click.echo(f"applied {len(applied)} migration(s)" + (f": {names}" if names else ""))
    return ExitCode.OK


#: The signals that end `local start` cleanly (the cluster and its directory go too).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def local() -> None:
    """The local Supabase-compatible stack (PostgreSQL + gateway, no Docker)."""


@local.command()
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the NAME=value lines to this file (e.g. .env.local).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Gateway port on 127.0.0.1; 0 picks a free one.",
)
def start(env_file: Path | None, port: int) -> int:
    """Start PostgreSQL and the gateway in the foreground; Ctrl-C stops both."""
    try:
        from supabase_jobs.local import LocalStack
    except ImportError as exc:
        raise missing_extra("local start", exc) from None

    stop = threading.Event()
    # Handle each explicitly: a process started in the background by a non-interactive
    # shell inherits SIGINT as *ignored*, and `kill -INT`, `kill` and a closed terminal
    # must all stop the stack (and remove its cluster), not just kill the process.
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop.set())
    with LocalStack(gateway_options={"port": port}) as stack:
        lines = [f"{name}={value}" for name, value in stack.env().items()]
        click.echo("\n".join(lines))
        if env_file is not None:
            env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            click.echo(f"# wrote {env_file}")
        click.echo("# local stack running; press Ctrl-C to stop", err=True)
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive
            pass
    click.echo("# local stack stopped", err=True)
    return ExitCode.OK
