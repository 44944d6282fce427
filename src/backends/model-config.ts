/**
 * Checking a model's config, the same way at registration and at call time:
 * the backend type's own schema, the URL policy for every upstream URL, and
 * that each secret reference (a tenant secret or a granted Worker secret) is
 * bound to every host the model calls.
 */
import { backends, canonicalBackendType, type BackendType } from "./registry";
import type { BackendFactory, Declared } from "./types";
import { grantedBinding } from "../config/bindings";
import { parseOrThrow } from "../http/validation";
import { settings } from "../settings";
import { assertReferencesAllowed, type SecretGrant } from "../config/secrets";
import { assertUpstreamUrl } from "../config/urls";

export interface CheckedConfig {
  type: BackendType;
  factory: BackendFactory;
  config: Record<string, unknown>;
  hosts: string[];
  /** The granted service binding the config names (`worker` models), or undefined. */
  service: unknown;
}

export function checkModelConfig(env: Env, grants: readonly SecretGrant[], backendType: string, raw: Record<string, unknown>): CheckedConfig {
  const type = canonicalBackendType(backendType);
  const factory: BackendFactory = backends[type];
  const config = parseOrThrow(factory.configSchema, raw, "config");
  const upstreams = factory
    .upstreamUrls(config)
    .map(({ field, url }) => ({ field, host: assertUpstreamUrl(url, field, settings(env).allowedPrivateHosts).hostname }));
  assertReferencesAllowed(config, upstreams, grants);
  const binding = factory.serviceBinding?.(config);
  const service = binding ? grantedBinding(env, grants, binding.name, binding.field) : undefined;
  return { type, factory, config, hosts: upstreams.map((u) => u.host), service };
}

/**
 * What the backend says it serves, for backend types that can say (`worker`):
 * asked at registration, after the config passed its checks. Undefined for the others.
 */
export async function declaredByBackend(
  env: Env,
  grants: readonly SecretGrant[],
  backendType: string,
  raw: Record<string, unknown>,
): Promise<Declared | undefined> {
  const factory: BackendFactory = backends[canonicalBackendType(backendType)];
  if (!factory.declared) return undefined;
  const { config, service } = checkModelConfig(env, grants, backendType, raw);
  return factory.declared(config, { fetch, service });
}
