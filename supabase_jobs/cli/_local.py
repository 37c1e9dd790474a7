"""``supabase-jobs local start``: the local stack in the foreground, until a signal."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from ._common import ExitCode, missing_extra

__all__ = ["local"]

#: The signals that end `local start` cleanly (the cluster and its directory go too).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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
