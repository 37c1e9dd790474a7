-- 0001 jobs table: the existing application's table, seed columns only.
-- An existing project may already have public.jobs (created by the TypeScript dispatcher);
-- "if not exists" keeps that table and its rows, and 0002 brings it up to date.
create table if not exists public.jobs (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  type text not null,
  status text not null default 'pending',
  payload jsonb not null default '{}'::jsonb,
  attempts integer not null default 0,
  worker_id text,
  created_at timestamptz not null default now()
);
