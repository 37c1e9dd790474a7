-- 0011 next due: when the next scheduled job is due, and wake-ups for jobs due soon.
-- An idle worker calls it after an empty claim and sleeps that long (capped by its poll
-- interval), so a job with run_at in the future starts on time without a message at its due
-- time (messages say "queue X has work now or soon", see below). It answers in seconds
-- from the database's clock, so clock skew between the worker and the database does not
-- matter. Only future rows count: a due row the claim skipped (its queue at its max_running
-- cap, or attempts used up) must not make the worker claim again at once, in a loop.
-- Cost: pending rows only, through a pending-partial index led by (queue, type) (0006's
-- jobs_lane_idx or jobs_fair_idx; an index-only scan in the test's plan) when queues are
-- given: one range per (queue, type) lane. Workers call it at most once per empty claim.
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
