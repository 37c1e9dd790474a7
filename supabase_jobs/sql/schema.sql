-- supabase_jobs schema snapshot: what applying migrations/0001..0004 in order produces.
-- For reading and for a fresh database (psql -f schema.sql); existing databases must use the
-- migrations. tests/integration/test_migrations.py checks that both give identical catalogs,
-- so any change here must come with a new migration and vice versa.
-- Needs Supabase's roles (anon, authenticated, service_role) and auth.jwt().

create table if not exists public.jobs (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  type text not null,
  status text not null default 'pending',
  payload jsonb not null default '{}'::jsonb,
  attempts integer not null default 0,
  worker_id text,
  created_at timestamptz not null default now(),
  queue text not null default 'default',
  priority integer not null default 0,
  run_at timestamptz not null default now(),
  max_attempts integer not null default 5,
  lease_id uuid,
  locked_until timestamptz,
  heartbeat_at timestamptz,
  idempotency_key text,
  result jsonb,
  last_error text,
  errors jsonb not null default '[]'::jsonb,
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint jobs_status_check
    check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  -- Same strings as ~ '^[a-z][a-z0-9_.:-]{0,126}$' / '{0,62}$', without the slow bounded regex.
  constraint jobs_type_check check (char_length(type) <= 127 and type ~ '^[a-z][a-z0-9_.:-]*$'),
  constraint jobs_queue_check check (char_length(queue) <= 63 and queue ~ '^[a-z][a-z0-9_.:-]*$'),
  constraint jobs_payload_check
    check (jsonb_typeof(payload) = 'object' and octet_length(payload::text) <= 1048576),
  constraint jobs_priority_check check (priority between -100 and 100),
  constraint jobs_max_attempts_check check (max_attempts between 1 and 1000),
  constraint jobs_attempts_check check (attempts >= 0 and attempts <= max_attempts),
  constraint jobs_lease_check
    check (status <> 'processing' or (lease_id is not null and locked_until is not null)),
  constraint jobs_worker_id_check
    check (worker_id is null or char_length(worker_id) between 1 and 255),
  constraint jobs_idempotency_key_check
    check (idempotency_key is null or char_length(idempotency_key) between 1 and 255),
  constraint jobs_errors_check check (jsonb_typeof(errors) = 'array')
);

-- One job per (tenant_id, idempotency_key); only keyed jobs have an entry. The SDK resolves
-- retries on the primary key (a keyed job's id is derived from tenant and key).
create unique index if not exists jobs_tenant_idempotency_key_idx
  on public.jobs (tenant_id, idempotency_key)
  where idempotency_key is not null;

create index if not exists jobs_claim_idx
  on public.jobs (priority desc, run_at, id)
  where status = 'pending';
create index if not exists jobs_lease_expiry_idx
  on public.jobs (locked_until)
  where status = 'processing';
create index if not exists jobs_exhausted_lease_idx
  on public.jobs (locked_until)
  where status = 'processing' and attempts >= max_attempts;
create index if not exists jobs_tenant_created_idx
  on public.jobs (tenant_id, created_at desc, id desc);

-- claim: lock up to p_limit eligible jobs and lease them, in one statement.
-- Every eligibility rule sits inside a FOR UPDATE SKIP LOCKED scan, so a row another claimer
-- has just taken (and committed) fails the re-check and is skipped, never leased twice.
-- Two locked scans, each on a partial index that holds only its own kind of row:
-- - pending rows, in claim order, on jobs_claim_idx: it stops after p_limit lockable rows and
--   never reads past running jobs (they are not in that index, however many there are);
-- - expired leases on jobs_lease_expiry_idx by lease end: with none expired this is one index
--   descent that finds nothing, whatever the number of running jobs. Each expired lease is
--   read (and sorted) by every claim until it is rescued: cheap while few expire, a cost
--   (~3 ms per claim with 5,000 expired) the claims after a mass worker loss pay for a while.
-- Exhausted expired leases are failed first, found on their own index (jobs_exhausted_lease_idx).
-- Rescued and pending jobs compete in the contract's order (priority desc, run_at, id): each
-- scan locks up to p_limit rows and the best p_limit of both are leased. Deviation: when
-- expired leases exist, the rows of that union that lose (at most p_limit of them) stay
-- locked, unleased, until this statement's transaction ends, so a concurrent claim skips
-- them for that moment; with nothing expired, exactly the leased rows are locked.
create or replace function public.sj_claim_v1(
  p_worker_id text,
  p_limit integer default 10,
  p_lease_seconds integer default 300,
  p_types text[] default null,
  p_queues text[] default null
) returns setof public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
-- The plan does not depend on the argument values (ordered index scans that stop after
-- p_limit rows); re-planning this statement on every call cost ~0.4 ms per claim.
set plan_cache_mode = force_generic_plan
as $$
begin
  if p_worker_id is null or char_length(p_worker_id) not between 1 and 255 then
    raise exception using errcode = '22023', message = 'p_worker_id must have 1 to 255 characters';
  end if;
  if p_limit is null or p_limit not between 1 and 1000 then
    raise exception using errcode = '22023', message = 'p_limit must be between 1 and 1000';
  end if;
  if p_lease_seconds is null or p_lease_seconds not between 1 and 86400 then
    raise exception using errcode = '22023', message = 'p_lease_seconds must be between 1 and 86400';
  end if;
  return query
  with exhausted as materialized (
    -- Leases that ran out on the last allowed attempt: the job can never run again. Failing
    -- it here keeps it from taking a slot in this or any later claim. Bounded per call.
    select j.id
      from public.jobs j
     where j.status = 'processing'
       and j.locked_until < now()
       and j.attempts >= j.max_attempts
       and (p_types is null or j.type = any(p_types))
       and (p_queues is null or j.queue = any(p_queues))
     order by j.locked_until
     limit 1000
       for update skip locked
  ),
  expired as (
    update public.jobs j
       set status = 'failed',
           finished_at = now(),
           -- The lease is revoked: its holder's late fail must not look like a repeat of
           -- its own terminal fail (see fail_many), and its complete must raise SJ001.
           lease_id = null,
           locked_until = null,
           last_error = 'lease expired',
           errors = j.errors || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
             'attempt', j.attempts, 'at', now(), 'worker_id', j.worker_id,
             'error', pg_catalog.jsonb_build_object('type', 'LeaseExpired', 'message', 'lease expired'))),
           updated_at = now()
      from exhausted x
     where j.id = x.id
  ),
  due as materialized (
    -- status = 'pending' is jobs_claim_idx's predicate: an ordered index scan.
    select j.id, j.priority, j.run_at
      from public.jobs j
     where j.status = 'pending'
       and j.run_at <= now()
       and j.attempts < j.max_attempts
       and (p_types is null or j.type = any(p_types))
       and (p_queues is null or j.queue = any(p_queues))
     order by j.priority desc, j.run_at, j.id
     limit p_limit
       for update skip locked
  ),
  rescued as materialized (
    -- Expired leases with attempts left, found by lease end on jobs_lease_expiry_idx and
    -- sorted into claim order before they are locked (the sort sees only expired rows).
    select j.id, j.priority, j.run_at
      from public.jobs j
     where j.status = 'processing'
       and j.locked_until < now()
       and j.attempts < j.max_attempts
       and (p_types is null or j.type = any(p_types))
       and (p_queues is null or j.queue = any(p_queues))
     order by j.priority desc, j.run_at, j.id
     limit p_limit
       for update skip locked
  ),
  picked as materialized (
    select c.id
      from (select * from due union all select * from rescued) c
     order by c.priority desc, c.run_at, c.id
     limit p_limit
  ),
  claimed as (
    update public.jobs j
       set status = 'processing',
           worker_id = p_worker_id,
           lease_id = pg_catalog.gen_random_uuid(),
           locked_until = now() + pg_catalog.make_interval(secs => p_lease_seconds),
           heartbeat_at = now(),
           started_at = now(),
           attempts = j.attempts + 1,
           -- A rescued job (its previous lease expired) records the lost attempt.
           last_error = case when j.status = 'processing' then 'lease expired' else j.last_error end,
           errors = case when j.status = 'processing'
                         then j.errors || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                           'attempt', j.attempts, 'at', now(), 'worker_id', j.worker_id,
                           'error', pg_catalog.jsonb_build_object(
                             'type', 'LeaseExpired', 'message', 'lease expired')))
                         else j.errors end,
           updated_at = now()
      from picked p
     where j.id = p.id
       -- Primary-key lookups: joined on id alone the planner hashes a scan of the whole table.
       and j.id = any(array(select p2.id from picked p2))
    returning j.*
  )
  select c.* from claimed c order by c.priority desc, c.run_at, c.id;
end;
$$;

-- heartbeat: extend every lease in the batch, or none. A worker that lost any lease must
-- learn which, so the error DETAIL lists the lost ids; the raise rolls back the others too.
create or replace function public.sj_heartbeat_v1(
  p_job_ids uuid[],
  p_lease_ids uuid[],
  p_lease_seconds integer default 300
) returns setof public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_wanted bigint;
  v_done bigint;
  v_lost text;
begin
  if p_job_ids is null or p_lease_ids is null
     or cardinality(p_job_ids) <> cardinality(p_lease_ids) then
    raise exception using errcode = '22023',
      message = 'p_job_ids and p_lease_ids must be arrays of the same length';
  end if;
  if cardinality(p_job_ids) > 10000 then
    raise exception using errcode = '22023', message = 'at most 10000 jobs per heartbeat';
  end if;
  if p_lease_seconds is null or p_lease_seconds not between 1 and 86400 then
    raise exception using errcode = '22023', message = 'p_lease_seconds must be between 1 and 86400';
  end if;
  select count(*) into v_wanted
    from (select distinct r.id, r.lease_id
            from unnest(p_job_ids, p_lease_ids) as r(id, lease_id)) d;
  return query
  with req as (
    select distinct r.id, r.lease_id
      from unnest(p_job_ids, p_lease_ids) as r(id, lease_id)
  ),
  beat as (
    update public.jobs j
       set locked_until = now() + pg_catalog.make_interval(secs => p_lease_seconds),
           heartbeat_at = now(),
           updated_at = now()
      from req
     where j.id = req.id and j.lease_id = req.lease_id and j.status = 'processing'
       and j.id = any(p_job_ids)  -- primary-key lookup whatever the status statistics say
    returning j.*
  )
  select b.* from beat b;
  get diagnostics v_done = row_count;
  if v_done < v_wanted then
    select coalesce(pg_catalog.jsonb_agg(r.id::text order by r.ord), '[]'::jsonb)::text
      into v_lost
      from unnest(p_job_ids, p_lease_ids) with ordinality as r(id, lease_id, ord)
     where not exists (
       select 1 from public.jobs j
        where j.id = r.id and j.lease_id = r.lease_id and j.status = 'processing');
    raise exception using errcode = 'SJ001', message = 'lease lost', detail = v_lost;
  end if;
end;
$$;

-- complete_many: complete every item whose lease is held; return those rows plus the rows
-- this same lease already completed (a retried request is success). Lost items are omitted;
-- the SDK compares ids and raises LeaseLostError for the missing ones.
-- One fenced UPDATE: rows are found by primary key and the fence (lease_id, status) is
-- re-checked on the latest row version after any lock wait, so a concurrent request with the
-- same lease is waited for and then fails the fence here. Only when some item was not
-- completed (rare: retries and lost leases) does a second statement, with a fresh snapshot,
-- look for rows this lease completed before, including a request that committed meanwhile.
-- The rows the UPDATE returned are told apart by id, collected as they stream out (free, as
-- measured). Not by xmin = current transaction: that misses a completion made earlier in the
-- same transaction (a false "lease lost") and, inside a savepoint, lists rows twice.
-- (Locking all rows first in a separate pass cost an extra row lock per job.)
create or replace function public.sj_complete_many_v1(p_items jsonb)
returns setof public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_row public.jobs;
  v_done uuid[] := '{}';
begin
  if p_items is null or pg_catalog.jsonb_typeof(p_items) <> 'array' then
    raise exception using errcode = '22023', message = 'p_items must be a JSON array';
  end if;
  if pg_catalog.jsonb_array_length(p_items) > 10000 then
    raise exception using errcode = '22023', message = 'at most 10000 items per call';
  end if;
  for v_row in
    with items as (
      -- No DISTINCT: an id listed twice updates its row once, and if the copies name
      -- different leases the held one wins, whatever the order.
      select i.id, i.lease_id, i.result
        from pg_catalog.jsonb_to_recordset(p_items) as i(id uuid, lease_id uuid, result jsonb)
    )
    update public.jobs j
       set status = 'completed',
           result = i.result,
           finished_at = now(),
           locked_until = null,
           updated_at = now()
      from items i
     where j.id = i.id and j.lease_id = i.lease_id and j.status = 'processing'
       -- Found by primary key whatever the statistics say about status: a status filter
       -- alone could let stale statistics ("no row is processing") turn this into a
       -- sequential scan.
       and j.id = any(array(select x.id from items x))
    returning j.*
  loop
    v_done := v_done || v_row.id;
    return next v_row;
  end loop;
  -- Every item done (the common case) needs no distinct count of the ids.
  if cardinality(v_done) < pg_catalog.jsonb_array_length(p_items)
     and cardinality(v_done) < (select count(distinct i.id)
                                  from pg_catalog.jsonb_to_recordset(p_items) as i(id uuid)) then
    return query
    select j.*
      from public.jobs j
      join (select distinct i.id, i.lease_id
              from pg_catalog.jsonb_to_recordset(p_items) as i(id uuid, lease_id uuid)
             where i.id not in (select d.id from pg_catalog.unnest(v_done) as d(id))) i
        on i.id = j.id and i.lease_id = j.lease_id
     where j.status = 'completed'
       and j.id = any(array(select (e.item ->> 'id')::uuid
                              from pg_catalog.jsonb_array_elements(p_items) as e(item)));
  end if;
end;
$$;

-- complete: the single-job form; raises SJ001 when the lease is not held.
create or replace function public.sj_complete_v1(
  p_job_id uuid,
  p_lease_id uuid,
  p_result jsonb default null
) returns public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  if p_job_id is null or p_lease_id is null then
    raise exception using errcode = '22023', message = 'p_job_id and p_lease_id are required';
  end if;
  select * into v_job
    from public.sj_complete_many_v1(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
      'id', p_job_id, 'lease_id', p_lease_id, 'result', p_result)));
  if not found then
    raise exception using errcode = 'SJ001', message = 'lease lost',
      detail = pg_catalog.jsonb_build_array(p_job_id::text)::text;
  end if;
  return v_job;
end;
$$;

-- fail_many: record each held item's error; retry it with exponential backoff plus jitter
-- (5 s doubling, x0.75..1.25, capped at 1 h) while attempts remain, else mark it failed.
-- Lost items are omitted, as in complete_many. A repeated fail by the lease that failed the
-- job for good (a retried request) returns the row unchanged, as complete does; after a
-- retrying fail the lease is cleared, so a repeat of that one is lost (SJ001), and changes
-- nothing either (no second history entry, no attempt spent).
create or replace function public.sj_fail_many_v1(p_items jsonb)
returns setof public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_row public.jobs;
  v_done uuid[] := '{}';
begin
  if p_items is null or pg_catalog.jsonb_typeof(p_items) <> 'array' then
    raise exception using errcode = '22023', message = 'p_items must be a JSON array';
  end if;
  if pg_catalog.jsonb_array_length(p_items) > 10000 then
    raise exception using errcode = '22023', message = 'at most 10000 items per call';
  end if;
  if exists (
    select 1
      from pg_catalog.jsonb_array_elements(p_items) as e(item)
     where pg_catalog.jsonb_typeof(e.item) <> 'object'
        or pg_catalog.jsonb_typeof(e.item -> 'error') is distinct from 'object'
        or pg_catalog.jsonb_typeof(e.item -> 'error' -> 'message') is distinct from 'string'
        or pg_catalog.jsonb_typeof(e.item -> 'error' -> 'type') not in ('string', 'null')
        or pg_catalog.jsonb_typeof(e.item -> 'retry') not in ('boolean', 'null')
        or pg_catalog.jsonb_typeof(e.item -> 'retry_in_seconds') not in ('number', 'null')
        or (e.item ->> 'retry_in_seconds')::double precision not between 0 and 31536000
  ) then
    raise exception using errcode = '22023',
      message = 'each item needs "error": {"type": string|null, "message": string}; '
                || '"retry" boolean; "retry_in_seconds" between 0 and 31536000';
  end if;
  for v_row in
  with items as (
    select distinct on (i.id)
           i.id,
           i.lease_id,
           coalesce(i.retry, true) as retry,
           i.retry_in_seconds,
           pg_catalog.jsonb_build_object(
             'type', pg_catalog.to_jsonb(pg_catalog.left(i.error ->> 'type', 255)),
             'message', pg_catalog.left(i.error ->> 'message', 4000)) as error
      from pg_catalog.jsonb_to_recordset(p_items)
           as i(id uuid, lease_id uuid, error jsonb, retry boolean, retry_in_seconds double precision)
     order by i.id
  ),
  failed as (
    update public.jobs j
       set status = case when i.retry and j.attempts < j.max_attempts
                         then 'pending' else 'failed' end,
           run_at = case when i.retry and j.attempts < j.max_attempts
                         then now() + pg_catalog.make_interval(secs => coalesce(
                           i.retry_in_seconds,
                           -- jitter first, then the cap: never longer than an hour
                           least(3600, 5 * pg_catalog.power(2, j.attempts - 1)
                                         * (0.75 + pg_catalog.random() * 0.5))))
                         else j.run_at end,
           lease_id = case when i.retry and j.attempts < j.max_attempts
                           then null else j.lease_id end,
           finished_at = case when i.retry and j.attempts < j.max_attempts
                              then null else now() end,
           locked_until = null,
           last_error = i.error ->> 'message',
           errors = j.errors || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
             'attempt', j.attempts, 'at', now(), 'worker_id', j.worker_id, 'error', i.error)),
           updated_at = now()
      from items i
     where j.id = i.id and j.lease_id = i.lease_id and j.status = 'processing'
       -- Found by primary key whatever the statistics say about status (see complete_many).
       and j.id = any(array(select x.id from items x))
    returning j.*
  )
  select f.* from failed f
  loop
    v_done := v_done || v_row.id;
    return next v_row;
  end loop;
  -- Every item done (the common case) needs no distinct count of the ids.
  if cardinality(v_done) < pg_catalog.jsonb_array_length(p_items)
     and cardinality(v_done) < (select count(distinct i.id)
                                  from pg_catalog.jsonb_to_recordset(p_items) as i(id uuid)) then
    return query
    select j.*
      from public.jobs j
      join (select distinct i.id, i.lease_id
              from pg_catalog.jsonb_to_recordset(p_items) as i(id uuid, lease_id uuid)
             where i.id not in (select d.id from pg_catalog.unnest(v_done) as d(id))) i
        on i.id = j.id and i.lease_id = j.lease_id
     where j.status = 'failed'
       and j.id = any(array(select (e.item ->> 'id')::uuid
                              from pg_catalog.jsonb_array_elements(p_items) as e(item)));
  end if;
end;
$$;

-- fail: the single-job form; raises SJ001 when the lease is not held.
create or replace function public.sj_fail_v1(
  p_job_id uuid,
  p_lease_id uuid,
  p_error jsonb,
  p_retry boolean default true,
  p_retry_in_seconds double precision default null
) returns public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  if p_job_id is null or p_lease_id is null then
    raise exception using errcode = '22023', message = 'p_job_id and p_lease_id are required';
  end if;
  select * into v_job
    from public.sj_fail_many_v1(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
      'id', p_job_id, 'lease_id', p_lease_id, 'error', p_error,
      'retry', coalesce(p_retry, true), 'retry_in_seconds', p_retry_in_seconds)));
  if not found then
    raise exception using errcode = 'SJ001', message = 'lease lost',
      detail = pg_catalog.jsonb_build_array(p_job_id::text)::text;
  end if;
  return v_job;
end;
$$;

-- snooze: give the job back to the queue until p_run_at without spending the attempt.
create or replace function public.sj_snooze_v1(
  p_job_id uuid,
  p_lease_id uuid,
  p_run_at timestamptz
) returns public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  if p_run_at is null or not pg_catalog.isfinite(p_run_at) then
    raise exception using errcode = '22023', message = 'p_run_at must be a finite timestamp';
  end if;
  update public.jobs j
     set status = 'pending',
         run_at = p_run_at,
         attempts = greatest(j.attempts - 1, 0),
         lease_id = null,
         locked_until = null,
         updated_at = now()
   where j.id = p_job_id and j.lease_id = p_lease_id and j.status = 'processing'
  returning j.* into v_job;
  if not found then
    raise exception using errcode = 'SJ001', message = 'lease lost',
      detail = pg_catalog.jsonb_build_array(p_job_id::text)::text;
  end if;
  return v_job;
end;
$$;

-- cancel: stop a pending or running job for good (a running worker's lease is revoked, so
-- its later complete/fail/heartbeat raise SJ001). Cancelling twice is not an error.
create or replace function public.sj_cancel_v1(
  p_job_id uuid,
  p_reason text default null
) returns public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  select * into v_job from public.jobs j where j.id = p_job_id for update;
  if not found then
    raise exception using errcode = 'SJ002', message = 'job not found',
      detail = pg_catalog.jsonb_build_array(p_job_id::text)::text;
  end if;
  if v_job.status = 'cancelled' then
    return v_job;
  end if;
  if v_job.status not in ('pending', 'processing') then
    raise exception using errcode = 'SJ003',
      message = pg_catalog.format('cannot cancel a %s job', v_job.status);
  end if;
  update public.jobs j
     set status = 'cancelled',
         finished_at = now(),
         lease_id = null,
         locked_until = null,
         last_error = coalesce(pg_catalog.left(p_reason, 4000), j.last_error),
         updated_at = now()
   where j.id = p_job_id
  returning j.* into v_job;
  return v_job;
end;
$$;

-- retry: requeue a failed or cancelled job with a fresh attempt budget; the error history
-- is kept. A job that is already pending is returned unchanged.
create or replace function public.sj_retry_v1(
  p_job_id uuid,
  p_run_at timestamptz default null
) returns public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  if p_run_at is not null and not pg_catalog.isfinite(p_run_at) then
    raise exception using errcode = '22023', message = 'p_run_at must be a finite timestamp';
  end if;
  select * into v_job from public.jobs j where j.id = p_job_id for update;
  if not found then
    raise exception using errcode = 'SJ002', message = 'job not found',
      detail = pg_catalog.jsonb_build_array(p_job_id::text)::text;
  end if;
  if v_job.status = 'pending' then
    return v_job;
  end if;
  if v_job.status not in ('failed', 'cancelled') then
    raise exception using errcode = 'SJ003',
      message = pg_catalog.format('cannot retry a %s job', v_job.status);
  end if;
  update public.jobs j
     set status = 'pending',
         attempts = 0,
         run_at = coalesce(p_run_at, now()),
         finished_at = null,
         lease_id = null,
         locked_until = null,
         updated_at = now()
   where j.id = p_job_id
  returning j.* into v_job;
  return v_job;
end;
$$;

-- stats: job counts by type and status, for all tenants or one. STABLE, so PostgREST runs it
-- in a read-only transaction.
create or replace function public.sj_stats_v1(p_tenant_id uuid default null)
returns table (type text, status text, count bigint)
language sql
stable
security invoker
set search_path = ''
as $$
  select j.type, j.status, count(*)::bigint
    from public.jobs j
   where p_tenant_id is null or j.tenant_id = p_tenant_id
   group by j.type, j.status
   order by j.type, j.status
$$;

-- prune: delete finished jobs older than the interval; returns how many were deleted.
-- Only finished statuses may be named, so a typo can never delete live work.
create or replace function public.sj_prune_v1(
  p_older_than_seconds double precision,
  p_statuses text[] default '{completed,failed,cancelled}'
) returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_cutoff timestamptz;
  v_count bigint;
begin
  -- NaN sorts above infinity in PostgreSQL, so the upper bound rejects both.
  if p_older_than_seconds is null or p_older_than_seconds not between 0 and 3153600000 then
    raise exception using errcode = '22023',
      message = 'p_older_than_seconds must be between 0 and 3153600000';
  end if;
  if p_statuses is null or cardinality(p_statuses) = 0
     or not (p_statuses <@ array['completed', 'failed', 'cancelled']) then
    raise exception using errcode = '22023',
      message = 'p_statuses may only name completed, failed and cancelled';
  end if;
  v_cutoff := now() - pg_catalog.make_interval(secs => p_older_than_seconds);
  delete from public.jobs j
   where j.status = any(p_statuses)
     and (j.finished_at < v_cutoff or (j.finished_at is null and j.updated_at < v_cutoff));
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- Only service_role may call these. Functions are executable by PUBLIC by default, and
-- Supabase's default privileges also grant anon and authenticated: revoke all three.
revoke execute on function
  public.sj_claim_v1(text, integer, integer, text[], text[]),
  public.sj_heartbeat_v1(uuid[], uuid[], integer),
  public.sj_complete_v1(uuid, uuid, jsonb),
  public.sj_complete_many_v1(jsonb),
  public.sj_fail_v1(uuid, uuid, jsonb, boolean, double precision),
  public.sj_fail_many_v1(jsonb),
  public.sj_snooze_v1(uuid, uuid, timestamptz),
  public.sj_cancel_v1(uuid, text),
  public.sj_retry_v1(uuid, timestamptz),
  public.sj_stats_v1(uuid),
  public.sj_prune_v1(double precision, text[])
  from public, anon, authenticated;

grant execute on function
  public.sj_claim_v1(text, integer, integer, text[], text[]),
  public.sj_heartbeat_v1(uuid[], uuid[], integer),
  public.sj_complete_v1(uuid, uuid, jsonb),
  public.sj_complete_many_v1(jsonb),
  public.sj_fail_v1(uuid, uuid, jsonb, boolean, double precision),
  public.sj_fail_many_v1(jsonb),
  public.sj_snooze_v1(uuid, uuid, timestamptz),
  public.sj_cancel_v1(uuid, text),
  public.sj_retry_v1(uuid, timestamptz),
  public.sj_stats_v1(uuid),
  public.sj_prune_v1(double precision, text[])
  to service_role;

alter table public.jobs enable row level security;

drop policy if exists jobs_select_own_tenant on public.jobs;
create policy jobs_select_own_tenant on public.jobs
  for select
  to authenticated
  using (
    -- The sub-select is evaluated once per query (an InitPlan), so the tenant filter can use
    -- an index. A missing claim or one that is not a UUID yields NULL: no rows, no error.
    tenant_id = (
      select case
               when (auth.jwt() -> 'app_metadata' ->> 'tenant_id')
                    ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
               then (auth.jwt() -> 'app_metadata' ->> 'tenant_id')::uuid
             end
    )
  );

-- Explicit grants: new Supabase projects no longer grant new tables to the API roles, older
-- ones grant everything to all of them. Revoking first gives the same result on both.
revoke all on table public.jobs from public, anon, authenticated, service_role;
grant select, insert, update, delete on table public.jobs to service_role;
grant select on table public.jobs to authenticated;

-- ---------------------------------------------------------------------------------------
-- 0005 worker runtime
-- ---------------------------------------------------------------------------------------

-- The worker runtime (supabase_jobs._worker) renews every in-flight lease in one heartbeat and
-- settles snoozes, cancels and shutdown hand-backs in one call. A lost lease is an ordinary
-- per-item answer here, never an error, so one cancelled job does not fail the whole batch.
-- Both are SECURITY INVOKER with an empty search_path and executable by service_role only.

-- heartbeat_many: renew every lease that is still held; report each item as held or not.
-- Unlike sj_heartbeat_v1 nothing is rolled back when some lease is lost: the worker keeps the
-- other jobs and stops only the lost ones (cancelled, expired and re-claimed, or deleted).
create or replace function public.sj_heartbeat_many_v1(
  p_job_ids uuid[],
  p_lease_ids uuid[],
  p_lease_seconds integer default 300
) returns table (job_id uuid, held boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if p_job_ids is null or p_lease_ids is null
     or cardinality(p_job_ids) <> cardinality(p_lease_ids) then
    raise exception using errcode = '22023',
      message = 'p_job_ids and p_lease_ids must be arrays of the same length';
  end if;
  if cardinality(p_job_ids) > 10000 then
    raise exception using errcode = '22023', message = 'at most 10000 jobs per heartbeat';
  end if;
  if p_lease_seconds is null or p_lease_seconds not between 1 and 86400 then
    raise exception using errcode = '22023', message = 'p_lease_seconds must be between 1 and 86400';
  end if;
  return query
  with req as (
    select distinct r.id, r.lease_id
      from unnest(p_job_ids, p_lease_ids) as r(id, lease_id)
  ),
  beat as (
    update public.jobs j
       set locked_until = now() + pg_catalog.make_interval(secs => p_lease_seconds),
           heartbeat_at = now(),
           updated_at = now()
      from req
     where j.id = req.id and j.lease_id = req.lease_id and j.status = 'processing'
       and j.id = any(p_job_ids)  -- primary-key lookup whatever the status statistics say
    returning j.id
  )
  select r.id, exists (select 1 from beat b where b.id = r.id)
    from (select distinct q.id from req q) r;
end;
$$;

-- release_many: settle claimed jobs without completing or failing them. Each item is
-- {"id", "lease_id", "action": "snooze" | "cancel", "delay_seconds": number (snooze),
--  "reason": string | null (cancel)}.
-- - snooze: back to pending after delay_seconds, the claim's attempt given back (a worker's
--   hand-back at shutdown is a snooze of 0 s: a job claimed but never finished costs nothing);
-- - cancel: cancelled for good, reason stored as last_error.
-- Fencing as everywhere: only a held lease (status processing, same lease_id) is settled.
-- The settled row keeps its lease_id (a new claim replaces it), so a re-sent request whose
-- first reply was lost is recognised and answered applied = true without changing anything.
create or replace function public.sj_release_many_v1(p_items jsonb)
returns table (job_id uuid, applied boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if p_items is null or pg_catalog.jsonb_typeof(p_items) <> 'array' then
    raise exception using errcode = '22023', message = 'p_items must be a JSON array';
  end if;
  if pg_catalog.jsonb_array_length(p_items) > 10000 then
    raise exception using errcode = '22023', message = 'at most 10000 items per call';
  end if;
  if exists (
    select 1
      from pg_catalog.jsonb_array_elements(p_items) as e(item)
     where pg_catalog.jsonb_typeof(e.item) <> 'object'
        or pg_catalog.jsonb_typeof(e.item -> 'id') is distinct from 'string'
        or pg_catalog.jsonb_typeof(e.item -> 'lease_id') is distinct from 'string'
        or (e.item ->> 'action') is null
        or (e.item ->> 'action') not in ('snooze', 'cancel')
        or pg_catalog.jsonb_typeof(e.item -> 'delay_seconds') not in ('number', 'null')
        or (e.item ->> 'delay_seconds')::double precision not between 0 and 31536000
        or pg_catalog.jsonb_typeof(e.item -> 'reason') not in ('string', 'null')
  ) then
    raise exception using errcode = '22023',
      message = 'each item needs "id", "lease_id", "action" (snooze or cancel); '
                || '"delay_seconds" between 0 and 31536000; "reason" string or null';
  end if;
  return query
  with items as (
    -- One answer per id: the first item listed for it wins.
    select distinct on (i.id)
           i.id, i.lease_id, i.action,
           coalesce(i.delay_seconds, 0) as delay_seconds,
           pg_catalog.left(i.reason, 4000) as reason
      from rows from (pg_catalog.jsonb_to_recordset(p_items)
             as (id uuid, lease_id uuid, action text, delay_seconds double precision,
                 reason text)) with ordinality as i(id, lease_id, action, delay_seconds,
                                                    reason, ord)
     order by i.id, i.ord
  ),
  settled as (
    update public.jobs j
       set status = case when i.action = 'cancel' then 'cancelled' else 'pending' end,
           run_at = case when i.action = 'snooze'
                         then now() + pg_catalog.make_interval(secs => i.delay_seconds)
                         else j.run_at end,
           attempts = case when i.action = 'snooze'
                           then greatest(j.attempts - 1, 0) else j.attempts end,
           finished_at = case when i.action = 'cancel' then now() else null end,
           last_error = case when i.action = 'cancel'
                             then coalesce(i.reason, j.last_error) else j.last_error end,
           locked_until = null,
           updated_at = now()
      from items i
     where j.id = i.id and j.lease_id = i.lease_id and j.status = 'processing'
       and j.id = any(array(select x.id from items x))
    returning j.id
  )
  select i.id,
         exists (select 1 from settled s where s.id = i.id)
         -- A repeat of a settle this lease already made (its first reply was lost).
         or exists (select 1 from public.jobs j
                     where j.id = i.id and j.lease_id = i.lease_id
                       and j.status = case when i.action = 'cancel' then 'cancelled'
                                           else 'pending' end
                       and not exists (select 1 from settled s2 where s2.id = i.id))
    from items i;
end;
$$;

revoke execute on function
  public.sj_heartbeat_many_v1(uuid[], uuid[], integer),
  public.sj_release_many_v1(jsonb)
  from public, anon, authenticated;

grant execute on function
  public.sj_heartbeat_many_v1(uuid[], uuid[], integer),
  public.sj_release_many_v1(jsonb)
  to service_role;
