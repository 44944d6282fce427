/**
 * Checking a model's config, the same way at registration and at call time:
 * the backend type's own schema, the URL policy for every upstream URL, and
 * that each secret reference (a tenant secret or a granted Worker secret) is
 * bound to every host the model calls.
 */
import { backends, canonicalBackendType, type BackendType } from "./registry";
import type { BackendFactory } from "./types";
import { parseOrThrow } from "../http/validation";
import { settings } from "../settings";
import { assertReferencesAllowed, type SecretGrant } from "../config/secrets";
import { assertUpstreamUrl } from "../config/urls";

export interface CheckedConfig {
  type: BackendType;
  factory: BackendFactory;
  config: Record<string, unknown>;
  hosts: string[];
}

export function checkModelConfig(env: Env, grants: readonly SecretGrant[], backendType: string, raw: Record<string, unknown>): CheckedConfig {
  const type = canonicalBackendType(backendType);
  const factory: BackendFactory = backends[type];
  const config = parseOrThrow(factory.configSchema, raw, "config");
  const upstreams = factory
    .upstreamUrls(config)
    .map(({ field, url }) => ({ field, host: assertUpstreamUrl(url, field, settings(env).allowedPrivateHosts).hostname }));
  assertReferencesAllowed(config, upstreams, grants);
  return { type, factory, config, hosts: upstreams.map((u) => u.host) };
}
