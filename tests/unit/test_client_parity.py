"""The sync client is generated from the async one and cannot drift."""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from supabase_jobs._async._client import AsyncJobsClient
from supabase_jobs._errors import ValidationError
from supabase_jobs._sync._client import JobsClient

from ._helpers import (
    TENANT,
    Flavor,
    Recorder,
    async_supabase,
    claimed_row,
    echo_insert,
    job_row,
    sync_supabase,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "unasync.py"
# Names that differ on purpose, as in httpx: aclose/close, __aenter__/__enter__...
RENAMED = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}


def _public(cls: type) -> dict[str, Any]:
    # Walk the MRO: the clients are layered (base -> lifecycle -> client).
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):
        members.update(vars(klass))
    return {
        name: member
        for name, member in members.items()
        if not name.startswith("_") or name in RENAMED or name in RENAMED.values()
    }


def test_same_public_methods_with_the_same_signatures() -> None:
    async_members = _public(AsyncJobsClient)
    sync_members = _public(JobsClient)
    assert {RENAMED.get(name, name) for name in async_members} == set(sync_members)
    expected = {"dispatch", "dispatch_many", "get", "list", "delete", "claim", "heartbeat"}
    expected |= {"complete", "complete_many", "fail", "snooze", "cancel", "retry", "stats"}
    expected |= {"prune", "from_env", "close", "registry", "config", "closed"}
    assert expected <= set(sync_members)
    for name, member in async_members.items():
        twin = sync_members[RENAMED.get(name, name)]
        if isinstance(member, property):
            assert isinstance(twin, property)
            continue
        func = member.__func__ if isinstance(member, classmethod) else member
        twin_func = twin.__func__ if isinstance(twin, classmethod) else twin
        a, s = inspect.signature(func), inspect.signature(twin_func)
        assert [(p.name, p.kind, p.default) for p in a.parameters.values()] == [
            (p.name, p.kind, p.default) for p in s.parameters.values()
        ], name
        if not name.startswith("__") or name in RENAMED:
            assert inspect.iscoroutinefunction(func), name
            assert not inspect.iscoroutinefunction(twin_func), name


def test_generated_sync_client_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_fails_on_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unasync = _load_script()
    target = tmp_path / "_sync"
    shutil.copytree(unasync.TARGET_DIR, target)
    monkeypatch.setattr(unasync, "TARGET_DIR", target)
    monkeypatch.setattr(unasync, "ROOT", tmp_path)
    monkeypatch.setattr(unasync, "ruff_format", lambda text, filename: text)
    assert unasync.main(["--check"]) == 1  # unformatted output differs from the real file
    unasync.main([])
    assert unasync.main(["--check"]) == 0
    client = target / "_client.py"
    client.write_text(client.read_text() + "\n# hand edit\n")
    assert unasync.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().out


def test_unused_substitution_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    unasync = _load_script()
    rules = [*unasync.SUBSTITUTIONS, (r"\bnever_used_anywhere\b", "x")]
    monkeypatch.setattr(unasync, "SUBSTITUTIONS", rules)
    monkeypatch.setattr(unasync, "_COMPILED", [(unasync.re.compile(p), r) for p, r in rules])
    monkeypatch.setattr(unasync, "ruff_format", lambda text, filename: text)
    with pytest.raises(SystemExit, match="unused substitutions"):
        unasync.generate()


# ---- behaviour: one scripted scenario, both flavours, identical wire traffic and results ----


def _scripted_server() -> Recorder:
    """Canned answers for the scenario below, the same for both flavours."""
    recorder = Recorder()
    a = claimed_row(id="0f0e0d0c-0b0a-4909-8807-060504030201")
    b = claimed_row(id="1f0e0d0c-0b0a-4909-8807-060504030201")
    existing = job_row(id="2f0e0d0c-0b0a-4909-8807-060504030201", idempotency_key="k-old")

    def upsert_skipping_old(request: httpx.Request) -> httpx.Response:
        rows = [r for r in json.loads(request.content) if r.get("idempotency_key") != "k-old"]
        return httpx.Response(201, json=[job_row(**row) for row in reversed(rows)])

    recorder.queue(
        echo_insert,  # dispatch
        upsert_skipping_old,  # dispatch_many
        httpx.Response(200, json=[existing]),  # its duplicate read
        httpx.Response(200, json=[a, b]),  # claim
        httpx.Response(200, json=[b, a]),  # heartbeat (any order back)
        httpx.Response(200, json=[job_row(id=a["id"], status="completed")]),  # complete_many
        httpx.Response(400, json={"code": "SJ001", "message": "lease lost"}),  # fail
        httpx.ReadTimeout("timed out"),  # get
    )
    return recorder


async def _scenario(jobs: Flavor) -> list[Any]:
    """Run the scenario; return every result or error as plain data."""
    outcomes: list[Any] = []

    async def step(name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            result = await getattr(jobs, name)(*args, **kwargs)
        except Exception as exc:
            outcomes.append((name, type(exc).__name__, getattr(exc, "job_ids", None)))
            return None
        shown = (
            [r.model_dump(mode="json") for r in result]
            if isinstance(result, list)
            else (result.model_dump(mode="json"))
        )
        outcomes.append((name, shown))
        return result

    await step("dispatch", TENANT, "test_job", {"x": 1, "password": "hunter2"})
    await step(
        "dispatch_many",
        [
            {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k-old"},
            {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k-new"},
            {"tenant_id": TENANT, "type": "test_job"},
            {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k-new"},
        ],
    )
    claimed = await step("claim", "w1", limit=2)
    await step("heartbeat", claimed, lease_seconds=60)
    await step("complete_many", [claimed[0], (claimed[1], {"ok": True})])
    await step("fail", claimed[1], ValueError("boom token=abc"), retry_in=5)
    await step("get", claimed[0].id)
    with pytest.raises(ValidationError):  # and nothing sent
        await jobs.list(status=[])
    return outcomes


def _wire(recorder: Recorder) -> list[Any]:
    return [
        (
            r.method,
            r.url.path,
            sorted(r.url.params.multi_items()),
            r.headers.get("prefer"),
            r.content.decode(),
        )
        for r in recorder.requests
    ]


async def test_sync_and_async_behave_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    results = {}
    for flavour in ("sync", "async"):
        # Deterministic client-side ids so the two runs' bodies can be compared byte by byte.
        counter = iter(range(1, 1000))
        monkeypatch.setattr(
            "supabase_jobs._idempotency.uuid.uuid4", lambda c=counter: uuid.UUID(int=next(c))
        )
        recorder = _scripted_server()
        if flavour == "sync":
            jobs = Flavor(JobsClient(sync_supabase(recorder)), flavour)
        else:
            jobs = Flavor(AsyncJobsClient(await async_supabase(recorder)), flavour)
        outcomes = await _scenario(jobs)
        results[flavour] = (outcomes, _wire(recorder))
        assert not recorder.replies, "every canned answer was used"
        await jobs.close() if flavour == "sync" else await jobs.aclose()

    sync_outcomes, sync_wire = results["sync"]
    async_outcomes, async_wire = results["async"]
    assert sync_wire == async_wire
    assert sync_outcomes == async_outcomes
    # And the scenario did what it says, so equality is not vacuous.
    names = [o[0] for o in sync_outcomes]
    assert names == [
        "dispatch",
        "dispatch_many",
        "claim",
        "heartbeat",
        "complete_many",
        "fail",
        "get",
    ]
    many = sync_outcomes[1][1]
    assert many[0]["idempotency_key"] == "k-old" and many[1]["id"] == many[3]["id"]
    assert [job["id"] for job in sync_outcomes[3][1]] == [job["id"] for job in sync_outcomes[2][1]]
    assert sync_outcomes[4][0] == "complete_many" and sync_outcomes[4][1] == "LeaseLostError"
    assert sync_outcomes[5][1:] == ("LeaseLostError", (sync_outcomes[2][1][1]["id"],))
    assert sync_outcomes[6][1] == "TransportTimeoutError"
    assert "hunter2" not in sync_wire[0][4]
    assert len(sync_wire) == 8
