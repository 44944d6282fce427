/**
 * Operator settings: the Worker's vars and secrets, parsed once per isolate
 * with one schema into typed values. Every module reads settings through
 * `settings(env)`, never `env.SOME_VAR` directly, so a setting has one parser,
 * one default and one error message.
 */
import { z } from "zod";
import { GatewayError } from "./errors";

/** A comma-separated list, trimmed, empty items dropped. */
const List = z
  .string()
  .default("")
  .transform((raw) =>
    raw
      .split(",")
      .map((item) => item.trim().toLowerCase())
      .filter(Boolean),
  );

/** An optional string where "" means unset (wrangler vars cannot be absent, only empty). */
const Optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === "" ? undefined : v));

const Vars = z.object({
  /** Upstream hosts exempt from the URL policy and allowed over plain http. */
  ALLOWED_PRIVATE_HOSTS: List.transform((hosts) => new Set(hosts) as ReadonlySet<string>),
  /** Where clients reach the gateway: the OAuth issuer, and `<PUBLIC_URL>/mcp` is the token audience. */
  PUBLIC_URL: Optional.pipe(z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional()).transform((url) => url?.replace(/\/+$/, "")),
  /** Hostnames (or origins) of browser apps allowed to call /mcp. */
  ALLOWED_ORIGINS: List.transform((items) => items.map((item) => (item.includes("://") ? new URL(item).hostname : item))),
  /** Hosts of Client ID Metadata Document clients that a failed authorization request is sent back to. */
  OAUTH_TRUSTED_CLIENT_HOSTS: List.transform((hosts) => new Set(hosts) as ReadonlySet<string>),
  ADMIN_TOKEN: Optional,
  SECRETS_KEY: Optional,
  /** Set only while rotating the secrets key. */
  SECRETS_KEY_PREVIOUS: Optional,
  /** One JSON log line per request (for Workers Logs): "on" (default) or "off". */
  REQUEST_LOGS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? "on" : v.trim()))
    .pipe(z.enum(["on", "off"], { error: 'must be "on" or "off"' }))
    .transform((v) => v === "on"),
  /** Seconds between scheduled checks of a model (a model's `health_check.interval_s` overrides it); 0: every fired cron checks every model. */
  HEALTH_CHECK_INTERVAL_S: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? "60" : v.trim()))
    .pipe(z.string().regex(/^\d+$/, "must be a whole number of seconds").transform(Number))
    .pipe(z.number().max(86_400, "must be at most 86400 (a day)")),
});

export interface Settings {
  allowedPrivateHosts: ReadonlySet<string>;
  publicUrl: string | undefined;
  allowedOrigins: readonly string[];
  /** Hosts of metadata-document clients whose redirect URI a failed authorization request may go back to. */
  oauthTrustedClientHosts: ReadonlySet<string>;
  adminToken: string | undefined;
  secretsKey: string | undefined;
  secretsKeyPrevious: string | undefined;
  /** Whether each request writes its JSON log line (src/telemetry/request-log.ts). */
  requestLogs: boolean;
  /** Seconds between a model's scheduled checks (default 60); 0 means every fired cron checks every model. */
  healthCheckIntervalS: number;
  /** A Worker secret by name (for the names the operator granted to a tenant), or undefined. */
  workerSecret(name: string): string | undefined;
}

const parsed = new WeakMap<object, Settings>();

export function settings(env: Env): Settings {
  let found = parsed.get(env);
  if (!found) {
    const result = Vars.safeParse(env);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new GatewayError("internal", `Worker setting ${issue?.path.join(".")} ${issue?.message}.`);
    }
    const vars = result.data;
    found = {
      allowedPrivateHosts: vars.ALLOWED_PRIVATE_HOSTS,
      publicUrl: vars.PUBLIC_URL,
      allowedOrigins: vars.ALLOWED_ORIGINS,
      oauthTrustedClientHosts: vars.OAUTH_TRUSTED_CLIENT_HOSTS,
      adminToken: vars.ADMIN_TOKEN,
      secretsKey: vars.SECRETS_KEY,
      secretsKeyPrevious: vars.SECRETS_KEY_PREVIOUS,
      healthCheckIntervalS: vars.HEALTH_CHECK_INTERVAL_S,
      requestLogs: vars.REQUEST_LOGS,
      workerSecret(name) {
        // Worker secrets a tenant may reference are named by grants at run time, not known to this schema.
        const value: unknown = Reflect.get(env, name);
        return typeof value === "string" && value !== "" ? value : undefined;
      },
    };
    parsed.set(env, found);
  }
  return found;
}
