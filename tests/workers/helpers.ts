/**
 * Helpers for tests that run inside workerd: call the Worker through its real
 * fetch handler, create tenants and keys through the operator API, and speak
 * MCP as JSON-RPC over Streamable HTTP (the 2025 stateless lane).
 */
import type { ModelRecord } from "../../src/models/schema";
import { env, exports } from "cloudflare:workers";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { type Gateway, gatewayClient } from "../support/gateway-client";
import type { TenantStub } from "../../src/tenants/client";

export { fakes, type UpstreamRequest } from "../support/fake-control-client";
export { type Tenant, uniqueId } from "../support/gateway-client";
export { openaiModel, upstreamUrl } from "../support/models";

export const OPERATOR = "test-operator-token";
export const CANARY = "sk-canary-7d1f0c9e4b2a";

/** The Worker under test, called through its own fetch handler. */
const gateway: Gateway = {
  url: "http://gateway.test",
  operatorToken: OPERATOR,
  fetch: (input, init) => exports.default.fetch(new Request(input, init)),
};
export const { api, createTenant, registerModel } = gatewayClient(gateway);

/** A tenant's Durable Object, called directly (as only src/tenants/client.ts does in the Worker), to test what the object itself refuses. */
export function tenantObject(tenantId: string): TenantStub {
  return env.TENANTS.getByName(tenantId) as unknown as TenantStub;
}

export interface RpcResponse {
  status: number;
  headers: Headers;
  messages: Record<string, unknown>[];
  /** The response to our request id. */
  result: Record<string, unknown> | undefined;
  error: { code: number; message: string } | undefined;
}

/**
 * One MCP JSON-RPC request; the response may be JSON or an SSE stream of messages.
 * `send`: another way to the Worker than its own fetch handler (e.g. with other vars).
 */
export async function rpc(
  token: string | undefined,
  method: string,
  params: Record<string, unknown> = {},
  send: (request: Request) => Promise<Response> = (request) => exports.default.fetch(request),
): Promise<RpcResponse> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
    host: "localhost",
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await send(
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

/** The tenant's usage totals, as GET /api/v1/usage reports them to an admin key. */
export interface UsageTotals {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  estimated_requests: number;
  [more: string]: number;
}

export async function usageTotals(adminKey: string): Promise<UsageTotals> {
  const report = await api<{ totals: UsageTotals }>("GET", "/api/v1/usage", { token: adminKey });
  if (report.status !== 200) throw new Error(`GET /api/v1/usage: ${report.status} ${report.text}`);
  return report.body.totals;
}

/** The official `@anthropic-ai/sdk` client sending `key` as `x-api-key` (as Claude Code does), pointed at the Worker's fetch handler. */
export function anthropicClient(key: string): Anthropic {
  return new Anthropic({
    apiKey: null,
    authToken: null,
    defaultHeaders: { "x-api-key": key },
    baseURL: "http://gateway.test",
    maxRetries: 0,
    fetch: (url: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(url, init)),
  });
}

/** A JSON POST to the Worker with `key` as a bearer, for what the SDKs hide: headers, and the raw event stream. */
export function postJson(key: string, path: string, body: Record<string, unknown>): Promise<Response> {
  return exports.default.fetch(
    new Request(`http://gateway.test${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    }),
  );
}

/** The official `openai` client, pointed at the Worker's own fetch handler with `key`. */
export function openaiClient(key: string): OpenAI {
  return new OpenAI({
    apiKey: key,
    baseURL: "http://gateway.test/v1",
    maxRetries: 0,
    fetch: (url: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(url, init)),
  });
}

/** A function tool the fidelity tests offer (`get_weather(city)`). */
export const WEATHER_TOOL: OpenAI.ChatCompletionFunctionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

/** A model record as the tenant's object stores it, for tests that write to the object directly. */
export function storedModel(id: string, overrides: Partial<ModelRecord> = {}): ModelRecord {
  return {
    id,
    name: id,
    description: null,
    backend_type: "openai_compatible",
    config: { base_url: "https://api.example.com/v1", model_name: "m", timeout: 60, max_retries: 2 },
    capabilities: ["chat"],
    features: [],
    feature_checks: {},
    fallbacks: [],
    aliases: [],
    load_balance: null,
    status: "initializing",
    status_detail: null,
    last_checked_at: null,
    latency_ms: null,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    ...overrides,
  };
}
