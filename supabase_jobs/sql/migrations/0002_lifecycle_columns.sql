-- 0002 lifecycle columns, constraints and indexes.
-- Written to upgrade a table that already holds the existing app's rows: columns are added
-- with defaults, legacy rows are made valid before each CHECK is added, and constraints are
-- dropped-if-exists then added (Postgres has no "add constraint if not exists", and the app's
-- own status CHECK may carry the default name jobs_status_check).

alter table public.jobs
  add column if not exists queue text not null default 'default',
  add column if not exists priority integer not null default 0,
  add column if not exists run_at timestamptz not null default now(),
  add column if not exists max_attempts integer not null default 5,
  add column if not exists lease_id uuid,
  add column if not exists locked_until timestamptz,
  add column if not exists heartbeat_at timestamptz,
  add column if not exists idempotency_key text,
  add column if not exists result jsonb,
  add column if not exists last_error text,
  add column if not exists errors jsonb not null default '[]'::jsonb,
  add column if not exists started_at timestamptz,
  add column if not exists finished_at timestamptz,
  add column if not exists updated_at timestamptz not null default now();

-- "add column if not exists" keeps a column the old app already had, whatever its type: check
-- the types (a clear error, in this transaction, before anything else changes), then give kept
-- columns the defaults and NOT NULLs the functions rely on (NULLs filled first). On a table
-- these statements just created, all of this changes nothing.
do $$
declare
  v_problems text;
begin
  select pg_catalog.string_agg(pg_catalog.format('%s is %s (needs %s)', e.col,
           pg_catalog.format_type(a.atttypid, a.atttypmod), e.wanted), '; ' order by e.ord)
    into v_problems
    from (values (1, 'queue', 'text'), (2, 'priority', 'integer'),
                 (3, 'run_at', 'timestamp with time zone'), (4, 'max_attempts', 'integer'),
                 (5, 'lease_id', 'uuid'), (6, 'locked_until', 'timestamp with time zone'),
                 (7, 'heartbeat_at', 'timestamp with time zone'), (8, 'idempotency_key', 'text'),
                 (9, 'result', 'jsonb'), (10, 'last_error', 'text'), (11, 'errors', 'jsonb'),
                 (12, 'started_at', 'timestamp with time zone'),
                 (13, 'finished_at', 'timestamp with time zone'),
                 (14, 'updated_at', 'timestamp with time zone'))
         as e(ord, col, wanted)
    join pg_catalog.pg_attribute a
      on a.attrelid = 'public.jobs'::regclass and a.attname = e.col
     and a.attnum > 0 and not a.attisdropped
   where pg_catalog.format_type(a.atttypid, null) <> e.wanted;
  if v_problems is not null then
    raise exception using errcode = '42804',
      message = 'public.jobs is not compatible with supabase_jobs: ' || v_problems,
      hint = 'Convert or rename these columns and run the migrations again;'
             ' this migration changed nothing.';
  end if;
end
$$;

update public.jobs
   set status = coalesce(status, 'pending'),
       payload = coalesce(payload, '{}'::jsonb),
       attempts = coalesce(attempts, 0),
       created_at = coalesce(created_at, now()),
       queue = coalesce(queue, 'default'),
       priority = coalesce(priority, 0),
       run_at = coalesce(run_at, created_at, now()),
       max_attempts = coalesce(max_attempts, 5),
       errors = coalesce(errors, '[]'::jsonb),
       updated_at = coalesce(updated_at, created_at, now())
 where status is null or payload is null or attempts is null or created_at is null
    or queue is null or priority is null or run_at is null or max_attempts is null
    or errors is null or updated_at is null;
alter table public.jobs
  alter column status set default 'pending', alter column status set not null,
  alter column payload set default '{}'::jsonb, alter column payload set not null,
  alter column attempts set default 0, alter column attempts set not null,
  alter column created_at set default now(), alter column created_at set not null,
  alter column queue set default 'default', alter column queue set not null,
  alter column priority set default 0, alter column priority set not null,
  alter column run_at set default now(), alter column run_at set not null,
  alter column max_attempts set default 5, alter column max_attempts set not null,
  alter column errors set default '[]'::jsonb, alter column errors set not null,
  alter column updated_at set default now(), alter column updated_at set not null;

-- The old app's own CHECK on status may have another name than ours (jobs_status_check,
-- replaced below); left in place it would reject 'cancelled' at run time. Drop every CHECK
-- that tests the status column alone.
do $$
declare
  v_name name;
begin
  for v_name in
    select c.conname
      from pg_catalog.pg_constraint c
      join pg_catalog.pg_attribute a
        on a.attrelid = c.conrelid and a.attname = 'status' and not a.attisdropped
     where c.conrelid = 'public.jobs'::regclass and c.contype = 'c'
       and c.conkey = array[a.attnum]
       and c.conname <> 'jobs_status_check'
  loop
    execute pg_catalog.format('alter table public.jobs drop constraint %I', v_name);
  end loop;
end
$$;

-- Legacy rows: a job the old code left in 'processing' has no lease. Give it one that
-- expires after the default lease, so the claim path rescues it if its worker is gone.
update public.jobs
   set lease_id = gen_random_uuid(), locked_until = now() + interval '300 seconds'
 where status = 'processing' and (lease_id is null or locked_until is null);
-- Old rows may have counted more attempts than the new default allows.
update public.jobs set max_attempts = least(attempts, 1000) where attempts > max_attempts;
-- A legacy pending row whose attempts already reach max_attempts could never be claimed (nor
-- ever fail): give it one more try.
update public.jobs set max_attempts = attempts + 1
 where status = 'pending' and attempts >= max_attempts and attempts < 1000;

-- The limits repeat supabase_jobs/_constants.py (a test keeps them in step).
alter table public.jobs
  drop constraint if exists jobs_status_check,
  add constraint jobs_status_check
    check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  -- type ~ '^[a-z][a-z0-9_.:-]{0,126}$' and queue ~ '^[a-z][a-z0-9_.:-]{0,62}$', written as a
  -- length test plus an unbounded pattern: the same strings pass, but PostgreSQL's regex engine
  -- unrolls a {0,126} bound into a large automaton that cost ~4 us per row on EVERY update
  -- (a CHECK runs on each new row version), about a fifth of a claim's or complete's row cost.
  drop constraint if exists jobs_type_check,
  add constraint jobs_type_check
    check (char_length(type) <= 127 and type ~ '^[a-z][a-z0-9_.:-]*$'),
  drop constraint if exists jobs_queue_check,
  add constraint jobs_queue_check
    check (char_length(queue) <= 63 and queue ~ '^[a-z][a-z0-9_.:-]*$'),
  drop constraint if exists jobs_payload_check,
  add constraint jobs_payload_check
    check (jsonb_typeof(payload) = 'object' and octet_length(payload::text) <= 1048576),
  drop constraint if exists jobs_priority_check,
  add constraint jobs_priority_check check (priority between -100 and 100),
  drop constraint if exists jobs_max_attempts_check,
  add constraint jobs_max_attempts_check check (max_attempts between 1 and 1000),
  drop constraint if exists jobs_attempts_check,
  add constraint jobs_attempts_check check (attempts >= 0 and attempts <= max_attempts),
  -- Fencing relies on it: a processing row always names its lease and when it ends.
  drop constraint if exists jobs_lease_check,
  add constraint jobs_lease_check
    check (status <> 'processing' or (lease_id is not null and locked_until is not null)),
  drop constraint if exists jobs_worker_id_check,
  add constraint jobs_worker_id_check
    check (worker_id is null or char_length(worker_id) between 1 and 255),
  drop constraint if exists jobs_idempotency_key_check,
  add constraint jobs_idempotency_key_check
    check (idempotency_key is null or char_length(idempotency_key) between 1 and 255),
  drop constraint if exists jobs_errors_check,
  add constraint jobs_errors_check check (jsonb_typeof(errors) = 'array');

-- Idempotency: one job per (tenant_id, idempotency_key). Partial, so only keyed jobs have an
-- entry: claims and completions rewrite the row (not HOT: status is in the claim indexes'
-- predicates) and each rewrite adds an entry to every index the row is in; a full unique
-- index here made every job pay for it (17% of the server's time per job, measured). The SDK
-- does not need it to resolve a retried dispatch: a keyed job's id is derived from tenant and
-- key (supabase_jobs._core.idempotent_job_id), so a retry conflicts on the primary key
-- (ON CONFLICT (id) DO NOTHING, which PostgREST can infer). This index still refuses a second
-- job with the key from any other writer.
create unique index if not exists jobs_tenant_idempotency_key_idx
  on public.jobs (tenant_id, idempotency_key)
  where idempotency_key is not null;

-- The claim scan: walks pending rows in claim order (priority desc, run_at, id) and stops
-- after LIMIT, so its cost grows neither with finished rows nor with running ones. Running
-- rows stay out: they would sort first (oldest run_at) and every claim would read past all
-- in-flight jobs (5,000 running made a claim of 10 read ~5,000 buffers instead of ~180).
create index if not exists jobs_claim_idx
  on public.jobs (priority desc, run_at, id)
  where status = 'pending';
-- Running jobs by lease end: the claim finds expired leases to rescue here, with one descent
-- that stops at the first live lease. A narrow key, as every claim and heartbeat adds an entry.
create index if not exists jobs_lease_expiry_idx
  on public.jobs (locked_until)
  where status = 'processing';
-- Moving lease-expired, exhausted jobs to failed (inside the claim) finds them by lease end.
-- Only jobs running their last attempt qualify, so most claims never write to this index; kept
-- apart from jobs_lease_expiry_idx so that, after many leases expire at once, this scan does
-- not also read every rescuable one.
create index if not exists jobs_exhausted_lease_idx
  on public.jobs (locked_until)
  where status = 'processing' and attempts >= max_attempts;
-- Tenant listings (the SDK orders by created_at desc, id desc) and the RLS tenant filter.
create index if not exists jobs_tenant_created_idx
  on public.jobs (tenant_id, created_at desc, id desc);
-- No index on finished_at: every completion would pay for it, while prune() is occasional
-- maintenance that usually deletes a large share of the table anyway (a sequential scan).
