-- 0003 active_jobs: the claim's and the lease sweep's view of the live jobs.
-- supabase_jobs.active_jobs holds one narrow row per job that is pending or processing, with
-- the columns the claim filters and orders on. The claim and the lease-expiry scan read and
-- lock these rows; public.jobs keeps every column and stays the record apps read and write.
-- Why a second table: a claim and a completion each change status, locked_until and
-- attempts. Indexed on jobs (they must be, for the claim to find work), every such update
-- would add an entry to each of jobs' indexes. Here, jobs has no index on them and its
-- lifecycle updates are HOT (see 0002), while this table is small (live jobs only) and a
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

-- The rows the existing table already has (an upgrade), in the same transaction.
insert into supabase_jobs.active_jobs
       (id, type, queue, priority, run_at, attempts, max_attempts, lease_id, locked_until)
select j.id, j.type, j.queue, j.priority, j.run_at, j.attempts, j.max_attempts,
       case when j.status = 'processing' then j.lease_id end,
       case when j.status = 'processing' then j.locked_until end
  from public.jobs j
 where j.status in ('pending', 'processing')
on conflict (id) do nothing;

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
