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

-- An existing table must have the seed columns with types the functions can use. Checked here,
-- in the first migration's transaction, so an incompatible table (say a bigint identity id)
-- stops the upgrade before anything is changed, with a message that says what to fix, instead
-- of migrations that all apply while every function fails at run time.
do $$
declare
  v_problems text;
begin
  select pg_catalog.string_agg(pg_catalog.format('%s is %s (needs %s)', e.col,
           coalesce(pg_catalog.format_type(a.atttypid, a.atttypmod), 'missing'), e.wanted),
           '; ' order by e.ord)
    into v_problems
    from (values (1, 'id', 'uuid', '{uuid}'::text[]),
                 (2, 'tenant_id', 'uuid', '{uuid}'),
                 (3, 'type', 'text', '{text,character varying}'),
                 (4, 'status', 'text', '{text,character varying}'),
                 (5, 'payload', 'jsonb', '{jsonb}'),
                 (6, 'attempts', 'integer', '{integer,smallint}'),
                 (7, 'worker_id', 'text', '{text,character varying}'),
                 (8, 'created_at', 'timestamptz', '{timestamp with time zone}'))
         as e(ord, col, wanted, accepted)
    left join pg_catalog.pg_attribute a
      on a.attrelid = 'public.jobs'::regclass and a.attname = e.col
     and a.attnum > 0 and not a.attisdropped
   where a.atttypid is null
      or pg_catalog.format_type(a.atttypid, null) <> all(e.accepted);
  if v_problems is not null then
    raise exception using errcode = '42804',
      message = 'public.jobs is not compatible with supabase_jobs: ' || v_problems,
      hint = 'Convert these columns (or rename the old table) and run the migrations again;'
             ' nothing was changed.';
  end if;
end
$$;
