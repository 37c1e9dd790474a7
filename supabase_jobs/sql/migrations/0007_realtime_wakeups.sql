-- 0007 realtime wake-ups: tell idle workers "queue X has work" through Supabase Realtime.
-- One message per statement per queue with jobs due now, never one per row: a 10,000-row
-- dispatch_many sends one. The message names the queue only (no tenant, ids or payload), on
-- the private channel topic 'supabase_jobs:queue:<queue>', event 'jobs_available'.
-- Statement-level triggers with a transition table: a statement that touches no pending, due
-- row pays one scan of its own new rows and nothing else. retry, snooze to now and a failed
-- attempt retried at once leave a row pending and due, so the UPDATE trigger wakes for them
-- without touching the lifecycle functions (their cost is measured in bench/README.md).
-- realtime.send is looked up at run time, not here: on plain PostgreSQL (no realtime schema)
-- the trigger does nothing, and a project that enables Realtime later gets wake-ups from its
-- next statement on, with no new migration.
create or replace function public.sj_wake_v1()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_queues text[];
  v_queue text;
begin
  select pg_catalog.array_agg(distinct n.queue) into v_queues
    from sj_new n
   where n.status = 'pending' and n.run_at <= pg_catalog.now();
  if v_queues is null then
    return null;
  end if;
  -- A wake-up is a hint (workers poll as well): whatever goes wrong here is logged and the
  -- dispatch or lifecycle statement goes on. realtime.send catches its own errors as well.
  begin
    if pg_catalog.to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
      foreach v_queue in array v_queues loop
        perform realtime.send(pg_catalog.jsonb_build_object('queue', v_queue),
                              'jobs_available', 'supabase_jobs:queue:' || v_queue, true);
      end loop;
    end if;
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
  referencing new table as sj_new
  for each statement execute function public.sj_wake_v1();
