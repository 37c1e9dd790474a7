"""Client construction: from_env, and refusing anything that is not service_role."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest
import respx

from supabase_jobs._async._client import AsyncJobsClient
from supabase_jobs._errors import ConfigurationError, ConflictError, NotServiceRoleError
from supabase_jobs._sync._client import JobsClient

from ._helpers import (
    ANON_KEY,
    SERVICE_KEY,
    TENANT,
    URL,
    Flavor,
    Recorder,
    async_supabase,
    job_row,
    mint_jwt,
    sync_supabase,
)

USER_TOKEN = mint_jwt("authenticated", sub="8d6f0e6c-1b0a-4f43-9d2e-2f7b9f0c1a11")


def _env(monkeypatch: pytest.MonkeyPatch, key: str = SERVICE_KEY) -> None:
    monkeypatch.setenv("SUPABASE_URL", URL)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", key)
    monkeypatch.setenv("SUPABASE_JOBS_HTTP_TIMEOUT", "7")


def test_sync_from_env_sends_with_its_own_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch)
    with respx.mock(assert_all_called=True) as router:
        route = router.post(f"{URL}/rest/v1/jobs").respond(201, json=[job_row()])
        with JobsClient.from_env() as jobs:
            assert jobs._owned_http is not None
            assert jobs._owned_http.timeout == httpx.Timeout(7)
            jobs.dispatch(TENANT, "test_job", {"a": 1})
            http = jobs._owned_http
        assert http.is_closed
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert request.headers["apikey"] == SERVICE_KEY


async def test_async_from_env_sends_with_its_own_http_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _env(monkeypatch)
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{URL}/rest/v1/jobs").respond(201, json=[job_row()])
        async with await AsyncJobsClient.from_env() as jobs:
            assert isinstance(jobs._owned_http, httpx.AsyncClient)
            job = await jobs.dispatch(TENANT, "test_job", {"a": 1})
            http = jobs._owned_http
        assert http.is_closed
    assert str(job.tenant_id) == TENANT


def test_from_env_without_configuration_names_the_variables() -> None:
    with pytest.raises(ConfigurationError, match="SUPABASE_URL is not set"):
        JobsClient.from_env()


async def test_from_env_refuses_the_anon_key(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, ANON_KEY)
    with pytest.raises(ConfigurationError, match="SUPABASE_SERVICE_ROLE_KEY") as info:
        await AsyncJobsClient.from_env()
    assert ANON_KEY[6:] not in str(info.value)


@pytest.mark.parametrize(
    "key", [ANON_KEY, "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH", mint_jwt("authenticated")]
)
async def test_wrapping_a_non_service_client_is_refused(recorder: Recorder, key: str) -> None:
    with pytest.raises(NotServiceRoleError) as info:
        JobsClient(sync_supabase(recorder, key=key))
    assert key[6:] not in str(info.value)
    with pytest.raises(NotServiceRoleError):
        AsyncJobsClient(await async_supabase(recorder, key=key))
    assert recorder.requests == []


async def test_secret_key_is_accepted(recorder: Recorder) -> None:
    jobs = JobsClient(sync_supabase(recorder, key="sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"))
    jobs.dispatch(TENANT, "test_job")
    assert (
        recorder.last.headers["authorization"] == "Bearer sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"
    )


async def test_a_user_authorization_header_is_refused(recorder: Recorder) -> None:
    headers = {"Authorization": f"Bearer {USER_TOKEN}"}
    with pytest.raises(NotServiceRoleError, match="signed-in user"):
        JobsClient(sync_supabase(recorder, headers=headers))
    with pytest.raises(NotServiceRoleError, match="signed-in user"):
        AsyncJobsClient(await async_supabase(recorder, headers=headers))
    assert recorder.requests == []


async def test_a_sign_in_after_wrapping_is_caught_before_sending(
    jobs: Flavor, recorder: Recorder
) -> None:
    # What supabase-py does on SIGNED_IN: the postgrest client is rebuilt with the
    # user's token in Authorization.
    jobs.client._client.postgrest.auth(USER_TOKEN)
    with pytest.raises(NotServiceRoleError):
        await jobs.dispatch(TENANT, "test_job")
    assert recorder.requests == []


async def test_wrong_client_flavour_is_a_configuration_error(recorder: Recorder) -> None:
    with pytest.raises(ConfigurationError, match="AsyncClient"):
        AsyncJobsClient(sync_supabase(recorder))
    with pytest.raises(ConfigurationError, match="create_client"):
        JobsClient(await async_supabase(recorder))


async def test_key_never_reaches_logs_or_reprs(
    jobs: Flavor, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.queue(
        httpx.Response(
            409,
            json={
                "code": "23505",
                "message": "duplicate key value violates unique constraint",
                "details": "Key (tenant_id, idempotency_key)=(t, idem-secret-77) already exists.",
            },
        )
    )
    with pytest.raises(ConflictError) as info:
        await jobs.dispatch(TENANT, "test_job")
    await jobs.dispatch(TENANT, "test_job")
    chain = "".join(traceback.format_exception_only(info.value.__cause__))
    assert "idem-secret-77" not in chain
    texts = [caplog.text, repr(jobs.client), str(info.value), repr(info.value), chain]
    texts += [repr(r.__dict__) for r in caplog.records]
    for text in texts:
        assert SERVICE_KEY[6:] not in text
