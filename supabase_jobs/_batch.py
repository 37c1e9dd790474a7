"""Sans-I/O batch dispatch: give rows client-side ids, then map the answer back to input order.

PostgREST returns the inserted rows of a bulk insert in no promised order, and with
``resolution=ignore-duplicates`` it silently omits rows that already exist. So every row
gets its ``id`` on the client (a keyed row the one derived from its tenant and key, see
:func:`._core.idempotent_job_id`, so a retry collides on the primary key); inserted rows
are matched by that id and skipped ones by their key, read back with as few GETs as fit a
safe URL length (:func:`duplicate_lookups`).

Within one batch, items sharing a ``(tenant_id, idempotency_key)`` are sent once and all
map to the same job, exactly as if they had been dispatched one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ._core import PreparedJob
from ._errors import BackendError
from ._models import Job

__all__ = [
    "IDEMPOTENCY_CONFLICT",
    "KEY_CONFLICT_ROUNDS",
    "MAX_LOOKUP_KEYS",
    "MAX_LOOKUP_URL_CHARS",
    "BatchPlan",
    "DuplicateLookup",
    "duplicate_lookups",
    "missing_duplicates",
    "plan_batch",
    "resolve_batch",
    "select_duplicates",
    "unheld_rows",
    "with_fresh_ids",
    "without_taken",
]

#: The conflict target of a keyed insert (``ON CONFLICT (id) DO NOTHING``): keyed rows carry
#: the id derived from their key, so the primary key resolves a retried dispatch.
IDEMPOTENCY_CONFLICT = "id"
#: Inserts a keyed batch may take when the idempotency index refuses it (a key held under
#: another id): each round reads the holders and resends the rest, so only a new race with
#: yet another concurrent dispatch of the same keys needs another round.
KEY_CONFLICT_ROUNDS = 3
#: Budget for the filter values of one duplicate read. Gateways and proxies refuse URLs
#: beyond 8-16 KB; retrying a large keyed batch makes every row a duplicate, and one GET
#: naming 10,000 keys would be refused, failing exactly the retry idempotency is for.
MAX_LOOKUP_URL_CHARS = 6000
#: Keys per duplicate read: below PostgREST's ``db-max-rows`` (1000 on Supabase), which
#: would silently truncate a larger answer.
MAX_LOOKUP_KEYS = 500


@dataclass(frozen=True)
class BatchPlan:
    """How a batch goes over the wire and how the answer maps back to input order.

    Attributes:
        rows: The bodies sent in ONE request (keyed duplicates inside the batch sent once).
        upsert: Whether any row has an idempotency key (``ON CONFLICT DO NOTHING``).
        slots: For each input item, the client-generated id of the row it maps to.
        keys: Client id -> ``(tenant_id, idempotency_key)`` for keyed rows.
    """

    rows: list[dict[str, Any]]
    upsert: bool
    slots: list[str]
    keys: dict[str, tuple[str, str]]


def plan_batch(prepared: Sequence[PreparedJob]) -> BatchPlan:
    """Give every row a client-side id so the response maps back to input order.

    Args:
        prepared: The validated jobs, in input order.

    Returns:
        The :class:`BatchPlan`; ``rows`` may be shorter than ``prepared`` when items
        share an idempotency key.
    """
    rows: list[dict[str, Any]] = []
    slots: list[str] = []
    keys: dict[str, tuple[str, str]] = {}
    seen: dict[tuple[str, str], str] = {}
    for job in prepared:
        pair = (job.tenant_id, job.idempotency_key) if job.idempotency_key is not None else None
        if pair is not None and pair in seen:
            slots.append(seen[pair])
            continue
        row_id = job.row.get("id") or str(uuid.uuid4())  # keyed rows carry a derived id
        rows.append({"id": row_id, **job.row})
        slots.append(row_id)
        if pair is not None:
            seen[pair] = row_id
            keys[row_id] = pair
    return BatchPlan(rows, bool(keys), slots, keys)


def _key_of(job: Job) -> tuple[str, str | None]:
    return (str(job.tenant_id), job.idempotency_key)


def _unresolved(plan: BatchPlan, inserted: Sequence[Job], known: Sequence[Job]) -> list[str]:
    """Ids of the keyed rows the insert skipped whose key no job in ``known`` holds."""
    returned = {str(job.id) for job in inserted}
    held = {_key_of(job) for job in known}
    return [
        row_id for row_id, pair in plan.keys.items() if row_id not in returned and pair not in held
    ]


def missing_duplicates(
    plan: BatchPlan, inserted: Sequence[Job], known: Sequence[Job] = ()
) -> list[tuple[str, str]]:
    """The ``(tenant_id, idempotency_key)`` pairs the insert skipped, less those in ``known``."""
    return [plan.keys[row_id] for row_id in _unresolved(plan, inserted, known)]


def without_taken(plan: BatchPlan, taken: Sequence[Job]) -> BatchPlan:
    """``plan`` less the rows whose key another writer's row already holds.

    For the insert the partial unique index on ``(tenant_id, idempotency_key)`` refused as
    a whole: a row holds one of the keys under another id, one another writer chose, or the
    derived one from a concurrent dispatch that committed while this insert waited (then
    ``ON CONFLICT (id)``, checked before the insert, did not see it). Those items resolve to
    the ``taken`` jobs; the rest are sent again.
    """
    held = {_key_of(job) for job in taken}
    rows = [row for row in plan.rows if plan.keys.get(row["id"]) not in held]
    return BatchPlan(rows, plan.upsert, plan.slots, plan.keys)


def unheld_rows(
    plan: BatchPlan, inserted: Sequence[Job], existing: Sequence[Job]
) -> list[dict[str, Any]]:
    """Keyed rows neither inserted nor found by their key: nobody holds these keys.

    The insert skipped them because their derived id is taken, by a row that no longer
    holds the key (its key or tenant was edited, or it was deleted after the insert looked).
    The keys are free; :func:`with_fresh_ids` lets them be stored.
    """
    unheld = set(_unresolved(plan, inserted, existing))
    return [row for row in plan.rows if row["id"] in unheld]


def with_fresh_ids(rows: Sequence[dict[str, Any]]) -> BatchPlan:
    """``rows`` under random ids, as one keyed insert (their derived ids are taken).

    The stored jobs hold their keys, so later dispatches of those keys find them by key.
    """
    return BatchPlan([{**row, "id": str(uuid.uuid4())} for row in rows], True, [], {})


@dataclass(frozen=True)
class DuplicateLookup:
    """One GET for existing jobs: ``tenant_id = tenant and idempotency_key in keys``."""

    tenant: str
    keys: list[str]


def _url_cost(value: str) -> int:
    # Percent-encoded length plus quoting/separator overhead inside ``in.(...)``.
    return len(quote(value, safe="")) + 3


def duplicate_lookups(
    pairs: Iterable[tuple[str, str]], budget: int = MAX_LOOKUP_URL_CHARS
) -> list[DuplicateLookup]:
    """Group the pairs to read back into as few GETs as fit ``budget`` URL characters.

    Each lookup covers one tenant's keys (a tenant x key cross product over several
    tenants would also match other tenants' rows that happen to share a key), so the
    common case, one tenant, is a single GET.

    Returns:
        The lookups, in a stable order (tenants and keys sorted).
    """
    by_tenant: dict[str, set[str]] = {}
    for tenant, key in pairs:
        by_tenant.setdefault(tenant, set()).add(key)
    lookups: list[DuplicateLookup] = []
    for tenant in sorted(by_tenant):
        chunk: list[str] = []
        used = 0
        for key in sorted(by_tenant[tenant]):
            cost = _url_cost(key)
            if chunk and (used + cost > budget or len(chunk) >= MAX_LOOKUP_KEYS):
                lookups.append(DuplicateLookup(tenant, chunk))
                chunk, used = [], 0
            chunk.append(key)
            used += cost
        lookups.append(DuplicateLookup(tenant, chunk))
    return lookups


def select_duplicates(pairs: Iterable[tuple[str, str]], found: Iterable[Job]) -> list[Job]:
    """The jobs in ``found`` whose ``(tenant_id, idempotency_key)`` is one of ``pairs``."""
    wanted = set(pairs)
    return [job for job in found if _key_of(job) in wanted]


def resolve_batch(plan: BatchPlan, inserted: Sequence[Job], existing: Sequence[Job]) -> list[Job]:
    """Jobs in input order: inserted ones by id, skipped duplicates by their key.

    Raises:
        BackendError: A row is neither in the insert's answer nor found by its key (the
            insert answer was incomplete).
    """
    by_id = {str(job.id): job for job in inserted}
    by_key = {_key_of(job): job for job in existing}
    out = []
    for row_id in plan.slots:
        job = by_id.get(row_id)
        if job is None and row_id in plan.keys:
            job = by_key.get(plan.keys[row_id])
        if job is None:
            raise BackendError(
                "the database did not return every dispatched job; dispatch again with the "
                "same idempotency keys"
            )
        out.append(job)
    return out
