"""Idempotent dispatch, sans-I/O: the rows sent, the retry loop, the answer in input order.

``dispatch`` and ``dispatch_many`` both run :func:`dispatch_flow`, a generator that
yields the requests to make (:class:`Insert`, :class:`ReadByIds`, :class:`ReadByKeys`)
and receives their answers (the jobs rows, parsed); a :class:`ConflictError` from an
insert is thrown into it. The async client drives it (``_async/_client.py``) and the sync
client is generated from that driver, so the loop below exists once.

How a keyed job is found again
------------------------------
A keyed row's ``id`` is derived from its tenant and key (:func:`idempotent_job_id`) and
the insert is ``ON CONFLICT (id) DO NOTHING``: a retried dispatch collides on the primary
key. Rows the insert skipped are read back **by their derived ids**: an id reveals
nothing, whereas a URL is written to access logs and to httpx's INFO log line, so an
idempotency key never travels in one. A key held under an id that is not its derived
one (another writer chose it, or the derived id was taken, see below) is read by key
through ``sj_keyed_jobs_v1``, whose arguments travel in a POST body.

The loop: each round inserts the rows still unresolved.

- The partial unique index on ``(tenant_id, idempotency_key)`` refuses the whole insert
  (23505) when a key is held under another id: by another writer, or by a concurrent
  dispatch of the same key that committed while this insert waited (``ON CONFLICT
  (id)``, checked first, did not see it). The holders are read (by id; by key when no id
  read finds one) and the rest is sent again. A refusal no read explains is raised: it
  came from another unique index. At most :data:`KEY_CONFLICT_ROUNDS` inserts.
- A keyed row skipped by the insert whose derived id another row holds without holding
  the key (its key or tenant was edited) is sent again under a random id.

Within one batch, items sharing a ``(tenant_id, idempotency_key)`` are sent once and all
map to the same job, exactly as if they had been dispatched one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import BackendError, ConflictError
from ._models import Job

if TYPE_CHECKING:
    from ._core import PreparedJob

__all__ = [
    "IDEMPOTENCY_CONFLICT",
    "IDEMPOTENCY_NAMESPACE",
    "KEY_CONFLICT_ROUNDS",
    "MAX_IDS_PER_READ",
    "MAX_KEYS_PER_READ",
    "BatchPlan",
    "DispatchFlow",
    "Insert",
    "Operation",
    "ReadByIds",
    "ReadByKeys",
    "dispatch_flow",
    "idempotent_job_id",
    "plan_batch",
]

Pair = tuple[str, str]

#: Namespace of the job ids derived from idempotency keys (uuid5 of this URL-style name:
#: ``uuid5(NAMESPACE_URL, "supabase-jobs:idempotency-key")``). Never change it: a retry by a
#: newer SDK would derive another id and create a second job.
IDEMPOTENCY_NAMESPACE = uuid.UUID("b7c688bc-4dfb-5315-b44e-c66628fd0721")
#: The conflict target of a keyed insert (``ON CONFLICT (id) DO NOTHING``).
IDEMPOTENCY_CONFLICT = "id"
#: Inserts one dispatch may take: each refused round reads who holds the keys and resends
#: the rest, so only a new race with yet another dispatch of the same keys needs another.
KEY_CONFLICT_ROUNDS = 3
#: Ids per read: ``id=in.(...)`` costs ~39 URL characters an id, and gateways and proxies
#: refuse URLs beyond 8-16 KB; 150 ids stay near 6 KB.
MAX_IDS_PER_READ = 150
#: Keys per ``sj_keyed_jobs_v1`` call: below PostgREST's ``db-max-rows`` (1000 on
#: Supabase), which would silently truncate a larger answer.
MAX_KEYS_PER_READ = 500


def idempotent_job_id(tenant_id: str, idempotency_key: str) -> str:
    """The id a keyed job gets: the same for the same tenant and key, on every client.

    A keyed dispatch is then ``INSERT ... ON CONFLICT (id) DO NOTHING``: the primary key
    resolves retries, so the table needs no unique index that every job (keyed or not) must
    enter; a partial one on ``(tenant_id, idempotency_key)`` still guards other writers.

    Args:
        tenant_id: Canonical lower-case tenant UUID.
        idempotency_key: The validated key.
    """
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{tenant_id}:{idempotency_key}"))


@dataclass(frozen=True)
class Insert:
    """One POST of ``rows``; keyed: ``ON CONFLICT (id) DO NOTHING``, in id order.

    Attributes:
        rows: The bodies, each with its ``id`` (except a lone unkeyed ``dispatch``).
        keyed: Whether any row has an idempotency key.
        single: Send ``rows[0]`` as one object (``dispatch``), not as a list.
    """

    rows: list[dict[str, Any]]
    keyed: bool
    single: bool


@dataclass(frozen=True)
class ReadByIds:
    """One GET: ``tenant_id = tenant and id in ids`` (ids derived from keys)."""

    tenant: str
    ids: list[str]


@dataclass(frozen=True)
class ReadByKeys:
    """One ``sj_keyed_jobs_v1`` call (POST body): the tenant's jobs holding ``keys``."""

    tenant: str
    keys: list[str]


Operation = Insert | ReadByIds | ReadByKeys
#: Yields operations, receives each one's jobs, returns the jobs in input order.
DispatchFlow = Generator[Operation, list[Job], list[Job]]


@dataclass(frozen=True)
class BatchPlan:
    """How a batch goes over the wire and how the answer maps back to input order.

    Attributes:
        rows: The bodies of the first insert (keyed duplicates inside the batch sent once).
        slots: For each input item, the client-side id of the row it maps to.
        keys: Derived id -> ``(tenant_id, idempotency_key)`` for keyed rows.
        single: One ``dispatch``: the row goes as an object, unkeyed without an id.
    """

    rows: list[dict[str, Any]]
    slots: list[str]
    keys: dict[str, Pair]
    single: bool


def plan_batch(prepared: Sequence[PreparedJob], *, single: bool = False) -> BatchPlan:
    """Give every row a client-side id so the response maps back to input order.

    Args:
        prepared: The validated jobs, in input order.
        single: A lone ``dispatch``: an unkeyed row keeps no client id (the body is then
            exactly what the existing TypeScript ``dispatchJob()`` sends).

    Returns:
        The :class:`BatchPlan`; ``rows`` may be shorter than ``prepared`` when items
        share an idempotency key.
    """
    rows: list[dict[str, Any]] = []
    slots: list[str] = []
    keys: dict[str, Pair] = {}
    seen: dict[Pair, str] = {}
    for job in prepared:
        pair = (job.tenant_id, job.idempotency_key) if job.idempotency_key is not None else None
        if pair is not None and pair in seen:
            slots.append(seen[pair])
            continue
        if single and pair is None:
            rows.append(job.row)
            slots.append("")
            continue
        row_id = job.row.get("id") or str(uuid.uuid4())  # keyed rows carry a derived id
        rows.append({"id": row_id, **job.row})
        slots.append(row_id)
        if pair is not None:
            seen[pair] = row_id
            keys[row_id] = pair
    return BatchPlan(rows, slots, keys, single)


def _pair_of_row(row: dict[str, Any]) -> Pair | None:
    key = row.get("idempotency_key")
    return None if key is None else (str(row["tenant_id"]), str(key))


def _pair_of_job(job: Job) -> Pair | None:
    key = job.idempotency_key
    return None if key is None else (str(job.tenant_id), key)


def _by_tenant(pairs: Iterable[Pair]) -> dict[str, list[str]]:
    grouped: dict[str, dict[str, None]] = {}
    for tenant, key in pairs:
        grouped.setdefault(tenant, {})[key] = None
    return {tenant: list(keys) for tenant, keys in sorted(grouped.items())}


def _holders(pairs: Iterable[Pair], found: Iterable[Job]) -> dict[Pair, Job]:
    """The jobs in ``found`` that hold one of ``pairs``, by pair."""
    wanted = set(pairs)
    return {pair: job for job in found if (pair := _pair_of_job(job)) in wanted and pair}


def _read_by_ids(pairs: Sequence[Pair]) -> Generator[Operation, list[Job], dict[Pair, Job]]:
    """Read the rows at the pairs' derived ids; those holding their pair are returned."""
    found: list[Job] = []
    for tenant, keys in _by_tenant(pairs).items():
        ids = [idempotent_job_id(tenant, key) for key in keys]
        for start in range(0, len(ids), MAX_IDS_PER_READ):
            found += yield ReadByIds(tenant, ids[start : start + MAX_IDS_PER_READ])
    return _holders(pairs, found)


def _read_by_keys(pairs: Sequence[Pair]) -> Generator[Operation, list[Job], dict[Pair, Job]]:
    """Read the jobs holding the pairs, by key, in POST bodies."""
    found: list[Job] = []
    for tenant, keys in _by_tenant(pairs).items():
        for start in range(0, len(keys), MAX_KEYS_PER_READ):
            found += yield ReadByKeys(tenant, keys[start : start + MAX_KEYS_PER_READ])
    return _holders(pairs, found)


def _insert(rows: list[dict[str, Any]], plan: BatchPlan) -> Insert:
    keyed = bool(plan.keys)
    # Keyed rows in id order: two batches sharing keys then lock them in the same order
    # and one waits for the other instead of deadlocking.
    ordered = sorted(rows, key=lambda row: str(row["id"])) if keyed and not plan.single else rows
    return Insert(ordered, keyed, plan.single)


def _read_holders(
    rows: Sequence[dict[str, Any]], plan: BatchPlan
) -> Generator[Operation, list[Job], dict[Pair, Job]]:
    """Who holds the keys of ``rows``: read by derived id; by key when that finds nobody."""
    pending = [pair for row in rows if (pair := _pair_of_row(row)) is not None]
    found = yield from _read_by_ids(
        [pair for row in rows if (pair := plan.keys.get(str(row["id"]))) is not None]
    )
    if not found:
        found = yield from _read_by_keys(pending)
    return found


def dispatch_flow(prepared: Sequence[PreparedJob], *, single: bool = False) -> DispatchFlow:
    """The requests of a dispatch, and the jobs they resolve to (see the module docstring).

    Args:
        prepared: The validated jobs, in input order (at least one).
        single: A lone ``dispatch`` (see :func:`plan_batch`).

    Returns:
        A generator: send it each operation's jobs, throw it an insert's
        :class:`ConflictError`; it returns one :class:`Job` per item, in input order.

    Raises:
        ConflictError: A refusal no holder explains, or a key race on every round.
        BackendError: The answers leave an item without its job.
    """
    plan = plan_batch(prepared, single=single)
    inserted: dict[str, Job] = {}
    held: dict[Pair, Job] = {}
    rows = plan.rows
    for round_ in range(1, KEY_CONFLICT_ROUNDS + 1):
        try:
            answer = yield _insert(rows, plan)
        except ConflictError as exc:
            if not plan.keys or exc.code != "23505" or round_ == KEY_CONFLICT_ROUNDS:
                raise
            found = yield from _read_holders(rows, plan)
            if not found:
                raise  # another unique index refused a row: not a key conflict
            held.update(found)
            rows = [row for row in rows if _pair_of_row(row) not in held]
        else:
            for job in answer:
                inserted[str(job.id)] = job
                if (pair := _pair_of_job(job)) is not None:
                    held[pair] = job
            skipped = [
                row
                for row in rows
                if (pair := _pair_of_row(row)) is not None
                and pair not in held
                and str(row["id"]) not in inserted
            ]
            rows = []
            if skipped:
                # ON CONFLICT (id) skipped them: read the rows at their derived ids.
                derived = [p for r in skipped if (p := plan.keys.get(str(r["id"]))) is not None]
                held.update((yield from _read_by_ids(derived)))
                # A derived id taken by a row that does not hold the key (edited, or deleted
                # since): send those under random ids; a holder elsewhere refuses them (23505)
                # and is then read by key.
                rows = [
                    {**row, "id": str(uuid.uuid4())}
                    for row in skipped
                    if _pair_of_row(row) not in held
                ]
        if not rows:
            break
    return _resolve(plan, inserted, held)


def _resolve(plan: BatchPlan, inserted: dict[str, Job], held: dict[Pair, Job]) -> list[Job]:
    """Jobs in input order: inserted ones by id, keyed ones by their key's holder."""
    if plan.single and not plan.keys:
        if len(inserted) != 1:
            raise BackendError("the database did not return the dispatched job")
        return list(inserted.values())
    out = []
    for row_id in plan.slots:
        pair = plan.keys.get(row_id)
        job = held.get(pair) if pair is not None else inserted.get(row_id)
        if job is None:
            raise BackendError(
                "the database did not return every dispatched job; dispatch again with the "
                "same idempotency keys"
            )
        out.append(job)
    return out
