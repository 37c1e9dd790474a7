"""_idempotency: the dispatch flow driven without I/O; ids, reads, rounds, input order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from supabase_jobs._core import prepare_dispatch_many
from supabase_jobs._errors import BackendError, ConflictError
from supabase_jobs._idempotency import (
    KEY_CONFLICT_ROUNDS,
    MAX_IDS_PER_READ,
    MAX_KEYS_PER_READ,
    DispatchFlow,
    Insert,
    Operation,
    ReadByIds,
    ReadByKeys,
    dispatch_flow,
    idempotent_job_id,
    plan_batch,
)
from supabase_jobs._models import Job
from supabase_jobs._registry import JobTypeRegistry
from supabase_jobs._settings import JobsConfig

from ._helpers import OTHER_TENANT, TENANT, job_row


def _prepared(*items: dict[str, Any]) -> Any:
    return prepare_dispatch_many(JobsConfig(), JobTypeRegistry(), list(items))


def _item(key: str | None = None, tenant: str = TENANT) -> dict[str, Any]:
    item: dict[str, Any] = {"tenant_id": tenant, "type": "test_job"}
    if key is not None:
        item["idempotency_key"] = key
    return item


def _job(row: dict[str, Any]) -> Job:
    return Job.model_validate(job_row(**{"idempotency_key": None, **row}))


def _conflict() -> ConflictError:
    error = ConflictError("a row with the same unique values already exists")
    error.code = "23505"
    return error


def run(
    flow: DispatchFlow, answer: Callable[[Operation], list[Job]]
) -> tuple[list[Job], list[Operation]]:
    """Drive ``flow`` like the clients do; ``answer`` may raise ConflictError for inserts."""
    seen: list[Operation] = []
    try:
        operation = next(flow)
        while True:
            seen.append(operation)
            try:
                result = answer(operation)
            except ConflictError as exc:
                operation = flow.throw(exc)
            else:
                operation = flow.send(result)
    except StopIteration as done:
        return done.value, seen


def echo(operation: Operation) -> list[Job]:
    assert isinstance(operation, Insert)
    return [_job(row) for row in operation.rows]


def test_same_key_twice_is_sent_once_and_maps_to_one_slot() -> None:
    plan = plan_batch(_prepared(_item("k"), _item(), _item("k"), _item("k", OTHER_TENANT)))
    assert len(plan.rows) == 3
    assert plan.slots[0] == plan.slots[2] != plan.slots[1]
    assert plan.slots[3] not in (plan.slots[0], plan.slots[1])
    assert sorted(plan.keys.values()) == sorted([(TENANT, "k"), (OTHER_TENANT, "k")])
    assert plan.keys[plan.slots[0]] == (TENANT, "k")
    assert plan.slots[0] == idempotent_job_id(TENANT, "k")
    assert [row["id"] for row in plan.rows] == list(dict.fromkeys(plan.slots))


def test_a_lone_unkeyed_dispatch_sends_no_client_id() -> None:
    plan = plan_batch(_prepared(_item()), single=True)
    assert "id" not in plan.rows[0] and plan.keys == {}
    jobs, ops = run(dispatch_flow(_prepared(_item()), single=True), echo)
    assert len(ops) == 1 and isinstance(ops[0], Insert) and ops[0].single and not ops[0].keyed
    assert len(jobs) == 1


def test_happy_path_is_one_insert_in_id_order_and_input_order_back() -> None:
    prepared = _prepared(_item("b"), _item(), _item("a"), _item("b"))
    jobs, ops = run(dispatch_flow(prepared), lambda op: list(reversed(echo(op))))
    (insert,) = ops
    assert isinstance(insert, Insert) and insert.keyed and not insert.single
    assert [r["id"] for r in insert.rows] == sorted(r["id"] for r in insert.rows)
    assert [j.idempotency_key for j in jobs] == ["b", None, "a", "b"]
    assert jobs[0] is jobs[3]


def test_skipped_rows_are_read_by_derived_id_never_by_key() -> None:
    keys = [f"key-{i}" for i in range(MAX_IDS_PER_READ + 5)]
    prepared = _prepared(*[_item(k) for k in keys], _item("other", OTHER_TENANT))
    existing = {idempotent_job_id(TENANT, k): k for k in keys}

    def answer(operation: Operation) -> list[Job]:
        if isinstance(operation, Insert):  # everything is a duplicate: nothing inserted
            return []
        assert isinstance(operation, ReadByIds)
        return [
            _job({"id": i, "tenant_id": operation.tenant, "idempotency_key": existing[i]})
            for i in operation.ids
            if i in existing and operation.tenant == TENANT
        ] + [
            _job({"id": i, "tenant_id": OTHER_TENANT, "idempotency_key": "other"})
            for i in operation.ids
            if i == idempotent_job_id(OTHER_TENANT, "other")
        ]

    jobs, ops = run(dispatch_flow(prepared), answer)
    reads = [op for op in ops if isinstance(op, ReadByIds)]
    assert len(reads) == 3  # two for TENANT (bounded URL), one for OTHER_TENANT
    assert all(len(read.ids) <= MAX_IDS_PER_READ for read in reads)
    for read in reads:
        assert all(str(uuid.UUID(i)) == i for i in read.ids)  # ids only, no key
    assert not any(isinstance(op, ReadByKeys) for op in ops)
    assert [j.idempotency_key for j in jobs] == [*keys, "other"]


def test_a_refusal_reads_holders_by_id_then_resends_the_rest() -> None:
    holder = _job({"id": idempotent_job_id(TENANT, "k1"), "idempotency_key": "k1"})
    calls = iter([_conflict(), [holder], "echo"])

    def answer(operation: Operation) -> list[Job]:
        reply = next(calls)
        if isinstance(reply, ConflictError):
            raise reply
        return echo(operation) if reply == "echo" else reply  # type: ignore[return-value]

    jobs, ops = run(dispatch_flow(_prepared(_item("k1"), _item("k2"), _item())), answer)
    assert [type(op) for op in ops] == [Insert, ReadByIds, Insert]
    resent = ops[2]
    assert isinstance(resent, Insert)
    assert {row.get("idempotency_key") for row in resent.rows} == {"k2", None}
    assert jobs[0] is holder


def test_a_holder_under_a_foreign_id_is_read_by_key_in_a_body() -> None:
    foreign = _job({"idempotency_key": "k1"})
    replies: list[Any] = [_conflict(), [], [foreign]]

    def answer(operation: Operation) -> list[Job]:
        reply = replies.pop(0) if replies else echo(operation)
        if isinstance(reply, ConflictError):
            raise reply
        return reply

    jobs, ops = run(dispatch_flow(_prepared(_item("k1"), _item("k2"))), answer)
    assert [type(op) for op in ops] == [Insert, ReadByIds, ReadByKeys, Insert]
    by_key = ops[2]
    assert isinstance(by_key, ReadByKeys) and sorted(by_key.keys) == ["k1", "k2"]
    assert jobs[0] is foreign and jobs[1].idempotency_key == "k2"


def test_keys_read_in_bounded_chunks() -> None:
    keys = [f"k{i}" for i in range(MAX_KEYS_PER_READ * 2 + 1)]
    replies: list[Any] = [_conflict()]

    def answer(operation: Operation) -> list[Job]:
        if replies:
            raise replies.pop()
        if isinstance(operation, ReadByKeys):
            return [_job({"idempotency_key": k}) for k in operation.keys]
        return []

    jobs, ops = run(dispatch_flow(_prepared(*[_item(k) for k in keys])), answer)
    chunks = [op for op in ops if isinstance(op, ReadByKeys)]
    assert [len(c.keys) for c in chunks] == [MAX_KEYS_PER_READ, MAX_KEYS_PER_READ, 1]
    assert [j.idempotency_key for j in jobs] == keys


def test_a_refusal_nobody_explains_is_raised() -> None:
    def answer(operation: Operation) -> list[Job]:
        if isinstance(operation, Insert):
            raise _conflict()
        return []

    with pytest.raises(ConflictError):
        run(dispatch_flow(_prepared(_item("k"))), answer)


def test_unkeyed_conflicts_are_never_ridden_out() -> None:
    def answer(operation: Operation) -> list[Job]:
        raise _conflict()

    with pytest.raises(ConflictError):
        run(dispatch_flow(_prepared(_item(), _item())), answer)


def test_a_race_on_every_round_gives_up_after_the_last_round() -> None:
    items = [_item(f"k{i}") for i in range(KEY_CONFLICT_ROUNDS + 1)]
    held = iter(range(KEY_CONFLICT_ROUNDS + 1))

    def answer(operation: Operation) -> list[Job]:
        if isinstance(operation, Insert):
            raise _conflict()
        i = next(held)
        return [_job({"id": idempotent_job_id(TENANT, f"k{i}"), "idempotency_key": f"k{i}"})]

    with pytest.raises(ConflictError):
        run(dispatch_flow(_prepared(*items)), answer)
    assert next(held) == KEY_CONFLICT_ROUNDS - 1  # one read per refused round but the last


def test_a_derived_id_taken_by_a_non_holder_is_resent_under_a_random_id() -> None:
    taken = idempotent_job_id(TENANT, "k")

    def answer(operation: Operation) -> list[Job]:
        if isinstance(operation, ReadByIds):
            return [_job({"id": taken, "idempotency_key": "edited"})]
        assert isinstance(operation, Insert)
        if operation.rows[0]["id"] == taken:
            return []  # ON CONFLICT (id) DO NOTHING
        return echo(operation)

    jobs, ops = run(dispatch_flow(_prepared(_item("k")), single=True), answer)
    assert [type(op) for op in ops] == [Insert, ReadByIds, Insert]
    assert str(jobs[0].id) != taken and jobs[0].idempotency_key == "k"


def test_a_row_missing_from_every_answer_is_an_error_not_a_short_list() -> None:
    with pytest.raises(BackendError):
        run(dispatch_flow(_prepared(_item(), _item())), lambda op: echo(op)[:1])
    with pytest.raises(BackendError):
        run(dispatch_flow(_prepared(_item()), single=True), lambda op: [])
