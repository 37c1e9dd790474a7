"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

from typing import Any

import httpx
from postgrest.types import CountMethod
from supabase import Client, ClientOptions, create_client

from supabase_jobs.local import LocalStack

#: ``count="exact"`` typed the way supabase-py's annotations want it.
EXACT: Any = CountMethod.exact


def key_headers(key: str) -> dict[str, str]:
    """The two headers supabase-py sends for ``key``."""
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def user_client(stack: LocalStack, http_client: httpx.Client, token: str) -> Client:
    """supabase-py acting as a signed-in user (anon key + the user's Bearer)."""
    options = ClientOptions(
        httpx_client=http_client,
        headers={"Authorization": f"Bearer {token}"},
        postgrest_client_retry=False,
    )
    return create_client(stack.url, stack.anon_key, options)


def data(response: Any) -> Any:
    """``APIResponse.data`` as ``Any`` (supabase-py types it as a JSON union)."""
    return response.data
