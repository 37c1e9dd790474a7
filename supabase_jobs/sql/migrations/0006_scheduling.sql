-- 0006 scheduling at scale: queue/type isolation, fair claiming across tenants, per-tenant and
-- per-queue concurrency caps, O(1) stats from maintained counters, bounded prune batches.
-- Reference: docs/scheduling.md (user side) and the design notes below.
--
-- Cost model (PostgreSQL docs, storage-hot): no claim or completion is a HOT update, so each
-- new row version adds an entry to every index whose predicate it satisfies. The two new
-- pending-partial indexes therefore cost on dispatch, retry and snooze only (a claimed or
-- completed row is not pending), never on claim or complete. No index on running rows was
-- added (see 3). Measured in bench/scale.py and bench/README.md.

-- ---------------------------------------------------------------------------------------------
-- 1. Isolation. jobs_claim_idx (priority desc, run_at, id) has no queue or type in its key, so a
-- claim filtered by queue or type walked every foreign pending row (50 ms per claim behind
-- 200,000 foreign jobs, linear in the backlog). A lane is a (queue, type) pair; with the lane
-- leading the key, a filtered claim descends straight into its own lanes. The claim builds its
-- lanes from its filters (the missing dimension is enumerated with a loose index scan: one
-- descent per distinct value, since PostgreSQL before 18 has no skip scan) and locks each
-- lane's head with its own ordered scan. An unfiltered, uncapped claim keeps 0003's single
-- scan over jobs_claim_idx (plus a tenant-mix gate, see 2).
create index if not exists jobs_lane_idx
  on public.jobs (queue, type, (-priority), run_at, id)
  where status = 'pending';
-- Why (-priority) rather than priority desc: the lane scans say "order by (-priority), run_at,
-- id", an order only this index gives. With "priority desc" jobs_claim_idx gives the same order
-- once queue and type are fixed, and the generic plan sometimes preferred it, filtering
-- queue and type row by row: the very foreign-backlog walk this index exists to avoid.

-- 2. Fairness. Within one priority level a claim interleaves tenants. Approaches compared:
-- - window function over the backlog (row_number() over (partition by tenant)): exact, but
--   O(pending) per claim; Hatchet reports it breaking down at tens of thousands of rows.
-- - a per-queue round-robin cursor row: every claim would update one hot row, and concurrent
--   claimers would serialize on its row lock; per-tenant "next due" side tables add an upsert
--   to every dispatch and a lost-wakeup race when a lane is marked empty as a dispatch commits.
-- - virtual-time tags set at dispatch: exact and weighted, but every writer (the existing
--   TypeScript app inserts directly) would have to compute the tag.
-- - chosen: the lane's head first, then a stateless bounded walk when needed. The claim locks
--   the head in plain claim order (contiguous rows, as cheap as an unfair claim). If no tenant
--   holds more than 2 of its rows at the top priority, the head already interleaves at least
--   limit/2 tenants and is the claim (the common case with many tenants). Otherwise a backlog
--   dominates: at the lane's top due priority, a loose index scan over jobs_fair_idx visits at
--   most 25 distinct tenants starting at a random tenant_id (wrapping around), each tenant gets
--   ceil(limit / tenants found) of its oldest due rows (SKIP LOCKED, so concurrent claimers
--   slide to each tenant's next rows), and the head tops the claim up, so it stays
--   work-conserving (a tenant with a huge backlog still gets the rest of every claim). The
--   final pick ranks rows by (priority, rank within tenant, run_at). Cost: ~25 index descents
--   when the walk runs, nothing on writes beyond one pending-partial index entry. Measured:
--   walking on every claim cost 6.6 ms against 3.5 ms unfair (claim + complete of 100 over
--   1,000 tenants): the walked tenants' rows are scattered over the heap. Trade-off: when
--   many tenants each hold a large interleaved backlog, claims serve them equally by run_at
--   and a newcomer takes its turn among them rather than being visited at random.
--   Not chosen: a per-claimer cursor argument (exact round-robin, an API change) and weights.
create index if not exists jobs_fair_idx
  on public.jobs (queue, type, priority desc, tenant_id, run_at, id)
  where status = 'pending';

-- 3. Caps. Enforced in the claim (below) with try-locks and a count of live leases in a later
-- statement. The count reads jobs_lease_expiry_idx (live leases, all queues): O(running jobs)
-- per capped lane and claim. A (queue, tenant_id) index on running rows would make it
-- O(cap), but every claim and heartbeat of every queue would pay an index entry for it:
-- measured +25% server time per claim of 100, so it was left out; uncapped queues pay nothing.

-- Per-queue settings; a row with tenant_id null is the queue default, a row with a tenant_id
-- overrides max_running_per_tenant for that tenant. No row: fair, uncapped.
create table if not exists public.job_queue_settings (
  queue text not null check (char_length(queue) <= 63 and queue ~ '^[a-z][a-z0-9_.:-]*$'),
  tenant_id uuid,
  fair boolean,
  max_running integer check (max_running between 0 and 1000000),
  max_running_per_tenant integer check (max_running_per_tenant between 0 and 1000000),
  updated_at timestamptz not null default now(),
  constraint job_queue_settings_key unique nulls not distinct (queue, tenant_id),
  -- fair and max_running are queue-wide; a tenant row only overrides the per-tenant cap.
  constraint job_queue_settings_tenant_check
    check (tenant_id is null or (fair is null and max_running is null))
);
alter table public.job_queue_settings enable row level security;
-- Tenants may read their own override (and, like every authenticated user, nothing else);
-- only service_role (BYPASSRLS) writes.
drop policy if exists job_queue_settings_select_own on public.job_queue_settings;
create policy job_queue_settings_select_own on public.job_queue_settings
  for select
  to authenticated
  using (
    tenant_id = (
      select case
               when (auth.jwt() -> 'app_metadata' ->> 'tenant_id')
                    ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
               then (auth.jwt() -> 'app_metadata' ->> 'tenant_id')::uuid
             end
    )
  );
revoke all on table public.job_queue_settings from public, anon, authenticated, service_role;
grant select, insert, update, delete on table public.job_queue_settings to service_role;
grant select on table public.job_queue_settings to authenticated;

-- ---------------------------------------------------------------------------------------------
-- 5. Stats from maintained counters. count(*) over jobs was linear in the table (362 ms at 1M
-- finished rows). Statement-level triggers with transition tables append one aggregated delta
-- row per (queue, type, status) group a statement changed to job_count_deltas: insert-only,
-- so concurrent claimers never wait on a shared counter row (an upserted counter would
-- serialize every claim of a lane until commit). Now and then (1 statement in 256, or
-- sj_stats_fold_v1) the deltas are folded into job_counts under a try-lock. Readers add
-- job_counts and the unfolded deltas: exact at their snapshot, O(groups + unfolded deltas).
-- Terminal transitions are also bucketed per minute (finished_per_minute over the last hour).
-- Caveats: TRUNCATE resets the counters (its own trigger); a session with
-- session_replication_role = replica skips triggers, so sj_stats_rebuild_v1 recounts.
create table if not exists public.job_counts (
  queue text not null,
  type text not null,
  status text not null,
  n bigint not null,
  primary key (queue, type, status)
);
-- No primary key or index: each write statement appends here, and an index entry per delta
-- row was a measurable share of the trigger's cost. Readers and the fold scan it whole (it
-- is kept short by folding).
create table if not exists public.job_count_deltas (
  queue text not null,
  type text not null,
  status text not null,
  delta bigint not null,
  -- the minute a job entered a terminal status in this statement (null otherwise)
  finished_minute timestamptz
);
create table if not exists public.job_finished_minutely (
  queue text not null,
  minute timestamptz not null,
  n bigint not null,
  primary key (queue, minute)
);
alter table public.job_counts enable row level security;
alter table public.job_count_deltas enable row level security;
alter table public.job_finished_minutely enable row level security;
revoke all on table public.job_counts, public.job_count_deltas, public.job_finished_minutely
  from public, anon, authenticated, service_role;
-- service_role writes jobs, so its statements run the triggers below (SECURITY INVOKER).
grant select, insert, update, delete
  on table public.job_counts, public.job_count_deltas, public.job_finished_minutely
  to service_role;

-- Fold deltas into the totals; one folder at a time (try-lock: others return 0 at once).
create or replace function public.sj_stats_fold_v1(p_max_rows integer default 50000)
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_count bigint;
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('supabase_jobs:fold', 0)) then
    return 0;
  end if;
  with gone as (
    delete from public.job_count_deltas d
     where d.ctid = any(array(select x.ctid from public.job_count_deltas x
                               limit greatest(coalesce(p_max_rows, 50000), 1)))
    returning d.queue, d.type, d.status, d.delta, d.finished_minute
  ),
  totals as (
    insert into public.job_counts as c (queue, type, status, n)
    select g.queue, g.type, g.status, sum(g.delta)
      from gone g group by g.queue, g.type, g.status
    on conflict (queue, type, status) do update set n = c.n + excluded.n
    returning 1
  ),
  minutes as (
    insert into public.job_finished_minutely as m (queue, minute, n)
    select g.queue, g.finished_minute, sum(g.delta)
      from gone g where g.finished_minute is not null
     group by g.queue, g.finished_minute
    on conflict (queue, minute) do update set n = m.n + excluded.n
    returning 1
  )
  select (select count(*) from gone) into v_count;
  delete from public.job_counts c where c.n = 0;
  delete from public.job_finished_minutely m where m.minute < now() - interval '48 hours';
  return v_count;
end;
$$;

create or replace function public.sj_jobs_count_trigger()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into public.job_count_deltas (queue, type, status, delta, finished_minute)
    select n.queue, n.type, n.status, count(*),
           case when n.status in ('completed', 'failed', 'cancelled')
                then pg_catalog.date_trunc('minute', now()) end
      from new_rows n group by n.queue, n.type, n.status;
  elsif tg_op = 'DELETE' then
    insert into public.job_count_deltas (queue, type, status, delta)
    select o.queue, o.type, o.status, -count(*)
      from old_rows o group by o.queue, o.type, o.status;
  else
    -- Heartbeats and other same-status updates net to zero and write nothing.
    insert into public.job_count_deltas (queue, type, status, delta, finished_minute)
    select c.queue, c.type, c.status, c.d,
           case when c.finished > 0 then pg_catalog.date_trunc('minute', now()) end
      from (select x.queue, x.type, x.status, sum(x.d) as d, sum(x.f) as finished
              from (select n.queue, n.type, n.status, 1 as d,
                           case when n.status in ('completed', 'failed', 'cancelled') then 1 else 0 end as f
                      from new_rows n
                    union all
                    select o.queue, o.type, o.status, -1, 0 from old_rows o) x
             group by x.queue, x.type, x.status) c
     where c.d <> 0;
  end if;
  -- Fold now and then so the unfolded tail that readers add up stays short.
  if pg_catalog.random() < 0.004 then
    perform public.sj_stats_fold_v1(50000);
  end if;
  return null;
end;
$$;

create or replace function public.sj_jobs_truncate_trigger()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  delete from public.job_count_deltas;
  delete from public.job_counts;
  delete from public.job_finished_minutely;
  return null;
end;
$$;

drop trigger if exists jobs_count_insert on public.jobs;
create trigger jobs_count_insert after insert on public.jobs
  referencing new table as new_rows
  for each statement execute function public.sj_jobs_count_trigger();
drop trigger if exists jobs_count_update on public.jobs;
create trigger jobs_count_update after update on public.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.sj_jobs_count_trigger();
drop trigger if exists jobs_count_delete on public.jobs;
create trigger jobs_count_delete after delete on public.jobs
  referencing old table as old_rows
  for each statement execute function public.sj_jobs_count_trigger();
drop trigger if exists jobs_count_truncate on public.jobs;
create trigger jobs_count_truncate after truncate on public.jobs
  for each statement execute function public.sj_jobs_truncate_trigger();

-- Recount from the jobs table (after a restore that bypassed triggers). O(table), admin only.
create or replace function public.sj_stats_rebuild_v1()
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_count bigint;
begin
  -- Writers wait for the recount (a share lock lets no write slip between count and swap).
  lock table public.jobs in share mode;
  delete from public.job_count_deltas;
  delete from public.job_counts;
  insert into public.job_counts (queue, type, status, n)
  select j.queue, j.type, j.status, count(*) from public.jobs j group by 1, 2, 3;
  select coalesce(sum(c.n), 0) into v_count from public.job_counts c;
  return v_count;
end;
$$;

-- Existing rows: counted once, here.
delete from public.job_count_deltas;
delete from public.job_counts;
insert into public.job_counts (queue, type, status, n)
select j.queue, j.type, j.status, count(*) from public.jobs j group by 1, 2, 3;

-- ---------------------------------------------------------------------------------------------
-- The claim, redefined with the same signature (old SDKs and workers keep calling it).
-- Steps, each its own statement (a plpgsql statement takes a fresh snapshot, which the caps
-- need: see below):
-- 0. unfiltered claim and no caps configured: 0003's single statement with a tenant-mix gate
--    (it leases the global head unless one tenant dominates it in a fair queue); only when the
--    gate refuses (or nothing was due) do the steps below run.
-- a. fail exhausted expired leases (as before) and, in capped queues only, put expired leases
--    back to pending (the lost attempt recorded as before), so that re-leasing them passes the
--    cap gate like any pending job; elsewhere expired leases are rescued directly (as before).
-- b. lanes: the (queue, type) pairs the filters allow that hold pending rows;
-- c. per lane, by its settings:
--    - unfair and uncapped: the lane's head in claim order, p_limit rows, SKIP LOCKED;
--    - fair and uncapped: the lane's head in claim order; if one tenant holds more than 2 of
--      its rows, also the tenant walk (see jobs_fair_idx above), the head being the top-up;
--    - capped: the tenant walk with, per tenant, pg_try_advisory_xact_lock on (queue, tenant)
--      (a tenant another claimer is capping right now is skipped: no waiting), then, in a
--      LATER statement (so its snapshot includes every claim committed by earlier holders of
--      that lock), remaining = cap - live leases, and at most that many rows. A queue-wide
--      max_running takes one try-lock per queue the same way (claims of that queue then take
--      turns; a claimer that loses the try-lock gets nothing from the queue this time).
--      Expired leases are not counted: an expired lease frees its slot.
-- d. the best p_limit candidates, ranked (priority desc, rank within the tenant, run_at, id),
--    are leased; the rest stay locked, unleased, until commit (as the rescue union did), so a
--    concurrent claim skips them for that moment. Several lanes may each lock up to p_limit.
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
-- Plans do not depend on the argument values (ordered index scans that stop early).
set plan_cache_mode = force_generic_plan
as $$
declare
  v_lq text[];            -- lane queues
  v_lt text[];            -- lane types (same length)
  v_fair boolean[];
  v_capped boolean[];
  v_cand uuid[] := '{}';  -- locked pending candidates
  v_rescue uuid[] := '{}';
  v_got uuid[];
  v_tenants uuid[];
  v_i integer;
  v_q text;
  v_t text;
  v_p integer;
  v_need integer;
  v_quota integer;
  v_tid uuid;
  v_caps integer[];
  v_running bigint[];
  v_k integer;
  v_n bigint;
  v_room integer;
  v_qroom integer;
  v_qcap integer;
  v_capq text[];          -- queues with a cap
  v_unfair text[];        -- queues with fair = false
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

  -- Capped and unfair queues; one small read, usually of an empty table.
  select coalesce(pg_catalog.array_agg(distinct s.queue) filter (
           where s.max_running is not null or s.max_running_per_tenant is not null), '{}'),
         coalesce(pg_catalog.array_agg(distinct s.queue) filter (
           where s.tenant_id is null and s.fair is false), '{}')
    into v_capq, v_unfair
    from public.job_queue_settings s;
  -- a. Expired leases on their last attempt fail (bounded per call). Guarded by a probe of
  -- jobs_exhausted_lease_idx: an UPDATE fires the counters' statement trigger even when it
  -- changes nothing, and that costs more than the probe.
  if exists (select 1 from public.jobs j
              where j.status = 'processing' and j.locked_until < now()
                and j.attempts >= j.max_attempts
                and (p_types is null or j.type = any(p_types))
                and (p_queues is null or j.queue = any(p_queues))) then
    with exhausted as materialized (
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
    )
    update public.jobs j
       set status = 'failed',
           finished_at = now(),
           lease_id = null,
           locked_until = null,
           last_error = 'lease expired',
           errors = j.errors || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
             'attempt', j.attempts, 'at', now(), 'worker_id', j.worker_id,
             'error', pg_catalog.jsonb_build_object('type', 'LeaseExpired', 'message', 'lease expired'))),
           updated_at = now()
      from exhausted x
     where j.id = x.id;
  end if;

  -- Unfiltered claim, no caps: 0003's single statement (one scan of jobs_claim_idx, rescue
  -- included) with one gate: it leases the head only if no tenant holds more than 2 of its
  -- rows at the top priority in a fair queue, i.e. the head already interleaves tenants (the
  -- common case with many tenants; always true when every queue is unfair). Otherwise it
  -- leases nothing and the lane path below runs (the head's rows stay locked by us).
  if p_queues is null and p_types is null and cardinality(v_capq) = 0 then
    return query
    with due as materialized (
      -- status = 'pending' is jobs_claim_idx's predicate: an ordered index scan.
      select j.id, j.priority, j.run_at, j.queue, j.tenant_id
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
      select j.id, j.priority, j.run_at, j.queue, j.tenant_id
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
    mixed as materialized (
      select coalesce(max(t.n), 0) <= 2 as ok
        from (select count(*) as n
                from due d
               where d.priority = (select max(d2.priority) from due d2)
                 and not (d.queue = any(v_unfair))
               group by d.queue, d.tenant_id) t
    ),
    picked as materialized (
      select c.id
        from (select * from due union all select * from rescued) c
       where (select m.ok from mixed m)
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
    get diagnostics v_n = row_count;
    if v_n > 0 then
      return;
    end if;
  end if;


  if cardinality(v_capq) > 0 then
    -- Expired leases in capped queues go back to pending, then through the cap gate below.
    with stale as materialized (
      select j.id
        from public.jobs j
       where j.status = 'processing'
         and j.locked_until < now()
         and j.attempts < j.max_attempts
         and j.queue = any(v_capq)
         and (p_queues is null or j.queue = any(p_queues))
         and (p_types is null or j.type = any(p_types))
       order by j.locked_until
       limit 1000
         for update skip locked
    )
    update public.jobs j
       set status = 'pending',
           lease_id = null,
           locked_until = null,
           last_error = 'lease expired',
           errors = j.errors || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
             'attempt', j.attempts, 'at', now(), 'worker_id', j.worker_id,
             'error', pg_catalog.jsonb_build_object('type', 'LeaseExpired', 'message', 'lease expired'))),
           updated_at = now()
      from stale x
     where j.id = x.id;
  end if;

  -- Expired leases with attempts left, outside capped queues: rescued directly, as before.
  select coalesce(pg_catalog.array_agg(r.id), '{}') into v_rescue
    from (select j.id
            from public.jobs j
           where j.status = 'processing'
             and j.locked_until < now()
             and j.attempts < j.max_attempts
             and (p_types is null or j.type = any(p_types))
             and (p_queues is null or j.queue = any(p_queues))
             and not (j.queue = any(v_capq))
           order by j.priority desc, j.run_at, j.id
           limit p_limit
             for update skip locked) r;

  -- b. Lanes.
  begin
    -- Lanes, one jobs_lane_idx descent each. Each filter shape has its own statement so
    -- that every scan's conditions are index conditions under the generic plan.
    if p_queues is not null and p_types is not null then
      select pg_catalog.array_agg(q order by q, t), pg_catalog.array_agg(t order by q, t)
        into v_lq, v_lt
        from (select distinct q, t from pg_catalog.unnest(p_queues) as q,
                                        pg_catalog.unnest(p_types) as t) x;
    elsif p_queues is not null then
      -- the types present in each wanted queue
      select pg_catalog.array_agg(x.q order by x.q, x.t), pg_catalog.array_agg(x.t order by x.q, x.t)
        into v_lq, v_lt
        from (select distinct q from pg_catalog.unnest(p_queues) as q) w
        cross join lateral (
          with recursive ty(q, t) as (
            (select j.queue, j.type from public.jobs j
              where j.status = 'pending' and j.queue = w.q
              order by j.queue, j.type limit 1)
            union all
            select ty.q, (select j.type from public.jobs j
                           where j.status = 'pending' and j.queue = ty.q and j.type > ty.t
                           order by j.queue, j.type limit 1)
              from ty where ty.t is not null)
          select ty.q, ty.t from ty where ty.t is not null) x;
    else
      -- the queues present (then crossed with the wanted types), or every (queue, type)
      with recursive qs(q) as (
        (select j.queue from public.jobs j where j.status = 'pending'
          order by j.queue limit 1)
        union all
        select (select j.queue from public.jobs j
                 where j.status = 'pending' and j.queue > qs.q order by j.queue limit 1)
          from qs where qs.q is not null)
      select pg_catalog.array_agg(qs.q) into v_lq from qs where qs.q is not null;
      if p_types is not null then
        select pg_catalog.array_agg(q order by q, t), pg_catalog.array_agg(t order by q, t)
          into v_lq, v_lt
          from (select distinct q, t from pg_catalog.unnest(v_lq) as q,
                                          pg_catalog.unnest(p_types) as t) x;
      else
        select pg_catalog.array_agg(x.q order by x.q, x.t), pg_catalog.array_agg(x.t order by x.q, x.t)
          into v_lq, v_lt
          from pg_catalog.unnest(v_lq) as w(q)
          cross join lateral (
            with recursive ty(q, t) as (
              (select j.queue, j.type from public.jobs j
                where j.status = 'pending' and j.queue = w.q
                order by j.queue, j.type limit 1)
              union all
              select ty.q, (select j.type from public.jobs j
                             where j.status = 'pending' and j.queue = ty.q and j.type > ty.t
                             order by j.queue, j.type limit 1)
                from ty where ty.t is not null)
            select ty.q, ty.t from ty where ty.t is not null) x;
      end if;
    end if;
    select coalesce(pg_catalog.array_agg(not (l.q = any(v_unfair)) order by l.o), '{}'),
           coalesce(pg_catalog.array_agg(l.q = any(v_capq) order by l.o), '{}')
      into v_fair, v_capped
      from pg_catalog.unnest(v_lq) with ordinality as l(q, o);

    for v_i in 1 .. coalesce(cardinality(v_lq), 0) loop
      v_q := v_lq[v_i];
      v_t := v_lt[v_i];
      if not v_capped[v_i] and not v_fair[v_i] then
        -- c1. Unfair: the lane's head in claim order.
        select coalesce(pg_catalog.array_agg(d.id), '{}') into v_got
          from (select j.id
                  from public.jobs j
                 where j.status = 'pending' and j.queue = v_q and j.type = v_t
                   and j.run_at <= now() and j.attempts < j.max_attempts
                 order by (-j.priority), j.run_at, j.id
                 limit p_limit
                   for update skip locked) d;
        v_cand := v_cand || v_got;
        continue;
      end if;
      if not v_capped[v_i] then
        -- c2. Fair. First the lane's head in plain claim order (contiguous rows: the cheap
        -- case). If no tenant holds more than 2 of its rows at the top priority, the head
        -- already interleaves at least limit/2 tenants (more than the walk below serves) and
        -- it is the claim. Otherwise a tenant's backlog dominates: walk other tenants.
        with head as materialized (
          select j.id, j.tenant_id, j.priority
            from public.jobs j
           where j.status = 'pending' and j.queue = v_q and j.type = v_t
             and j.run_at <= now() and j.attempts < j.max_attempts
           order by (-j.priority), j.run_at, j.id
           limit p_limit
             for update skip locked
        )
        select coalesce((select pg_catalog.array_agg(h.id) from head h), '{}'),
               (select max(h.priority) from head h),
               (select max(c.n) from (select count(*) as n from head h
                                       where h.priority = (select max(h2.priority) from head h2)
                                       group by h.tenant_id) c)
          into v_got, v_p, v_need;
        v_cand := v_cand || v_got;
        continue when v_p is null or v_need <= 2;
      else
        -- The lane's top priority holding a due row.
        select j.priority into v_p
          from public.jobs j
         where j.status = 'pending' and j.queue = v_q and j.type = v_t
           and j.run_at <= now() and j.attempts < j.max_attempts
         order by (-j.priority), j.run_at, j.id
         limit 1;
      end if;
      if v_p is null then
        continue;
      end if;
      -- Up to 25 (100 when capped) distinct tenants at that priority from a random start,
      -- wrapping around once (to the nil uuid, the smallest; a range condition, so that the
      -- generic plan keeps to jobs_fair_idx); one index descent per tenant.
      v_tid := pg_catalog.gen_random_uuid();
      with recursive walk(tid, n, first) as (
        select s.tid, 1, s.tid
          from (select coalesce(
                  (select j.tenant_id from public.jobs j
                    where j.status = 'pending' and j.queue = v_q and j.type = v_t
                      and j.priority = v_p and j.tenant_id > v_tid
                    order by j.tenant_id, j.run_at, j.id limit 1),
                  (select j.tenant_id from public.jobs j
                    where j.status = 'pending' and j.queue = v_q and j.type = v_t
                      and j.priority = v_p
                      and j.tenant_id >= '00000000-0000-0000-0000-000000000000'::uuid
                    order by j.tenant_id, j.run_at, j.id limit 1)) as tid
               ) s
         where s.tid is not null
        union all
        select nx.tid, w.n + 1, w.first
          from walk w
          cross join lateral (
            select coalesce(
              (select j.tenant_id from public.jobs j
                where j.status = 'pending' and j.queue = v_q and j.type = v_t
                  and j.priority = v_p and j.tenant_id > w.tid
                order by j.tenant_id, j.run_at, j.id limit 1),
              (select j.tenant_id from public.jobs j
                where j.status = 'pending' and j.queue = v_q and j.type = v_t
                  and j.priority = v_p
                  and j.tenant_id >= '00000000-0000-0000-0000-000000000000'::uuid
                order by j.tenant_id, j.run_at, j.id limit 1)) as tid) nx
         where w.n < case when v_capped[v_i] then 100 else 25 end
           and nx.tid is not null and nx.tid <> w.first
      )
      select pg_catalog.array_agg(w.tid order by w.n) into v_tenants from walk w;
      if v_tenants is null then
        continue;
      end if;
      if not v_capped[v_i] then
        -- c2 (continued). ceil(limit / tenants) oldest due rows of each walked tenant; the
        -- head locked above is the top-up, so the claim stays work-conserving. The final
        -- ranking (rank within tenant first) keeps each tenant's share.
        v_quota := (p_limit + cardinality(v_tenants) - 1) / cardinality(v_tenants);
        select coalesce(pg_catalog.array_agg(x.id), '{}') into v_got
          from pg_catalog.unnest(v_tenants) as w(tid)
          cross join lateral (
            select j.id
              from public.jobs j
             where j.status = 'pending' and j.queue = v_q and j.type = v_t
               and j.priority = v_p and j.tenant_id = w.tid
               and j.run_at <= now() and j.attempts < j.max_attempts
             order by j.tenant_id, j.run_at, j.id
             limit v_quota
               for update of j skip locked) x;
        v_cand := v_cand || v_got;
        continue;
      end if;
      -- c3. Capped lane.
      v_qroom := p_limit;
      select s.max_running into v_qcap
        from public.job_queue_settings s where s.queue = v_q and s.tenant_id is null;
      if v_qcap is not null then
        if not pg_catalog.pg_try_advisory_xact_lock(
                 pg_catalog.hashtextextended('supabase_jobs:queue:' || v_q, 0)) then
          continue;  -- another claimer is filling this queue right now
        end if;
        -- A new statement: its snapshot includes every claim committed before we got the lock
        -- (the lock is held to commit). Rows this transaction already took count too.
        select least(v_qcap - count(*), p_limit) into v_qroom
          from public.jobs j
         where j.queue = v_q
           and ((j.status = 'processing' and j.locked_until >= now()) or j.id = any(v_cand));
        if v_qroom <= 0 then
          continue;
        end if;
      end if;
      -- Try-lock every walked tenant that has a cap (one statement; "offset 0" keeps the
      -- lock call in this query level, evaluated once per tenant, never for discarded rows).
      -- A tenant another claimer holds is dropped from this claim: skipped, never waited for.
      select coalesce(pg_catalog.array_agg(x.tid order by x.o), '{}'),
             coalesce(pg_catalog.array_agg(x.cap order by x.o), '{}')
        into v_tenants, v_caps
        from (select w.tid, w.o, coalesce(o.max_running_per_tenant, d.max_running_per_tenant) as cap
                from pg_catalog.unnest(v_tenants) with ordinality as w(tid, o)
                left join public.job_queue_settings d on d.queue = v_q and d.tenant_id is null
                left join public.job_queue_settings o on o.queue = v_q and o.tenant_id = w.tid
              offset 0) x
       where x.cap is null
          or pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended(
               'supabase_jobs:tenant:' || v_q || '/' || x.tid::text, 0));
      continue when cardinality(v_tenants) = 0;
      -- A new statement, so a snapshot taken after the locks: it sees every claim committed
      -- by an earlier holder (locks are held to commit). Live leases only: an expired lease
      -- frees its slot. Rows this claim already took in another lane of the queue count too.
      select pg_catalog.array_agg(coalesce(c.n, 0) order by w.o) into v_running
        from pg_catalog.unnest(v_tenants) with ordinality as w(tid, o)
        left join (select j.tenant_id, count(*) as n
                     from public.jobs j
                    where j.queue = v_q and j.tenant_id = any(v_tenants)
                      and ((j.status = 'processing' and j.locked_until >= now())
                           or j.id = any(v_cand))
                    group by j.tenant_id) c on c.tenant_id = w.tid;
      v_quota := (v_qroom + cardinality(v_tenants) - 1) / cardinality(v_tenants);
      for v_k in 1 .. cardinality(v_tenants) loop
        exit when v_qroom <= 0;
        v_room := least(v_quota, v_qroom, coalesce(v_caps[v_k] - v_running[v_k], p_limit));
        continue when v_room <= 0;
        select coalesce(pg_catalog.array_agg(d.id), '{}') into v_got
          from (select j.id
                  from public.jobs j
                 where j.status = 'pending' and j.queue = v_q and j.type = v_t
                   and j.priority = v_p and j.tenant_id = v_tenants[v_k]
                   and j.run_at <= now() and j.attempts < j.max_attempts
                 order by j.tenant_id, j.run_at, j.id
                 limit v_room
                   for update skip locked) d;
        v_cand := v_cand || v_got;
        v_qroom := v_qroom - cardinality(v_got);
      end loop;
    end loop;
  end;

  -- d. Rank and lease the best p_limit.
  return query
  with cand as materialized (
    select j.id, j.priority, j.run_at,
           -- fair queues rank per tenant; an unfair queue is one "tenant"
           pg_catalog.row_number() over (
             partition by j.priority, j.queue,
                          case when not (j.queue = any(v_unfair)) then j.tenant_id end
             order by j.run_at, j.id) as rk
      from public.jobs j
     where j.id = any(v_cand || v_rescue)
  ),
  picked as materialized (
    select c.id from cand c
     order by c.priority desc, c.rk, c.run_at, c.id
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
       and j.id = any(array(select p2.id from picked p2))
    returning j.*
  )
  select c.* from claimed c order by c.priority desc, c.run_at, c.id;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Queue settings writers. set_queue_limits replaces both caps of a (queue, tenant) row (null =
-- no cap) and keeps the queue's fair flag; a row left with nothing set is deleted.
create or replace function public.sj_set_queue_limits_v1(
  p_queue text,
  p_max_running integer default null,
  p_max_running_per_tenant integer default null,
  p_tenant_id uuid default null
) returns setof public.job_queue_settings
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if p_tenant_id is not null and p_max_running is not null then
    raise exception using errcode = '22023',
      message = 'p_max_running is queue-wide; a tenant override sets p_max_running_per_tenant only';
  end if;
  insert into public.job_queue_settings as s (queue, tenant_id, max_running, max_running_per_tenant)
  values (p_queue, p_tenant_id, p_max_running, p_max_running_per_tenant)
  on conflict (queue, tenant_id) do update
     set max_running = excluded.max_running,
         max_running_per_tenant = excluded.max_running_per_tenant,
         updated_at = now();
  delete from public.job_queue_settings s
   where s.queue = p_queue and s.tenant_id is not distinct from p_tenant_id
     and s.fair is null and s.max_running is null and s.max_running_per_tenant is null;
  return query
  select s.* from public.job_queue_settings s
   where s.queue = p_queue and s.tenant_id is not distinct from p_tenant_id;
end;
$$;

create or replace function public.sj_set_queue_fair_v1(p_queue text, p_fair boolean)
returns setof public.job_queue_settings
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if p_fair is null then
    raise exception using errcode = '22023', message = 'p_fair must be true or false';
  end if;
  insert into public.job_queue_settings as s (queue, tenant_id, fair)
  values (p_queue, null, case when p_fair then null else false end)
  on conflict (queue, tenant_id) do update
     set fair = excluded.fair, updated_at = now();
  delete from public.job_queue_settings s
   where s.queue = p_queue and s.tenant_id is null
     and s.fair is null and s.max_running is null and s.max_running_per_tenant is null;
  return query
  select s.* from public.job_queue_settings s where s.queue = p_queue and s.tenant_id is null;
end;
$$;

-- stats, redefined with the same signature and answer. All tenants: from the counters (exact
-- at the snapshot, O(groups), independent of table size). One tenant: counted over
-- jobs_tenant_created_idx, O(that tenant's rows), as before.
create or replace function public.sj_stats_v1(p_tenant_id uuid default null)
returns table (type text, status text, count bigint)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  -- plpgsql, not sql: schema.sql defines this function before the counter tables exist.
  return query
  select x.type, x.status, sum(x.n)::bigint
    from (select c.type, c.status, c.n from public.job_counts c
           where p_tenant_id is null
          union all
          select d.type, d.status, d.delta from public.job_count_deltas d
           where p_tenant_id is null
          union all
          select j.type, j.status, 1::bigint from public.jobs j
           where p_tenant_id is not null and j.tenant_id = p_tenant_id) x
   group by x.type, x.status
  having sum(x.n) <> 0
   order by x.type, x.status;
end;
$$;

-- queue_stats: per queue, what a dashboard polls. Counts from the counters; the oldest due
-- pending job per queue from the head of each (queue, type, priority) group of
-- jobs_lane_idx (a loose index scan: O(groups), not O(rows)); finished per minute over the
-- last 60 whole minutes plus the current one (oldest first) from the minute buckets.
-- Orders and conditions are spelled so that only the lane indexes can serve them (see
-- jobs_lane_idx): jobs_claim_idx would filter queue and type row by row.
create or replace function public.sj_queue_stats_v1()
returns table (
  queue text,
  pending bigint,
  processing bigint,
  completed bigint,
  failed bigint,
  cancelled bigint,
  oldest_pending_age_seconds double precision,
  finished_last_hour bigint,
  finished_per_minute bigint[]
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  -- plpgsql keeps the plan for the session (PostgREST reuses connections); as a SQL
  -- function this query was planned on every call (~15 ms of planning for 0.5 ms of work).
  return query
  with recursive counts as (
    select x.queue,
           sum(x.n) filter (where x.status = 'pending') as pending,
           sum(x.n) filter (where x.status = 'processing') as processing,
           sum(x.n) filter (where x.status = 'completed') as completed,
           sum(x.n) filter (where x.status = 'failed') as failed,
           sum(x.n) filter (where x.status = 'cancelled') as cancelled
      from (select c.queue, c.status, c.n from public.job_counts c
            union all
            select d.queue, d.status, d.delta from public.job_count_deltas d) x
     group by x.queue
  ),
  minutes as (
    select x.queue, x.minute, sum(x.n) as n
      from (select m.queue, m.minute, m.n from public.job_finished_minutely m
             where m.minute >= pg_catalog.date_trunc('minute', now()) - interval '60 minutes'
            union all
            select d.queue, d.finished_minute, d.delta from public.job_count_deltas d
             where d.finished_minute >= pg_catalog.date_trunc('minute', now()) - interval '60 minutes') x
     group by x.queue, x.minute
  ),
  lanes(q, t) as (
    (select j.queue, j.type from public.jobs j
      where j.status = 'pending' order by j.queue, j.type limit 1)
    union all
    select n.queue, n.type
      from lanes l
      cross join lateral (
        select j.queue, j.type from public.jobs j
         where j.status = 'pending' and (j.queue, j.type) > (l.q, l.t)
         order by j.queue, j.type limit 1) n
  ),
  groups(q, t, p) as (
    select l.q, l.t, f.priority
      from lanes l
      cross join lateral (
        select j.priority from public.jobs j
         where j.status = 'pending' and j.queue = l.q and j.type = l.t
         order by j.queue, j.type, j.priority desc, j.tenant_id limit 1) f
    union all
    select g.q, g.t, n.priority
      from groups g
      cross join lateral (
        select j.priority from public.jobs j
         where j.status = 'pending' and j.queue = g.q and j.type = g.t and j.priority < g.p
         order by j.queue, j.type, j.priority desc, j.tenant_id limit 1) n
  ),
  oldest as (
    select g.q as queue, min(h.run_at) as run_at
      from groups g
      cross join lateral (
        select j.run_at from public.jobs j
         where j.status = 'pending' and j.queue = g.q and j.type = g.t
           and (-j.priority) = (-g.p)
         order by j.run_at limit 1) h
     where h.run_at <= now()
     group by g.q
  ),
  queues as (
    select c.queue from counts c
    union select m.queue from minutes m
    union select o.queue from oldest o
  )
  select q.queue,
         coalesce(c.pending, 0)::bigint,
         coalesce(c.processing, 0)::bigint,
         coalesce(c.completed, 0)::bigint,
         coalesce(c.failed, 0)::bigint,
         coalesce(c.cancelled, 0)::bigint,
         extract(epoch from now() - o.run_at)::double precision,
         coalesce((select sum(m.n) from minutes m where m.queue = q.queue), 0)::bigint,
         array(select coalesce(m.n, 0)::bigint
                 from pg_catalog.generate_series(
                        pg_catalog.date_trunc('minute', now()) - interval '60 minutes',
                        pg_catalog.date_trunc('minute', now()), interval '1 minute') as s(minute)
                 left join minutes m on m.queue = q.queue and m.minute = s.minute
                order by s.minute)
    from queues q
    left join counts c on c.queue = q.queue
    left join oldest o on o.queue = q.queue
   where coalesce(c.pending, 0) + coalesce(c.processing, 0) + coalesce(c.completed, 0)
         + coalesce(c.failed, 0) + coalesce(c.cancelled, 0) <> 0
      or exists (select 1 from minutes m where m.queue = q.queue and m.n <> 0)
   order by q.queue;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- 6. prune in bounded batches. PostgREST runs one RPC per transaction, so the SDK loops; each
-- call reads at most p_max_pages heap pages (a TID range scan from p_from_page: no index, so
-- completions pay nothing for prune) and deletes at most p_batch_size rows. Rows a worker has
-- locked are skipped (SKIP LOCKED), so prune never waits for a worker. It answers how many rows
-- it deleted, the page to continue from and the table's current size in pages.
create or replace function public.sj_prune_batch_v1(
  p_older_than_seconds double precision,
  p_statuses text[] default '{completed,failed,cancelled}',
  p_from_page bigint default 0,
  p_batch_size integer default 10000,
  p_max_pages integer default 5000
) returns table (deleted bigint, next_page bigint, total_pages bigint)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_cutoff timestamptz;
  v_tids tid[];
  v_total bigint;
  v_to bigint;
  v_next bigint;
  v_count bigint;
begin
  if p_older_than_seconds is null or p_older_than_seconds not between 0 and 3153600000 then
    raise exception using errcode = '22023',
      message = 'p_older_than_seconds must be between 0 and 3153600000';
  end if;
  if p_statuses is null or cardinality(p_statuses) = 0
     or not (p_statuses <@ array['completed', 'failed', 'cancelled']) then
    raise exception using errcode = '22023',
      message = 'p_statuses may only name completed, failed and cancelled';
  end if;
  if p_from_page is null or p_from_page < 0 then
    raise exception using errcode = '22023', message = 'p_from_page must be >= 0';
  end if;
  if p_batch_size is null or p_batch_size not between 1 and 100000 then
    raise exception using errcode = '22023', message = 'p_batch_size must be between 1 and 100000';
  end if;
  if p_max_pages is null or p_max_pages not between 1 and 1000000 then
    raise exception using errcode = '22023', message = 'p_max_pages must be between 1 and 1000000';
  end if;
  v_cutoff := now() - pg_catalog.make_interval(secs => p_older_than_seconds);
  v_total := pg_catalog.pg_relation_size('public.jobs'::regclass)
             / pg_catalog.current_setting('block_size')::bigint;
  v_to := least(p_from_page + p_max_pages, v_total);
  select pg_catalog.array_agg(x.ctid) into v_tids
    from (select j.ctid
            from public.jobs j
           where j.ctid >= pg_catalog.format('(%s,0)', p_from_page)::tid
             and j.ctid < pg_catalog.format('(%s,0)', v_to)::tid
             and j.status = any(p_statuses)
             and (j.finished_at < v_cutoff or (j.finished_at is null and j.updated_at < v_cutoff))
           limit p_batch_size
             for update skip locked) x;
  v_count := coalesce(cardinality(v_tids), 0);
  if v_count = p_batch_size then
    -- Full batch: continue from the page of the last row taken (it may hold more).
    select max(((t::text)::point)[0])::bigint into v_next from pg_catalog.unnest(v_tids) as t;
  else
    v_next := v_to;
  end if;
  if v_count > 0 then
    delete from public.jobs j where j.ctid = any(v_tids);
    get diagnostics v_count = row_count;
  end if;
  return query select v_count, v_next, v_total;
end;
$$;

-- Only service_role may call these (see 0003). The trigger functions are not callable as RPCs
-- anyway (they return trigger), but keep EXECUTE closed for the API roles too.
revoke execute on function
  public.sj_claim_v1(text, integer, integer, text[], text[]),
  public.sj_stats_v1(uuid),
  public.sj_stats_fold_v1(integer),
  public.sj_stats_rebuild_v1(),
  public.sj_jobs_count_trigger(),
  public.sj_jobs_truncate_trigger(),
  public.sj_set_queue_limits_v1(text, integer, integer, uuid),
  public.sj_set_queue_fair_v1(text, boolean),
  public.sj_queue_stats_v1(),
  public.sj_prune_batch_v1(double precision, text[], bigint, integer, integer)
  from public, anon, authenticated;

grant execute on function
  public.sj_claim_v1(text, integer, integer, text[], text[]),
  public.sj_stats_v1(uuid),
  public.sj_stats_fold_v1(integer),
  public.sj_stats_rebuild_v1(),
  public.sj_jobs_count_trigger(),
  public.sj_jobs_truncate_trigger(),
  public.sj_set_queue_limits_v1(text, integer, integer, uuid),
  public.sj_set_queue_fair_v1(text, boolean),
  public.sj_queue_stats_v1(),
  public.sj_prune_batch_v1(double precision, text[], bigint, integer, integer)
  to service_role;
