-- 0008 dispatch from SQL, Edge Functions and pg_cron: public.sj_dispatch_v1.
-- The same rules as the Python SDK's dispatch, applied inside the database: the table's CHECKs,
-- an optional list of known job types, the payload size and depth limits, secret keys scrubbed
-- from the payload by the SDK's own key-name rules (generated, see sj_is_secret_key below) and
-- idempotency keys that resolve to the job id the SDK derives, so a job dispatched from SQL and
-- one dispatched from Python with the same tenant and key are the same job.
-- Helpers live in the private schema supabase_jobs (never exposed through the API).

create schema if not exists supabase_jobs;
revoke all on schema supabase_jobs from public;
grant usage on schema supabase_jobs to service_role;

-- Known job types. Empty (the default): any type name the table's CHECK accepts. With rows:
-- sj_dispatch_v1 refuses every other type, like the SDK's JobTypeRegistry. Manage it in your
-- own migrations: insert into supabase_jobs.job_types (type) values ('send_email');
create table if not exists supabase_jobs.job_types (
  type text primary key
    constraint job_types_type_check check (char_length(type) <= 127 and type ~ '^[a-z][a-z0-9_.:-]*$'),
  created_at timestamptz not null default now()
);
alter table supabase_jobs.job_types enable row level security;
revoke all on table supabase_jobs.job_types from public, anon, authenticated, service_role;
grant select on table supabase_jobs.job_types to service_role;

-- SHA-1 (FIPS 180-4) in plain PL/pgSQL: uuid5 needs it, and neither pgcrypto nor uuid-ossp is
-- guaranteed (some PostgreSQL builds ship without contrib, and on Supabase they live in the
-- extensions schema, which a project may move). Only used on short names: a few 64-byte blocks.
create or replace function supabase_jobs.sj_sha1(p_data bytea)
returns bytea
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_mask constant bigint := 4294967295;
  v_len bigint := pg_catalog.length(p_data);
  v_msg bytea;
  v_h bigint[] := array[1732584193, 4023233417, 2562383102, 271733878, 3285377520];
  v_w bigint[];
  v_a bigint; v_b bigint; v_c bigint; v_d bigint; v_e bigint;
  v_f bigint; v_k bigint; v_t bigint; v_x bigint;
  v_block integer;
  v_i integer;
begin
  -- Padding: 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit big-endian number.
  v_msg := p_data || '\x80'::bytea
    || pg_catalog.decode(pg_catalog.repeat('00', ((119 - v_len % 64) % 64)::integer), 'hex')
    || pg_catalog.decode(pg_catalog.lpad(pg_catalog.to_hex(v_len * 8), 16, '0'), 'hex');
  for v_block in 0 .. pg_catalog.length(v_msg) / 64 - 1 loop
    v_w := pg_catalog.array_fill(0::bigint, array[80]);
    for v_i in 0 .. 15 loop
      v_w[v_i + 1] := (pg_catalog.get_byte(v_msg, v_block * 64 + v_i * 4)::bigint << 24)
                    | (pg_catalog.get_byte(v_msg, v_block * 64 + v_i * 4 + 1)::bigint << 16)
                    | (pg_catalog.get_byte(v_msg, v_block * 64 + v_i * 4 + 2)::bigint << 8)
                    | pg_catalog.get_byte(v_msg, v_block * 64 + v_i * 4 + 3)::bigint;
    end loop;
    for v_i in 17 .. 80 loop
      v_x := v_w[v_i - 3] # v_w[v_i - 8] # v_w[v_i - 14] # v_w[v_i - 16];
      v_w[v_i] := ((v_x << 1) | (v_x >> 31)) & v_mask;
    end loop;
    v_a := v_h[1]; v_b := v_h[2]; v_c := v_h[3]; v_d := v_h[4]; v_e := v_h[5];
    for v_i in 1 .. 80 loop
      if v_i <= 20 then
        v_f := (v_b & v_c) | ((~v_b & v_mask) & v_d);
        v_k := 1518500249;
      elsif v_i <= 40 then
        v_f := v_b # v_c # v_d;
        v_k := 1859775393;
      elsif v_i <= 60 then
        v_f := (v_b & v_c) | (v_b & v_d) | (v_c & v_d);
        v_k := 2400959708;
      else
        v_f := v_b # v_c # v_d;
        v_k := 3395469782;
      end if;
      v_t := ((((v_a << 5) | (v_a >> 27)) & v_mask) + v_f + v_e + v_k + v_w[v_i]) & v_mask;
      v_e := v_d;
      v_d := v_c;
      v_c := ((v_b << 30) | (v_b >> 2)) & v_mask;
      v_b := v_a;
      v_a := v_t;
    end loop;
    v_h[1] := (v_h[1] + v_a) & v_mask;
    v_h[2] := (v_h[2] + v_b) & v_mask;
    v_h[3] := (v_h[3] + v_c) & v_mask;
    v_h[4] := (v_h[4] + v_d) & v_mask;
    v_h[5] := (v_h[5] + v_e) & v_mask;
  end loop;
  return pg_catalog.decode(
    pg_catalog.lpad(pg_catalog.to_hex(v_h[1]), 8, '0') || pg_catalog.lpad(pg_catalog.to_hex(v_h[2]), 8, '0')
    || pg_catalog.lpad(pg_catalog.to_hex(v_h[3]), 8, '0') || pg_catalog.lpad(pg_catalog.to_hex(v_h[4]), 8, '0')
    || pg_catalog.lpad(pg_catalog.to_hex(v_h[5]), 8, '0'), 'hex');
end;
$$;

-- The id of a keyed job: uuid5(IDEMPOTENCY_NAMESPACE, '<tenant>:<key>'), exactly
-- supabase_jobs._core.idempotent_job_id (tenant as canonical lower-case text, name as UTF-8).
-- Never change it: the SDK and this function must derive the same id for the same key.
create or replace function supabase_jobs.sj_idempotent_job_id(p_tenant_id uuid, p_key text)
returns uuid
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_hash bytea;
begin
  v_hash := supabase_jobs.sj_sha1(
    pg_catalog.uuid_send('b7c688bc-4dfb-5315-b44e-c66628fd0721'::uuid)
    || pg_catalog.convert_to(p_tenant_id::text || ':' || p_key, 'UTF8'));
  -- RFC 4122: version 5 in the high nibble of byte 6, variant 10 in the top bits of byte 8.
  v_hash := pg_catalog.set_byte(v_hash, 6, (pg_catalog.get_byte(v_hash, 6) & 15) | 80);
  v_hash := pg_catalog.set_byte(v_hash, 8, (pg_catalog.get_byte(v_hash, 8) & 63) | 128);
  return pg_catalog.encode(pg_catalog.substr(v_hash, 1, 16), 'hex')::uuid;
end;
$$;

-- BEGIN GENERATED sj_is_secret_key (scripts/gen_sql_secret_rules.py; do not edit)
-- Whether the value under a JSON key named p_name is a secret: supabase_jobs._secret_keys
-- in SQL (design.md section 5; the steps are listed in supabase_jobs/_secret_rules.py).
-- Every word list below is copied from the Python module.
create or replace function supabase_jobs.sj_is_secret_key(p_name text)
returns boolean
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_name text := p_name;
  v_words text[];
  v_modes text[] := array[''];
  v_mode text;
  v_current text;
  v_count integer;
  v_digits boolean;
  v_previous text;
  v_kind text;
  v_fold text;
  v_last_fold text;
  v_ch text;
  v_code integer;
  v_end integer;
  v_head text;
  v_before text;
  c_always_secret_words constant text[] := array[
    'accesskey', 'apikey', 'apikeys', 'authorisation', 'authorization', 'bearer',
    'contrasena', 'cookie', 'cookies', 'cred', 'credential', 'credentials', 'creds',
    'jsessionid', 'jwt', 'jwts', 'kennwort', 'mnemonic', 'otp', 'passcode', 'passphrase',
    'passwd', 'password', 'passwords', 'passwort', 'phpsessid', 'privatekey',
    'privatekeys', 'privkey', 'pswd', 'pwd', 'pword', 'secret', 'secretkey', 'secrets',
    'senha', 'sessid', 'sessionid', 'wachtwoord'];
  c_auth_heads constant text[] := array[
    'code', 'header', 'headers', 'key', 'pass', 'string', 'value'];
  c_auth_prefixes constant text[] := array[
    'api', 'basic', 'bearer', 'digest', 'http', 'proxy'];
  c_benign_heads constant text[] := array[
    'accepted', 'admirer', 'age', 'agent', 'alg', 'algorithm', 'algorithms', 'arn', 'at',
    'attempts', 'audience', 'banner', 'button', 'changed', 'claim', 'claims',
    'complexity', 'consent', 'consents', 'count', 'counter', 'created', 'date', 'days',
    'description', 'dialog', 'dir', 'directory', 'disable', 'disabled', 'dismissed',
    'domain', 'duration', 'email', 'emails', 'enable', 'enabled', 'endpoint', 'endpoints',
    'enforced', 'entropy', 'error', 'errors', 'exists', 'exp', 'expiration', 'expire',
    'expired', 'expires', 'expiry', 'file', 'filename', 'files', 'flow', 'form', 'format',
    'garden', 'generator', 'given', 'grant', 'hidden', 'hint', 'hours', 'href',
    'httponly', 'icon', 'id', 'ids', 'ingredient', 'interval', 'invalid', 'issuer',
    'kind', 'label', 'last', 'leeway', 'len', 'length', 'level', 'lifetime', 'link',
    'links', 'location', 'manager', 'match', 'matches', 'max', 'maximum', 'menu', 'min',
    'minimum', 'minutes', 'mismatch', 'mission', 'modal', 'mode', 'name', 'names',
    'notice', 'on', 'optional', 'page', 'path', 'paths', 'placeholder', 'policies',
    'policy', 'popup', 'preferences', 'prefs', 'present', 'protected', 'provider',
    'providers', 'recipe', 'rejected', 'reminder', 'required', 'requirement',
    'requirements', 'reset', 'retries', 'room', 'rotated', 'rule', 'rules', 'samesite',
    'santa', 'sauce', 'scope', 'scopes', 'score', 'screen', 'seconds', 'secure', 'sent',
    'server', 'set', 'settings', 'shown', 'society', 'state', 'status', 'strategy',
    'strength', 'template', 'time', 'timeout', 'timestamp', 'title', 'ttl', 'type',
    'types', 'updated', 'uri', 'uris', 'url', 'urls', 'valid', 'validation', 'validator',
    'version', 'versions', 'visible'];
  c_benign_token_qualifiers constant text[] := array[
    'after', 'audio', 'before', 'begin', 'bos', 'cached', 'cls', 'completion',
    'continuation', 'cursor', 'end', 'eos', 'eot', 'first', 'image', 'input', 'last',
    'marker', 'mask', 'max', 'min', 'next', 'num', 'offset', 'output', 'pad', 'padding',
    'page', 'pagination', 'prev', 'previous', 'prompt', 'reasoning', 'resume',
    'resumption', 'sep', 'special', 'start', 'stop', 'sync', 'thinking', 'total', 'unk',
    'video', 'vision'];
  c_key_qualifiers constant text[] := array[
    'access', 'account', 'activation', 'admin', 'aes', 'airtable', 'akamai', 'alchemy',
    'algolia', 'amplitude', 'anthropic', 'api', 'apns', 'app', 'application', 'appwrite',
    'assemblyai', 'atlassian', 'auth', 'auth0', 'aws', 'azure', 'b2', 'backblaze',
    'bearer', 'binance', 'bitbucket', 'braintree', 'brevo', 'cert', 'certificate',
    'clerk', 'client', 'cloudflare', 'cognito', 'cohere', 'coinbase', 'consumer',
    'cookie', 'crypto', 'csrf', 'dashscope', 'datadog', 'decryption', 'deepgram',
    'deepseek', 'deploy', 'developer', 'digitalocean', 'discord', 'docker', 'dockerhub',
    'doppler', 'dropbox', 'dsa', 'easypost', 'ecdsa', 'ed25519', 'elevenlabs',
    'encryption', 'etherscan', 'expo', 'facebook', 'fastly', 'fcm', 'firebase',
    'firecrawl', 'fireworks', 'function', 'functions', 'gcp', 'gemini', 'github',
    'gitlab', 'gmaps', 'google', 'gpg', 'groq', 'hcaptcha', 'heroku', 'hetzner', 'hf',
    'hmac', 'hubspot', 'huggingface', 'infisical', 'infura', 'instagram', 'integration',
    'intercom', 'jina', 'jira', 'jwt', 'langchain', 'langsmith', 'licence', 'license',
    'linear', 'linkedin', 'linode', 'mailchimp', 'mailgun', 'mandrill', 'mapbox',
    'mapquest', 'master', 'merchant', 'mfa', 'minio', 'mistral', 'mixpanel', 'moralis',
    'netlify', 'newrelic', 'notion', 'npm', 'nylas', 'oauth', 'okta', 'onesignal',
    'openai', 'openrouter', 'openweather', 'otp', 'partner', 'pass', 'paypal', 'pem',
    'perplexity', 'pgp', 'pinecone', 'plaid', 'pocketbase', 'postmark', 'private', 'psk',
    'pusher', 'pypi', 'qdrant', 'recaptcha', 'recovery', 'replicate', 'resend', 'role',
    'root', 'rsa', 'salesforce', 'secret', 'sendgrid', 'sendinblue', 'sentry', 'serpapi',
    'server', 'service', 'session', 'shared', 'shippo', 'shopify', 'signature', 'signing',
    'slack', 'sparkpost', 'spotify', 'square', 'ssh', 'ssl', 'stripe', 'subscription',
    'supabase', 'symmetric', 'tavily', 'telegram', 'tiktok', 'tls', 'together', 'tomtom',
    'totp', 'turnstile', 'twilio', 'twitter', 'unlock', 'unseal', 'vault', 'vercel',
    'voyage', 'vultr', 'wasabi', 'weaviate', 'webhook', 'whatsapp', 'wifi', 'wpa',
    'write', 'x509', 'xai', 'xsrf', 'youtube', 'zendesk'];
  c_pass_benign_qualifiers constant text[] := array[
    'backstage', 'boarding', 'bus', 'by', 'day', 'event', 'festival', 'final', 'first',
    'free', 'guest', 'gym', 'hall', 'last', 'multi', 'museum', 'one', 'park', 'press',
    'render', 'season', 'second', 'single', 'ski', 'third', 'train', 'travel', 'two'];
  c_phrase_qualifiers constant text[] := array[
    'hotp', 'mfa', 'mnemonic', 'otp', 'pass', 'recovery', 'secret', 'seed', 'totp',
    'wallet'];
  c_predicate_prefixes constant text[] := array[
    'accept', 'accepted', 'accepts', 'allow', 'allowed', 'allows', 'are', 'block',
    'blocks', 'can', 'count', 'did', 'disable', 'disabled', 'do', 'does', 'enable',
    'enabled', 'had', 'has', 'have', 'hide', 'include', 'includes', 'is', 'max', 'min',
    'missing', 'must', 'need', 'needs', 'no', 'num', 'reject', 'rejected', 'require',
    'requires', 'should', 'show', 'support', 'supports', 'total', 'use', 'uses', 'using',
    'was', 'were', 'with', 'without'];
  c_short_password_words constant text[] := array[
    'pass', 'passw', 'pw', 'pwd'];
  c_token_qualifiers constant text[] := array[
    'access', 'api', 'auth', 'bearer', 'client', 'csrf', 'device', 'id', 'jwt', 'oauth',
    'personal', 'push', 'refresh', 'secret', 'service', 'session', 'xsrf'];
  c_value_form_words constant text[] := array[
    'again', 'argon', 'ascii', 'b', 'b58', 'b64', 'base', 'base32', 'base64', 'bcrypt',
    'bin', 'binary', 'blob', 'bytes', 'cleartext', 'confirm', 'confirmation', 'content',
    'contents', 'crypt', 'current', 'data', 'der', 'enc', 'encoded', 'encrypted', 'env',
    'hash', 'hashed', 'hex', 'json', 'md', 'md5', 'new', 'old', 'pem', 'plain',
    'plaintext', 'raw', 'repeat', 'retype', 'sha', 'str', 'string', 'text', 'utf', 'utf8',
    'v', 'value', 'values', 'var'];
begin
  if pg_catalog.octet_length(v_name) <> pg_catalog.char_length(v_name) then
    -- 1. Fold (not ASCII only): NFKD, drop combining marks and invisible characters, map
    -- Cyrillic and Greek look-alikes to Latin letters.
    v_name := pg_catalog.translate(
      pg_catalog.regexp_replace(pg_catalog.normalize(v_name, 'NFKD'),
        '[\u00ad\u0300-\u036f\u0483-\u0489\u061c\u180e\u1ab0-\u1aff\u1dc0-\u1dff\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u20d0-\u20ff\ufe20-\ufe2f\ufeff]', '', 'g'),
      'аеіјорсухѕԁԛԝһӏАВЕЅІЈКМНОРСТХУҮԚԜҺӀαβεικνορτυχϲϳγωΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹıȷɑɡɩᴀʙᴄᴅᴇɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢкԍօսհոց',
      'aeijopcyxsdqwhlABESIJKMHOPCTXYYQWHIabeikvoptuxcjywABEZHIKMNOPTYXCijagiabcdeghijklmnoprstuvwyzkgouhng');
  end if;
  -- 3. No stem, no secret (a cheap gate).
  if v_name !~* '(auth|bearer|code|contras|cookie|cred|jwt|kennw|key|mnemonic|otp|pass|phrase|psw|pw|secret|seed|senha|sess|token|wachtw)' then
    return false;
  end if;
  if pg_catalog.octet_length(v_name) <> pg_catalog.char_length(v_name) then
    -- Non-ASCII characters are left: Python reads each as a separator, a lower- or
    -- upper-case letter or a digit, which SQL cannot tell. Judge the name under each
    -- reading: secret if any says so (stricter, never laxer, when they are of one kind).
    v_modes := array['', 'L', 'U', 'D'];
  end if;
  foreach v_mode in array v_modes loop
    v_words := '{}';
    v_current := '';
    v_count := 0;
    v_digits := false;
    v_previous := '';
    v_last_fold := '';
    -- 2. Words: split at separators, camelCase, acronyms and digits; case-fold; drop numbers.
    foreach v_ch in array pg_catalog.string_to_array(v_name, null) loop
      v_code := pg_catalog.ascii(v_ch);
      v_fold := null;
      if v_code between 65 and 90 then
        v_kind := 'U';
        v_fold := pg_catalog.chr(v_code + 32);
      elsif v_code between 97 and 122 then
        v_kind := 'L';
      elsif v_code between 48 and 57 then
        v_kind := 'D';
      elsif v_code < 128 then
        v_kind := '';
      else
        -- Letters whose case fold is ASCII keep Python's class; the others are read as
        -- v_mode says (see above).
        v_kind := case v_ch
          when 'ß' then 'L'
          when 'ẞ' then 'U'
          else v_mode end;
        v_fold := case v_ch
          when 'ß' then 'ss'
          when 'ẞ' then 'ss'
          end;
      end if;
      v_fold := coalesce(v_fold, v_ch);
      if v_kind = '' or (v_count > 0 and ((v_kind = 'D') <> (v_previous = 'D')
                                           or (v_kind = 'U' and v_previous = 'L'))) then
        if v_count > 0 and not v_digits then
          v_words := v_words || v_current;
        end if;
        v_current := '';
        v_count := 0;
      elsif v_kind = 'L' and v_previous = 'U' and v_count > 1 then
        -- "APIKey": the last capital starts the next word.
        v_words := v_words || pg_catalog.left(v_current, -pg_catalog.char_length(v_last_fold));
        v_current := v_last_fold;
        v_count := 1;
      end if;
      if v_kind <> '' then
        v_current := v_current || v_fold;
        v_last_fold := v_fold;
        v_count := v_count + 1;
        v_digits := v_kind = 'D';
      end if;
      v_previous := v_kind;
    end loop;
    if v_count > 0 and not v_digits then
      v_words := v_words || v_current;
    end if;
    v_end := pg_catalog.cardinality(v_words);
    -- 4. No words, or a predicate first (has_password): not secret.
    if v_end = 0 or (v_end > 1 and v_words[1] = any(c_predicate_prefixes)) then
      continue;
    end if;
    -- 5. Trailing representation words (api_key_value): the head comes before them.
    while v_end > 1 and v_words[v_end] = any(c_value_form_words) loop
      v_end := v_end - 1;
    end loop;
    v_head := v_words[v_end];
    v_before := case when v_end > 1 then v_words[v_end - 1] else '' end;
    -- 6. Head rules: a match is secret; otherwise go on to step 7.
    if v_head ~ 'token$' then
      if v_before <> all(c_benign_token_qualifiers)
         and pg_catalog.left(v_head, -5) <> all(c_benign_token_qualifiers) then
        return true;
      end if;
    elsif v_head ~ 'tokens$' then
      if v_before = any(c_token_qualifiers)
         or pg_catalog.left(v_head, -6) = any(c_token_qualifiers) then
        return true;
      end if;
    elsif v_head in ('key', 'keys') then
      if v_before = any(c_key_qualifiers) then
        return true;
      end if;
    elsif v_head ~ 'keys?$' then
      if pg_catalog.regexp_replace(v_head, 'keys?$', '')
         = any(c_key_qualifiers) then
        return true;
      end if;
    elsif v_head = 'phrase' then
      if v_before = any(c_phrase_qualifiers) then
        return true;
      end if;
    elsif v_head = any(c_short_password_words) then
      if v_before <> all(c_pass_benign_qualifiers) then
        return true;
      end if;
    elsif v_head = 'auth' or (v_head ~ 'auth$'
          and pg_catalog.left(v_head, -4) = any(c_auth_prefixes)) then
      return true;
    elsif v_before = 'auth' and v_head = any(c_auth_heads) then
      return true;
    end if;
    -- 7. A head about the secret (password_policy) is not one; else any always-secret word.
    if v_head = any(c_benign_heads) and v_end > 1 then
      continue;
    end if;
    if v_words[1:v_end] && c_always_secret_words
         or exists (select from pg_catalog.unnest(v_words[1:v_end]) w where w ~ '(credential|credentials|passphrase|passwd|password|secret|secrets)$') then
      return true;
    end if;
  end loop;
  return false;
end;
$$;
-- END GENERATED sj_is_secret_key

-- The payload walk of the SDK's "remove" mode, by key name: drops every object entry whose
-- key is secret, at any depth. Inside lists nothing is dropped (indices stay stable): the
-- value of a [name, value] pair inside a list is redacted when the name is secret (the shape
-- of header lists), and so is the item after a secret command-line flag (["--password", x]).
-- Refuses nesting deeper than 32 containers (DEFAULT_MAX_PAYLOAD_DEPTH). Values are not
-- judged by their shape here (JWTs, "Bearer ..."): that part of the Python scrubber has no
-- SQL twin.
create or replace function supabase_jobs.sj_scrub_secret_keys(
  p_value jsonb,
  p_depth integer default 1,
  p_in_list boolean default false
) returns jsonb
language plpgsql
immutable
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_out jsonb;
  v_items jsonb[] := '{}';
  v_item jsonb;
  v_index bigint;
  v_pair boolean;
  v_after_flag boolean := false;
  v_text text;
begin
  if p_depth > 32 then
    raise exception using errcode = '22023',
      message = 'p_payload is nested deeper than 32 levels';
  end if;
  if pg_catalog.jsonb_typeof(p_value) = 'object' then
    select coalesce(pg_catalog.jsonb_object_agg(e.key,
             case when pg_catalog.jsonb_typeof(e.value) in ('object', 'array')
                  then supabase_jobs.sj_scrub_secret_keys(e.value, p_depth + 1, false)
                  else e.value end), '{}'::jsonb)
      into v_out
      from pg_catalog.jsonb_each(p_value) e
     where not supabase_jobs.sj_is_secret_key(e.key);
    return v_out;
  end if;
  if pg_catalog.jsonb_typeof(p_value) <> 'array' then
    return p_value;
  end if;
  -- A pair inside a list; under an object key, ["token", "x"] is data.
  v_pair := p_in_list and pg_catalog.jsonb_array_length(p_value) = 2
    and pg_catalog.jsonb_typeof(p_value -> 0) = 'string'
    and pg_catalog.char_length(p_value ->> 0) <= 64
    and pg_catalog.strpos(p_value ->> 0, ' ') = 0
    and p_value -> 1 <> '"[REDACTED]"'::jsonb
    and supabase_jobs.sj_is_secret_key(p_value ->> 0);
  for v_item, v_index in
    select e.value, e.ord from pg_catalog.jsonb_array_elements(p_value) with ordinality e(value, ord)
  loop
    v_text := case when pg_catalog.jsonb_typeof(v_item) = 'string' then v_item #>> '{}' end;
    if (v_pair and v_index = 2) or (v_after_flag and v_item <> '"[REDACTED]"'::jsonb) then
      v_items := v_items || '"[REDACTED]"'::jsonb;
    elsif pg_catalog.jsonb_typeof(v_item) in ('object', 'array') then
      v_items := v_items || supabase_jobs.sj_scrub_secret_keys(v_item, p_depth + 1, true);
    else
      v_items := v_items || v_item;
    end if;
    -- A secret command-line flag: "--password", not "--password=x" (a string) or a sentence.
    v_after_flag := v_text is not null and pg_catalog.left(v_text, 1) = '-'
      and pg_catalog.char_length(v_text) <= 130
      and pg_catalog.strpos(v_text, '=') = 0 and pg_catalog.strpos(v_text, ' ') = 0
      and supabase_jobs.sj_is_secret_key(pg_catalog.ltrim(v_text, '-'));
  end loop;
  return pg_catalog.to_jsonb(v_items);
end;
$$;

-- dispatch: validate, scrub and insert one job; returns the stored row. Options (all optional):
-- queue, priority, run_at (ISO 8601 with a UTC offset), max_attempts, idempotency_key. With an
-- idempotency_key a repeated dispatch returns the existing job as stored (never a second row,
-- never an error), whoever dispatched it first: this function, the Python SDK or another writer.
-- Errors name the argument (22023), never its value: messages end up in logs.
create or replace function public.sj_dispatch_v1(
  p_tenant_id uuid,
  p_type text,
  p_payload jsonb default '{}'::jsonb,
  p_options jsonb default '{}'::jsonb
) returns public.jobs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_options jsonb := coalesce(p_options, '{}'::jsonb);
  v_payload jsonb := coalesce(p_payload, '{}'::jsonb);
  v_name text;
  v_value jsonb;
  v_queue text := 'default';
  v_priority integer := 0;
  v_run_at timestamptz := now();
  v_max_attempts integer := 5;
  v_key text;
  v_id uuid;
  v_job public.jobs;
  v_round integer;
begin
  if p_tenant_id is null then
    raise exception using errcode = '22023', message = 'p_tenant_id is required';
  end if;
  if p_type is null then
    raise exception using errcode = '22023', message = 'p_type is required';
  end if;
  if exists (select from supabase_jobs.job_types)
     and not exists (select from supabase_jobs.job_types t where t.type = p_type) then
    raise exception using errcode = '22023', message = 'p_type is not a known job type',
      hint = 'Known types are listed in supabase_jobs.job_types.';
  end if;
  if pg_catalog.jsonb_typeof(v_options) <> 'object' then
    raise exception using errcode = '22023', message = 'p_options must be a JSON object';
  end if;
  for v_name, v_value in select e.key, e.value from pg_catalog.jsonb_each(v_options) e loop
    if v_value = 'null'::jsonb
       and v_name in ('queue', 'priority', 'run_at', 'max_attempts', 'idempotency_key') then
      continue;  -- null means "not given", as None does for the SDK's dispatch()
    elsif v_name = 'queue' then
      if pg_catalog.jsonb_typeof(v_value) <> 'string'
         or pg_catalog.char_length(v_value #>> '{}') > 63
         or (v_value #>> '{}') !~ '^[a-z][a-z0-9_.:-]*$' then
        raise exception using errcode = '22023',
          message = 'p_options.queue must match ^[a-z][a-z0-9_.:-]{0,62}$';
      end if;
      v_queue := v_value #>> '{}';
    elsif v_name = 'priority' then
      if pg_catalog.jsonb_typeof(v_value) <> 'number'
         or (v_value #>> '{}')::numeric not between -100 and 100
         or (v_value #>> '{}')::numeric <> pg_catalog.trunc((v_value #>> '{}')::numeric) then
        raise exception using errcode = '22023',
          message = 'p_options.priority must be an integer in -100..100';
      end if;
      v_priority := (v_value #>> '{}')::integer;
    elsif v_name = 'max_attempts' then
      if pg_catalog.jsonb_typeof(v_value) <> 'number'
         or (v_value #>> '{}')::numeric not between 1 and 1000
         or (v_value #>> '{}')::numeric <> pg_catalog.trunc((v_value #>> '{}')::numeric) then
        raise exception using errcode = '22023',
          message = 'p_options.max_attempts must be an integer in 1..1000';
      end if;
      v_max_attempts := (v_value #>> '{}')::integer;
    elsif v_name = 'run_at' then
      -- An explicit offset, as the SDK refuses naive datetimes: their meaning would depend
      -- on the session's time zone.
      if pg_catalog.jsonb_typeof(v_value) <> 'string'
         or (v_value #>> '{}') !~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|z|[+-]\d\d(:?\d\d)?)$' then
        raise exception using errcode = '22023',
          message = 'p_options.run_at must be an ISO 8601 timestamp with a UTC offset';
      end if;
      v_run_at := (v_value #>> '{}')::timestamptz;
    elsif v_name = 'idempotency_key' then
      if pg_catalog.jsonb_typeof(v_value) <> 'string'
         or pg_catalog.char_length(v_value #>> '{}') not between 1 and 255 then
        raise exception using errcode = '22023',
          message = 'p_options.idempotency_key must be a string of 1..255 characters';
      end if;
      v_key := v_value #>> '{}';
    else
      -- Also refuses the columns the queue manages (status, attempts, ...).
      raise exception using errcode = '22023',
        message = pg_catalog.format('p_options.%s is not a dispatch option',
                                    pg_catalog.left(v_name, 64));
    end if;
  end loop;
  if pg_catalog.jsonb_typeof(v_payload) <> 'object' then
    raise exception using errcode = '22023', message = 'p_payload must be a JSON object';
  end if;
  v_payload := supabase_jobs.sj_scrub_secret_keys(v_payload);
  -- DEFAULT_MAX_PAYLOAD_BYTES, measured on jsonb's text form (a space after each ':' and
  -- ','), so a little stricter than the SDK's compact encoding.
  if pg_catalog.octet_length(v_payload::text) > 262144 then
    raise exception using errcode = '22023', message = 'p_payload is larger than 262144 bytes';
  end if;

  if v_key is null then
    insert into public.jobs (tenant_id, type, payload, queue, priority, run_at, max_attempts)
    values (p_tenant_id, p_type, v_payload, v_queue, v_priority, v_run_at, v_max_attempts)
    returning * into v_job;
    return v_job;
  end if;

  v_id := supabase_jobs.sj_idempotent_job_id(p_tenant_id, v_key);
  for v_round in 1 .. 3 loop
    select * into v_job from public.jobs j
     where j.tenant_id = p_tenant_id and j.idempotency_key = v_key;
    if found then
      return v_job;
    end if;
    -- No conflict target: ON CONFLICT DO NOTHING covers the primary key (the derived id) and
    -- the partial unique index on (tenant_id, idempotency_key), and waits for a concurrent
    -- insert of the same key to commit. The next round then reads that job.
    insert into public.jobs
      (id, tenant_id, type, payload, queue, priority, run_at, max_attempts, idempotency_key)
    values
      (v_id, p_tenant_id, p_type, v_payload, v_queue, v_priority, v_run_at, v_max_attempts, v_key)
    on conflict do nothing
    returning * into v_job;
    if found then
      return v_job;
    end if;
    -- The derived id is held by a row that does not hold this key (its key was edited, or it
    -- was stored by another writer): the key is free, store it under a random id, as the SDK
    -- does (supabase_jobs._batch.unheld_rows).
    if exists (select from public.jobs j where j.id = v_id
                and (j.tenant_id, j.idempotency_key) is distinct from (p_tenant_id, v_key)) then
      v_id := gen_random_uuid();
    end if;
  end loop;
  raise exception using errcode = '40001',
    message = 'idempotency key kept changing hands; dispatch again';
end;
$$;

-- Only service_role may call these (Supabase's default privileges grant functions to anon and
-- authenticated as well): revoke from all three, grant to service_role.
revoke execute on function
  supabase_jobs.sj_sha1(bytea),
  supabase_jobs.sj_idempotent_job_id(uuid, text),
  supabase_jobs.sj_is_secret_key(text),
  supabase_jobs.sj_scrub_secret_keys(jsonb, integer, boolean),
  public.sj_dispatch_v1(uuid, text, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function
  supabase_jobs.sj_sha1(bytea),
  supabase_jobs.sj_idempotent_job_id(uuid, text),
  supabase_jobs.sj_is_secret_key(text),
  supabase_jobs.sj_scrub_secret_keys(jsonb, integer, boolean),
  public.sj_dispatch_v1(uuid, text, jsonb, jsonb)
  to service_role;
