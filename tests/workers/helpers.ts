/**
 * Helpers for tests that run inside workerd: call the Worker through its real
 * fetch handler, create tenants and keys through the operator API, and speak
 * MCP as JSON-RPC over Streamable HTTP (the 2025 stateless lane).
 */
import { env, exports } from "cloudflare:workers";
import { inject } from "vitest";

export const OPERATOR = "test-operator-token";
export const CANARY = "sk-canary-7d1f0c9e4b2a";

export interface ApiResult<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers["content-type"] ??= "application/json";
  const response = await exports.default.fetch(new Request(`http://gateway.test${path}`, { method, headers, body, redirect: "manual" }));
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

let counter = 0;
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export interface TestTenant {
  id: string;
  admin: string;
  user: string;
  adminKeyId: string;
  userKeyId: string;
}

export async function createTenant(options: { grantCanary?: boolean } = {}): Promise<TestTenant> {
  const id = uniqueId("t");
  const created = await api("POST", "/api/v1/tenants", { token: OPERATOR, body: { id, name: `Tenant ${id}` } });
  if (created.status !== 201) throw new Error(`create tenant: ${created.status} ${created.text}`);
  const admin = await api<{ id: string; key: string }>("POST", `/api/v1/tenants/${id}/keys`, { token: OPERATOR, body: { role: "admin" } });
  const user = await api<{ id: string; key: string }>("POST", `/api/v1/tenants/${id}/keys`, { token: OPERATOR, body: { role: "user" } });
  if (options.grantCanary) {
    const grant = await api("PUT", `/api/v1/tenants/${id}/grants/UPSTREAM_KEY`, { token: OPERATOR, body: { hosts: ["127.0.0.1"] } });
    if (grant.status !== 200) throw new Error(`grant: ${grant.status} ${grant.text}`);
  }
  return { id, admin: admin.body.key, user: user.body.key, adminKeyId: admin.body.id, userKeyId: user.body.id };
}

export function upstreamUrl(): string {
  return `${inject("openaiUrl")}/v1`;
}

/** A registration body for a model on the fake upstream; `upstreamModel` selects its fault script. */
export function openaiModel(id: string, upstreamModel = "gpt-fake", config: Record<string, unknown> = {}) {
  return {
    id,
    name: `Model ${id}`,
    backend_type: "openai_compatible",
    config: { base_url: upstreamUrl(), model_name: upstreamModel, api_key: "${UPSTREAM_KEY}", timeout: 5, ...config },
  };
}

export async function registerModel(tenant: TestTenant, body: unknown) {
  const res = await api("POST", "/api/v1/models", { token: tenant.admin, body });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${res.text}`);
  return res.body;
}

/** Script faults on a fake upstream (the OpenAI one unless `base` says otherwise) for one upstream model name. */
export async function scriptUpstream(model: string, steps: unknown[], base: string = inject("openaiUrl")): Promise<void> {
  const res = await fetch(`${base}/__control/script`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, steps }),
  });
  if (!res.ok) throw new Error(`script upstream: ${res.status}`);
}

export interface UpstreamRequest<Body = unknown> {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Body;
}

/** What a fake upstream received for one upstream model name. */
export async function upstreamRequests<Body = unknown>(model: string, base: string = inject("openaiUrl")): Promise<UpstreamRequest<Body>[]> {
  const res = await fetch(`${base}/__control/requests?model=${encodeURIComponent(model)}`);
  return ((await res.json()) as { requests: UpstreamRequest<Body>[] }).requests;
}

export interface RpcResponse {
  status: number;
  headers: Headers;
  messages: Record<string, unknown>[];
  /** The response to our request id. */
  result: Record<string, unknown> | undefined;
  error: { code: number; message: string } | undefined;
}

/** One MCP JSON-RPC request; the response may be JSON or an SSE stream of messages. */
export async function rpc(token: string | undefined, method: string, params: Record<string, unknown> = {}): Promise<RpcResponse> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
    host: "localhost",
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await exports.default.fetch(
    new Request("http://localhost/mcp", { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) }),
  );
  const text = await response.text();
  const messages: Record<string, unknown>[] = [];
  if ((response.headers.get("content-type") ?? "").includes("text/event-stream")) {
    for (const line of text.split("\n")) if (line.startsWith("data: ")) messages.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
  } else if (text) {
    messages.push(JSON.parse(text) as Record<string, unknown>);
  }
  const reply = messages.find((m) => m.id === 1);
  return {
    status: response.status,
    headers: response.headers,
    messages,
    result: reply?.result as Record<string, unknown> | undefined,
    error: reply?.error as { code: number; message: string } | undefined,
  };
}

export interface ToolResult {
  isError?: boolean;
  content: { type: string; text: string }[];
  structuredContent?: Record<string, unknown>;
}

export async function callTool(token: string, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) {
  const response = await rpc(token, "tools/call", { name, arguments: args, ...(meta && { _meta: meta }) });
  if (!response.result) throw new Error(`tools/call ${name}: ${JSON.stringify(response.error ?? response.messages)}`);
  return { ...response, tool: response.result as unknown as ToolResult };
}

export { env };
