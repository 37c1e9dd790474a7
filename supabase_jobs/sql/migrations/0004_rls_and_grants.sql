-- 0004 row level security and table grants.
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
