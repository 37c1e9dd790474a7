"""The local Supabase-compatible stack: throwaway PostgreSQL plus a PostgREST-like gateway.

Needs the ``local`` extra (``pip install 'supabase-jobs[local]'``) and PostgreSQL server
binaries (see :func:`supabase_jobs.local._postgres.find_bindir`).

Example:
    >>> from supabase_jobs.local import LocalStack  # doctest: +SKIP
    >>> with LocalStack() as stack:
    ...     print(stack.env()["SUPABASE_URL"])
"""

from __future__ import annotations

from supabase_jobs.local._gateway import Gateway, GatewayConfig
from supabase_jobs.local._stack import LocalStack

__all__ = ["Gateway", "GatewayConfig", "LocalStack"]
