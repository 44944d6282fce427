/**
 * End to end for the per-tenant OpenTelemetry export under `wrangler dev`,
 * with real OTLP receivers (tests/support/otlp-receiver.ts decodes what they
 * get with OpenTelemetry's own packages): a chat that falls back gives one
 * request span and two attempt spans on the GenAI conventions, joined to the
 * caller's trace; the tokens are get_usage's; no secret, and by default no
 * prompt text, is in any exported byte; a hanging or failing collector slows
 * no call and its drops are counted; one tenant's spans never reach another's
 * collector. Also the request log lines wrangler dev prints.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver";
import { startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { connectModern, fakes, gatewayFor, openaiFor, ResponseRecorder, structured, type Tenant } from "./helpers";

const RUN = String(Date.now() % 1e8);
const up = (name: string) => `gpt-e2e-otel-${name}-${RUN}`;
const PROMPT = `a private prompt that must not be exported: lilac-otter-${RUN}`;
const OTEL_TOKEN = `otel-canary-token-${RUN}-9f3e`;
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN = "b7ad6b7169203331";

let dev: WranglerDev;
const recorder = new ResponseRecorder();
const { api, createTenant, registerModel } = gatewayFor(recorder, () => dev);
const receivers = { a: new OtlpReceiver(), b: new OtlpReceiver(), dead: new OtlpReceiver() };

/** A tenant with "primary" (failing once when `failOnce`) falling back to "backup", both on the fake OpenAI upstream. */
async function tenantWithModels(id: string): Promise<Tenant> {
  const tenant = await createTenant({ id: `${id}-${RUN}`, grantCanary: true });
  const model = (name: string, extra: Record<string, unknown> = {}) => ({
    id: name,
    name,
    backend_type: "openai_compatible",
    config: { base_url: `${inject("openaiUrl")}/v1`, model_name: up(`${id}-${name}`), api_key: "${UPSTREAM_KEY}", max_retries: 0, timeout: 10 },
    ...extra,
  });
  await registerModel(tenant, model("backup"));
  await registerModel(tenant, model("primary", { fallbacks: ["backup"] }));
  return tenant;
}

async function setExport(tenant: Tenant, config: Record<string, unknown>) {
  const res = await api("PUT", "/api/v1/telemetry", { token: tenant.adminKey, body: config });
  expect(res.status, res.text).toBe(200);
  return res;
}

const client = (key: string, headers: Record<string, string> = {}) => openaiFor(dev.url, key, recorder, { headers });

const inTrace = (traceId: string) => (spans: ReceivedSpan[]) => spans.filter((s) => s.traceId === traceId);

let a: Tenant;
let b: Tenant;

beforeAll(async () => {
  await Promise.all(Object.values(receivers).map((r) => r.start()));
  dev = await startWranglerDev();
  a = await tenantWithModels("otel-a");
  b = await tenantWithModels("otel-b");
  const secret = await api("PUT", "/api/v1/secrets/OTEL_TOKEN", { token: a.adminKey, body: { value: OTEL_TOKEN, hosts: ["127.0.0.1"] } });
  expect(secret.status, secret.text).toBe(200);
  await setExport(a, { endpoint: `${receivers.a.url}/v1/traces`, headers: { authorization: "Bearer ${OTEL_TOKEN}" } });
  await setExport(b, { endpoint: `${receivers.b.url}/v1/traces`, protocol: "http/json" });
});

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
  await Promise.all(Object.values(receivers).map((r) => r.close()));
});

describe("OpenTelemetry export", () => {
  it("a chat with a fallback: one request span and two attempt spans, joined to the caller's trace, with get_usage's tokens", async () => {
    await fakes.openai.script(up("otel-a-primary"), [{ kind: "status", status: 503 }]);
    const answer = await client(a.userKey, { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` }).chat.completions.create({
      model: "primary",
      messages: [{ role: "user", content: PROMPT }],
    });
    expect(answer.choices[0]?.message.content).toBeTruthy();

    const spans = await receivers.a.until("the chat's three spans", (all) => inTrace(TRACE_ID)(all).length >= 3 && inTrace(TRACE_ID)(all));
    expect(spans).toHaveLength(3);
    const request = spans.find((s) => s.parentSpanId === CALLER_SPAN)!;
    expect(request).toBeDefined();
    expect(request.name).toBe("chat primary");
    expect(request.kind).toBe(2); // SERVER
    expect(request.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "primary",
      "gen_ai.response.model": up("otel-a-backup"),
      "gen_ai.provider.name": "openai",
      "gen_ai.response.finish_reasons": ["stop"],
      "gateway.tenant.id": a.id,
      "gateway.key.id": a.userKeyId,
      "gateway.model.id": "primary",
      "gateway.answered_by": "backup",
      "gateway.backend.type": "openai_compatible",
      "gateway.fallback.index": 1,
      "gateway.attempts": 2,
      "http.response.status_code": 200,
    });
    const attempts = spans.filter((s) => s.parentSpanId === request.spanId);
    expect(
      attempts.map((s) => [s.kind, s.attributes["gateway.model.id"], s.attributes["gateway.fallback.index"], s.attributes["error.type"] ?? null]),
    ).toEqual([
      [3, "primary", 0, "upstream_error"],
      [3, "backup", 1, null],
    ]);
    expect(attempts[0]!.statusCode).toBe(2); // ERROR
    expect(attempts[1]!.attributes).toMatchObject({ "gen_ai.request.model": up("otel-a-backup"), "gen_ai.usage.input_tokens": expect.any(Number) });

    // The request span's tokens are what the tenant is billed: get_usage's numbers.
    const session = await connectModern(dev.url, a.adminKey, recorder);
    try {
      const report = structured<{ totals: { prompt_tokens: number; completion_tokens: number } }>(await session.callTool("get_usage", {}));
      expect([request.attributes["gen_ai.usage.input_tokens"], request.attributes["gen_ai.usage.output_tokens"]]).toEqual([
        report.totals.prompt_tokens,
        report.totals.completion_tokens,
      ]);
    } finally {
      await session.close();
    }

    // The collector's header carried the tenant's secret, resolved for the collector's host only.
    expect(receivers.a.received[0]!.headers.authorization).toBe(`Bearer ${OTEL_TOKEN}`);
    expect(receivers.a.received.every((r) => r.contentType === "application/x-protobuf")).toBe(true);
    const exported = Buffer.concat(receivers.a.received.map((r) => r.bytes)).toString("latin1");
    for (const secret of [OTEL_TOKEN, dev.upstreamKey, a.userKey, "lilac-otter"]) expect(exported).not.toContain(secret);
  });

  it("an MCP tool call joins the caller's trace from _meta.traceparent (OTLP/JSON here)", async () => {
    const traceId = "5b8efff798038103d269b633813fc60c";
    const res = await fetch(`${dev.url}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${b.userKey}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: {
          name: "chat",
          arguments: { model_id: "backup", messages: [{ role: "user", content: PROMPT }] },
          _meta: { traceparent: `00-${traceId}-${CALLER_SPAN}-01` },
        },
      }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const spans = await receivers.b.until("the tool call's spans", (all) => inTrace(traceId)(all).length >= 2 && inTrace(traceId)(all));
    const request = spans.find((s) => s.parentSpanId === CALLER_SPAN)!;
    expect(request.attributes).toMatchObject({ "gen_ai.tool.name": "chat", "gateway.route": "MCP tools/call", "gen_ai.request.model": "backup" });
    expect(receivers.b.received.every((r) => r.contentType === "application/json")).toBe(true);
    expect(Buffer.concat(receivers.b.received.map((r) => r.bytes)).toString("utf8")).not.toContain("lilac-otter");
  });

  it("another tenant's collector never receives this tenant's spans", async () => {
    await client(a.userKey).chat.completions.create({ model: "backup", messages: [{ role: "user", content: "hi" }] });
    // b's call streamed: its request span says the time to the first chunk.
    for await (const chunk of await client(b.userKey).chat.completions.create({
      model: "backup",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    }))
      void chunk;
    await receivers.a.until("a's second call", (all) => all.filter((s) => s.parentSpanId === "" || s.parentSpanId === CALLER_SPAN).length >= 2);
    const streamed = await receivers.b.until("b's streamed call", (all) =>
      all.find((s) => s.attributes["gen_ai.request.model"] === "backup" && s.parentSpanId === ""),
    );
    expect(streamed.attributes["gen_ai.response.time_to_first_chunk"]).toEqual(expect.any(Number));
    expect(new Set(receivers.a.spans().map((s) => s.tenant))).toEqual(new Set([a.id]));
    expect(new Set(receivers.b.spans().map((s) => s.tenant))).toEqual(new Set([b.id]));
    const aTraces = new Set(receivers.a.spans().map((s) => s.traceId));
    expect(receivers.b.spans().filter((s) => aTraces.has(s.traceId))).toEqual([]);
  });

  it("with capture_content on, prompt and answer text are exported, with secret values redacted", async () => {
    const c = await tenantWithModels("otel-c");
    const secret = await api("PUT", "/api/v1/secrets/OTEL_TOKEN", { token: c.adminKey, body: { value: OTEL_TOKEN, hosts: ["127.0.0.1"] } });
    expect(secret.status).toBe(200);
    const receiver = await new OtlpReceiver().start();
    try {
      await setExport(c, { endpoint: `${receiver.url}/v1/traces`, headers: { "x-otel-token": "${OTEL_TOKEN}" }, capture_content: true });
      await client(c.userKey).chat.completions.create({ model: "backup", messages: [{ role: "user", content: `${PROMPT} ${OTEL_TOKEN}` }] });
      const [request] = await receiver.until(
        "the captured call",
        (all) => all.filter((s) => s.attributes["gen_ai.input.messages"]).length > 0 && all.filter((s) => s.attributes["gen_ai.input.messages"]),
      );
      expect(String(request!.attributes["gen_ai.input.messages"])).toContain("lilac-otter");
      expect(String(request!.attributes["gen_ai.input.messages"])).toContain("[redacted]");
      expect(request!.attributes["gen_ai.output.messages"]).toEqual(expect.any(String));
      expect(Buffer.concat(receiver.received.map((r) => r.bytes)).toString("latin1")).not.toContain(OTEL_TOKEN);
    } finally {
      await receiver.close();
    }
  });

  it("a collector that hangs or answers 500 slows no call, and its dropped spans are counted", async () => {
    const slow = await tenantWithModels("otel-dead");
    const quiet = await tenantWithModels("otel-off");
    const timeCalls = async (tenant: Tenant) => {
      const openai = client(tenant.userKey);
      await openai.chat.completions.create({ model: "backup", messages: [{ role: "user", content: "warm" }] });
      const started = performance.now();
      for (let i = 0; i < 8; i++) await openai.chat.completions.create({ model: "backup", messages: [{ role: "user", content: `call ${i}` }] });
      return performance.now() - started;
    };
    for (const mode of ["hang", "fail"] as const) {
      receivers.dead.mode = mode;
      receivers.dead.received.length = 0;
      await setExport(slow, { endpoint: `${receivers.dead.url}/v1/traces` });
      const before = await api<{ this_isolate: { dropped_spans: number } }>("GET", "/api/v1/telemetry", { token: slow.adminKey });
      const withExport = await timeCalls(slow);
      const without = await timeCalls(quiet);
      console.log(`collector ${mode}: 8 calls in ${Math.round(withExport)} ms with export, ${Math.round(without)} ms without`);
      // Loose: the same calls, export to a dead collector or none; the point is no export timeout (5 s) in the path.
      expect(withExport, `${mode}: ${withExport} ms with export vs ${without} ms without`).toBeLessThan(Math.max(3 * without, without + 1000));
      await receivers.dead.until(`${mode}: an export attempt`, () => receivers.dead.received.length > 0);
      const after = await api<{ this_isolate: { dropped_spans: number; last_error: string | null } }>("GET", "/api/v1/telemetry", {
        token: slow.adminKey,
      });
      await expect
        .poll(
          async () =>
            (await api<{ this_isolate: { dropped_spans: number } }>("GET", "/api/v1/telemetry", { token: slow.adminKey })).body.this_isolate
              .dropped_spans,
          {
            timeout: 15_000,
            interval: 250,
          },
        )
        .toBeGreaterThan(before.body.this_isolate.dropped_spans);
      expect(after.status).toBe(200);
    }
  });

  it("bad export configs are refused, naming what is wrong", async () => {
    const refused = async (config: Record<string, unknown>) => {
      const res = await api<{ error: { message: string } }>("PUT", "/api/v1/telemetry", { token: a.adminKey, body: config });
      expect(res.status).toBe(400);
      return res.body.error.message;
    };
    expect(await refused({ endpoint: "http://10.0.0.1/v1/traces" })).toMatch(/^endpoint: /);
    expect(await refused({ endpoint: `${receivers.a.url}/v1/traces`, headers: { authorization: "Bearer sk-literal-secret" } })).toMatch(
      /literal secret/,
    );
    expect(await refused({ endpoint: `${receivers.a.url}/v1/traces`, headers: { authorization: "Bearer ${NOT_A_SECRET}" } })).toMatch(/NOT_A_SECRET/);
    expect(await refused({ endpoint: `${receivers.a.url}/v1/traces`, sampling_ratio: 2 })).toMatch(/sampling_ratio/);
    const user = await api("PUT", "/api/v1/telemetry", { token: a.userKey, body: { endpoint: `${receivers.a.url}/v1/traces` } });
    expect(user.status).toBe(403);
  });

  it("wrangler dev prints one JSON log line per request with the trace's ids, and no prompt or secret", () => {
    const lines = dev
      .logs()
      .split("\n")
      .map((l) => l.slice(l.indexOf("{")))
      .filter((l) => l.startsWith('{"message":"request"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const chat = lines.find((l) => l.trace_id === TRACE_ID);
    expect(chat).toMatchObject({ parent_span_id: CALLER_SPAN, tenant_id: a.id, model_id: "primary", answered_by: "backup", status: 200 });
    const logs = dev.logs();
    for (const secret of [OTEL_TOKEN, dev.upstreamKey, a.userKey, "lilac-otter"]) expect(logs).not.toContain(secret);
  });
});
