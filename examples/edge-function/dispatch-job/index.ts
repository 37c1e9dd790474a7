// Supabase Edge Function: enqueue a job for the signed-in user's tenant.
//
//   POST /functions/v1/dispatch-job
//   Authorization: Bearer <the user's access token>
//   { "type": "ai_generation", "payload": { "prompt": "..." }, "idempotencyKey": "req-123" }
//
// The job is written by public.sj_dispatch_v1 (supabase-jobs migration 0008), which applies
// the same rules as the Python SDK: CHECKs, the known-type list, payload size and depth
// limits, secret keys scrubbed from the payload, idempotency keys. Only service_role may call
// it, so this function uses the service-role key, which Supabase injects into every Edge
// Function as SUPABASE_SERVICE_ROLE_KEY; it never reaches the browser.
import { createClient } from "jsr:@supabase/supabase-js@2";

const supabase = createClient(
  Deno.env.get("SUPABASE_URL")!,
  Deno.env.get("SUPABASE_SERVICE_ROLE_KEY")!,
  { auth: { persistSession: false, autoRefreshToken: false } },
);

// The types browsers may enqueue through this endpoint (a subset of what workers handle).
const ALLOWED_TYPES = new Set(["ai_generation", "document_export"]);

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

Deno.serve(async (req: Request): Promise<Response> => {
  if (req.method !== "POST") return json(405, { error: "use POST" });

  // Who is asking: the tenant comes from the verified user, never from the request body.
  const token = (req.headers.get("Authorization") ?? "").replace(/^Bearer\s+/i, "");
  const { data: auth, error: authError } = await supabase.auth.getUser(token);
  const tenantId = auth?.user?.app_metadata?.tenant_id;
  if (authError || typeof tenantId !== "string") {
    return json(401, { error: "sign in first" });
  }

  let body: { type?: unknown; payload?: unknown; idempotencyKey?: unknown };
  try {
    body = await req.json();
  } catch {
    return json(400, { error: "body must be JSON" });
  }
  if (typeof body.type !== "string" || !ALLOWED_TYPES.has(body.type)) {
    return json(400, { error: "type is not allowed" });
  }
  const options: Record<string, unknown> = {};
  if (body.idempotencyKey !== undefined) options.idempotency_key = body.idempotencyKey;

  const { data: job, error } = await supabase.rpc("sj_dispatch_v1", {
    p_tenant_id: tenantId,
    p_type: body.type,
    p_payload: body.payload ?? {},
    p_options: options,
  });
  if (error) {
    // 22023: an argument was refused (the message names it, never its value);
    // 23514: a table CHECK refused a value. Anything else is ours, not the caller's.
    const badInput = error.code === "22023" || error.code === "23514";
    console.error("dispatch failed", { code: error.code, type: body.type });
    return json(badInput ? 400 : 500, { error: badInput ? error.message : "could not enqueue" });
  }
  // Never log or echo the payload: it is the caller's data (and may hold personal data).
  console.log("dispatched", { job_id: job.id, type: job.type });
  return json(202, { id: job.id, status: job.status });
});
