"""Fixtures for the SDK's unit tests (helpers live in ``_helpers.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from supabase_jobs._async._client import AsyncJobsClient
from supabase_jobs._sync._client import JobsClient

from ._helpers import Flavor, Recorder, async_supabase, sync_supabase


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(params=["sync", "async"])
async def jobs(request: pytest.FixtureRequest, recorder: Recorder) -> AsyncIterator[Flavor]:
    """The same tests run against ``JobsClient`` and ``AsyncJobsClient``."""
    if request.param == "sync":
        sb = sync_supabase(recorder)
        yield Flavor(JobsClient(sb), "sync")
        sb.options.httpx_client.close()
    else:
        asb = await async_supabase(recorder)
        yield Flavor(AsyncJobsClient(asb), "async")
        await asb.options.httpx_client.aclose()
