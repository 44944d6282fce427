/**
 * One JSON log line per request, with the ids its spans carry, and never a
 * key, a secret or the prompt's or answer's text (docs/observability.md).
 *
 * vitest.config.ts turns the line off (REQUEST_LOGS) so that the test output
 * is not a line per request; this file calls the Worker with it on, and
 * captures the lines it asserts.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/worker";
import { gatewayClient } from "../support/gateway-client";
import { api as offApi, CANARY, env, fakes, OPERATOR, openaiModel, rpc as rpcTo, uniqueId } from "./helpers";

/** The Worker with REQUEST_LOGS on; each answer read to its end (a streamed one logs then), and what it left running awaited. */
async function logged(request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(request, { ...env, REQUEST_LOGS: "on" }, ctx);
  const body = await response.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(body, response);
}

const { api, createTenant, registerModel } = gatewayClient({
  url: "http://gateway.test",
  operatorToken: OPERATOR,
  fetch: (input, init) => logged(new Request(input, init)),
});
const rpc = (token: string, method: string, params: Record<string, unknown>) => rpcTo(token, method, params, logged);

const PROMPT = "a private prompt: the canary phrase is purple-heron-4471";
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

afterEach(() => vi.restoreAllMocks());

describe("request log lines", () => {
  it("one line per request with its ids, route, model, attempts and tokens; no key, secret or prompt text", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
    const tenant = await createTenant({ grantCanary: true });
    const [broken, good] = [uniqueId("log-broken"), uniqueId("log-good")];
    await registerModel(tenant, openaiModel("log-backup", good));
    await registerModel(tenant, { ...openaiModel("log-main", broken, { max_retries: 0 }), fallbacks: ["log-backup"] });
    // The broken upstream echoes the canary secret in its error: it must not reach a log line.
    await fakes.openai.script(broken, [{ kind: "status", status: 503, body: { error: { message: `overloaded ${CANARY}` } } }]);
    // The lines of the setup above are captured too, and left out.
    const setupLines = lines.length;
    const messages = [{ role: "user", content: PROMPT }];
    const chat = await api("POST", "/v1/chat/completions", {
      token: tenant.userKey,
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: { model: "log-main", messages },
    });
    const streamed = await api("POST", "/v1/chat/completions", { token: tenant.userKey, body: { model: "log-backup", messages, stream: true } });
    const tool = await rpc(tenant.userKey, "tools/call", {
      name: "chat",
      arguments: { model_id: "log-backup", messages },
      _meta: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
    });
    const admin = await api("GET", "/api/v1/models", { token: tenant.adminKey });
    expect([chat.status, streamed.status, tool.status, admin.status]).toEqual([200, 200, 200, 200]);
    const usage = await rpc(tenant.adminKey, "tools/call", { name: "get_usage", arguments: {} });
    expect(usage.status).toBe(200);

    const requests = lines
      .slice(setupLines)
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.message === "request" && l.tenant_id === tenant.id);
    expect(requests.map((r) => r.route)).toEqual([
      "POST /v1/chat/completions",
      "POST /v1/chat/completions",
      "MCP tools/call",
      "GET /api/v1/models",
      "MCP tools/call",
    ]);
    const [first, second, third] = requests as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    expect(first).toMatchObject({
      trace_id: TRACE_ID,
      parent_span_id: CALLER_SPAN,
      key_id: tenant.userKeyId,
      status: 200,
      model_id: "log-main",
      answered_by: "log-backup",
      backend_type: "openai_compatible",
      input_tokens: expect.any(Number),
      output_tokens: expect.any(Number),
    });
    expect((first.attempts as { model_id: string; error_type?: string }[]).map((a) => [a.model_id, a.error_type ?? null])).toEqual([
      ["log-main", "upstream_error"],
      ["log-backup", null],
    ]);
    expect(first.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(requests.map((r) => r.request_id)).size).toBe(requests.length);
    expect((second.attempts as { first_piece_ms?: number }[])[0]!.first_piece_ms).toEqual(expect.any(Number));
    expect(third).toMatchObject({ tool: "chat", trace_id: TRACE_ID, parent_span_id: CALLER_SPAN, answered_by: "log-backup" });

    const all = lines.join("\n");
    for (const secret of [CANARY, "purple-heron", tenant.userKey, tenant.adminKey]) expect(all).not.toContain(secret);
  });

  it("REQUEST_LOGS off: no line", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const created = await offApi("POST", "/api/v1/tenants", { token: OPERATOR, body: { id: uniqueId("log-off"), name: "off" } });
    expect(created.status).toBe(201);
    expect(log).not.toHaveBeenCalled();
  });
});
