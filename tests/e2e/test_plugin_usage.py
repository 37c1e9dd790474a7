"""The pytest plugin as a user would use it: fixtures only, nothing from this suite."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points

import pytest

pytestmark = pytest.mark.e2e
pytest_plugins = ["pytester"]

TENANT = "00000000-0000-4000-8000-0000000000e1"


def test_jobs_client_fixture_starts_on_an_empty_queue(jobs_client):
    assert jobs_client.list() == []
    jobs_client.dispatch(TENANT, "test_job", {"from": "a user test"})
    assert len(jobs_client.list(tenant_id=TENANT)) == 1


def test_each_test_is_isolated(jobs_client):
    assert jobs_client.stats().total == 0


async def test_async_jobs_client_fixture(async_jobs_client):
    job = await async_jobs_client.dispatch(TENANT, "test_job", {})
    assert (await async_jobs_client.get(job.id)).id == job.id


def test_mint_tenant_jwt_sees_only_that_tenant(jobs_client, supabase_jobs_stack, mint_tenant_jwt):
    import httpx

    mine = jobs_client.dispatch(TENANT, "test_job", {})
    jobs_client.dispatch("00000000-0000-4000-8000-0000000000e2", "test_job", {})
    headers = {
        "apikey": supabase_jobs_stack.anon_key,
        "Authorization": f"Bearer {mint_tenant_jwt(TENANT)}",
    }
    rows = httpx.get(supabase_jobs_stack.rest_url + "/jobs?select=id", headers=headers).json()
    assert rows == [{"id": str(mine.id)}]


def test_plugin_in_a_user_project(pytester: pytest.Pytester):
    """A user's own suite enables the plugin with ``-p`` and uses its fixtures."""
    pytester.makepyfile(
        test_user=textwrap.dedent(
            """
            TENANT = "00000000-0000-4000-8000-0000000000e3"

            def test_dispatch(jobs_client):
                job = jobs_client.dispatch(TENANT, "test_job", {"n": 1})
                assert jobs_client.get(job.id).status == "pending"

            def test_isolated(jobs_client, mint_tenant_jwt):
                assert jobs_client.list() == []
                assert mint_tenant_jwt(TENANT).count(".") == 2
            """
        )
    )
    # Installed packages register the plugin through the pytest11 entry point; a source
    # checkout enables it explicitly, as the module docstring of supabase_jobs.testing says.
    registered = any(ep.name == "supabase_jobs" for ep in entry_points(group="pytest11"))
    enable = [] if registered else ["-p", "supabase_jobs.testing"]
    result = pytester.runpytest_subprocess(*enable, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
