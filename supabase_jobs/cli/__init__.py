"""The ``supabase-jobs`` command line (click, with rich for tables and progress bars).

Commands::

    supabase-jobs migrations print                       # pipe to psql
    supabase-jobs migrations export --to supabase/migrations
    supabase-jobs migrations apply --db-url postgresql://...
    supabase-jobs local start [--env-file .env.local]    # like `supabase start`, no Docker
    supabase-jobs dispatch TENANT_ID TYPE '{"json": "payload"}'
    supabase-jobs dispatch --from-file jobs.jsonl --key-field ref
    supabase-jobs jobs list|show|retry|cancel|delete ...
    supabase-jobs stats [--tenant-id TENANT_ID]
    supabase-jobs queues [limits show|set|clear | fair QUEUE on|off]
    supabase-jobs prune --older-than 7d [--batch-size 10000]

Exit codes (see :class:`~supabase_jobs.cli._common.ExitCode`): 0 ok, 1 some items failed,
2 usage or invalid input, 3 configuration, 4 not found, 5 backend or network,
130 interrupted, 141 stdout closed early. Errors print one line, never a traceback.
"""

from __future__ import annotations

import logging
import os
import select
import sys
from collections.abc import Sequence

import click

from supabase_jobs._version import __version__

from ._common import ExitCode, error_line, exit_code_for

__all__ = ["cli", "main"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=_CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="supabase-jobs")
def cli() -> None:
    """A job queue for Supabase: SQL migrations, a local stack, and job operations.

    Commands that talk to a project read SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY from
    the environment or a .env file in the current directory.
    """


def _register() -> None:
    from .._worker._command import worker_command
    from ._dispatch import dispatch
    from ._jobs import jobs, prune, stats
    from ._queues import queues
    from ._setup import local, migrations

    for command in (migrations, local, dispatch, jobs, stats, queues, prune, worker_command):
        cli.add_command(command)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the process exit code (never a traceback)."""
    from supabase_jobs._errors import JobsError

    _log_warnings_to_stderr()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="supabase-jobs",
            standalone_mode=False,
        )
        code = int(result) if isinstance(result, int) else ExitCode.OK
        sys.stdout.flush()
    except click.exceptions.Exit as exc:  # --help, --version
        code = exc.exit_code
    except SystemExit as exc:  # click's own answer to EPIPE is sys.exit(1)
        code = exc.code if isinstance(exc.code, int) else ExitCode.PARTIAL
    except click.Abort:
        click.echo("Aborted.", err=True)
        code = ExitCode.INTERRUPTED
    except click.ClickException as exc:  # usage errors (2) and missing extras (3)
        exc.show()
        code = exc.exit_code
    except JobsError as exc:
        click.echo(error_line(exc), err=True)
        code = exit_code_for(exc)
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        code = ExitCode.BROKEN_PIPE
    if code == ExitCode.BROKEN_PIPE or _stdout_broken():
        # The reader left (`| head -1`): point stdout at /dev/null so the interpreter's
        # final flush cannot print a BrokenPipeError traceback on the way out.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = ExitCode.BROKEN_PIPE
    return int(code)


def _log_warnings_to_stderr() -> None:
    """Show the SDK's warnings (e.g. which payload paths were scrubbed) as plain lines."""
    logger = logging.getLogger("supabase_jobs")
    if logger.handlers or logging.getLogger().handlers:
        return  # the embedding program configured logging itself
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)


def _stdout_broken() -> bool:
    """Whether stdout is a pipe nobody reads any more (flushing it, or polling it, says so)."""
    try:
        sys.stdout.flush()
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
    except BrokenPipeError:
        return True
    except (OSError, ValueError, AttributeError):
        return False
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    # A pipe whose read end is closed reports POLLERR (click may have hidden the EPIPE).
    return any(events & select.POLLERR for _, events in poller.poll(0))
