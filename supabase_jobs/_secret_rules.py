"""The secret rules as data: one rule set for payloads, job results, logs and messages.

Everything that decides "is this a secret" lives here as plain data (frozensets of words,
regular-expression sources) plus one normalisation. :mod:`._secret_keys` classifies key
names with it; :mod:`._secret_text` finds credentials and ``key=value`` pairs in text with
it; :mod:`._sanitize` (``scrub``, ``scrub_text``) uses both. Keeping the data in one
module means the payload scrubber and the text scrubber cannot drift apart, and lets a
generator translate the key-name rules into SQL (``sj_is_secret_key(text)``).

Key-name rules, step by step (what :func:`._secret_keys.is_secret_key` does):

1. Normalise (:func:`fold`): per character, Unicode NFKD decomposition; drop combining
   marks (:data:`COMBINING_MARKS`) and invisible format characters (:data:`IGNORED_CHARS`);
   map Cyrillic and Greek look-alikes to Latin letters (:data:`CONFUSABLES`). NFKC alone
   leaves ``р`` (Cyrillic) and ``ο`` (Greek) alone, so ``раsswοrd`` would pass it.
2. Split into words (:func:`key_words`) at separators, camelCase, acronyms and digits;
   case-fold; drop digit-only words. ``X-API-Key2`` -> ``x api key``.
3. The folded name contains no :data:`KEY_STEMS` entry: not secret (a cheap gate; every
   secret word contains a stem, which a test checks).

Every step is set membership, a word-position rule or a suffix test, so an SQL version
(``regexp_split_to_array`` + ``= any(...)``) can follow it step by step.
4. More than one word and the first is a predicate (:data:`PREDICATE_PREFIXES`:
   ``has_password``, ``is_secret``): not secret (it holds a flag).
5. Trailing representation words (:data:`VALUE_FORM_WORDS`: ``api_key_value``,
   ``private_key_pem``) are dropped; the last remaining word is the *head*.
6. Head rules (the head and the word before it): ``token`` heads unless a pagination or
   tokenizer word precedes (``next_page_token``, ``eos_token``); qualified ``tokens``,
   ``key(s)``, ``phrase``/``seed`` and ``code(s)`` heads (``api_key``, ``stripe_key``,
   ``seed_phrase``, ``totp_seed``, ``mfa_code``; not ``primary_key``, ``status_code``);
   ``auth`` heads; short password heads (``pass``, ``pw``, ``db_pass``, ``dbpass``,
   ``pass_word``; not ``boarding_pass``, ``bypass``).
7. Otherwise a word from :data:`ALWAYS_SECRET_WORDS` (or a word ending in a
   :data:`SECRET_SUFFIXES` entry: ``newpassword``) makes it secret, unless a word after
   the last such word says the key is about the secret rather than the secret itself
   (:data:`BENIGN_HEADS`: ``password_policy``, ``jwt_expiry``, ``cookie_consent_given``,
   ``secret_santa``) and the head is not a credential (:data:`CREDENTIAL_HEADS`:
   ``password_reset_code`` stays secret).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ALWAYS_SECRET_WORDS",
    "AUTH_HEADS",
    "AUTH_PREFIXES",
    "BEARER_PROSE_WORDS",
    "BENIGN_HEADS",
    "BENIGN_TOKEN_QUALIFIERS",
    "CODE_QUALIFIERS",
    "COMBINING_MARKS",
    "CONFUSABLES",
    "CREDENTIAL_HEADS",
    "IGNORED_CHARS",
    "JWT",
    "KEY_QUALIFIERS",
    "KEY_STEMS",
    "PASS_BENIGN_QUALIFIERS",
    "PASS_PREFIXES",
    "PEM",
    "PHRASE_QUALIFIERS",
    "PREDICATE_PREFIXES",
    "PROVIDER_PATTERNS",
    "SECRET_SUFFIXES",
    "SHORT_PASSWORD_WORDS",
    "TOKEN68",
    "TOKEN_QUALIFIERS",
    "USERINFO",
    "VALUE_FORM_WORDS",
    "fold",
    "fold_with_offsets",
    "key_words",
]

# --- normalisation ---------------------------------------------------------------------

#: Combining marks stripped after NFKD (accents hide a word: ``pa\u0301ssword``).
COMBINING_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
#: Invisible format characters (zero-width, bidi controls, soft hyphen, BOM).
IGNORED_CHARS = "\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
#: Latin look-alikes in Cyrillic, Greek, Armenian and small capitals, mapped to Latin.
CONFUSABLES: dict[str, str] = dict(
    zip(
        "аеіјоросухѕԁԛԝһӏ"  # Cyrillic lower case
        "АВЕЅІЈКМНОРСТХУҮԚԜҺӀ"  # Cyrillic upper case
        "αβεικνορτυχϲϳγω"  # Greek lower case
        "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹ"  # Greek upper case
        "ıȷɑɡɩᴀʙᴄᴅᴇɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ"  # Latin dotless, script and small capitals
        "кԍօսհոց",  # more Cyrillic, Armenian
        "aeijopocyxsdqwhl"
        "ABESIJKMHOPCTXYYQWHI"
        "abeikvoptuxcjyw"
        "ABEZHIKMNOPTYXC"
        "ijagiabcdeghijklmnoprstuvwyz"
        "kgouhng",
        strict=True,
    )
)
_DROP = re.compile(f"[{COMBINING_MARKS}{IGNORED_CHARS}]")


def _fold_char(char: str) -> str:
    folded = _DROP.sub("", unicodedata.normalize("NFKD", char))
    folded = "".join(CONFUSABLES.get(part, part) for part in folded)
    # A fold never makes a JSON quote: the JSON-text gate relies on real quotes only.
    return folded.replace('"', "'") if folded != char else char


class _FoldTable(dict[int, str]):
    """A ``str.translate`` table that computes (and keeps) each character's fold."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold_char(chr(code))
        return folded


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """Normalise look-alike letters: NFKD, combining marks and format characters dropped,
    Cyrillic/Greek confusables mapped to Latin. ASCII text is returned as it is.

    Example:
        >>> fold("р\u0430ss\u200bwοrd"), fold("pa\u0301ssword")
        ('password', 'password')
    """
    return text if text.isascii() else text.translate(_FOLD_TABLE)


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """:func:`fold` plus, for each folded character, the index of its source character.

    The list has one extra entry (``len(text)``) so a span end maps too.
    """
    parts: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        folded = char if char.isascii() else _FOLD_TABLE[ord(char)]
        parts.append(folded)
        offsets.extend([index] * len(folded))
    offsets.append(len(text))
    return "".join(parts), offsets


def key_words(name: str) -> list[str]:
    """Split a key into case-folded words at camelCase, acronyms, digits and separators.

    ``name`` is folded first (:func:`fold`). Digit-only words are dropped: ``password2``
    and ``oauth2_token`` mean what ``password`` and ``oauth_token`` mean.

    Example:
        >>> key_words("X-APIKey2"), key_words("newPassword")
        (['x', 'api', 'key'], ['new', 'password'])
    """
    words: list[str] = []
    current: list[str] = []
    previous = ""
    for ch in fold(name):
        kind = "U" if ch.isupper() else "L" if ch.isalpha() else "D" if ch.isdigit() else ""
        if not kind or (
            current and ((kind == "D") != (previous == "D") or (kind, previous) == ("U", "L"))
        ):
            if current:  # a separator (- . _ space ...) or a new word starts here
                words.append("".join(current))
                current = []
        elif kind == "L" and previous == "U" and len(current) > 1:
            last = current.pop()  # "APIKey": the last capital starts the next word
            words.append("".join(current))
            current = [last]
        if kind:
            current.append(ch)
        previous = kind
    if current:
        words.append("".join(current))
    return [word.casefold() for word in words if not word.isdigit()]


# --- key-name words --------------------------------------------------------------------

#: Every secret key name contains one of these (after :func:`fold`, case-insensitive).
#: The text scrubber's cheap gate looks for them before a ``:`` or ``=``.
KEY_STEMS = (
    "pass", "pw", "psw", "secret", "cred", "auth", "bearer", "jwt", "cookie", "token",
    "key", "sess", "otp", "mnemonic", "phrase", "kennw", "contras", "senha", "wachtw",
    "code", "seed",
)  # fmt: skip
#: A word that makes a key secret wherever it stands (unless the head is benign).
ALWAYS_SECRET_WORDS = frozenset({
    "password", "passwords", "passwd", "pwd", "pword", "pswd", "passphrase", "passcode",
    "passwort", "kennwort", "contrasena", "senha", "wachtwoord",
    "secret", "secrets", "credential", "credentials", "creds", "cred",
    "authorization", "authorisation", "bearer", "jwt", "jwts", "cookie", "cookies",
    "apikey", "apikeys", "privatekey", "privatekeys", "secretkey", "accesskey", "privkey",
    "sessionid", "sessid", "phpsessid", "jsessionid", "otp", "mnemonic",
})  # fmt: skip
#: One word ending like this is secret too: ``newpassword``, ``clientsecret``.
SECRET_SUFFIXES = (
    "password", "passwd", "passphrase", "secret", "secrets", "credential", "credentials",
)  # fmt: skip
#: Short password words, secret as the head (``db_pass``, ``pw``), not before one.
SHORT_PASSWORD_WORDS = frozenset({"pass", "pw", "pwd", "passw"})
#: ``<word>_pass`` that is a ticket, not a password: ``boarding_pass``.
PASS_BENIGN_QUALIFIERS = frozenset({
    "boarding", "hall", "day", "season", "bus", "train", "backstage", "first", "second",
    "third", "last", "final", "single", "multi", "two", "one", "by", "free", "guest",
    "press", "gym", "museum", "park", "ski", "event", "festival", "travel", "render",
})  # fmt: skip
#: ``<qualifier>_key``: ``api_key``, ``private_key``, ``stripe_key``; not ``primary_key``.
KEY_QUALIFIERS = frozenset({
    "api", "private", "secret", "access", "signing", "encryption", "decryption", "master",
    "client", "auth", "service", "role", "session", "ssh", "pgp", "gpg", "hmac", "webhook",
    "consumer", "license", "licence", "jwt", "bearer", "account", "subscription", "app",
    "application", "crypto", "signature", "shared", "admin", "root", "deploy", "recovery",
    "activation", "unlock", "rsa", "aes", "ecdsa", "ed25519", "dsa", "symmetric", "psk",
    "wifi", "wpa", "integration", "developer", "partner", "merchant", "server", "functions",
    "function", "write", "cookie", "tls", "ssl", "cert", "certificate", "x509", "pem",
    "csrf", "xsrf", "oauth", "otp", "totp", "mfa", "pass",
    # Providers: "<provider>_key" holds that provider's API key.
    "stripe", "openai", "anthropic", "cohere", "mistral", "groq", "gemini", "google",
    "gcp", "firebase", "aws", "azure", "github", "gitlab", "bitbucket", "slack",
    "discord", "twilio", "sendgrid", "mailgun", "mailchimp", "postmark", "resend",
    "sentry", "datadog", "newrelic", "algolia", "mapbox", "pusher", "supabase", "vercel",
    "netlify", "heroku", "cloudflare", "shopify", "paypal", "braintree", "square",
    "plaid", "mixpanel", "amplitude", "hubspot", "salesforce", "zendesk",
    "intercom", "notion", "airtable", "linear", "jira", "atlassian", "huggingface", "hf",
    "replicate", "pinecone", "weaviate", "qdrant", "elevenlabs", "deepgram", "assemblyai",
    "perplexity", "xai", "fireworks", "openrouter", "langsmith", "langchain", "voyage",
    "jina", "serpapi", "tavily", "firecrawl", "clerk", "okta", "onesignal", "fcm",
    "apns", "expo", "npm", "pypi", "docker", "dockerhub", "digitalocean", "linode",
    "vultr", "hetzner", "fastly", "akamai", "telegram", "whatsapp", "facebook",
    "twitter", "instagram", "linkedin", "tiktok", "youtube", "spotify", "dropbox",
    "shippo", "easypost", "nylas", "coinbase", "binance", "alchemy", "infura",
    "etherscan", "moralis", "mapquest", "tomtom", "openweather", "gmaps", "recaptcha",
    "hcaptcha", "turnstile", "brevo", "sendinblue",
    "mandrill", "sparkpost", "minio", "backblaze", "b2",
    "wasabi", "doppler", "vault", "infisical", "auth0", "cognito", "appwrite", "pocketbase",
    "deepseek", "together", "dashscope", "unseal",
})  # fmt: skip
#: ``<qualifier>_tokens`` (plural) holds credentials; ``max_tokens`` is a count.
TOKEN_QUALIFIERS = frozenset({
    "access", "refresh", "auth", "api", "bearer", "id", "session", "device", "push",
    "csrf", "xsrf", "oauth", "personal", "secret", "service", "client", "jwt",
})  # fmt: skip
#: ``<word>_token`` that is not a credential: pagination cursors, tokenizer symbols.
BENIGN_TOKEN_QUALIFIERS = frozenset({
    "page", "next", "prev", "previous", "continuation", "pagination", "cursor", "sync",
    "resume", "start", "end", "stop", "bos", "eos", "pad", "unk", "sep", "cls", "mask",
    "special", "eot", "padding", "begin", "max", "min", "num", "input", "output", "prompt",
    "completion", "reasoning", "cached", "total", "first", "last", "resumption", "after",
    "before", "marker", "offset", "image", "audio", "video", "vision", "thinking",
})  # fmt: skip
#: Heads that are the credential even after a benign word: ``password_reset_code``.
CREDENTIAL_HEADS = frozenset({
    "code", "codes", "pin", "otp", "salt", "seed", "nonce", "phrase", "token", "tokens",
    "key", "keys", "secret", "secrets", "password", "passwords",
})  # fmt: skip
#: ``<prefix>pass`` / ``<prefix>pw`` as one word: ``dbpass``, ``rootpw`` (not ``bypass``).
PASS_PREFIXES = frozenset({
    "db", "root", "user", "admin", "smtp", "ftp", "sftp", "ssh", "mysql", "pg", "psql",
    "redis", "ldap", "mail", "email", "app", "api", "sys", "web", "wifi", "vnc", "rdp",
    "bind", "auth", "login", "master", "super", "sa", "default", "my", "new", "old",
})  # fmt: skip
#: ``<word>_phrase`` / ``<word>_seed`` holding a wallet, recovery or 2FA secret.
PHRASE_QUALIFIERS = frozenset({
    "seed", "recovery", "secret", "pass", "wallet", "mnemonic", "totp", "otp", "hotp", "mfa",
})  # fmt: skip
#: ``<word>_code(s)`` that is a one-time credential; ``status_code`` is not.
CODE_QUALIFIERS = frozenset({
    "mfa", "otp", "totp", "verification", "verify", "recovery", "backup", "reset", "login",
    "sms", "security", "access", "activation", "authorization", "auth", "oauth", "pairing",
    "magic", "time", "confirmation", "device",
})  # fmt: skip
#: ``auth_<head>`` holding the credential itself (``auth_method`` does not).
AUTH_HEADS = frozenset({"header", "headers", "value", "string", "code", "pass", "key"})
#: ``<prefix>auth`` as one word: ``basicauth``; not ``oauth``.
AUTH_PREFIXES = frozenset({"basic", "http", "proxy", "digest", "bearer", "api"})
#: Trailing words naming a form or variant of the secret: ``private_key_pem``, ``pw_hash``.
VALUE_FORM_WORDS = frozenset({
    "value", "values", "pem", "der", "raw", "b64", "base64", "base32", "hex", "str",
    "string", "text", "bytes", "data", "plain", "plaintext", "cleartext", "enc",
    "encrypted", "encoded", "json", "blob", "content", "contents", "env", "var", "b58",
    "bin", "binary", "ascii", "utf8", "hash", "hashed", "md5", "sha", "bcrypt", "crypt",
    "confirm", "confirmation", "again", "repeat", "retype", "old", "new", "current",
    # What key_words leaves of b64, base64, md5, sha256, utf8, v2 (digits are dropped).
    "b", "base", "md", "utf", "argon", "v",
})  # fmt: skip
#: Heads that are about a secret, not the secret: ``password_policy``, ``jwt_expiry``.
BENIGN_HEADS = frozenset({
    "policy", "policies", "rule", "rules", "requirement", "requirements", "length", "len",
    "min", "max", "minimum", "maximum", "strength", "complexity", "score", "entropy",
    "url", "urls", "uri", "uris", "link", "links", "href", "endpoint", "endpoints",
    "path", "paths", "file", "filename", "files", "dir", "directory", "location",
    "enabled", "disabled", "enable", "disable", "required", "optional", "enforced",
    "consent", "consents", "banner", "notice", "expiry", "expires", "expiration",
    "expired", "exp", "ttl", "lifetime", "age", "timeout", "duration", "interval",
    "count", "counter", "attempts", "retries", "type", "types", "kind", "format",
    "algorithm", "algorithms", "alg", "name", "names", "label", "title", "description",
    "hint", "placeholder", "id", "ids", "arn", "version", "versions", "status", "state",
    "mode", "set", "exists", "present", "changed", "updated", "created", "rotated",
    "reset", "at", "on", "date", "time", "timestamp", "issuer", "audience", "scope",
    "scopes", "domain", "secure", "samesite", "httponly", "prefs", "preferences",
    "settings", "manager", "reminder", "provider", "providers", "strategy",
    "error", "errors", "santa", "sauce", "menu", "garden", "agent", "society",
    "ingredient", "recipe", "level", "room", "admirer", "mission", "accepted",
    "rejected", "dialog", "modal", "popup", "form", "page", "screen", "button", "icon",
    "visible", "hidden", "mismatch", "match", "matches", "valid", "invalid", "validation",
    "validator", "generator", "sent", "email", "emails", "template", "protected",
    "leeway", "claims", "claim", "flow", "grant", "server", "given", "dismissed", "shown",
    "last", "expire", "days", "hours", "minutes", "seconds",
})  # fmt: skip
#: A first word that makes the key a flag about the secret: ``has_password``.
PREDICATE_PREFIXES = frozenset({
    "has", "have", "had", "is", "are", "was", "were", "requires", "require", "needs",
    "need", "use", "uses", "using", "allow", "allows", "allowed", "enable", "enabled",
    "disable", "disabled", "show", "hide", "can", "should", "must", "supports",
    "support", "include", "includes", "with", "without", "no", "did", "does", "do",
    "missing", "accept", "accepts", "accepted", "reject", "rejected", "block", "blocks",
    "num", "count", "total", "max", "min",
})  # fmt: skip

# --- value patterns (regular-expression sources) ----------------------------------------

#: Words after "Bearer" that make it prose, not a credential ("Bearer of bad news").
BEARER_PROSE_WORDS = frozenset({
    "of", "the", "a", "an", "and", "or", "to", "in", "on", "is", "was", "for", "with",
    "bond", "bonds", "token", "tokens", "auth", "authentication", "scheme", "header",
})  # fmt: skip
#: RFC 6750 bearer token characters.
TOKEN68 = r"[A-Za-z0-9._~+/-]"
#: A JWT; starts only where a run of token characters starts (linear on "eyJeyJ...").
JWT = r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"
#: A PEM private key header.
PEM = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
#: URL userinfo ``scheme://user:pass@``.
USERINFO = r"(?<=[A-Za-z0-9+.-]://)[^\s/?#@:]*:[^\s/?#@]+(?=@)"
#: Provider credential formats as ``(provider, pattern)``. The shapes follow the public
#: gitleaks / detect-secrets rules; each needs a trigger in :mod:`._secret_text`'s gate.
PROVIDER_PATTERNS: tuple[tuple[str, str], ...] = (
    ("Supabase", r"sb_secret_[A-Za-z0-9_-]{8,}"),
    ("OpenAI, Anthropic", r"sk-[A-Za-z0-9_-]{20,}"),
    ("Stripe", r"[rs]k_live_[A-Za-z0-9]{10,}"),
    ("Stripe", r"[rs]k_test_[A-Za-z0-9]{10,}"),
    ("Stripe webhook", r"whsec_[A-Za-z0-9+/=]{20,}"),
    ("GitHub", r"gh[pousr]_[A-Za-z0-9]{20,}"),
    ("GitHub", r"github_pat_[A-Za-z0-9_]{20,}"),
    ("GitLab", r"glpat-[A-Za-z0-9_-]{20,}"),
    ("GitLab", r"gl(?:dt|rt|ptt|cbt|imt|oas|ft)-[A-Za-z0-9_-]{20,}"),
    ("Slack", r"xox[abeoprs]-(?=[A-Za-z-]*[0-9])[A-Za-z0-9-]{8,}"),
    ("Slack app", r"xapp-[0-9]-[A-Za-z0-9-]{10,}"),
    ("Slack webhook",
     r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}"),
    ("Discord webhook", r"https?://discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]{20,}"),
    ("AWS", r"A[KS]IA[A-Z0-9]{16}\b"),
    ("Google API", r"AIza[A-Za-z0-9_-]{35}"),
    ("Google OAuth", r"GOCSPX-[A-Za-z0-9_-]{20,}"),
    ("Hugging Face", r"hf_[A-Za-z0-9]{30,}"),
    ("npm", r"npm_[A-Za-z0-9]{36}"),
    ("PyPI", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}"),
    ("SendGrid", r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("Mailgun", r"key-[0-9a-f]{32}"),
    ("Twilio", r"SK[0-9a-fA-F]{32}\b"),
    ("Shopify", r"shp(?:at|ca|pa|ss)_[A-Fa-f0-9]{32}"),
    ("DigitalOcean", r"do[opr]_v1_[a-f0-9]{64}"),
    ("Docker Hub", r"dckr_pat_[A-Za-z0-9_-]{20,}"),
    ("Linear", r"lin_api_[A-Za-z0-9]{32,}"),
    ("Groq", r"gsk_[A-Za-z0-9]{40,}"),
    ("Replicate", r"r8_[A-Za-z0-9]{30,}"),
    ("Square", r"sq0(?:atp|csp)-[A-Za-z0-9_-]{20,}"),
    ("Age", r"AGE-SECRET-KEY-1[0-9A-Z]{50,}"),
)  # fmt: skip
