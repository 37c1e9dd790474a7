"""``supabase-jobs dispatch``: one job from the arguments, or a JSON-lines file in batches.

From a file, every line is validated on its own before its batch is sent, so a bad line
is reported (with its number) and the good lines still go. A batch the database refuses
as a whole (a CHECK on one row) is split in halves until the refused line is found: an
insert is one statement, so a refused batch stored nothing and resending is safe.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING

import click

from ._common import (
    ExitCode,
    Output,
    allow_type_option,
    exit_code_for,
    json_option,
    open_client,
    reason_of,
)
from ._jsonl import Line, Rejected, batches
from ._render import job_json, show_rows

if TYPE_CHECKING:
    from supabase_jobs import JobsClient

__all__ = ["ByteCounter", "dispatch", "file_size", "send_lines"]


@click.command(short_help="Dispatch one job, or every line of a JSON-lines file.")
@click.argument("tenant_id", required=False)
@click.argument("job_type", metavar="[TYPE]", required=False)
@click.argument("payload", required=False)
@click.option("--queue", help="Queue name (default: the type's, then the client's).")
@click.option("--priority", type=click.IntRange(-100, 100), help="-100..100, higher runs first.")
@click.option("--max-attempts", type=click.IntRange(1, 1000), help="Attempt budget, 1..1000.")
@click.option(
    "--idempotency-key",
    help="Dispatching the same key again for the tenant returns the existing job.",
)
@click.option(
    "--from-file",
    type=click.File("r", encoding="utf-8"),
    help="Dispatch every line of this JSON-lines file ('-' for stdin), in batches.",
)
@click.option(
    "--key-field",
    metavar="FIELD",
    help="With --from-file: the field of each line (dotted, e.g. payload.order_id) whose "
    "value is the idempotency key, so running the file again dispatches nothing twice.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="With --from-file: lines per dispatch_many request.",
)
@allow_type_option
@json_option
def dispatch(
    tenant_id: str | None,
    job_type: str | None,
    payload: str | None,
    queue: str | None,
    priority: int | None,
    max_attempts: int | None,
    idempotency_key: str | None,
    from_file: IO[str] | None,
    key_field: str | None,
    batch_size: int,
    allow_types: tuple[str, ...],
    as_json: bool | None,
) -> int:
    """Dispatch one job: TENANT_ID TYPE [PAYLOAD] (a JSON object, default {}).

    Or, with --from-file, one job per line of a JSON-lines file: objects with tenant_id,
    type and optionally payload, queue, priority, run_at, max_attempts, idempotency_key.
    Rejected lines are reported with their numbers; the others are dispatched.
    """
    out = Output(as_json)
    if from_file is not None:
        if tenant_id is not None or idempotency_key is not None:
            raise click.UsageError("--from-file takes no TENANT_ID/TYPE/PAYLOAD arguments")
        if queue is not None or priority is not None or max_attempts is not None:
            raise click.UsageError("--from-file takes its options from each line")
        with open_client(allow_types) as client:
            return _from_file(client, from_file, key_field, batch_size, out)
    if key_field is not None:
        raise click.UsageError("--key-field needs --from-file")
    if tenant_id is None or job_type is None:
        raise click.UsageError("give TENANT_ID and TYPE, or --from-file")
    from supabase_jobs._errors import PayloadValidationError

    try:
        body = json.loads(payload) if payload is not None else {}
    except json.JSONDecodeError:
        raise PayloadValidationError("payload", "is not valid JSON") from None
    with open_client(allow_types) as client:
        job = client.dispatch(
            tenant_id,
            job_type,
            body,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            idempotency_key=idempotency_key,
        )
    if out.json:
        out.record(job_json(job))
    else:
        out.table(("column", "value"), show_rows(job), title=f"dispatched job {job.id}")
    return ExitCode.OK


def file_size(stream: IO[str]) -> int | None:
    """The size in bytes of a regular file; ``None`` for stdin, a pipe or a socket."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


class ByteCounter:
    """Iterates the lines of a text stream, counting the bytes (UTF-8) read so far.

    The progress bar of a regular file advances by bytes against the file's size.
    """

    def __init__(self, stream: Iterable[str]) -> None:
        self._stream = stream
        self.bytes = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.bytes += len(line.encode("utf-8", "surrogatepass"))
            yield line


def _from_file(
    client: JobsClient, stream: IO[str], key_field: str | None, batch_size: int, out: Output
) -> int:
    dispatched = rejected = 0
    size = file_size(stream)
    reader = ByteCounter(stream)
    label = "dispatching" if size is not None else "dispatching (lines)"
    with out.progress(label, total=size) as bar:
        for good, bad in batches(reader, batch_size, key_field):
            valid, invalid = _validate(client, good)
            try:
                stored, refused = send_lines(client, valid)
            except Exception:
                _stopped(out, valid, dispatched)
                raise
            for line in sorted([*bad, *invalid, *refused], key=lambda r: r.number):
                _reject(out, line)
            dispatched += stored
            rejected += len(bad) + len(invalid) + len(refused)
            if size is None:  # stdin or a pipe: no total, count the lines
                bar.advance(stored + len(bad) + len(invalid) + len(refused))
            else:  # a file: bytes read so far (newline translation may leave a few short)
                bar.update(min(reader.bytes, size))
        if size is not None:
            bar.update(size)
    summary = {"dispatched": dispatched, "rejected": rejected}
    if out.json:
        out.record(summary)
    else:
        out.stdout.print(f"dispatched {dispatched} job(s), rejected {rejected} line(s)")
    return ExitCode.PARTIAL if rejected else ExitCode.OK


def _reject(out: Output, line: Rejected) -> None:
    if out.json:
        out.record({"line": line.number, "rejected": line.error})
    else:
        out.note(f"line {line.number}: {line.error}")


def _validate(client: JobsClient, lines: Sequence[Line]) -> tuple[list[Line], list[Rejected]]:
    """Check each line as ``dispatch_many`` will, before the batch goes out."""
    from supabase_jobs._core import prepare_dispatch_many
    from supabase_jobs._errors import ValidationError

    valid: list[Line] = []
    invalid: list[Rejected] = []
    for line in lines:
        try:
            prepare_dispatch_many(client.config, client.registry, [line.spec])
        except ValidationError as exc:
            path = exc.path.removeprefix("jobs[0].").removeprefix("jobs[0]")
            invalid.append(Rejected(line.number, f"{path or 'line'}: {reason_of(exc)}"))
        else:
            valid.append(line)
    return valid, invalid


def send_lines(client: JobsClient, lines: Sequence[Line]) -> tuple[int, list[Rejected]]:
    """Send ``lines`` with ``dispatch_many``; isolate lines the database refuses.

    Returns:
        How many were stored (or already existed under their key), and the refused lines.

    Raises:
        JobsError: A configuration, backend or transport failure: the whole run stops,
            since the next batch would fail the same way.
    """
    from supabase_jobs._errors import JobsError

    if not lines:
        return 0, []
    try:
        client.dispatch_many([line.spec for line in lines])
    except JobsError as exc:
        if exit_code_for(exc) not in (ExitCode.PARTIAL, ExitCode.USAGE):
            raise  # not about these lines: the next batch would fail the same way
        if len(lines) == 1:
            reason = str(exc).replace("jobs[0].", "").replace("jobs[0]", "line")
            return 0, [Rejected(lines[0].number, reason)]
        half = len(lines) // 2
        stored_a, refused_a = send_lines(client, lines[:half])
        stored_b, refused_b = send_lines(client, lines[half:])
        return stored_a + stored_b, refused_a + refused_b
    return len(lines), []


def _stopped(out: Output, lines: Sequence[Line], dispatched: int) -> None:
    """Say which lines are in doubt when a batch fails for a reason beyond its lines."""
    if not lines:
        return
    first, last = lines[0].number, lines[-1].number
    keyed = all("idempotency_key" in line.spec for line in lines)
    hint = "running the file again is safe" if keyed else "use --key-field to make a rerun safe"
    out.note(
        f"stopped: {dispatched} job(s) dispatched before line {first}; lines {first}-{last}"
        f" may or may not be stored ({hint})"
    )
