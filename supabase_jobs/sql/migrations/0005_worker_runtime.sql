-- 0005 worker runtime: batched calls that answer per item instead of all or nothing.
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
