-- 0007 realtime wake-ups: tell idle workers "queue X has work" through Supabase Realtime.
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
