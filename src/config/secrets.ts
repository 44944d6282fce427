/**
 * Secret references in model config: `${NAME}`, as a whole value or inside one
 * (`"Bearer ${HF_TOKEN}"`). The registry stores references; values are looked
 * up only when a call or a health probe is made, and only for the hosts the
 * secret is bound to.
 * A name is either the tenant's own secret (stored encrypted, `src/secrets/`)
 * or a Worker secret the operator granted; the tenant's own wins.
 */
import { z } from "zod";
import { GatewayError } from "../errors";
import type { SealedSecret } from "../secrets/crypto";

export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
const REFERENCE = /\$\{([^}]*)\}/g;

/** Names that are the gateway's own Worker secrets: never granted, never usable as a tenant secret name. */
export const RESERVED_SECRETS = new Set(["ADMIN_TOKEN", "SECRETS_KEY", "SECRETS_KEY_PREVIOUS"]);

/** A secret name in a path (`/grants/:name`, `/secrets/:name`). */
export const SecretName = z.string().regex(SECRET_NAME, "must be an upper-case secret name (A-Z, 0-9, _)");

/**
 * The hosts a secret may be sent to: bare host names (or bracketed IPv6), no
 * scheme or port, written as a URL's `hostname` is (lower case, `127.0.0.1` not
 * `127.1`): that is what they are compared with, so any other form could never
 * match. Shared by operator grants and tenant secrets.
 */
export const SecretHosts = z
  .array(
    z
      .string()
      .regex(/^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$/i, { message: "must be a host name, without scheme or port", abort: true })
      .toLowerCase()
      .refine((host) => canonicalHost(host) === host, "must be a host name as a URL writes it (e.g. 127.0.0.1, not 127.1)"),
  )
  .min(1, "name at least one host this secret may be sent to")
  .transform((hosts) => [...new Set(hosts)]);

function canonicalHost(host: string): string | null {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return null;
  }
}

/** Config keys, and header names, whose values are credentials. */
const SECRET_FIELDS = new Set(["api_key", "token", "password", "secret"]);
/**
 * Credential-bearing header names: the standard ones, and any name that says
 * key, token, secret, auth, password, credential, session or signature
 * (`X-Goog-Api-Key`, `Api-Key`, `X-Auth-Token`, `CF-Access-Client-Secret`, ...).
 * Wide on purpose: a reference costs a tenant nothing, a stored literal is shown to user keys.
 */
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|key|token|secret|auth|passw|credential|session|signature/i;
/**
 * What a credential value may be: references, glued only by an auth scheme
 * (`Bearer ${NAME}`, `${NAME}`) or, for cookies, `name=${NAME}` pairs. Any other
 * text around a reference (`sk-123${X}`), or a reference left open
 * (`Bearer ${HF_TOKEN`), would be stored as a literal, so it is refused.
 */
const WHOLE_REFERENCE = "\\$\\{[A-Za-z0-9_]+\\}";
const CREDENTIAL_TEMPLATE = new RegExp(
  `^(?:(?:[A-Za-z]{1,20} )?${WHOLE_REFERENCE}|[A-Za-z0-9_.-]{1,64}=${WHOLE_REFERENCE}(?:; ?[A-Za-z0-9_.-]{1,64}=${WHOLE_REFERENCE})*)$`,
);

/**
 * A name a tenant may reference, and the hosts its value may go to. For the
 * tenant's own secrets `sealed` holds the encrypted value, with the tenant id
 * its Durable Object belongs to (the AAD, never taken from the stored row); for
 * Worker secrets granted by the operator it is absent and the value is the binding.
 */
export interface SecretGrant {
  name: string;
  hosts: string[];
  sealed?: SealedSecret & { tenant_id: string };
  /**
   * A grant of a service binding (a backend Worker for `worker` models), not
   * of a secret: `hosts` is then empty and the name never resolves a `${NAME}`
   * reference (see ./bindings.ts).
   */
  binding?: boolean;
}

/** Every `${NAME}` in a config, with the path where it appears. */
export function findReferences(value: unknown, path = "config"): { name: string; path: string }[] {
  if (typeof value === "string") {
    return [...value.matchAll(REFERENCE)].map((m) => ({ name: m[1] ?? "", path }));
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => findReferences(v, `${path}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => findReferences(v, `${path}.${k}`));
  }
  return [];
}

/**
 * Refuse literal credentials: a secret-bearing field must hold a `${NAME}`
 * reference, so that the value itself is never stored in the registry.
 */
export function assertNoLiteralSecrets(config: Record<string, unknown>): void {
  const check = (path: string, value: unknown) => {
    if (typeof value !== "string" || value.length === 0) return;
    if (CREDENTIAL_TEMPLATE.test(value.trim())) return;
    throw new GatewayError(
      "invalid_request",
      `${path} holds a literal secret (only "\${NAME}", "Bearer \${NAME}" or, for a cookie, "name=\${NAME}" may be written here); secrets are never stored in model config. ` +
        `Store it with PUT /api/v1/secrets/NAME {"value": "...", "hosts": ["<host>"]} (an admin key; <host> is the upstream's host), ` +
        `then write "\${NAME}" here (for a header: "Bearer \${NAME}").`,
    );
  };
  for (const [key, value] of Object.entries(config)) {
    if (SECRET_FIELDS.has(key)) check(`config.${key}`, value);
  }
  const headers = config.headers;
  if (headers && typeof headers === "object") {
    for (const [name, value] of Object.entries(headers)) {
      if (SECRET_HEADER.test(name)) check(`config.headers.${name}`, value);
    }
  }
}

/** A host a model sends requests to, and the config field that names it (for error messages). */
export interface Upstream {
  field: string;
  host: string;
}

/**
 * Check that every reference names a secret this tenant may use for every host
 * the model sends requests to. Called at registration and again at call time
 * (a secret's hosts may have changed since).
 */
export function assertReferencesAllowed(config: Record<string, unknown>, upstreams: readonly Upstream[], grants: readonly SecretGrant[]): void {
  for (const { name, path } of findReferences(config)) {
    if (!SECRET_NAME.test(name)) {
      throw new GatewayError("invalid_request", `${path}: "\${${name}}" is not a valid secret name (use A-Z, 0-9 and _).`);
    }
    const grant = grants.find((g) => g.name === name && !g.binding);
    if (!grant || RESERVED_SECRETS.has(name)) {
      throw new GatewayError(
        "invalid_request",
        `${path}: secret ${name} is unknown or not granted to this tenant. Store it with PUT /api/v1/secrets/${name} {"value": "...", "hosts": [...]}, ` +
          `or ask the operator to grant a Worker secret (PUT /api/v1/tenants/:id/grants/${name}).`,
      );
    }
    const refused = upstreams.find((u) => !grant.hosts.includes(u.host));
    if (refused) {
      const how = grant.sealed
        ? `add the host with PUT /api/v1/secrets/${name}`
        : `ask the operator to add the host to the grant (PUT /api/v1/tenants/:id/grants/${name})`;
      throw new GatewayError(
        "invalid_request",
        `${path}: secret ${name} may not be sent to ${refused.host}; it is bound to ${grant.hosts.join(", ")}. ` +
          `${refused.field} points at ${refused.host}; to allow that, ${how}.`,
      );
    }
  }
}

/** Replace references with their values (`lookup`: the opened tenant secrets, then the granted bindings). */
export function resolveReferences<T>(value: T, lookup: (name: string) => string | undefined): T {
  if (typeof value === "string") {
    return value.replace(REFERENCE, (_m, name: string) => {
      const secret = lookup(name);
      if (secret === undefined) {
        throw new GatewayError("model_unavailable", `Secret ${name} is granted but has no value; ask the operator to set it.`);
      }
      return secret;
    }) as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => resolveReferences(v, lookup)) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveReferences(v, lookup)])) as T;
  }
  return value;
}

/** What a secret value is replaced with. */
export const REDACTED = "[redacted]";

/** Remove every known secret value (and its common encodings) from text that may be shown to someone. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const form of secretForms(secrets)) out = out.split(form).join(REDACTED);
  return out;
}

/** Every spelling of the secrets that redaction removes (as is, URL-encoded, base64, inside a JSON string). */
export function secretForms(secrets: readonly string[]): string[] {
  return [...new Set(secrets.filter((s) => s.length >= 4).flatMap((s) => [s, encodeURIComponent(s), base64(s), JSON.stringify(s).slice(1, -1)]))];
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}
