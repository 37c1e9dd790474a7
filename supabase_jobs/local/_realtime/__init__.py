"""Supabase Realtime for the local stack: ``/realtime/v1/websocket`` on the gateway.

Enough of Realtime for realtime-py to join private broadcast channels and receive what the
database sends with ``realtime.send(...)``: Phoenix V1 framing, heartbeats, joins authorized
like Supabase (service_role always; anon and authenticated through RLS policies on
``realtime.messages``), token refresh and expiry, ``phx_leave``/``phx_close``, and client
broadcasts. Not served: presence, postgres_changes, broadcast replay, V2 binary frames.
"""

from __future__ import annotations

from supabase_jobs.local._realtime._endpoint import RealtimeConfig, RealtimeEndpoint
from supabase_jobs.local._realtime._session import Limits

__all__ = ["Limits", "RealtimeConfig", "RealtimeEndpoint"]
