-- 0009 keyed jobs lookup: read jobs by idempotency key through a POST body.
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
