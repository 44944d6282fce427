/**
 * Service bindings a tenant's `worker` models may call: only those the operator
 * granted to that tenant by name, and only service bindings (a Worker behind
 * Workers RPC). The gateway's own bindings are never reachable from a model
 * config, granted or not: the tenants' Durable Object namespace would hand out
 * every tenant's registry, DB the directory, OAUTH_KV the OAuth tokens, AI the
 * operator's Workers AI bill.
 */
import { GatewayError } from "../errors";
import type { SecretGrant } from "./secrets";

/** A binding name as wrangler.toml writes it (the same form as a secret name, so one grants table holds both). */
export const BINDING_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * The gateway's own bindings, refused by name: never granted, never named by a
 * model config. (The Durable Object namespace is not listed: it is no service
 * binding, so it is refused as every other non-service binding is.)
 */
export const RESERVED_BINDINGS = new Set(["DB", "OAUTH_KV", "AI", "TENANT_RATE_LIMIT", "ASSETS"]);

/**
 * Whether `env[name]` is a service binding. workerd gives every service
 * binding the class Fetcher (D1 is a WrappedBinding, a Durable Object
 * namespace a DurableObjectNamespace, KV a KvNamespace, a var a string): duck
 * typing cannot tell, since an RPC stub answers every property name with a method.
 */
export function isServiceBinding(env: Env, name: string): boolean {
  return Object.prototype.toString.call(Reflect.get(env, name)) === "[object Fetcher]";
}

/** Refuse a name the operator may not grant: the gateway's own, or anything that is not a service binding of this Worker. */
export function assertGrantableBinding(env: Env, name: string, path: string): void {
  if (RESERVED_BINDINGS.has(name)) {
    throw new GatewayError("invalid_request", `${path}: ${name} is one of the gateway's own bindings; it can never be granted or called by a model.`);
  }
  if (!isServiceBinding(env, name)) {
    throw new GatewayError(
      "invalid_request",
      `${path}: ${name} is not a service binding of this gateway. Add it to wrangler.toml ([[services]] binding = "${name}", service = "<your backend Worker>") and deploy first.`,
    );
  }
}

/**
 * The binding a model config names, checked: granted to this tenant (a grant
 * with `binding: true`) and a service binding of this Worker. Returns the
 * binding itself: the one object the backend is handed, never `env`.
 */
export function grantedBinding(env: Env, grants: readonly SecretGrant[], name: string, path: string): unknown {
  if (RESERVED_BINDINGS.has(name)) {
    throw new GatewayError("invalid_request", `${path}: ${name} is one of the gateway's own bindings; a model can never call it.`);
  }
  if (!isServiceBinding(env, name)) {
    throw new GatewayError("invalid_request", `${path}: ${name} is not a service binding of this gateway; a model can only call a backend Worker.`);
  }
  if (!grants.some((g) => g.binding && g.name === name)) {
    throw new GatewayError(
      "invalid_request",
      `${path}: the service binding ${name} is not granted to this tenant. The operator grants it with PUT /api/v1/tenants/:id/grants/${name} {"binding": true}.`,
    );
  }
  return Reflect.get(env, name);
}
