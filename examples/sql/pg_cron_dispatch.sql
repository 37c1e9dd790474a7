-- Enqueue jobs on a schedule with pg_cron (Supabase: Database -> Integrations -> Cron, or
-- `create extension pg_cron with schema pg_catalog;`). Apply after the supabase-jobs
-- migrations. pg_cron runs the command as the role that scheduled it (postgres).
--
-- Every night at 03:00 UTC, one tenant_cleanup job per tenant that has jobs. The idempotency
-- key holds the date, so a re-run of the same night (a retried or duplicated cron run)
-- returns the jobs already enqueued instead of adding more.
select cron.schedule(
  'supabase-jobs-nightly-cleanup',
  '0 3 * * *',
  $cmd$
  select public.sj_dispatch_v1(
           t.tenant_id,
           'tenant_cleanup',
           pg_catalog.jsonb_build_object('older_than_days', 30),
           pg_catalog.jsonb_build_object(
             'idempotency_key',
             'nightly-cleanup:' || pg_catalog.to_char(now() at time zone 'utc', 'YYYY-MM-DD'),
             'queue', 'maintenance'))
    from (select distinct j.tenant_id from public.jobs j) t
  $cmd$
);

-- To stop it: select cron.unschedule('supabase-jobs-nightly-cleanup');
