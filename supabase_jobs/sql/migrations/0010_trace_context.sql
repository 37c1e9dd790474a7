-- 0010 trace context: the W3C trace context of the dispatch, for OpenTelemetry.
-- supabase_jobs.otel stores the producer span's `traceparent` (and `tracestate`, if any) here
-- so a worker's CONSUMER span can join the same trace. It is a column of its own, not part of
-- the payload, so the payload scrubber never touches it and a handler never sees it. The
-- CHECK keeps it what it claims to be: an object of at most those two short strings, so the
-- column cannot become a side channel for payload data.

alter table public.jobs add column if not exists trace_context jsonb;

alter table public.jobs
  drop constraint if exists jobs_trace_context_check,
  add constraint jobs_trace_context_check check (
    trace_context is null
    or (
      jsonb_typeof(trace_context) = 'object'
      and trace_context - array['traceparent', 'tracestate'] = '{}'::jsonb
      and jsonb_typeof(coalesce(trace_context -> 'traceparent', '""')) = 'string'
      and jsonb_typeof(coalesce(trace_context -> 'tracestate', '""')) = 'string'
      and octet_length(trace_context::text) <= 1024
    )
  );
