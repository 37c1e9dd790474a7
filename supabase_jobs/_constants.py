"""Defaults, limits and names shared by the SDK, the SQL and the local stack.

The SQL CHECK constraints in ``sql/migrations`` repeat the limits below; a test keeps
them in step.
"""

from __future__ import annotations

from typing import Final

#: The six job types the existing TypeScript ``dispatchJob()`` allows.
DEFAULT_JOB_TYPES: Final = (
    "ai_generation",
    "video_ingestion",
    "document_indexing",
    "document_export",
    "tenant_cleanup",
    "test_job",
)

#: Name rules. Shown in error messages and repeated by the SQL CHECKs; checked only by the
#: ``is_*`` functions of ``_validate`` (whole-string matches: ``$`` alone would accept a
#: trailing newline).
TYPE_NAME_PATTERN: Final = r"^[a-z][a-z0-9_.:-]{0,126}$"
QUEUE_NAME_PATTERN: Final = r"^[a-z][a-z0-9_.:-]{0,62}$"
#: Schema and table names: plain, unquoted SQL identifiers.
IDENTIFIER_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"

DEFAULT_SCHEMA: Final = "public"
DEFAULT_TABLE: Final = "jobs"
DEFAULT_QUEUE: Final = "default"
DEFAULT_PRIORITY: Final = 0
#: Higher priority runs first; the range is enforced by SQL too.
MIN_PRIORITY: Final = -100
MAX_PRIORITY: Final = 100
DEFAULT_MAX_ATTEMPTS: Final = 5
MAX_MAX_ATTEMPTS: Final = 1000
DEFAULT_LEASE_SECONDS: Final = 300
MAX_LEASE_SECONDS: Final = 86_400
MAX_CLAIM_LIMIT: Final = 1000
#: ``list(limit=)``: PostgREST on Supabase caps an answer at 1000 rows (``db-max-rows``).
MAX_LIST_LIMIT: Final = 1000
#: ``list(offset=)``: PostgreSQL's largest ``bigint``; a larger OFFSET fails in the database.
MAX_LIST_OFFSET: Final = 2**63 - 1
#: ``fail(retry_in=)``: one year, in seconds.
MAX_RETRY_IN_SECONDS: Final = 31_536_000
#: ``prune(older_than=)``: 100 years, in seconds; ``sj_prune_v1`` refuses more.
MAX_PRUNE_AGE_SECONDS: Final = 3_153_600_000
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255
MAX_WORKER_ID_LENGTH: Final = 255
MAX_ERROR_MESSAGE_LENGTH: Final = 4000
MAX_BATCH_SIZE: Final = 10_000

DEFAULT_MAX_PAYLOAD_BYTES: Final = 256 * 1024
#: Hard ceiling for the configurable payload limit; also the SQL CHECK.
HARD_MAX_PAYLOAD_BYTES: Final = 1024 * 1024
DEFAULT_MAX_PAYLOAD_DEPTH: Final = 32
HARD_MAX_PAYLOAD_DEPTH: Final = 256

DEFAULT_HTTP_TIMEOUT_SECONDS: Final = 30.0

#: prune(): rows deleted per transaction (one RPC each), and the bounds of its arguments.
DEFAULT_PRUNE_BATCH: Final = 10_000
MAX_PRUNE_BATCH: Final = 100_000
MAX_PRUNE_BATCHES: Final = 1_000_000
#: set_queue_limits(): the largest cap on running jobs (per queue or per tenant).
MAX_QUEUE_CAP: Final = 1_000_000

#: wait(): a day at most (longer waits belong in a workflow, not in one blocked call); polls
#: no closer than 10 ms (below that polling only loads the gateway).
DEFAULT_WAIT_TIMEOUT: Final = 60.0
MAX_WAIT_TIMEOUT: Final = 86_400.0
DEFAULT_POLL_INTERVAL: Final = 0.25
DEFAULT_MAX_POLL_INTERVAL: Final = 5.0
MIN_POLL_INTERVAL: Final = 0.01

#: RPC names; versioned so old workers keep working during a deploy.
RPC_CLAIM: Final = "sj_claim_v1"
RPC_HEARTBEAT: Final = "sj_heartbeat_v1"
RPC_COMPLETE: Final = "sj_complete_v1"
RPC_COMPLETE_MANY: Final = "sj_complete_many_v1"
RPC_FAIL: Final = "sj_fail_v1"
RPC_FAIL_MANY: Final = "sj_fail_many_v1"
RPC_SNOOZE: Final = "sj_snooze_v1"
RPC_CANCEL: Final = "sj_cancel_v1"
RPC_RETRY: Final = "sj_retry_v1"
RPC_STATS: Final = "sj_stats_v1"
RPC_PRUNE: Final = "sj_prune_v1"
#: Reads keyed jobs by idempotency key in a POST body (never a URL: URLs get logged).
RPC_KEYED_JOBS: Final = "sj_keyed_jobs_v1"
RPC_PRUNE_BATCH: Final = "sj_prune_batch_v1"
RPC_QUEUE_STATS: Final = "sj_queue_stats_v1"
RPC_SET_QUEUE_LIMITS: Final = "sj_set_queue_limits_v1"
RPC_SET_QUEUE_FAIR: Final = "sj_set_queue_fair_v1"
#: Worker runtime (migration 0005): per-item answers, never all or nothing.
RPC_HEARTBEAT_MANY: Final = "sj_heartbeat_many_v1"
RPC_RELEASE_MANY: Final = "sj_release_many_v1"
#: 0011: seconds until the next scheduled job of some queues/types (idle workers).
RPC_NEXT_DUE: Final = "sj_next_due_v1"

#: SQLSTATEs raised by our SQL functions (PostgREST answers 400 with this ``code``).
SQLSTATE_LEASE_LOST: Final = "SJ001"
SQLSTATE_JOB_NOT_FOUND: Final = "SJ002"
SQLSTATE_INVALID_STATE: Final = "SJ003"

#: Columns a caller may never set through dispatch (mass-assignment guard).
PROTECTED_COLUMNS: Final = frozenset(
    {
        "id",
        "status",
        "attempts",
        "worker_id",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "lease_id",
        "locked_until",
        "heartbeat_at",
        "result",
        "last_error",
        "errors",
    }
)
