-- supabase_jobs schema snapshot: what applying migrations/0001.. in order produces.
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

-- ============================================================================================
-- 0006 scheduling (isolation, fairness, caps, stats counters, batched prune)
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

-- ---------------------------------------------------------------------------------------
-- 0007 realtime wake-ups: "queue X has work" through Supabase Realtime.
-- One message per queue per transaction with jobs due now, never one per row: a 10,000-row
-- dispatch_many sends one. The message names the queue only (no tenant, ids or payload), on
-- the private channel topic 'supabase_jobs:queue:<queue>', event 'jobs_available'.
-- Inserts: a statement-level trigger reads the statement's new rows (a transition table).
-- Updates: a row-level trigger whose WHEN clause lets through only rows that became pending
-- and due (retry, snooze to now, a failed attempt retried at once, an admin "run now"), so
-- claims, heartbeats and completions never call it: the lifecycle path pays one WHEN test
-- per row and nothing else, without touching the lifecycle functions (bench/README.md).
-- Queues already woken in the transaction are remembered in a transaction-local setting:
-- messages go out at commit anyway, so one per queue per transaction is all a worker needs.
-- realtime.send is looked up at run time, not here: on plain PostgreSQL (no realtime schema)
-- the trigger does nothing, and a project that enables Realtime later gets wake-ups from its
-- next transaction on, with no new migration.
create or replace function public.sj_wake_v1()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_woken text;
  v_queues text[];
  v_queue text;
begin
  -- A wake-up is a hint (workers poll as well): whatever goes wrong in here is logged and
  -- the dispatch or lifecycle statement goes on. realtime.send catches its own errors too.
  begin
    if tg_level = 'ROW' then
      v_queues := array[new.queue];
    else
      select pg_catalog.array_agg(distinct n.queue) into v_queues
        from sj_new n
       where n.status = 'pending' and n.run_at <= pg_catalog.now();
    end if;
    if v_queues is null
       or pg_catalog.to_regprocedure('realtime.send(jsonb,text,text,boolean)') is null then
      return null;
    end if;
    v_woken := coalesce(pg_catalog.current_setting('supabase_jobs.woken_queues', true), '');
    foreach v_queue in array v_queues loop
      -- Queue names cannot contain a comma (jobs_queue_check).
      continue when pg_catalog.strpos(',' || v_woken || ',', ',' || v_queue || ',') > 0;
      perform realtime.send(pg_catalog.jsonb_build_object('queue', v_queue),
                            'jobs_available', 'supabase_jobs:queue:' || v_queue, true);
      v_woken := v_woken || ',' || v_queue;
    end loop;
    perform pg_catalog.set_config('supabase_jobs.woken_queues', v_woken, true);
  exception when others then
    raise warning using
      message = 'supabase_jobs: wake-up not sent (' || sqlstate || '): ' || sqlerrm,
      hint = 'Workers still find the jobs by polling.';
  end;
  return null;
end;
$$;

revoke execute on function public.sj_wake_v1() from public, anon, authenticated;
grant execute on function public.sj_wake_v1() to service_role;

drop trigger if exists sj_wake_on_insert on public.jobs;
create trigger sj_wake_on_insert
  after insert on public.jobs
  referencing new table as sj_new
  for each statement execute function public.sj_wake_v1();

drop trigger if exists sj_wake_on_update on public.jobs;
create trigger sj_wake_on_update
  after update on public.jobs
  for each row
  when (new.status = 'pending' and new.run_at <= now()
        and (old.status <> 'pending' or old.run_at > now()))
  execute function public.sj_wake_v1();
-- ---------------------------------------------------------------------------------------
-- 0008 (from migrations/0008_dispatch_rpc.sql) dispatch from SQL, Edge Functions and pg_cron: public.sj_dispatch_v1.
-- The same rules as the Python SDK's dispatch, applied inside the database: the table's CHECKs,
-- an optional list of known job types, the payload size and depth limits, secret keys scrubbed
-- from the payload by the SDK's own key-name rules (generated, see sj_is_secret_key below) and
-- idempotency keys that resolve to the job id the SDK derives, so a job dispatched from SQL and
-- one dispatched from Python with the same tenant and key are the same job.
-- Helpers live in the private schema supabase_jobs (never exposed through the API).

create schema if not exists supabase_jobs;
revoke all on schema supabase_jobs from public;
grant usage on schema supabase_jobs to service_role;

-- Known job types. Empty (the default): any type name the table's CHECK accepts. With rows:
-- sj_dispatch_v1 refuses every other type, like the SDK's JobTypeRegistry. Manage it in your
-- own migrations: insert into supabase_jobs.job_types (type) values ('send_email');
create table if not exists supabase_jobs.job_types (
  type text primary key
    constraint job_types_type_check check (char_length(type) <= 127 and type ~ '^[a-z][a-z0-9_.:-]*$'),
  created_at timestamptz not null default now()
);
alter table supabase_jobs.job_types enable row level security;
revoke all on table supabase_jobs.job_types from public, anon, authenticated, service_role;
grant select on table supabase_jobs.job_types to service_role;

-- SHA-1 (FIPS 180-4) in plain PL/pgSQL: uuid5 needs it, and neither pgcrypto nor uuid-ossp is
-- guaranteed (some PostgreSQL builds ship without contrib, and on Supabase they live in the
-- extensions schema, which a project may move). Only used on short names: a few 64-byte blocks.
create or replace function supabase_jobs.sj_sha1(p_data bytea)
returns bytea
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_mask constant bigint := 4294967295;
  v_len bigint := pg_catalog.length(p_data);
  v_msg bytea;
  v_h bigint[] := array[1732584193, 4023233417, 2562383102, 271733878, 3285377520];
  v_w bigint[];
  v_a bigint; v_b bigint; v_c bigint; v_d bigint; v_e bigint;
  v_f bigint; v_k bigint; v_t bigint; v_x bigint;
  v_block integer;
  v_i integer;
begin
  -- Padding: 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit big-endian number.
  v_msg := p_data || '\x80'::bytea
    || pg_catalog.decode(pg_catalog.repeat('00', ((119 - v_len % 64) % 64)::integer), 'hex')
    || pg_catalog.decode(pg_catalog.lpad(pg_catalog.to_hex(v_len * 8), 16, '0'), 'hex');
  for v_block in 0 .. pg_catalog.length(v_msg) / 64 - 1 loop
    v_w := pg_catalog.array_fill(0::bigint, array[80]);
    for v_i in 0 .. 15 loop
      v_w[v_i + 1] := (pg_catalog.get_byte(v_msg, v_block * 64 + v_i * 4)::bigint << 24)
                    | (pg_catalog.get_byte(v_msg, v_block * 64 + v_i * 4 + 1)::bigint << 16)
                    | (pg_catalog.get_byte(v_msg, v_block * 64 + v_i * 4 + 2)::bigint << 8)
                    | pg_catalog.get_byte(v_msg, v_block * 64 + v_i * 4 + 3)::bigint;
    end loop;
    for v_i in 17 .. 80 loop
      v_x := v_w[v_i - 3] # v_w[v_i - 8] # v_w[v_i - 14] # v_w[v_i - 16];
      v_w[v_i] := ((v_x << 1) | (v_x >> 31)) & v_mask;
    end loop;
    v_a := v_h[1]; v_b := v_h[2]; v_c := v_h[3]; v_d := v_h[4]; v_e := v_h[5];
    for v_i in 1 .. 80 loop
      if v_i <= 20 then
        v_f := (v_b & v_c) | ((~v_b & v_mask) & v_d);
        v_k := 1518500249;
      elsif v_i <= 40 then
        v_f := v_b # v_c # v_d;
        v_k := 1859775393;
      elsif v_i <= 60 then
        v_f := (v_b & v_c) | (v_b & v_d) | (v_c & v_d);
        v_k := 2400959708;
      else
        v_f := v_b # v_c # v_d;
        v_k := 3395469782;
      end if;
      v_t := ((((v_a << 5) | (v_a >> 27)) & v_mask) + v_f + v_e + v_k + v_w[v_i]) & v_mask;
      v_e := v_d;
      v_d := v_c;
      v_c := ((v_b << 30) | (v_b >> 2)) & v_mask;
      v_b := v_a;
      v_a := v_t;
    end loop;
    v_h[1] := (v_h[1] + v_a) & v_mask;
    v_h[2] := (v_h[2] + v_b) & v_mask;
    v_h[3] := (v_h[3] + v_c) & v_mask;
    v_h[4] := (v_h[4] + v_d) & v_mask;
    v_h[5] := (v_h[5] + v_e) & v_mask;
  end loop;
  return pg_catalog.decode(
    pg_catalog.lpad(pg_catalog.to_hex(v_h[1]), 8, '0') || pg_catalog.lpad(pg_catalog.to_hex(v_h[2]), 8, '0')
    || pg_catalog.lpad(pg_catalog.to_hex(v_h[3]), 8, '0') || pg_catalog.lpad(pg_catalog.to_hex(v_h[4]), 8, '0')
    || pg_catalog.lpad(pg_catalog.to_hex(v_h[5]), 8, '0'), 'hex');
end;
$$;

-- The id of a keyed job: uuid5(IDEMPOTENCY_NAMESPACE, '<tenant>:<key>'), exactly
-- supabase_jobs._core.idempotent_job_id (tenant as canonical lower-case text, name as UTF-8).
-- Never change it: the SDK and this function must derive the same id for the same key.
create or replace function supabase_jobs.sj_idempotent_job_id(p_tenant_id uuid, p_key text)
returns uuid
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_hash bytea;
begin
  v_hash := supabase_jobs.sj_sha1(
    pg_catalog.uuid_send('b7c688bc-4dfb-5315-b44e-c66628fd0721'::uuid)
    || pg_catalog.convert_to(p_tenant_id::text || ':' || p_key, 'UTF8'));
  -- RFC 4122: version 5 in the high nibble of byte 6, variant 10 in the top bits of byte 8.
  v_hash := pg_catalog.set_byte(v_hash, 6, (pg_catalog.get_byte(v_hash, 6) & 15) | 80);
  v_hash := pg_catalog.set_byte(v_hash, 8, (pg_catalog.get_byte(v_hash, 8) & 63) | 128);
  return pg_catalog.encode(pg_catalog.substr(v_hash, 1, 16), 'hex')::uuid;
end;
$$;

-- BEGIN GENERATED sj_is_secret_key (scripts/gen_sql_secret_rules.py; do not edit)
-- Whether the value under a JSON key named p_name is a secret: supabase_jobs._secret_keys
-- in SQL (design.md section 5; the steps are listed in supabase_jobs/_secret_rules.py).
-- Every word list below is copied from the Python module.
create or replace function supabase_jobs.sj_is_secret_key(p_name text)
returns boolean
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_name text := p_name;
  v_words text[];
  v_modes text[] := array[''];
  v_mode text;
  v_current text;
  v_count integer;
  v_digits boolean;
  v_previous text;
  v_kind text;
  v_fold text;
  v_last_fold text;
  v_ch text;
  v_code integer;
  v_end integer;
  v_head text;
  v_before text;
  v_match boolean;
  v_last integer;
  v_index integer;
  c_always_secret_words constant text[] := array[
    'accesskey', 'apikey', 'apikeys', 'authorisation', 'authorization', 'bearer',
    'contrasena', 'cookie', 'cookies', 'cred', 'credential', 'credentials', 'creds',
    'jsessionid', 'jwt', 'jwts', 'kennwort', 'mnemonic', 'otp', 'passcode', 'passphrase',
    'passwd', 'password', 'passwords', 'passwort', 'phpsessid', 'privatekey',
    'privatekeys', 'privkey', 'pswd', 'pwd', 'pword', 'secret', 'secretkey', 'secrets',
    'senha', 'sessid', 'sessionid', 'wachtwoord'];
  c_auth_heads constant text[] := array[
    'code', 'header', 'headers', 'key', 'pass', 'string', 'value'];
  c_auth_prefixes constant text[] := array[
    'api', 'basic', 'bearer', 'digest', 'http', 'proxy'];
  c_benign_heads constant text[] := array[
    'accepted', 'admirer', 'age', 'agent', 'alg', 'algorithm', 'algorithms', 'arn', 'at',
    'attempts', 'audience', 'banner', 'button', 'changed', 'claim', 'claims',
    'complexity', 'consent', 'consents', 'count', 'counter', 'created', 'date', 'days',
    'description', 'dialog', 'dir', 'directory', 'disable', 'disabled', 'dismissed',
    'domain', 'duration', 'email', 'emails', 'enable', 'enabled', 'endpoint', 'endpoints',
    'enforced', 'entropy', 'error', 'errors', 'exists', 'exp', 'expiration', 'expire',
    'expired', 'expires', 'expiry', 'file', 'filename', 'files', 'flow', 'form', 'format',
    'garden', 'generator', 'given', 'grant', 'hidden', 'hint', 'hours', 'href',
    'httponly', 'icon', 'id', 'ids', 'ingredient', 'interval', 'invalid', 'issuer',
    'kind', 'label', 'last', 'leeway', 'len', 'length', 'level', 'lifetime', 'link',
    'links', 'location', 'manager', 'match', 'matches', 'max', 'maximum', 'menu', 'min',
    'minimum', 'minutes', 'mismatch', 'mission', 'modal', 'mode', 'name', 'names',
    'notice', 'on', 'optional', 'page', 'path', 'paths', 'placeholder', 'policies',
    'policy', 'popup', 'preferences', 'prefs', 'present', 'protected', 'provider',
    'providers', 'recipe', 'rejected', 'reminder', 'required', 'requirement',
    'requirements', 'reset', 'retries', 'room', 'rotated', 'rule', 'rules', 'samesite',
    'santa', 'sauce', 'scope', 'scopes', 'score', 'screen', 'seconds', 'secure', 'sent',
    'server', 'set', 'settings', 'shown', 'society', 'state', 'status', 'strategy',
    'strength', 'template', 'time', 'timeout', 'timestamp', 'title', 'ttl', 'type',
    'types', 'updated', 'uri', 'uris', 'url', 'urls', 'valid', 'validation', 'validator',
    'version', 'versions', 'visible'];
  c_benign_token_qualifiers constant text[] := array[
    'after', 'audio', 'before', 'begin', 'bos', 'cached', 'cls', 'completion',
    'continuation', 'cursor', 'end', 'eos', 'eot', 'first', 'image', 'input', 'last',
    'marker', 'mask', 'max', 'min', 'next', 'num', 'offset', 'output', 'pad', 'padding',
    'page', 'pagination', 'prev', 'previous', 'prompt', 'reasoning', 'resume',
    'resumption', 'sep', 'special', 'start', 'stop', 'sync', 'thinking', 'total', 'unk',
    'video', 'vision'];
  c_code_qualifiers constant text[] := array[
    'access', 'activation', 'auth', 'authorization', 'backup', 'confirmation', 'device',
    'login', 'magic', 'mfa', 'oauth', 'otp', 'pairing', 'recovery', 'reset', 'security',
    'sms', 'time', 'totp', 'verification', 'verify'];
  c_credential_heads constant text[] := array[
    'code', 'codes', 'key', 'keys', 'nonce', 'otp', 'password', 'passwords', 'phrase',
    'pin', 'salt', 'secret', 'secrets', 'seed', 'token', 'tokens'];
  c_key_qualifiers constant text[] := array[
    'access', 'account', 'activation', 'admin', 'aes', 'airtable', 'akamai', 'alchemy',
    'algolia', 'amplitude', 'anthropic', 'api', 'apns', 'app', 'application', 'appwrite',
    'assemblyai', 'atlassian', 'auth', 'auth0', 'aws', 'azure', 'b2', 'backblaze',
    'bearer', 'binance', 'bitbucket', 'braintree', 'brevo', 'cert', 'certificate',
    'clerk', 'client', 'cloudflare', 'cognito', 'cohere', 'coinbase', 'consumer',
    'cookie', 'crypto', 'csrf', 'dashscope', 'datadog', 'decryption', 'deepgram',
    'deepseek', 'deploy', 'developer', 'digitalocean', 'discord', 'docker', 'dockerhub',
    'doppler', 'dropbox', 'dsa', 'easypost', 'ecdsa', 'ed25519', 'elevenlabs',
    'encryption', 'etherscan', 'expo', 'facebook', 'fastly', 'fcm', 'firebase',
    'firecrawl', 'fireworks', 'function', 'functions', 'gcp', 'gemini', 'github',
    'gitlab', 'gmaps', 'google', 'gpg', 'groq', 'hcaptcha', 'heroku', 'hetzner', 'hf',
    'hmac', 'hubspot', 'huggingface', 'infisical', 'infura', 'instagram', 'integration',
    'intercom', 'jina', 'jira', 'jwt', 'langchain', 'langsmith', 'licence', 'license',
    'linear', 'linkedin', 'linode', 'mailchimp', 'mailgun', 'mandrill', 'mapbox',
    'mapquest', 'master', 'merchant', 'mfa', 'minio', 'mistral', 'mixpanel', 'moralis',
    'netlify', 'newrelic', 'notion', 'npm', 'nylas', 'oauth', 'okta', 'onesignal',
    'openai', 'openrouter', 'openweather', 'otp', 'partner', 'pass', 'paypal', 'pem',
    'perplexity', 'pgp', 'pinecone', 'plaid', 'pocketbase', 'postmark', 'private', 'psk',
    'pusher', 'pypi', 'qdrant', 'recaptcha', 'recovery', 'replicate', 'resend', 'role',
    'root', 'rsa', 'salesforce', 'secret', 'sendgrid', 'sendinblue', 'sentry', 'serpapi',
    'server', 'service', 'session', 'shared', 'shippo', 'shopify', 'signature', 'signing',
    'slack', 'sparkpost', 'spotify', 'square', 'ssh', 'ssl', 'stripe', 'subscription',
    'supabase', 'symmetric', 'tavily', 'telegram', 'tiktok', 'tls', 'together', 'tomtom',
    'totp', 'turnstile', 'twilio', 'twitter', 'unlock', 'unseal', 'vault', 'vercel',
    'voyage', 'vultr', 'wasabi', 'weaviate', 'webhook', 'whatsapp', 'wifi', 'wpa',
    'write', 'x509', 'xai', 'xsrf', 'youtube', 'zendesk'];
  c_pass_benign_qualifiers constant text[] := array[
    'backstage', 'boarding', 'bus', 'by', 'day', 'event', 'festival', 'final', 'first',
    'free', 'guest', 'gym', 'hall', 'last', 'multi', 'museum', 'one', 'park', 'press',
    'render', 'season', 'second', 'single', 'ski', 'third', 'train', 'travel', 'two'];
  c_pass_prefixes constant text[] := array[
    'admin', 'api', 'app', 'auth', 'bind', 'db', 'default', 'email', 'ftp', 'ldap',
    'login', 'mail', 'master', 'my', 'mysql', 'new', 'old', 'pg', 'psql', 'rdp', 'redis',
    'root', 'sa', 'sftp', 'smtp', 'ssh', 'super', 'sys', 'user', 'vnc', 'web', 'wifi'];
  c_phrase_qualifiers constant text[] := array[
    'hotp', 'mfa', 'mnemonic', 'otp', 'pass', 'recovery', 'secret', 'seed', 'totp',
    'wallet'];
  c_predicate_prefixes constant text[] := array[
    'accept', 'accepted', 'accepts', 'allow', 'allowed', 'allows', 'are', 'block',
    'blocks', 'can', 'count', 'did', 'disable', 'disabled', 'do', 'does', 'enable',
    'enabled', 'had', 'has', 'have', 'hide', 'include', 'includes', 'is', 'max', 'min',
    'missing', 'must', 'need', 'needs', 'no', 'num', 'reject', 'rejected', 'require',
    'requires', 'should', 'show', 'support', 'supports', 'total', 'use', 'uses', 'using',
    'was', 'were', 'with', 'without'];
  c_short_password_words constant text[] := array[
    'pass', 'passw', 'pw', 'pwd'];
  c_token_qualifiers constant text[] := array[
    'access', 'api', 'auth', 'bearer', 'client', 'csrf', 'device', 'id', 'jwt', 'oauth',
    'personal', 'push', 'refresh', 'secret', 'service', 'session', 'xsrf'];
  c_value_form_words constant text[] := array[
    'again', 'argon', 'ascii', 'b', 'b58', 'b64', 'base', 'base32', 'base64', 'bcrypt',
    'bin', 'binary', 'blob', 'bytes', 'cleartext', 'confirm', 'confirmation', 'content',
    'contents', 'crypt', 'current', 'data', 'der', 'enc', 'encoded', 'encrypted', 'env',
    'hash', 'hashed', 'hex', 'json', 'md', 'md5', 'new', 'old', 'pem', 'plain',
    'plaintext', 'raw', 'repeat', 'retype', 'sha', 'str', 'string', 'text', 'utf', 'utf8',
    'v', 'value', 'values', 'var'];
begin
  if pg_catalog.octet_length(v_name) <> pg_catalog.char_length(v_name) then
    -- 1. Fold (not ASCII only): NFKD, drop combining marks and invisible characters, map
    -- Cyrillic and Greek look-alikes to Latin letters.
    v_name := pg_catalog.translate(
      pg_catalog.regexp_replace(pg_catalog.normalize(v_name, 'NFKD'),
        '[\u00ad\u0300-\u036f\u0483-\u0489\u061c\u180e\u1ab0-\u1aff\u1dc0-\u1dff\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u20d0-\u20ff\ufe20-\ufe2f\ufeff]', '', 'g'),
      'аеіјорсухѕԁԛԝһӏАВЕЅІЈКМНОРСТХУҮԚԜҺӀαβεικνορτυχϲϳγωΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹıȷɑɡɩᴀʙᴄᴅᴇɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢкԍօսհոց',
      'aeijopcyxsdqwhlABESIJKMHOPCTXYYQWHIabeikvoptuxcjywABEZHIKMNOPTYXCijagiabcdeghijklmnoprstuvwyzkgouhng');
  end if;
  -- 3. No stem, no secret (a cheap gate).
  if v_name !~* '(auth|bearer|code|contras|cookie|cred|jwt|kennw|key|mnemonic|otp|pass|phrase|psw|pw|secret|seed|senha|sess|token|wachtw)' then
    return false;
  end if;
  if pg_catalog.octet_length(v_name) <> pg_catalog.char_length(v_name) then
    -- Non-ASCII characters are left: Python reads each as a separator, a lower- or
    -- upper-case letter or a digit, which SQL cannot tell. Judge the name under each
    -- reading: secret if any says so (stricter, never laxer, when they are of one kind).
    v_modes := array['', 'L', 'U', 'D'];
  end if;
  foreach v_mode in array v_modes loop
    v_words := '{}';
    v_current := '';
    v_count := 0;
    v_digits := false;
    v_previous := '';
    v_last_fold := '';
    -- 2. Words: split at separators, camelCase, acronyms and digits; case-fold; drop numbers.
    foreach v_ch in array pg_catalog.string_to_array(v_name, null) loop
      v_code := pg_catalog.ascii(v_ch);
      v_fold := null;
      if v_code between 65 and 90 then
        v_kind := 'U';
        v_fold := pg_catalog.chr(v_code + 32);
      elsif v_code between 97 and 122 then
        v_kind := 'L';
      elsif v_code between 48 and 57 then
        v_kind := 'D';
      elsif v_code < 128 then
        v_kind := '';
      else
        -- Letters whose case fold is ASCII keep Python's class; the others are read as
        -- v_mode says (see above).
        v_kind := case v_ch
          when 'ß' then 'L'
          when 'ẞ' then 'U'
          else v_mode end;
        v_fold := case v_ch
          when 'ß' then 'ss'
          when 'ẞ' then 'ss'
          end;
      end if;
      v_fold := coalesce(v_fold, v_ch);
      if v_kind = '' or (v_count > 0 and ((v_kind = 'D') <> (v_previous = 'D')
                                           or (v_kind = 'U' and v_previous = 'L'))) then
        if v_count > 0 and not v_digits then
          v_words := v_words || v_current;
        end if;
        v_current := '';
        v_count := 0;
      elsif v_kind = 'L' and v_previous = 'U' and v_count > 1 then
        -- "APIKey": the last capital starts the next word.
        v_words := v_words || pg_catalog.left(v_current, -pg_catalog.char_length(v_last_fold));
        v_current := v_last_fold;
        v_count := 1;
      end if;
      if v_kind <> '' then
        v_current := v_current || v_fold;
        v_last_fold := v_fold;
        v_count := v_count + 1;
        v_digits := v_kind = 'D';
      end if;
      v_previous := v_kind;
    end loop;
    if v_count > 0 and not v_digits then
      v_words := v_words || v_current;
    end if;
    v_end := pg_catalog.cardinality(v_words);
    -- 4. No words, or a predicate first (has_password): not secret.
    if v_end = 0 or (v_end > 1 and v_words[1] = any(c_predicate_prefixes)) then
      continue;
    end if;
    -- 5. Trailing representation words (api_key_value): the head comes before them.
    while v_end > 1 and v_words[v_end] = any(c_value_form_words) loop
      v_end := v_end - 1;
    end loop;
    v_head := v_words[v_end];
    v_before := case when v_end > 1 then v_words[v_end - 1] else '' end;
    -- 6. Head rules (_secret_head): a match is secret; otherwise go on to step 7.
    if v_head ~ 'token$' then
      -- token, access_token, accesstoken; not next_page_token, tokenizer.
      v_match := v_before <> all(c_benign_token_qualifiers)
                 and pg_catalog.left(v_head, -5) <> all(c_benign_token_qualifiers);
    elsif v_head ~ 'tokens$' then
      v_match := v_before = any(c_token_qualifiers)
                 or pg_catalog.left(v_head, -6) = any(c_token_qualifiers);
    elsif v_head in ('key', 'keys') then
      v_match := v_before = any(c_key_qualifiers);
    elsif v_head ~ 'keys?$' then
      -- signingkey; not monkey, hotkey.
      v_match := pg_catalog.regexp_replace(v_head, 'keys?$', '') = any(c_key_qualifiers);
    elsif v_head in ('phrase', 'seed') then
      v_match := v_before = any(c_phrase_qualifiers);
    elsif v_head in ('code', 'codes') then
      v_match := v_before = any(c_code_qualifiers);
    elsif v_head = any(c_short_password_words) then
      v_match := v_before <> all(c_pass_benign_qualifiers);
    elsif v_head ~ '(pass|pw|pwd)$' then
      -- dbpass, rootpw; not bypass, compass.
      v_match := pg_catalog.regexp_replace(v_head, '(pass|pw|pwd)$', '') = any(c_pass_prefixes);
    elsif v_head in ('word', 'words') then
      v_match := v_before = 'pass';
    elsif v_head = 'auth' or (v_head ~ 'auth$'
          and pg_catalog.left(v_head, -4) = any(c_auth_prefixes)) then
      v_match := true;
    else
      v_match := v_before = 'auth' and v_head = any(c_auth_heads);
    end if;
    if v_match then
      return true;
    end if;
    -- 7. The last always-secret word (or one ending in a secret suffix: newpassword) ...
    v_last := 0;
    for v_index in reverse v_end .. 1 loop
      if v_words[v_index] = any(c_always_secret_words)
         or v_words[v_index] ~ '(credential|credentials|passphrase|passwd|password|secret|secrets)$' then
        v_last := v_index;
        exit;
      end if;
    end loop;
    -- ... makes the key secret, unless a later word says it is about the secret
    -- (password_policy, cookie_consent_given) and the head is no credential itself
    -- (password_reset_code).
    if v_last > 0 and (v_head = any(c_credential_heads)
                       or not (v_words[v_last + 1 : v_end] && c_benign_heads)) then
      return true;
    end if;
  end loop;
  return false;
end;
$$;
-- END GENERATED sj_is_secret_key

-- The payload walk of the SDK's "remove" mode, by key name: drops every object entry whose
-- key is secret, at any depth. Inside lists nothing is dropped (indices stay stable): the
-- value of a [name, value] pair inside a list is redacted when the name is secret (the shape
-- of header lists), and so is the item after a secret command-line flag (["--password", x]).
-- Refuses nesting deeper than 32 containers (DEFAULT_MAX_PAYLOAD_DEPTH). Values are not
-- judged by their shape here (JWTs, "Bearer ..."): that part of the Python scrubber has no
-- SQL twin.
create or replace function supabase_jobs.sj_scrub_secret_keys(
  p_value jsonb,
  p_depth integer default 1,
  p_in_list boolean default false
) returns jsonb
language plpgsql
immutable
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_out jsonb;
  v_items jsonb[] := '{}';
  v_item jsonb;
  v_index bigint;
  v_pair boolean;
  v_after_flag boolean := false;
  v_text text;
begin
  if p_depth > 32 then
    raise exception using errcode = '22023',
      message = 'p_payload is nested deeper than 32 levels';
  end if;
  if pg_catalog.jsonb_typeof(p_value) = 'object' then
    select coalesce(pg_catalog.jsonb_object_agg(e.key,
             case when pg_catalog.jsonb_typeof(e.value) in ('object', 'array')
                  then supabase_jobs.sj_scrub_secret_keys(e.value, p_depth + 1, false)
                  else e.value end), '{}'::jsonb)
      into v_out
      from pg_catalog.jsonb_each(p_value) e
     where not supabase_jobs.sj_is_secret_key(e.key);
    return v_out;
  end if;
  if pg_catalog.jsonb_typeof(p_value) <> 'array' then
    return p_value;
  end if;
  -- A pair inside a list; under an object key, ["token", "x"] is data.
  v_pair := p_in_list and pg_catalog.jsonb_array_length(p_value) = 2
    and pg_catalog.jsonb_typeof(p_value -> 0) = 'string'
    and pg_catalog.char_length(p_value ->> 0) <= 64
    and pg_catalog.strpos(p_value ->> 0, ' ') = 0
    and p_value -> 1 <> '"[REDACTED]"'::jsonb
    and supabase_jobs.sj_is_secret_key(p_value ->> 0);
  for v_item, v_index in
    select e.value, e.ord from pg_catalog.jsonb_array_elements(p_value) with ordinality e(value, ord)
  loop
    v_text := case when pg_catalog.jsonb_typeof(v_item) = 'string' then v_item #>> '{}' end;
    if (v_pair and v_index = 2) or (v_after_flag and v_item <> '"[REDACTED]"'::jsonb) then
      v_items := v_items || '"[REDACTED]"'::jsonb;
    elsif pg_catalog.jsonb_typeof(v_item) in ('object', 'array') then
      v_items := v_items || supabase_jobs.sj_scrub_secret_keys(v_item, p_depth + 1, true);
    else
      v_items := v_items || v_item;
    end if;
    -- A secret command-line flag: "--password", not "--password=x" (a string) or a sentence.
    v_after_flag := v_text is not null and pg_catalog.left(v_text, 1) = '-'
      and pg_catalog.char_length(v_text) <= 130
      and pg_catalog.strpos(v_text, '=') = 0 and pg_catalog.strpos(v_text, ' ') = 0
      and supabase_jobs.sj_is_secret_key(pg_catalog.ltrim(v_text, '-'));
  end loop;
  return pg_catalog.to_jsonb(v_items);
end;
$$;

-- dispatch: validate, scrub and insert one job; returns the stored row. Options (all optional):
-- queue, priority, run_at (ISO 8601 with a UTC offset), max_attempts, idempotency_key. With an
-- idempotency_key a repeated dispatch returns the existing job as stored (never a second row,
-- never an error), whoever dispatched it first: this function, the Python SDK or another writer.
-- Errors name the argument (22023), never its value: messages end up in logs.
create or replace function public.sj_dispatch_v1(
  p_tenant_id uuid,
  p_type text,
  p_payload jsonb default '{}'::jsonb,
  p_options jsonb default '{}'::jsonb
) returns public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_options jsonb := coalesce(p_options, '{}'::jsonb);
  v_payload jsonb := coalesce(p_payload, '{}'::jsonb);
  v_name text;
  v_value jsonb;
  v_queue text := 'default';
  v_priority integer := 0;
  v_run_at timestamptz := now();
  v_max_attempts integer := 5;
  v_key text;
  v_id uuid;
  v_job public.jobs;
  v_round integer;
begin
  if p_tenant_id is null then
    raise exception using errcode = '22023', message = 'p_tenant_id is required';
  end if;
  if p_type is null then
    raise exception using errcode = '22023', message = 'p_type is required';
  end if;
  if exists (select from supabase_jobs.job_types)
     and not exists (select from supabase_jobs.job_types t where t.type = p_type) then
    raise exception using errcode = '22023', message = 'p_type is not a known job type',
      hint = 'Known types are listed in supabase_jobs.job_types.';
  end if;
  if pg_catalog.jsonb_typeof(v_options) <> 'object' then
    raise exception using errcode = '22023', message = 'p_options must be a JSON object';
  end if;
  for v_name, v_value in select e.key, e.value from pg_catalog.jsonb_each(v_options) e loop
    if v_value = 'null'::jsonb
       and v_name in ('queue', 'priority', 'run_at', 'max_attempts', 'idempotency_key') then
      continue;  -- null means "not given", as None does for the SDK's dispatch()
    elsif v_name = 'queue' then
      if pg_catalog.jsonb_typeof(v_value) <> 'string'
         or pg_catalog.char_length(v_value #>> '{}') > 63
         or (v_value #>> '{}') !~ '^[a-z][a-z0-9_.:-]*$' then
        raise exception using errcode = '22023',
          message = 'p_options.queue must match ^[a-z][a-z0-9_.:-]{0,62}$';
      end if;
      v_queue := v_value #>> '{}';
    elsif v_name = 'priority' then
      if pg_catalog.jsonb_typeof(v_value) <> 'number'
         or (v_value #>> '{}')::numeric not between -100 and 100
         or (v_value #>> '{}')::numeric <> pg_catalog.trunc((v_value #>> '{}')::numeric) then
        raise exception using errcode = '22023',
          message = 'p_options.priority must be an integer in -100..100';
      end if;
      v_priority := (v_value #>> '{}')::integer;
    elsif v_name = 'max_attempts' then
      if pg_catalog.jsonb_typeof(v_value) <> 'number'
         or (v_value #>> '{}')::numeric not between 1 and 1000
         or (v_value #>> '{}')::numeric <> pg_catalog.trunc((v_value #>> '{}')::numeric) then
        raise exception using errcode = '22023',
          message = 'p_options.max_attempts must be an integer in 1..1000';
      end if;
      v_max_attempts := (v_value #>> '{}')::integer;
    elsif v_name = 'run_at' then
      -- An explicit offset, as the SDK refuses naive datetimes: their meaning would depend
      -- on the session's time zone.
      if pg_catalog.jsonb_typeof(v_value) <> 'string'
         or (v_value #>> '{}') !~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|z|[+-]\d\d(:?\d\d)?)$' then
        raise exception using errcode = '22023',
          message = 'p_options.run_at must be an ISO 8601 timestamp with a UTC offset';
      end if;
      v_run_at := (v_value #>> '{}')::timestamptz;
    elsif v_name = 'idempotency_key' then
      if pg_catalog.jsonb_typeof(v_value) <> 'string'
         or pg_catalog.char_length(v_value #>> '{}') not between 1 and 255 then
        raise exception using errcode = '22023',
          message = 'p_options.idempotency_key must be a string of 1..255 characters';
      end if;
      v_key := v_value #>> '{}';
    else
      -- Also refuses the columns the queue manages (status, attempts, ...).
      raise exception using errcode = '22023',
        message = pg_catalog.format('p_options.%s is not a dispatch option',
                                    pg_catalog.left(v_name, 64));
    end if;
  end loop;
  if pg_catalog.jsonb_typeof(v_payload) <> 'object' then
    raise exception using errcode = '22023', message = 'p_payload must be a JSON object';
  end if;
  v_payload := supabase_jobs.sj_scrub_secret_keys(v_payload);
  -- DEFAULT_MAX_PAYLOAD_BYTES, measured on jsonb's text form (a space after each ':' and
  -- ','), so a little stricter than the SDK's compact encoding.
  if pg_catalog.octet_length(v_payload::text) > 262144 then
    raise exception using errcode = '22023', message = 'p_payload is larger than 262144 bytes';
  end if;

  if v_key is null then
    insert into public.jobs (tenant_id, type, payload, queue, priority, run_at, max_attempts)
    values (p_tenant_id, p_type, v_payload, v_queue, v_priority, v_run_at, v_max_attempts)
    returning * into v_job;
    return v_job;
  end if;

  v_id := supabase_jobs.sj_idempotent_job_id(p_tenant_id, v_key);
  for v_round in 1 .. 3 loop
    select * into v_job from public.jobs j
     where j.tenant_id = p_tenant_id and j.idempotency_key = v_key;
    if found then
      return v_job;
    end if;
    -- No conflict target: ON CONFLICT DO NOTHING covers the primary key (the derived id) and
    -- the partial unique index on (tenant_id, idempotency_key), and waits for a concurrent
    -- insert of the same key to commit. The next round then reads that job.
    insert into public.jobs
      (id, tenant_id, type, payload, queue, priority, run_at, max_attempts, idempotency_key)
    values
      (v_id, p_tenant_id, p_type, v_payload, v_queue, v_priority, v_run_at, v_max_attempts, v_key)
    on conflict do nothing
    returning * into v_job;
    if found then
      return v_job;
    end if;
    -- The derived id is held by a row that does not hold this key (its key was edited, or it
    -- was stored by another writer): the key is free, store it under a random id, as the SDK
    -- does (supabase_jobs._batch.unheld_rows).
    if exists (select from public.jobs j where j.id = v_id
                and (j.tenant_id, j.idempotency_key) is distinct from (p_tenant_id, v_key)) then
      v_id := gen_random_uuid();
    end if;
  end loop;
  raise exception using errcode = '40001',
    message = 'idempotency key kept changing hands; dispatch again';
end;
$$;

-- Only service_role may call these (Supabase's default privileges grant functions to anon and
-- authenticated as well): revoke from all three, grant to service_role.
revoke execute on function
  supabase_jobs.sj_sha1(bytea),
  supabase_jobs.sj_idempotent_job_id(uuid, text),
  supabase_jobs.sj_is_secret_key(text),
  supabase_jobs.sj_scrub_secret_keys(jsonb, integer, boolean),
  public.sj_dispatch_v1(uuid, text, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function
  supabase_jobs.sj_sha1(bytea),
  supabase_jobs.sj_idempotent_job_id(uuid, text),
  supabase_jobs.sj_is_secret_key(text),
  supabase_jobs.sj_scrub_secret_keys(jsonb, integer, boolean),
  public.sj_dispatch_v1(uuid, text, jsonb, jsonb)
  to service_role;

-- ---- 0009 keyed jobs lookup ----------------------------------------------------------
-- A keyed dispatch whose insert was skipped or refused reads the job that holds its key.
-- The SDK reads by the id derived from tenant and key first (an id reveals nothing); a key
-- held under another id (another writer chose it) can only be found by the key itself, and
-- a key in a GET URL ends up in access logs and in httpx's INFO log line. RPC arguments
-- travel in the request body, which neither logs.
-- SECURITY INVOKER with an empty search_path, like the lifecycle functions: only
-- service_role (which bypasses RLS) may execute it.
create or replace function public.sj_keyed_jobs_v1(p_tenant_id uuid, p_keys text[])
returns setof public.jobs
language sql
stable
security invoker
set search_path = ''
as $$
  -- "idempotency_key is not null" lets the planner use the partial unique index.
  select j.*
    from public.jobs j
   where j.tenant_id = p_tenant_id
     and j.idempotency_key is not null
     and j.idempotency_key = any(p_keys)
$$;

revoke execute on function public.sj_keyed_jobs_v1(uuid, text[])
  from public, anon, authenticated;
grant execute on function public.sj_keyed_jobs_v1(uuid, text[]) to service_role;
-- ---- 0010 trace context (W3C traceparent/tracestate of the dispatch; see the migration).
alter table public.jobs add column if not exists trace_context jsonb;
alter table public.jobs
  drop constraint if exists jobs_trace_context_check,
  add constraint jobs_trace_context_check check (
    trace_context is null
    or (
      jsonb_typeof(trace_context) = 'object'
      and trace_context - array['traceparent', 'tracestate'] = '{}'::jsonb
      and jsonb_typeof(coalesce(trace_context -> 'traceparent', '""')) = 'string'
      and jsonb_typeof(coalesce(trace_context -> 'tracestate', '""')) = 'string'
      and octet_length(trace_context::text) <= 1024
    )
  );
-- ---- 0011 next due (seconds until the next scheduled job of some queues/types) ----
create or replace function public.sj_next_due_v1(
  p_queues text[] default null,
  p_types text[] default null
)
returns double precision
language sql
stable
security invoker
set search_path = ''
as $$
  select pg_catalog.date_part('epoch', pg_catalog.min(j.run_at) - pg_catalog.now())
    from public.jobs j
   where j.status = 'pending'
     and j.run_at > pg_catalog.now()
     and (p_queues is null or j.queue = any(p_queues))
     and (p_types is null or j.type = any(p_types))
$$;

revoke execute on function public.sj_next_due_v1(text[], text[])
  from public, anon, authenticated;
grant execute on function public.sj_next_due_v1(text[], text[]) to service_role;

-- Wake-ups for jobs due soon, not only now. A worker whose wake-up subscription is healthy
-- polls only every idle_poll_interval (90 s by default); a job dispatched for "in 3 seconds"
-- would wait for that poll, since no message announced it. 0007's trigger now also wakes for
-- jobs due within 5 minutes: the worker claims (empty), asks sj_next_due_v1 and sleeps until
-- the job is due. Jobs further out are found the same way by a later safety-net poll (as
-- long as idle_poll_interval stays under 5 minutes). Same one message per queue per
-- transaction; only the horizon changes.
create or replace function public.sj_wake_v1()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_woken text;
  v_queues text[];
  v_queue text;
begin
  -- A wake-up is a hint (workers poll as well): whatever goes wrong in here is logged and
  -- the dispatch or lifecycle statement goes on. realtime.send catches its own errors too.
  begin
    if tg_level = 'ROW' then
      v_queues := array[new.queue];
    else
      select pg_catalog.array_agg(distinct n.queue) into v_queues
        from sj_new n
       where n.status = 'pending'
         and n.run_at <= pg_catalog.now() + interval '5 minutes';
    end if;
    if v_queues is null
       or pg_catalog.to_regprocedure('realtime.send(jsonb,text,text,boolean)') is null then
      return null;
    end if;
    v_woken := coalesce(pg_catalog.current_setting('supabase_jobs.woken_queues', true), '');
    foreach v_queue in array v_queues loop
      -- Queue names cannot contain a comma (jobs_queue_check).
      continue when pg_catalog.strpos(',' || v_woken || ',', ',' || v_queue || ',') > 0;
      perform realtime.send(pg_catalog.jsonb_build_object('queue', v_queue),
                            'jobs_available', 'supabase_jobs:queue:' || v_queue, true);
      v_woken := v_woken || ',' || v_queue;
    end loop;
    perform pg_catalog.set_config('supabase_jobs.woken_queues', v_woken, true);
  exception when others then
    raise warning using
      message = 'supabase_jobs: wake-up not sent (' || sqlstate || '): ' || sqlerrm,
      hint = 'Workers still find the jobs by polling.';
  end;
  return null;
end;
$$;

revoke execute on function public.sj_wake_v1() from public, anon, authenticated;
grant execute on function public.sj_wake_v1() to service_role;

-- Rows that became pending, or moved earlier, and are due within the horizon: retry, a
-- snooze, a failed attempt retried after its backoff, an admin "run now". Claims, heartbeats
-- and completions never leave a row pending, so they pay one WHEN test per row, as before.
drop trigger if exists sj_wake_on_update on public.jobs;
create trigger sj_wake_on_update
  after update on public.jobs
  for each row
  when (new.status = 'pending' and new.run_at <= now() + interval '5 minutes'
        and (old.status <> 'pending' or old.run_at > new.run_at))
  execute function public.sj_wake_v1();
