/**
 * Secret references in model config: `${NAME}`, as a whole value or inside one
 * (`"Bearer ${HF_TOKEN}"`). The registry stores references; values are looked
 * up only when a call is made, and only for the hosts the secret is bound to.
 */
import { GatewayError } from "../errors";

export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
const REFERENCE = /\$\{([^}]*)\}/g;

/** Worker secrets that are the gateway's own and can never be granted to a tenant. */
export const RESERVED_SECRETS = new Set(["ADMIN_TOKEN", "SECRETS_KEY"]);

/** Config keys, and header names, whose values are credentials. */
const SECRET_FIELDS = new Set(["api_key", "token", "password", "secret"]);
const SECRET_HEADER = /^(authorization|proxy-authorization|x-api-key|api-key|cf-access-client-secret)$|token|secret/i;

export interface SecretGrant {
  name: string;
  hosts: string[];
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
    if (/\$\{[^}]+\}/.test(value)) return;
    throw new GatewayError(
      "invalid_request",
      `${path} holds a literal secret; secrets are never stored in model config. ` +
        `Ask the operator to store it as a Worker secret (wrangler secret put NAME) and grant it to this tenant ` +
        `for this host, then write "\${NAME}" here (for a header: "Bearer \${NAME}").`,
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

/**
 * Check that every reference names a secret this tenant may use for every host
 * the model sends requests to. Called at registration and again at call time.
 */
export function assertReferencesAllowed(
  config: Record<string, unknown>,
  hosts: string[],
  grants: readonly SecretGrant[],
): void {
  for (const { name, path } of findReferences(config)) {
    if (!SECRET_NAME.test(name)) {
      throw new GatewayError("invalid_request", `${path}: "\${${name}}" is not a valid secret name (use A-Z, 0-9 and _).`);
    }
    const grant = grants.find((g) => g.name === name);
    if (!grant || RESERVED_SECRETS.has(name)) {
      throw new GatewayError(
        "invalid_request",
        `${path}: secret ${name} is unknown or not granted to this tenant. The operator grants Worker secrets with PUT /api/v1/tenants/:id/grants/${name}.`,
      );
    }
    const refused = hosts.find((h) => !grant.hosts.includes(h));
    if (refused) {
      throw new GatewayError(
        "invalid_request",
        `${path}: secret ${name} may not be sent to ${refused}; it is bound to ${grant.hosts.join(", ")}.`,
      );
    }
  }
}

/** Replace references with values from the Worker's secret bindings. */
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

/** Remove every known secret value (and its common encodings) from text that may be shown to someone. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret), base64(secret)])) {
      out = out.split(form).join("[redacted]");
    }
  }
  return out;
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}
