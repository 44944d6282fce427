/**
 * Shared pieces of the end-to-end tests: a recorder that keeps every response
 * body the tests receive (to prove no secret ever reaches a caller), the shared
 * gateway client (tests/support/gateway-client.ts) bound to `wrangler dev`
 * through it, and one small interface over the two real MCP clients (the
 * 2026-07-28 client and the 2025-era client).
 */
import OpenAI from "openai";
import { expect } from "vitest";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { gatewayClient } from "../support/gateway-client";
import type { WranglerDev } from "../support/wrangler-dev";

export { fakes } from "../support/fake-control-client";
export type { ApiResult, Tenant } from "../support/gateway-client";

/** Keeps the text of every response received through `fetch`, streamed bodies included. */
export class ResponseRecorder {
  private readonly chunks: string[] = [];
  count = 0;

  readonly fetch = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    this.count++;
    this.chunks.push(`${response.status} ${[...response.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n`);
    const copy = response.clone();
    void this.drain(copy);
    return response;
  };

  private async drain(response: Response): Promise<void> {
    if (!response.body) return;
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.chunks.push(decoder.decode(value, { stream: true }));
      }
    } catch {
      // Aborted streams (a client closing) end the copy too.
    }
  }

  text(): string {
    return this.chunks.join("");
  }
}

/** The official `openai` client on the gateway's /v1 with `key`, every response kept by `recorder`; no retries. */
export function openaiFor(
  url: string,
  key: string,
  recorder: ResponseRecorder,
  options: { timeout?: number; headers?: Record<string, string> } = {},
) {
  return new OpenAI({
    apiKey: key,
    baseURL: `${url}/v1`,
    maxRetries: 0,
    timeout: options.timeout ?? 20_000,
    ...(options.headers && { defaultHeaders: options.headers }),
    fetch: (input: string | URL | Request, init?: RequestInit) => recorder.fetch(input instanceof Request ? input.url : input, init),
  });
}

/** The gateway under `wrangler dev`, called through `recorder`: `api`, `createTenant` and `registerModel` bound to it. */
export function gatewayFor(recorder: ResponseRecorder, dev: () => WranglerDev) {
  return gatewayClient({
    get url() {
      return dev().url;
    },
    get operatorToken() {
      return dev().adminToken;
    },
    fetch: recorder.fetch,
  });
}

/** Wire shapes the tests read. */
export interface IssuedKey {
  id: string;
  key: string;
  role: "admin" | "user";
}
export interface ErrorBody {
  error: { code: string; message: string };
}
export interface ModelBody {
  id: string;
  status: string;
  config: Record<string, unknown>;
}
export interface Generation {
  text: string;
  finish_reason: string;
  usage: { prompt_tokens: number; completion_tokens: number };
  model_id: string;
  latency_ms: number;
}
export interface Embeddings {
  embeddings: number[][];
  dimensions: number;
  model_id: string;
}
export interface ModelSummary {
  id: string;
  name: string;
  backend_type: string;
  capabilities: string[];
  status: string;
}

/** The parts of a tools/call result the tests look at (same shape in both SDKs). */
export interface ToolResult {
  content?: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

/** One interface over both MCP client generations. */
export interface McpSession {
  readonly label: string;
  /** Protocol version the connection negotiated. */
  readonly protocolVersion: string | undefined;
  readonly serverName: string | undefined;
  listTools(): Promise<{ name: string; description?: string }[]>;
  callTool(name: string, args: Record<string, unknown>, onProgress?: (p: Progress) => void): Promise<ToolResult>;
  readResource(uri: string): Promise<{ uri: string; text?: string; mimeType?: string }[]>;
  close(): Promise<void>;
}

/** `key` null sends no Authorization header (for a proxy that adds one). */
export type Connect = (url: string, key: string | null, recorder: ResponseRecorder) => Promise<McpSession>;

function authHeaders(key: string | null): Record<string, string> {
  return key === null ? {} : { authorization: `Bearer ${key}` };
}

/** `@modelcontextprotocol/client` 2.4.0, pinned to the stateless 2026-07-28 protocol. */
export const connectModern: Connect = async (url, key, recorder) => {
  const client = new ModernClient({ name: "e2e-modern", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  const transport = new ModernTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: authHeaders(key) },
    fetch: recorder.fetch,
  });
  await client.connect(transport);
  return {
    label: "modern",
    protocolVersion: client.getNegotiatedProtocolVersion(),
    serverName: client.getServerVersion()?.name,
    listTools: async () => (await client.listTools()).tools,
    callTool: async (name, args, onProgress) =>
      (await client.callTool({ name, arguments: args }, onProgress ? { onprogress: onProgress } : undefined)) as ToolResult,
    readResource: async (uri) => (await client.readResource({ uri })).contents as { uri: string; text?: string }[],
    close: () => client.close(),
  };
};

/** `@modelcontextprotocol/sdk` 1.32.2: a 2025-era Streamable HTTP client (initialize handshake). */
export const connectLegacy: Connect = async (url, key, recorder) => {
  const client = new LegacyClient({ name: "e2e-legacy", version: "1.0.0" });
  const transport = new LegacyTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: authHeaders(key) },
    fetch: recorder.fetch,
  });
  await client.connect(transport);
  return {
    label: "legacy",
    protocolVersion: transport.protocolVersion,
    serverName: client.getServerVersion()?.name,
    listTools: async () => (await client.listTools()).tools,
    callTool: async (name, args, onProgress) =>
      (await client.callTool({ name, arguments: args }, undefined, onProgress ? { onprogress: onProgress } : undefined)) as ToolResult,
    readResource: async (uri) => (await client.readResource({ uri })).contents as { uri: string; text?: string }[],
    close: () => client.close(),
  };
};

/** A tool result's structured content, typed for the test. */
export function structured<T>(result: ToolResult): T {
  if (!result.structuredContent) throw new Error(`no structuredContent in ${JSON.stringify(result)}`);
  return result.structuredContent as T;
}

/** The text of a tool result's first content block. */
export function textOf(result: ToolResult): string {
  return result.content?.find((c) => c.type === "text")?.text ?? "";
}

/**
 * Call chat with a progressToken and time what arrives: when each progress
 * notification came, and when the final result came (ms since the call).
 */
export async function timedStreamingChat(session: McpSession, modelId: string, content: string) {
  const started = performance.now();
  const progress: (Progress & { at: number })[] = [];
  const result = await session.callTool("chat", { model_id: modelId, messages: [{ role: "user", content }] }, (p) =>
    progress.push({ ...p, at: performance.now() - started }),
  );
  return { result, progress, resultAt: performance.now() - started };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Read until `done` holds, for at most `timeoutMs`; fails with the last value read. */
export async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not so within ${timeoutMs} ms; last read: ${JSON.stringify(value)}`);
    await sleep(100);
  }
}

/** None of `values` in wrangler dev's output or its debug log files (which must exist, or the check means nothing). */
export async function expectNotInLogs(dev: WranglerDev, values: readonly string[]): Promise<void> {
  const logs = dev.logs();
  const debugLogs = await dev.debugLogs();
  expect(debugLogs).toContain("wrangler");
  for (const value of values) {
    expect(logs).not.toContain(value);
    expect(debugLogs).not.toContain(value);
  }
}
