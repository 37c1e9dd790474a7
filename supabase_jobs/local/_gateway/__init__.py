"""A PostgREST v14-compatible gateway for the subset of requests supabase-py sends.

Modules: ``_query`` (query-string grammar), ``_prefer`` (Prefer header), ``_request``
(Accept, Range and the size-limited body), ``_limits`` (every bound a client could push),
``_auth`` (JWT and API keys), ``_schema`` (schema cache and privileges), ``_listener``
(``NOTIFY pgrst`` reloads), ``_sql``/``_plan``/``_rpc`` (SQL building), ``_tx`` (the
per-request transaction), ``_errors`` (PostgREST's error JSON and status map), ``_app`` (the
ASGI app) and ``_server`` (uvicorn in a background thread).
"""

from __future__ import annotations

from supabase_jobs.local._gateway._app import GatewayApp, GatewayConfig
from supabase_jobs.local._gateway._server import Gateway

__all__ = ["Gateway", "GatewayApp", "GatewayConfig"]
