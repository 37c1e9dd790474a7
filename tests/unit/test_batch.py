"""_batch: client-side ids, in-batch duplicates, bounded duplicate reads, input order."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from supabase_jobs._batch import (
    MAX_LOOKUP_KEYS,
    MAX_LOOKUP_URL_CHARS,
    duplicate_lookups,
    missing_duplicates,
    plan_batch,
    resolve_batch,
    select_duplicates,
)
from supabase_jobs._core import prepare_dispatch_many
from supabase_jobs._errors import BackendError
from supabase_jobs._models import Job
from supabase_jobs._registry import JobTypeRegistry
from supabase_jobs._settings import JobsConfig

from ._helpers import OTHER_TENANT, TENANT, job_row


def _plan(*items: dict[str, Any]) -> Any:
    prepared = prepare_dispatch_many(JobsConfig(), JobTypeRegistry(), list(items))
    return plan_batch(prepared)


def _job(row: dict[str, Any], **extra: Any) -> Job:
    return Job.model_validate(job_row(**{k: v for k, v in row.items()}, **extra))


def test_same_key_twice_is_sent_once_and_maps_to_one_slot() -> None:
    plan = _plan(
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k"},
        {"tenant_id": TENANT, "type": "test_job"},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k"},
        {"tenant_id": OTHER_TENANT, "type": "test_job", "idempotency_key": "k"},
    )
    assert len(plan.rows) == 3
    assert plan.slots[0] == plan.slots[2] != plan.slots[1]
    assert plan.slots[3] not in (plan.slots[0], plan.slots[1])
    assert plan.upsert
    assert sorted(plan.keys.values()) == sorted([(TENANT, "k"), (OTHER_TENANT, "k")])
    assert [row["id"] for row in plan.rows] == list(dict.fromkeys(plan.slots))


def test_unkeyed_batches_are_plain_inserts() -> None:
    plan = _plan(
        {"tenant_id": TENANT, "type": "test_job"}, {"tenant_id": TENANT, "type": "test_job"}
    )
    assert not plan.upsert and plan.keys == {} and len(set(plan.slots)) == 2


def test_resolution_by_id_and_by_key_in_input_order() -> None:
    plan = _plan(
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "old"},
        {"tenant_id": TENANT, "type": "test_job"},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "old"},
    )
    unkeyed = plan.rows[1]
    inserted = [_job(unkeyed)]
    assert missing_duplicates(plan, inserted) == [(TENANT, "old")]
    existing = Job.model_validate(job_row(idempotency_key="old"))
    stranger = Job.model_validate(job_row(tenant_id=OTHER_TENANT, idempotency_key="old"))
    picked = select_duplicates([(TENANT, "old")], [stranger, existing])
    assert picked == [existing]
    out = resolve_batch(plan, inserted, picked)
    assert [j.id for j in out] == [existing.id, inserted[0].id, existing.id]


def test_a_row_missing_from_both_answers_is_an_error_not_a_short_list() -> None:
    plan = _plan(
        {"tenant_id": TENANT, "type": "test_job"}, {"tenant_id": TENANT, "type": "test_job"}
    )
    with pytest.raises(BackendError):
        resolve_batch(plan, [_job(plan.rows[0])], [])


@pytest.mark.parametrize("key_length", [1, 40, 255])
def test_duplicate_lookups_fit_the_url_budget_and_row_cap(key_length: int) -> None:
    pairs = [(TENANT, f"{i:05d}" + "é" * key_length) for i in range(3000)]
    pairs += [(OTHER_TENANT, "x")]
    lookups = duplicate_lookups(pairs)
    covered = {(lookup.tenant, key) for lookup in lookups for key in lookup.keys}
    assert covered == set(pairs)
    for lookup in lookups:
        assert len(lookup.keys) <= MAX_LOOKUP_KEYS
        encoded = sum(len(quote(k, safe="")) + 3 for k in lookup.keys)
        assert encoded <= MAX_LOOKUP_URL_CHARS or len(lookup.keys) == 1
    assert [lookup.tenant for lookup in lookups].count(OTHER_TENANT) == 1


def test_one_tenant_few_keys_is_one_lookup() -> None:
    lookups = duplicate_lookups([(TENANT, "b"), (TENANT, "a"), (TENANT, "a")])
    assert len(lookups) == 1
    assert lookups[0].tenant == TENANT and lookups[0].keys == ["a", "b"]
