/**
 * Calls to the gateway's HTTP API and tenant setup, written once for both test
 * projects. Each binds a `Gateway`: the workers project to the Worker's own
 * fetch handler (`exports.default.fetch`), the e2e project to `wrangler dev`
 * over HTTP (through its response recorder).
 */

export interface Gateway {
  /** Base URL the API paths are appended to. */
  readonly url: string;
  /** The operator token (the Worker secret ADMIN_TOKEN). */
  readonly operatorToken: string;
  fetch(input: string, init: RequestInit): Promise<Response>;
}

export interface ApiOptions {
  token?: string;
  body?: unknown;
  /** A body sent as is (instead of `body` as JSON). */
  raw?: string;
  headers?: Record<string, string>;
}

export interface ApiResult<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: T;
  text: string;
}

/** One call to the gateway's HTTP API. Redirects are not followed: the test sees what the gateway answered. */
export async function api<T = Record<string, unknown>>(
  gateway: Gateway,
  method: string,
  path: string,
  options: ApiOptions = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined) headers["content-type"] ??= "application/json";
  const response = await gateway.fetch(`${gateway.url}${path}`, { method, headers, body, redirect: "manual" });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

let counter = 0;
/** An id no other test uses (tests share the fakes and, in e2e, one gateway per file). */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export interface Tenant {
  id: string;
  adminKey: string;
  adminKeyId: string;
  userKey: string;
  userKeyId: string;
}

export interface TenantOptions {
  /** Default: a unique id. */
  id?: string;
  /** Default: "Tenant <id>". */
  name?: string;
  /** Grant the Worker secret UPSTREAM_KEY to the tenant for 127.0.0.1 (the fakes' host). */
  grantCanary?: boolean;
}

/** Create a tenant with an admin key and a user key through the operator API. */
export async function createTenant(gateway: Gateway, options: TenantOptions = {}): Promise<Tenant> {
  const id = options.id ?? uniqueId("t");
  const op = { token: gateway.operatorToken };
  const created = await api(gateway, "POST", "/api/v1/tenants", { ...op, body: { id, name: options.name ?? `Tenant ${id}` } });
  if (created.status !== 201) throw new Error(`create tenant ${id}: ${created.status} ${created.text}`);
  const key = async (role: "admin" | "user") => {
    const issued = await api<{ id: string; key: string }>(gateway, "POST", `/api/v1/tenants/${id}/keys`, { ...op, body: { role } });
    if (issued.status !== 201) throw new Error(`create ${role} key for ${id}: ${issued.status} ${issued.text}`);
    return issued.body;
  };
  const admin = await key("admin");
  const user = await key("user");
  if (options.grantCanary) {
    const grant = await api(gateway, "PUT", `/api/v1/tenants/${id}/grants/UPSTREAM_KEY`, { ...op, body: { hosts: ["127.0.0.1"] } });
    if (grant.status !== 200) throw new Error(`grant UPSTREAM_KEY to ${id}: ${grant.status} ${grant.text}`);
  }
  return { id, adminKey: admin.key, adminKeyId: admin.id, userKey: user.key, userKeyId: user.id };
}

/** Register a model with the tenant's admin key; fails unless it is created. Returns the stored record. */
export async function registerModel<T = Record<string, unknown>>(gateway: Gateway, tenant: Tenant, body: unknown): Promise<T> {
  const res = await api<T>(gateway, "POST", "/api/v1/models", { token: tenant.adminKey, body });
  if (res.status !== 201) throw new Error(`register model: ${res.status} ${res.text}`);
  return res.body;
}

/** Bind `api`, `createTenant` and `registerModel` to one gateway: a couple of lines in each project. */
export function gatewayClient(gateway: Gateway) {
  return {
    api: <T = Record<string, unknown>>(method: string, path: string, options?: ApiOptions) => api<T>(gateway, method, path, options),
    createTenant: (options?: TenantOptions) => createTenant(gateway, options),
    registerModel: <T = Record<string, unknown>>(tenant: Tenant, body: unknown) => registerModel<T>(gateway, tenant, body),
  };
}
