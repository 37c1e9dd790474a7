-- Enqueue a job from a trigger: every new document gets a document_indexing job.
-- Apply after the supabase-jobs migrations (it calls public.sj_dispatch_v1). Run it as the
-- role that owns your tables (postgres on Supabase), e.g. as a migration of your own.

-- Your app table (shown so the example runs on its own; yours already exists).
create table if not exists public.documents (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  title text not null,
  storage_path text,
  created_at timestamptz not null default now()
);

-- The trigger function runs with its owner's rights (SECURITY DEFINER): rows are usually
-- inserted by signed-in users through the API, and those roles may NOT call sj_dispatch_v1
-- (service_role only), by design. It is safe because a trigger function cannot be called
-- directly, it dispatches only the one job type it names, and the search path is pinned.
create or replace function public.enqueue_document_indexing()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.sj_dispatch_v1(
    new.tenant_id,
    'document_indexing',
    -- Only what the worker needs; secret-named keys would be scrubbed anyway.
    pg_catalog.jsonb_build_object('document_id', new.id, 'storage_path', new.storage_path),
    -- The key makes the enqueue idempotent: a replayed insert (or a retried transaction)
    -- returns the same job instead of creating a second one.
    pg_catalog.jsonb_build_object(
      'idempotency_key', 'document_indexing:' || new.id::text,
      'queue', 'indexing',
      'priority', 10
    )
  );
  return new;
end;
$$;
revoke execute on function public.enqueue_document_indexing() from public, anon, authenticated;

drop trigger if exists documents_enqueue_indexing on public.documents;
create trigger documents_enqueue_indexing
  after insert on public.documents
  for each row execute function public.enqueue_document_indexing();
-- The job is part of the inserting transaction: if the insert rolls back, so does the job,
-- and a worker never sees a job for a document that does not exist.
