"""What every command shares: exit codes, error mapping, output (tables or JSON lines).

Exit codes are part of the interface (scripts branch on them), so they live here, once,
and ``docs/cli.md`` lists the same table.
"""

from __future__ import annotations

import enum
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from supabase_jobs import JobsClient
    from supabase_jobs._errors import JobsError, ValidationError

__all__ = [
    "Bar",
    "ExitCode",
    "Output",
    "error_line",
    "exit_code_for",
    "json_option",
    "missing_extra",
    "open_client",
    "parse_duration",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The one line printed when an optional dependency is missing.
LOCAL_EXTRA_HINT = "pip install 'supabase-jobs[local]'"


class ExitCode(enum.IntEnum):
    """Process exit codes scripts can rely on (documented in ``docs/cli.md``)."""

    OK = 0
    #: Some items failed or were rejected (the others were done).
    PARTIAL = 1
    #: Bad command line or bad input (nothing was sent).
    USAGE = 2
    #: Missing or wrong configuration: URL, key, extra not installed, schema missing.
    CONFIG = 3
    #: The job (or cursor) asked for does not exist.
    NOT_FOUND = 4
    #: The backend or the network failed.
    BACKEND = 5
    #: The reader of stdout went away (``| head``), as a shell reports SIGPIPE.
    BROKEN_PIPE = 141
    #: Interrupted (Ctrl-C).
    INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an error that ended a command."""
    from supabase_jobs._errors import (
        BackendError,
        ConfigurationError,
        ConstraintViolationError,
        NotFoundError,
        PermissionDeniedError,
        SchemaNotInstalledError,
        TransportError,
        ValidationError,
    )

    if isinstance(exc, (ConfigurationError, PermissionDeniedError, SchemaNotInstalledError)):
        return ExitCode.CONFIG
    if isinstance(exc, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, ConstraintViolationError):  # the database refused this item
        return ExitCode.PARTIAL
    if isinstance(exc, ValidationError):
        return ExitCode.USAGE
    if isinstance(exc, (BackendError, TransportError)):
        return ExitCode.BACKEND
    return ExitCode.PARTIAL


def reason_of(exc: ValidationError) -> str:
    """The reason of a validation error, with the CLI's fix where the SDK's differs."""
    from supabase_jobs._errors import UnknownJobTypeError

    if isinstance(exc, UnknownJobTypeError):
        return "is not a known job type (accept it with --allow-type NAME)"
    return exc.reason


def error_line(exc: JobsError) -> str:
    """The one line printed for an error that ended a command."""
    from supabase_jobs._errors import ValidationError

    if isinstance(exc, ValidationError):
        return f"error: invalid {exc.path}: {reason_of(exc)}"
    return f"error: {exc}"


class MissingExtraError(click.ClickException):
    """An optional dependency of this command is not installed: one line, exit code 3."""

    exit_code = ExitCode.CONFIG


def missing_extra(command: str, exc: ImportError) -> MissingExtraError:
    """The error for ``command`` run without the ``local`` extra (``exc`` is chained)."""
    missing = exc.name or "a dependency"
    return MissingExtraError(
        f"{command} needs the local extra ({missing} is not installed): {LOCAL_EXTRA_HINT}"
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Width of tables written to a file or pipe (a terminal uses its own width).
_PIPE_WIDTH = 160
#: Ages beyond this are typos (and overflow datetime arithmetic).
MAX_DURATION = timedelta(days=36_500)


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``15m``, ``1h``, ``7d``, ``2w`` (a bare number is seconds).

    Raises:
        ValueError: Not a duration, or longer than 100 years.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError("expected a number with a unit s, m, h, d or w (e.g. 1h, 7d)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError("must be at most 100 years")
    return timedelta(seconds=seconds)


class DurationType(click.ParamType[timedelta]):
    """A click parameter type for :func:`parse_duration`."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = DurationType()


def json_option(func: F) -> F:
    """Add ``--json/--table``: JSON lines or a table (default: table only on a terminal)."""
    return click.option(
        "--json/--table",
        "as_json",
        default=None,
        help="Print one JSON object per line, or a table. Default: a table when stdout "
        "is a terminal, JSON lines otherwise.",
    )(func)


class Output:
    """Where a command's results go: rich tables on a terminal, JSON lines otherwise.

    Data goes to stdout; notes, progress and rejections go to stderr, so a pipe
    (``| jq``) only ever sees JSON objects.

    Args:
        as_json: ``True``/``False`` as asked; ``None`` picks by whether stdout is a TTY.
    """

    def __init__(self, as_json: bool | None) -> None:
        from rich.console import Console

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                # rich would exit(1) here; main() turns this into the usual 141.
                raise BrokenPipeError

        # Colour and live displays only on a terminal: rich checks isatty itself.
        self.stdout: Console = _Console(highlight=False)
        if not self.stdout.is_terminal and "COLUMNS" not in os.environ:
            # A table asked for into a file or pipe: 80 columns would fold every id.
            self.stdout = _Console(highlight=False, width=_PIPE_WIDTH)
        self.stderr: Console = _Console(stderr=True, highlight=False)
        self.json = (not self.stdout.is_terminal) if as_json is None else as_json

    def record(self, obj: Mapping[str, Any]) -> None:
        """Print one JSON object on its own line (JSON mode)."""
        line = json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))
        sys.stdout.write(line + "\n")

    def records(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Print each object as a JSON line."""
        for obj in objs:
            self.record(obj)

    def table(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
    ) -> None:
        """Print a rich table (table mode)."""
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for name in columns:
            # Ids are copied into the next command: never fold or cut them.
            ids = name == "id"
            table.add_column(name, no_wrap=ids, min_width=36 if ids else None)
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.stdout.print(table)

    def note(self, text: str) -> None:
        """A human note on stderr (never mixed into the data on stdout)."""
        self.stderr.print(text, markup=False, highlight=False)

    @contextmanager
    def progress(self, description: str, total: float | None) -> Iterator[Bar]:
        """A progress bar on stderr (only when stderr is a terminal).

        Args:
            description: The label left of the bar.
            total: What 100% is (rows, pages, bytes), or ``None`` for a running count.
        """
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.stderr,
            disable=not self.stderr.is_terminal,
            transient=False,
            # JSON lines written meanwhile must stay on stdout (rich would move them to
            # the bar's stream, stderr, and break `--json > file` on a terminal).
            redirect_stdout=False,
            redirect_stderr=False,
        ) as progress:
            yield Bar(progress, progress.add_task(description, total=total))


class Bar:
    """One task of a rich progress display: advance it, or move it to a known point."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: float) -> None:
        """Move forward by ``amount`` (lines, bytes, ...)."""
        self._progress.advance(self._task, amount)

    def update(
        self,
        completed: float,
        *,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        """Set how much is done (and, when it changed, the total or the label)."""
        self._progress.update(self._task, completed=completed, total=total, description=description)


@contextmanager
def open_client(allow_types: Sequence[str] = ()) -> Iterator[JobsClient]:
    """A sync client from ``SUPABASE_URL`` / ``SUPABASE_SERVICE_ROLE_KEY`` (env or ``.env``).

    Args:
        allow_types: Job types to accept besides the six default ones.
    """
    from supabase_jobs import ConfigurationError, JobsClient, JobTypeRegistry

    registry = JobTypeRegistry()
    for name in allow_types:
        try:
            registry.register(name)
        except ConfigurationError as exc:
            raise click.BadParameter(str(exc), param_hint="--allow-type") from None
    with JobsClient.from_env(registry=registry) as client:
        yield client


def allow_type_option(func: F) -> F:
    """Add ``--allow-type NAME`` (repeatable) for job types of the user's own app."""
    return click.option(
        "--allow-type",
        "allow_types",
        multiple=True,
        metavar="NAME",
        help="Also accept this job type (repeatable); the six default types are always accepted.",
    )(func)
