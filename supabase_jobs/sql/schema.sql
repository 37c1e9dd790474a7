-- supabase_jobs schema snapshot: what applying migrations/0001..0005 in order produces.
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
  constraint jobs_errors_check check (jsonb_typeof(errors) = 'array'),
  constraint jobs_tenant_id_idempotency_key_key unique (tenant_id, idempotency_key)
) with (fillfactor = 50);

-- Only the tenant listing index: no index on jobs reads a column that the lifecycle updates
-- change, so those updates are HOT (fillfactor leaves them room); the claim scans
-- supabase_jobs.active_jobs instead.
create index if not exists jobs_tenant_created_idx
  on public.jobs (tenant_id, created_at desc, id desc);

-- active_jobs: the claim's and the lease sweep's view of the live jobs.
-- supabase_jobs.active_jobs holds one narrow row per job that is pending or processing, with
-- the columns the claim filters and orders on. The claim and the lease-expiry scan read and
-- lock these rows; public.jobs keeps every column and stays the record apps read and write.
-- Why a second table: a claim and a completion each change status, locked_until and
-- attempts. Indexed on jobs (they must be, for the claim to find work), every such update
-- would add an entry to each of jobs' indexes. Here, jobs has no index on them and its
-- lifecycle updates are HOT (fillfactor above), while this table is small (live jobs only) and a
-- completion just deletes its row.
--
-- Invariant: for every public.jobs row whose status is 'pending' or 'processing' there is
-- exactly one active_jobs row with the same id, type, queue, priority, run_at, attempts and
-- max_attempts, and, only while processing, the same lease_id and locked_until; no other
-- rows. The sj_* functions keep it themselves (they lock the active_jobs row before the jobs
-- row, in that order everywhere, so two of them never deadlock); the triggers below keep it
-- for every other writer (the existing app's inserts, an operator's UPDATE or DELETE).
-- The schema is not exposed through the API; only service_role (the functions run as their
-- caller) may use the table.


create schema if not exists supabase_jobs;
revoke all on schema supabase_jobs from public;
grant usage on schema supabase_jobs to service_role;

create table if not exists supabase_jobs.active_jobs (
  id uuid primary key,
  type text not null,
  queue text not null,
  priority integer not null,
  run_at timestamptz not null,
  attempts integer not null,
  max_attempts integer not null,
  lease_id uuid,
  locked_until timestamptz,
  constraint active_jobs_lease_check check ((lease_id is null) = (locked_until is null))
);
alter table supabase_jobs.active_jobs enable row level security;
revoke all on table supabase_jobs.active_jobs from public, anon, authenticated, service_role;
grant select, insert, update, delete on table supabase_jobs.active_jobs to service_role;

-- The indexes' predicates test locked_until, not lease_id: the fenced calls (complete, fail,
-- heartbeat, snooze) filter on lease_id = the caller's lease, which would let the planner
-- pick the lease index and read every running job instead of looking each one up by id.
-- The claim scan: pending rows in claim order; it stops after p_limit lockable rows, and
-- running rows are not in it however many there are.
create index if not exists active_jobs_claim_idx
  on supabase_jobs.active_jobs (priority desc, run_at, id)
  where locked_until is null;
-- Running jobs by lease end: finding expired leases is one descent that stops at the first
-- live lease.
create index if not exists active_jobs_lease_idx
  on supabase_jobs.active_jobs (locked_until)
  where locked_until is not null;
-- Expired leases on the last allowed attempt (to be failed, not re-run): only jobs running
-- their last attempt are in it, so most claims never write to it.
create index if not exists active_jobs_exhausted_idx
  on supabase_jobs.active_jobs (locked_until)
  where locked_until is not null and attempts >= max_attempts;

-- Inserts, from any writer (the SDK's dispatch, the existing app): one set-based insert per
-- statement, so a batch dispatch costs one extra statement, not one per row.
create or replace function supabase_jobs.jobs_inserted()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  insert into supabase_jobs.active_jobs
         (id, type, queue, priority, run_at, attempts, max_attempts, lease_id, locked_until)
  select n.id, n.type, n.queue, n.priority, n.run_at, n.attempts, n.max_attempts,
         case when n.status = 'processing' then n.lease_id end,
         case when n.status = 'processing' then n.locked_until end
    from inserted n
   where n.status in ('pending', 'processing');
  return null;
end;
$$;

-- Updates and deletes by anything but the sj_* functions (which keep active_jobs themselves
-- and say so by setting supabase_jobs.in_function for their duration; the trigger's WHEN
-- skips their rows before any trigger call). Row by row: rare, and usually one row.
create or replace function supabase_jobs.jobs_changed()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  delete from supabase_jobs.active_jobs a where a.id = old.id;
  if tg_op = 'UPDATE' and new.status in ('pending', 'processing') then
    insert into supabase_jobs.active_jobs
           (id, type, queue, priority, run_at, attempts, max_attempts, lease_id, locked_until)
    values (new.id, new.type, new.queue, new.priority, new.run_at, new.attempts,
            new.max_attempts,
            case when new.status = 'processing' then new.lease_id end,
            case when new.status = 'processing' then new.locked_until end);
  end if;
  return null;
end;
$$;

create or replace function supabase_jobs.jobs_truncated()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  truncate table supabase_jobs.active_jobs;
  return null;
end;
$$;

revoke execute on function
  supabase_jobs.jobs_inserted(), supabase_jobs.jobs_changed(), supabase_jobs.jobs_truncated()
  from public, anon, authenticated;
grant execute on function
  supabase_jobs.jobs_inserted(), supabase_jobs.jobs_changed(), supabase_jobs.jobs_truncated()
  to service_role;

drop trigger if exists jobs_active_insert on public.jobs;
create trigger jobs_active_insert
  after insert on public.jobs
  referencing new table as inserted
  for each statement execute function supabase_jobs.jobs_inserted();

drop trigger if exists jobs_active_update on public.jobs;
create trigger jobs_active_update
  after update on public.jobs
  for each row
  when (pg_catalog.current_setting('supabase_jobs.in_function', true) is distinct from 'on'
        and (old.id, old.status, old.type, old.queue, old.priority, old.run_at, old.attempts,
             old.max_attempts, old.lease_id, old.locked_until)
            is distinct from
            (new.id, new.status, new.type, new.queue, new.priority, new.run_at, new.attempts,
             new.max_attempts, new.lease_id, new.locked_until))
  execute function supabase_jobs.jobs_changed();

drop trigger if exists jobs_active_delete on public.jobs;
create trigger jobs_active_delete
  after delete on public.jobs
  for each row
  when (old.status in ('pending', 'processing'))
  execute function supabase_jobs.jobs_changed();

drop trigger if exists jobs_active_truncate on public.jobs;
create trigger jobs_active_truncate
  after truncate on public.jobs
  for each statement execute function supabase_jobs.jobs_truncated();

-- Lifecycle functions.
-- All are SECURITY INVOKER with an empty search_path (every name below is schema-qualified;
-- pg_catalog is always searched first), so they run with the caller's rights: only
-- service_role, which bypasses RLS, may execute them (grants at the end of this file).
-- Errors: SQLSTATE SJ001 lease lost (DETAIL = JSON array of the job ids), SJ002 job not
-- found, SJ003 invalid state, 22023 invalid argument. PostgREST answers 400 with the code.
-- A fenced call on an unknown job id raises SJ001, not SJ002: for a worker a deleted job and
-- a lost lease mean the same thing (stop working on it).
-- Every function that changes a live job keeps supabase_jobs.active_jobs itself (0003), and
-- sets supabase_jobs.in_function to 'on' around its UPDATE of jobs so that the
-- jobs_active_update trigger skips those rows without being called. A function SET clause
-- would be neater, but CREATE FUNCTION by a role that is not a superuser (Supabase's postgres)
-- fails with "permission denied to set parameter" for a custom setting; set_config(..., true)
-- is transaction-local and undone by a rollback, so an error cannot leave it 'on'. Each
-- function puts back the value it found before it returns.

-- claim: lock up to p_limit eligible jobs and lease them, in one statement.
-- Every eligibility rule sits inside a FOR UPDATE SKIP LOCKED scan of supabase_jobs.active_jobs
-- (see 0003), so a row another claimer has just taken (and committed) fails the re-check and
-- is skipped, never leased twice. Two locked scans, each on a partial index that holds only
-- its own kind of row:
-- - pending rows, in claim order, on active_jobs_claim_idx: it stops after p_limit lockable
--   rows and never reads past running jobs (they are not in that index, however many there are);
-- - expired leases on active_jobs_lease_idx by lease end: with none expired this is one index
--   descent that finds nothing, whatever the number of running jobs. Each expired lease is
--   read (and sorted) by every claim until it is rescued: cheap while few expire, a cost
--   (~3 ms per claim with 5,000 expired) the claims after a mass worker loss pay for a while.
-- Exhausted expired leases are failed first, found on their own index (active_jobs_exhausted_idx).
-- Rescued and pending jobs compete in the contract's order (priority desc, run_at, id): each
-- scan locks up to p_limit rows and the best p_limit of both are leased. Deviation: when
-- expired leases exist, the rows of that union that lose (at most p_limit of them) stay
-- locked, unleased, until this statement's transaction ends, so a concurrent claim skips
-- them for that moment; with nothing expired, exactly the leased rows are locked.
-- The lease is written to active_jobs first, then copied to jobs (a HOT update there).
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
declare
  v_flag text := coalesce(pg_catalog.current_setting('supabase_jobs.in_function', true), '');
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
  perform pg_catalog.set_config('supabase_jobs.in_function', 'on', true);
  return query
  with exhausted as materialized (
    -- Leases that ran out on the last allowed attempt: the job can never run again. Failing
    -- it here keeps it from taking a slot in this or any later claim. Bounded per call.
    select a.id
      from supabase_jobs.active_jobs a
     where a.locked_until < now()
       and a.attempts >= a.max_attempts
       and (p_types is null or a.type = any(p_types))
       and (p_queues is null or a.queue = any(p_queues))
     order by a.locked_until
     limit 1000
       for update skip locked
  ),
  exhausted_gone as (
    delete from supabase_jobs.active_jobs a
     where a.id = any(array(select x.id from exhausted x))
    returning a.id
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
     where j.id = any(array(select g.id from exhausted_gone g))
  ),
  due as materialized (
    -- locked_until is null is active_jobs_claim_idx's predicate: an ordered index scan.
    select a.id, a.priority, a.run_at
      from supabase_jobs.active_jobs a
     where a.locked_until is null
       and a.run_at <= now()
       and a.attempts < a.max_attempts
       and (p_types is null or a.type = any(p_types))
       and (p_queues is null or a.queue = any(p_queues))
     order by a.priority desc, a.run_at, a.id
     limit p_limit
       for update skip locked
  ),
  rescued as materialized (
    -- Expired leases with attempts left, found by lease end on active_jobs_lease_idx and
    -- sorted into claim order before they are locked (the sort sees only expired rows).
    select a.id, a.priority, a.run_at
      from supabase_jobs.active_jobs a
     where a.locked_until < now()
       and a.attempts < a.max_attempts
       and (p_types is null or a.type = any(p_types))
       and (p_queues is null or a.queue = any(p_queues))
     order by a.priority desc, a.run_at, a.id
     limit p_limit
       for update skip locked
  ),
  picked as materialized (
    select c.id
      from (select * from due union all select * from rescued) c
     order by c.priority desc, c.run_at, c.id
     limit p_limit
  ),
  leased as (
    update supabase_jobs.active_jobs a
       set lease_id = pg_catalog.gen_random_uuid(),
           locked_until = now() + pg_catalog.make_interval(secs => p_lease_seconds),
           attempts = a.attempts + 1
     where a.id = any(array(select p.id from picked p))
    returning a.id, a.lease_id, a.locked_until, a.attempts
  ),
  claimed as (
    update public.jobs j
       set status = 'processing',
           worker_id = p_worker_id,
           lease_id = l.lease_id,
           locked_until = l.locked_until,
           heartbeat_at = now(),
           started_at = now(),
           attempts = l.attempts,
           -- A rescued job (its previous lease expired) records the lost attempt.
           last_error = case when j.status = 'processing' then 'lease expired' else j.last_error end,
           errors = case when j.status = 'processing'
                         then j.errors || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                           'attempt', j.attempts, 'at', now(), 'worker_id', j.worker_id,
                           'error', pg_catalog.jsonb_build_object(
                             'type', 'LeaseExpired', 'message', 'lease expired')))
                         else j.errors end,
           updated_at = now()
      from leased l
     where j.id = l.id
       -- Primary-key lookups: joined on id alone the planner may hash a scan of the whole table.
       and j.id = any(array(select l2.id from leased l2))
    returning j.*
  )
  select c.* from claimed c order by c.priority desc, c.run_at, c.id;
  perform pg_catalog.set_config('supabase_jobs.in_function', v_flag, true);
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
  v_flag text := coalesce(pg_catalog.current_setting('supabase_jobs.in_function', true), '');
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
  perform pg_catalog.set_config('supabase_jobs.in_function', 'on', true);
  return query
  with req as (
    select distinct r.id, r.lease_id
      from unnest(p_job_ids, p_lease_ids) as r(id, lease_id)
  ),
  renewed as (
    -- The fence: the lease is held while active_jobs names it (re-checked after a lock wait).
    update supabase_jobs.active_jobs a
       set locked_until = now() + pg_catalog.make_interval(secs => p_lease_seconds)
      from req
     where a.id = req.id and a.lease_id = req.lease_id
       and a.id = any(p_job_ids)  -- primary-key lookup whatever the statistics say
    returning a.id, a.locked_until
  ),
  beat as (
    update public.jobs j
       set locked_until = r.locked_until,
           heartbeat_at = now(),
           updated_at = now()
      from renewed r
     where j.id = r.id
       and j.id = any(array(select r2.id from renewed r2))
    returning j.*
  )
  select b.* from beat b;
  get diagnostics v_done = row_count;
  perform pg_catalog.set_config('supabase_jobs.in_function', v_flag, true);
  if v_done < v_wanted then
    select coalesce(pg_catalog.jsonb_agg(r.id::text order by r.ord), '[]'::jsonb)::text
      into v_lost
      from unnest(p_job_ids, p_lease_ids) with ordinality as r(id, lease_id, ord)
     where not exists (
       select 1 from supabase_jobs.active_jobs a
        where a.id = r.id and a.lease_id = r.lease_id);
    raise exception using errcode = 'SJ001', message = 'lease lost', detail = v_lost;
  end if;
end;
$$;

-- complete_many: complete every item whose lease is held; return those rows plus the rows
-- this same lease already completed (a retried request is success). Lost items are omitted;
-- the SDK compares ids and raises LeaseLostError for the missing ones.
-- One statement: the held leases' active_jobs rows are deleted (found by primary key; the
-- fence, lease_id, is re-checked on the latest row version after any lock wait, so a
-- concurrent request with the same lease is waited for and then fails the fence here), and
-- exactly those jobs are completed. Only when some item was not completed (rare: retries and
-- lost leases) does a second statement, with a fresh snapshot, look for rows this lease
-- completed before, including a request that committed meanwhile.
-- The rows the UPDATE returned are told apart by id, collected as they stream out (free, as
-- measured). Not by xmin = current transaction: that misses a completion made earlier in the
-- same transaction (a false "lease lost") and, inside a savepoint, lists rows twice.
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
  v_flag text := coalesce(pg_catalog.current_setting('supabase_jobs.in_function', true), '');
begin
  if p_items is null or pg_catalog.jsonb_typeof(p_items) <> 'array' then
    raise exception using errcode = '22023', message = 'p_items must be a JSON array';
  end if;
  if pg_catalog.jsonb_array_length(p_items) > 10000 then
    raise exception using errcode = '22023', message = 'at most 10000 items per call';
  end if;
  perform pg_catalog.set_config('supabase_jobs.in_function', 'on', true);
  for v_row in
    with items as (
      -- No DISTINCT: an id listed twice updates its row once, and if the copies name
      -- different leases the held one wins, whatever the order.
      select i.id, i.lease_id, i.result
        from pg_catalog.jsonb_to_recordset(p_items) as i(id uuid, lease_id uuid, result jsonb)
    ),
    released as (
      delete from supabase_jobs.active_jobs a
       using items i
       where a.id = i.id and a.lease_id = i.lease_id
         and a.id = any(array(select x.id from items x))
      returning a.id, a.lease_id
    )
    update public.jobs j
       set status = 'completed',
           result = i.result,
           finished_at = now(),
           locked_until = null,
           updated_at = now()
      from released r
      join items i on i.id = r.id and i.lease_id = r.lease_id
     where j.id = r.id
       and j.id = any(array(select r2.id from released r2))
    returning j.*
  loop
    v_done := v_done || v_row.id;
    return next v_row;
  end loop;
  perform pg_catalog.set_config('supabase_jobs.in_function', v_flag, true);
  if cardinality(v_done) < (select count(distinct i.id)
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
  v_flag text := coalesce(pg_catalog.current_setting('supabase_jobs.in_function', true), '');
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
  perform pg_catalog.set_config('supabase_jobs.in_function', 'on', true);
  for v_row in
  with items as (
    select i.id,
           i.lease_id,
           coalesce(i.retry, true) as retry,
           i.retry_in_seconds,
           pg_catalog.jsonb_build_object(
             'type', pg_catalog.to_jsonb(pg_catalog.left(i.error ->> 'type', 255)),
             'message', pg_catalog.left(i.error ->> 'message', 4000)) as error
      from pg_catalog.jsonb_to_recordset(p_items)
           as i(id uuid, lease_id uuid, error jsonb, retry boolean, retry_in_seconds double precision)
  ),
  locked as materialized (
    -- The fence: the held leases' active_jobs rows, locked (before the jobs rows, as in every
    -- function) and re-checked after any lock wait. Found by primary key.
    select a.id, a.lease_id, a.attempts, a.max_attempts
      from supabase_jobs.active_jobs a
     where a.id = any(array(select x.id from items x))
       and (a.id, a.lease_id) in (select x.id, x.lease_id from items x)
       for update
  ),
  held as materialized (
    -- One item per job (a job listed twice with its held lease takes either copy); the
    -- jitter is drawn once here, so active_jobs and jobs get the same run_at.
    select distinct on (l.id)
           l.id,
           i.error,
           i.retry and l.attempts < l.max_attempts as again,
           now() + pg_catalog.make_interval(secs => coalesce(
             i.retry_in_seconds,
             -- jitter first, then the cap: never longer than an hour
             least(3600, 5 * pg_catalog.power(2, l.attempts - 1)
                           * (0.75 + pg_catalog.random() * 0.5)))) as next_run_at
      from locked l
      join items i on i.id = l.id and i.lease_id = l.lease_id
     order by l.id
  ),
  requeued as (
    update supabase_jobs.active_jobs a
       set lease_id = null, locked_until = null, run_at = h.next_run_at
      from held h
     where a.id = h.id and h.again
       and a.id = any(array(select h2.id from held h2 where h2.again))
  ),
  ended as (
    delete from supabase_jobs.active_jobs a
     where a.id = any(array(select h.id from held h where not h.again))
  ),
  failed as (
    update public.jobs j
       set status = case when h.again then 'pending' else 'failed' end,
           run_at = case when h.again then h.next_run_at else j.run_at end,
           lease_id = case when h.again then null else j.lease_id end,
           finished_at = case when h.again then null else now() end,
           locked_until = null,
           last_error = h.error ->> 'message',
           errors = j.errors || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
             'attempt', j.attempts, 'at', now(), 'worker_id', j.worker_id, 'error', h.error)),
           updated_at = now()
      from held h
     where j.id = h.id
       -- Found by primary key whatever the statistics say (see complete_many).
       and j.id = any(array(select h2.id from held h2))
    returning j.*
  )
  select f.* from failed f
  loop
    v_done := v_done || v_row.id;
    return next v_row;
  end loop;
  perform pg_catalog.set_config('supabase_jobs.in_function', v_flag, true);
  if cardinality(v_done) < (select count(distinct i.id)
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
  v_attempts integer;
  v_job public.jobs;
  v_flag text := coalesce(pg_catalog.current_setting('supabase_jobs.in_function', true), '');
begin
  if p_run_at is null or not pg_catalog.isfinite(p_run_at) then
    raise exception using errcode = '22023', message = 'p_run_at must be a finite timestamp';
  end if;
  update supabase_jobs.active_jobs a
     set lease_id = null,
         locked_until = null,
         run_at = p_run_at,
         attempts = greatest(a.attempts - 1, 0)
   where a.id = p_job_id and a.lease_id = p_lease_id
  returning a.attempts into v_attempts;
  if not found then
    raise exception using errcode = 'SJ001', message = 'lease lost',
      detail = pg_catalog.jsonb_build_array(p_job_id::text)::text;
  end if;
  perform pg_catalog.set_config('supabase_jobs.in_function', 'on', true);
  update public.jobs j
     set status = 'pending',
         run_at = p_run_at,
         attempts = v_attempts,
         lease_id = null,
         locked_until = null,
         updated_at = now()
   where j.id = p_job_id
  returning j.* into v_job;
  perform pg_catalog.set_config('supabase_jobs.in_function', v_flag, true);
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
  v_flag text := coalesce(pg_catalog.current_setting('supabase_jobs.in_function', true), '');
begin
  -- A live job's active_jobs row first (locked, and gone if the job is cancelled below; the
  -- raises roll it back), then the job.
  delete from supabase_jobs.active_jobs a where a.id = p_job_id;
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
  perform pg_catalog.set_config('supabase_jobs.in_function', 'on', true);
  update public.jobs j
     set status = 'cancelled',
         finished_at = now(),
         lease_id = null,
         locked_until = null,
         last_error = coalesce(pg_catalog.left(p_reason, 4000), j.last_error),
         updated_at = now()
   where j.id = p_job_id
  returning j.* into v_job;
  perform pg_catalog.set_config('supabase_jobs.in_function', v_flag, true);
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
  v_flag text := coalesce(pg_catalog.current_setting('supabase_jobs.in_function', true), '');
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
  perform pg_catalog.set_config('supabase_jobs.in_function', 'on', true);
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
  perform pg_catalog.set_config('supabase_jobs.in_function', v_flag, true);
  -- A finished job has no active_jobs row (nothing else can lock one): add it, claimable.
  insert into supabase_jobs.active_jobs
         (id, type, queue, priority, run_at, attempts, max_attempts)
  values (v_job.id, v_job.type, v_job.queue, v_job.priority, v_job.run_at, v_job.attempts,
          v_job.max_attempts);
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

-- Tenant isolation for end users: an authenticated JWT sees only the jobs of the tenant in
-- its app_metadata.tenant_id claim (app_metadata is writable only by the service, unlike
-- user_metadata). To key on something else, replace the policy in a later migration.
-- anon gets nothing; all writes go through service_role (BYPASSRLS).

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
