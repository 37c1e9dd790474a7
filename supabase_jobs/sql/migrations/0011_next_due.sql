-- 0011 next due: how long until the next scheduled job of some queues and types is due.
-- An idle worker calls it after an empty claim and sleeps that long (capped by its poll
-- interval), so a job dispatched with run_at in the future starts on time although no
-- wake-up message announces it (0007 wakes only for jobs due now). It answers in seconds
-- from the database's clock, so clock skew between the worker and the database does not
-- matter. Only future rows count: a due row the claim skipped (its queue at its max_running
-- cap, or attempts used up) must not make the worker claim again at once, in a loop.
-- Cost: pending rows only, through the pending-partial jobs_lane_idx (queue, type, ...) when
-- queues are given: one range per (queue, type) lane, reading that lane's future rows; no
-- table access beyond the visibility check. Workers call it at most once per empty claim.
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
