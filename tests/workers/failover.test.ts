/**
 * Failover, the circuit breaker, passive health and the read caps, driven
 * through the Worker's real fetch handler against the fake OpenAI-compatible
 * upstream's fault scripts (tests/support/fake-openai.ts).
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { api, callTool, createTenant, fakes, openaiModel, registerModel, type Tenant, uniqueId } from "./helpers";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Check {
  source: string;
  ok: boolean;
  status: string;
  detail: string | null;
}

/** A primary with one fallback; `config` goes to the primary. */
async function pair(config: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  const primaryUp = uniqueId("primary");
  const backupUp = uniqueId("backup");
  await registerModel(tenant, openaiModel("backup", backupUp, { max_retries: 0 }));
  await registerModel(tenant, { ...openaiModel("primary", primaryUp, { max_retries: 2, ...config }), fallbacks: ["backup"] });
  return { tenant, primaryUp, backupUp };
}

const chatArgs = (content: string) => ({ model_id: "primary", messages: [{ role: "user", content }] });

async function chat(tenant: Tenant, content: string, streamed = false) {
  const res = await callTool(tenant.userKey, "chat", chatArgs(content), streamed ? { progressToken: "p" } : undefined);
  const progress = res.messages.filter((m) => m.method === "notifications/progress");
  return {
    tool: res.tool,
    out: res.tool.structuredContent as Record<string, unknown> & { fallback?: { attempts: { model_id: string; error: string }[] } },
    progress,
  };
}

async function checks(tenant: Tenant, id: string): Promise<Check[]> {
  return (await api<{ checks: Check[] }>("GET", `/api/v1/models/${id}/checks`, { token: tenant.userKey })).body.checks;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(50);
  }
}

/** Read a /v1 SSE answer slowly: the deltas' text, whether [DONE] came, and any error event. */
async function readSse(response: Response, pauseMs = 0) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let raw = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    raw += decoder.decode(value, { stream: true });
    if (pauseMs) await sleep(pauseMs);
  }
  const events = raw
    .split("\n\n")
    .map((e) => e.replace(/^data: /, "").trim())
    .filter(Boolean);
  const chunks = events.filter((e) => e !== "[DONE]").map((e) => JSON.parse(e) as Record<string, unknown>);
  type Choice = { delta?: { content?: string }; text?: string; finish_reason?: string | null };
  const text = chunks.map((c) => ((c.choices as Choice[] | undefined)?.[0]?.delta?.content ?? "") as string).join("");
  return { text, done: events.at(-1) === "[DONE]", error: chunks.find((c) => "error" in c)?.error as { message: string } | undefined, chunks };
}

function v1(tenant: Tenant, body: Record<string, unknown>, signal?: AbortSignal) {
  return exports.default.fetch(
    new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.userKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    }),
  );
}

describe("until the first token, any failure goes to the fallback", () => {
  it("silence before the first token: the fallback answers, the silent model is not retried", async () => {
    const { tenant, primaryUp, backupUp } = await pair({ first_token_timeout: 0.3 });
    await fakes.openai.script(primaryUp, [{ kind: "no_first_token" }, { kind: "no_first_token" }, { kind: "no_first_token" }]);
    const { tool, out, progress } = await chat(tenant, "rescue me", true);
    expect(tool.isError).toBeFalsy();
    expect(out).toMatchObject({ text: "echo: rescue me", finish_reason: "stop", model_id: "backup" });
    expect(out.fallback?.attempts).toEqual([{ model_id: "primary", error: expect.stringMatching(/within 0\.3 s \(first_token_timeout/) }]);
    expect(progress.map((p) => (p.params as { message: string }).message).join("")).toBe("echo: rescue me");
    expect(await fakes.openai.requests(primaryUp)).toHaveLength(1);
    expect(await fakes.openai.requests(backupUp)).toHaveLength(1);
  });

  it("silence before the first byte, not streamed: the fallback answers after one timeout, without retries", async () => {
    const { tenant, primaryUp } = await pair({ timeout: 0.5 });
    await fakes.openai.script(primaryUp, [{ kind: "hang" }, { kind: "hang" }, { kind: "hang" }]);
    const { out } = await chat(tenant, "still there?");
    expect(out).toMatchObject({ text: "echo: still there?", model_id: "backup" });
    expect(out.fallback?.attempts[0]?.error).toMatch(/did not answer within 0\.5 s/);
    expect(await fakes.openai.requests(primaryUp)).toHaveLength(1);
  });

  it("a reset before the first token goes to the fallback too", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0 });
    await fakes.openai.script(primaryUp, [{ kind: "break_stream", afterChunks: 0 }]);
    const { out } = await chat(tenant, "a b c", true);
    expect(out).toMatchObject({ text: "echo: a b c", finish_reason: "stop", model_id: "backup" });
    expect(out.fallback?.attempts[0]?.error).toMatch(/broke off the stream before its first token/);
  });

  it("without a fallback, a silent stream is retried, then fails as an error (never an empty success)", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("alone");
    await registerModel(tenant, openaiModel("primary", up, { max_retries: 1, first_token_timeout: 0.2 }));
    await fakes.openai.script(up, [{ kind: "no_first_token" }, { kind: "no_first_token" }]);
    const { tool } = await chat(tenant, "anyone?", true);
    expect(tool.isError).toBe(true);
    expect(tool.content[0]!.text).toMatch(/within 0\.2 s \(first_token_timeout.*\[upstream_timeout\]/);
    expect(await fakes.openai.requests(up)).toHaveLength(2);
  });

  it("a slow first token within first_token_timeout is simply waited for", async () => {
    const { tenant, primaryUp } = await pair({ first_token_timeout: 2 });
    await fakes.openai.script(primaryUp, [{ kind: "slow_first_token", delayMs: 300 }]);
    const { out } = await chat(tenant, "take your time", true);
    expect(out).toMatchObject({ text: "echo: take your time", model_id: "primary" });
  });

  it("/v1 streamed: headers only once the fallback's first token is in hand; the final chunk says who answered", async () => {
    const { tenant, primaryUp } = await pair({ first_token_timeout: 0.3 });
    await fakes.openai.script(primaryUp, [{ kind: "no_first_token" }]);
    const response = await v1(tenant, { model: "primary", messages: [{ role: "user", content: "via v1" }], stream: true });
    expect(response.status).toBe(200);
    const { text, done, chunks } = await readSse(response);
    expect(text).toBe("echo: via v1");
    expect(done).toBe(true);
    const last = chunks.findLast((c) => (c.choices as { finish_reason?: string }[])[0]?.finish_reason);
    expect(last).toMatchObject({ model: "backup", fallback: { requested: "primary", attempts: [{ model_id: "primary" }] } });
  });
});

describe("upstream 400s, classified", () => {
  it("context length exceeded goes to the fallback, streamed or not", async () => {
    for (const streamed of [false, true]) {
      const { tenant, primaryUp, backupUp } = await pair();
      await fakes.openai.script(primaryUp, [{ kind: "context_length" }]);
      const { out } = await chat(tenant, "a long one", streamed);
      expect(out).toMatchObject({ text: "echo: a long one", model_id: "backup" });
      expect(out.fallback?.attempts[0]?.error).toMatch(/too long for the model \(400\): This model's maximum context length is 8192 tokens/);
      expect(await fakes.openai.requests(primaryUp)).toHaveLength(1);
      expect(await fakes.openai.requests(backupUp)).toHaveLength(1);
    }
  });

  it("a content filter refusal is final: no fallback, no retry, HTTP 400 on /v1", async () => {
    const { tenant, primaryUp, backupUp } = await pair();
    await fakes.openai.script(primaryUp, [{ kind: "content_filter" }]);
    const { tool } = await chat(tenant, "something bad", true);
    expect(tool.isError).toBe(true);
    expect(tool.content[0]!.text).toMatch(/refused the request under its content policy \(400\).*\[content_filtered\]/);
    await fakes.openai.script(primaryUp, [{ kind: "content_filter" }]);
    const response = await v1(tenant, { model: "primary", messages: [{ role: "user", content: "again" }] });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: "content_filtered" } });
    expect(await fakes.openai.requests(primaryUp)).toHaveLength(2);
    expect(await fakes.openai.requests(backupUp)).toEqual([]);
  });

  it("when every model is over its context, the caller gets 400 context_length_exceeded", async () => {
    const { tenant, primaryUp, backupUp } = await pair();
    await fakes.openai.script(primaryUp, [{ kind: "context_length" }]);
    await fakes.openai.script(backupUp, [{ kind: "context_length" }]);
    const response = await v1(tenant, { model: "primary", messages: [{ role: "user", content: "too long everywhere" }] });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: "context_length_exceeded" } });
  });
});

describe("malformed stream events", () => {
  it("one event that is not JSON is skipped; the answer is whole and complete", async () => {
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    const { tenant, primaryUp } = await pair();
    await fakes.openai.script(primaryUp, [{ kind: "malformed_event", afterChunks: 1 }]);
    const { out } = await chat(tenant, "one two three", true);
    expect(out).toMatchObject({ text: "echo: one two three", finish_reason: "stop", model_id: "primary" });
    expect(out).not.toHaveProperty("error");

    await fakes.openai.script(primaryUp, [{ kind: "malformed_event", afterChunks: 2 }]);
    const { text, done, error } = await readSse(
      await v1(tenant, { model: "primary", messages: [{ role: "user", content: "four five" }], stream: true }),
    );
    expect({ text, done, error }).toEqual({ text: "echo: four five", done: true, error: undefined });
    // Each skip is said once per stream in the log, captured here rather than printed.
    expect(warned.mock.calls.filter(([m]) => /^stream: skipped 1 event\(s\) that were not JSON/.test(String(m)))).toHaveLength(2);
    warned.mockRestore();
  });
});

describe("/v1 streaming under a bursty upstream and a slow client", () => {
  it("every byte arrives, in order, then [DONE]", async () => {
    const { tenant, primaryUp } = await pair();
    const words = Array.from({ length: 400 }, (_, i) => `w${i}`).join(" ");
    await fakes.openai.script(primaryUp, [{ kind: "burst" }]);
    const response = await v1(tenant, { model: "primary", messages: [{ role: "user", content: words }], stream: true });
    const { text, done, error } = await readSse(response, 2);
    expect(error).toBeUndefined();
    expect(text).toBe(`echo: ${words}`);
    expect(done).toBe(true);
  }, 30_000);
});

describe("the circuit breaker", () => {
  it("a primary down for a while: skipped while open, the object's probes find it healed, and calls come back at once", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 2, circuit_breaker: { cooldown_s: 0.5, max_cooldown_s: 1 } });
    // Long enough that the first three calls (each with its retries' backoff) all find it down, even on a loaded machine.
    await fakes.openai.script(primaryUp, [{ kind: "down_for", ms: 6_000 }]);
    const healsAt = Date.now() + 6_000;
    for (let i = 0; i < 3; i++) expect((await chat(tenant, `try ${i}`)).out).toMatchObject({ model_id: "backup" });
    const down = await until(
      () => checks(tenant, "primary"),
      (c) => c[0]?.status === "error",
    );
    // One key's failures alone: a check confirmed them (the upstream is down) before the model went to `error`.
    expect(down[0]).toMatchObject({ source: "scheduled", ok: false, status: "error" });

    // Calls keep coming; while the breaker is open none waits on the dead primary's retries: at most one attempt each.
    const touches: number[] = [];
    let answeredAt = 0;
    for (let n = 0; Date.now() < healsAt + 5_000; n++) {
      const out = (await chat(tenant, `call ${n}`)).out;
      const reached = (await fakes.openai.requests<{ messages?: { content?: string }[] }>(primaryUp)).filter(
        (r) => r.body?.messages?.[0]?.content === `call ${n}`,
      );
      touches.push(reached.length);
      if (out.model_id === "primary") {
        answeredAt = Date.now();
        break;
      }
      expect(out.fallback?.attempts[0]?.error).toMatch(/circuit open|503/);
      await sleep(200);
    }
    expect(Math.max(...touches)).toBeLessThanOrEqual(1);
    // The object's probe (half a second before each cooldown of at most 1 s) found it healed: back within about 2 s.
    expect(answeredAt).toBeGreaterThan(0);
    expect(answeredAt - healsAt).toBeLessThan(2_500);
    const history = await checks(tenant, "primary");
    // The confirming check, and the probes while it stayed down (how many depends on how long the calls took to open it).
    expect(history.filter((c) => c.source === "scheduled" && !c.ok).length).toBeGreaterThanOrEqual(1);
    expect(history.find((c) => c.ok)).toMatchObject({ status: "available" });
    expect((await chat(tenant, "steady")).out).toMatchObject({ model_id: "primary" });
  }, 30_000);

  it("a check after failed chat calls is a one-token chat, not the model list: a 200 from /models does not clear it", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0, circuit_breaker: { cooldown_s: 60 } });
    await fakes.openai.script(primaryUp, [{ kind: "down_for", ms: 60_000 }]);
    for (let i = 0; i < 3; i++) await chat(tenant, `fail ${i}`);
    await until(
      () => checks(tenant, "primary"),
      (c) => c[0]?.status === "error",
    );
    const res = await api<{ checks: Check[] }>("POST", "/api/v1/models/primary/health-check", { token: tenant.adminKey });
    expect(res.body.checks[0]).toMatchObject({ source: "manual", ok: false, status: "error" });
    const probe = (await fakes.openai.requests<{ max_tokens?: number }>(primaryUp)).at(-1)!;
    expect(probe).toMatchObject({ method: "POST", path: "/v1/chat/completions", body: { max_tokens: 1 } });
    expect((await api<{ status: string }>("GET", "/api/v1/models/primary", { token: tenant.userKey })).body.status).toBe("error");
  });
});

describe("passive health counts only what the upstream caused", () => {
  /**
   * Make one call that fails with an upstream 500 (which counts), and return the
   * model's recorded call results once that one is in: it is recorded after any
   * the earlier calls made.
   */
  async function callResultsAfterA500(tenant: Tenant, upstream: string) {
    await fakes.openai.script(upstream, [{ kind: "status", status: 500 }]);
    await chat(tenant, "sentinel");
    const history = await until(
      () => checks(tenant, "primary"),
      (c) => c.some((x) => x.source === "call" && /\(500\)/.test(x.detail ?? "")),
    );
    return history.filter((c) => c.source === "call");
  }

  it("upstream 429s do not count against the model", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0 });
    await api("DELETE", "/api/v1/models/primary", { token: tenant.adminKey }); // no fallback: each 429 reaches the caller
    await registerModel(tenant, openaiModel("primary", primaryUp, { max_retries: 0 }));
    await fakes.openai.script(
      primaryUp,
      [1, 2, 3].map(() => ({ kind: "status", status: 429 })),
    );
    for (let i = 0; i < 3; i++) expect((await chat(tenant, `busy ${i}`)).tool.content[0]!.text).toMatch(/\[rate_limited\]/);
    const calls = await callResultsAfterA500(tenant, primaryUp);
    expect(calls.map((c) => [c.ok, c.detail?.match(/\((\d+)\)/)?.[1]])).toEqual([[false, "500"]]);
  });

  it("timeouts of a request the caller made huge do not count", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0, timeout: 0.3 });
    await fakes.openai.script(primaryUp, [{ kind: "hang" }]);
    const huge = await callTool(tenant.userKey, "chat", { ...chatArgs("write a book"), max_tokens: 20_000 });
    expect(huge.tool.structuredContent).toMatchObject({ model_id: "backup" });
    const calls = await callResultsAfterA500(tenant, primaryUp);
    expect(calls.map((c) => [c.ok, c.detail?.match(/\((\d+)\)/)?.[1]])).toEqual([[false, "500"]]);
  });
});

describe("passive health that one key cannot abuse", () => {
  const streamedSmall = (token: string, content: string) => callTool(token, "chat", { ...chatArgs(content), max_tokens: 64 }, { progressToken: "p" });

  async function secondUserKey(tenant: Tenant): Promise<string> {
    const created = await api<{ key: string }>("POST", "/api/v1/keys", { token: tenant.adminKey, body: { role: "user" } });
    expect(created.status).toBe(201);
    return created.body.key;
  }

  it("three first-token timeouts from one key, while another key's calls succeed, do not put the model in error", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0, first_token_timeout: 0.3 });
    const other = await secondUserKey(tenant);
    expect((await callTool(other, "chat", chatArgs("fine"))).tool.structuredContent).toMatchObject({ model_id: "primary" });
    await fakes.openai.script(
      primaryUp,
      [1, 2, 3].map(() => ({ kind: "no_first_token" })),
    );
    for (let i = 0; i < 3; i++)
      expect((await streamedSmall(tenant.userKey, `stall ${i}`)).tool.structuredContent).toMatchObject({ model_id: "backup" });
    // The third failure asks for a confirming check; the upstream answers it, so the model is back.
    const history = await until(
      () => checks(tenant, "primary"),
      (c) => c[0]?.source === "scheduled",
    );
    expect(history[0]).toMatchObject({ source: "scheduled", ok: true, status: "available" });
    expect(history.some((c) => c.status === "error")).toBe(false);
    expect(history.filter((c) => c.source === "call" && !c.ok)).toHaveLength(3);
    // The confirming check was a one-token chat: metered, under the key id "health-check".
    const usage = await api<{ groups: { key_id?: string; requests: number; completion_tokens: number }[] }>("GET", "/api/v1/usage?group_by=key", {
      token: tenant.adminKey,
    });
    expect(usage.body.groups.find((g) => g.key_id === "health-check")).toMatchObject({ requests: 1, completion_tokens: 1 });
    expect((await callTool(other, "chat", chatArgs("still fine"))).tool.structuredContent).toMatchObject({ model_id: "primary" });
  });

  it("failures from two keys still put it in error, without waiting for a check", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0, first_token_timeout: 0.3 });
    const other = await secondUserKey(tenant);
    await fakes.openai.script(
      primaryUp,
      [1, 2, 3].map(() => ({ kind: "no_first_token" })),
    );
    for (const [i, key] of [tenant.userKey, other, tenant.userKey].entries()) await streamedSmall(key, `stall ${i}`);
    const history = await until(
      () => checks(tenant, "primary"),
      (c) => c[0]?.status === "error",
    );
    expect(history[0]).toMatchObject({ source: "call", ok: false, status: "error" });
  });

  it("a non-streamed call's timeout does not count (a long answer looks the same as a dead upstream)", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0, timeout: 0.3 });
    await fakes.openai.script(primaryUp, [{ kind: "delay", ms: 1_000 }]);
    const slow = await callTool(tenant.userKey, "chat", { ...chatArgs("take your time"), max_tokens: 64 });
    expect(slow.tool.structuredContent).toMatchObject({ model_id: "backup" });
    await fakes.openai.script(primaryUp, [{ kind: "status", status: 500 }]);
    await chat(tenant, "sentinel");
    const history = await until(
      () => checks(tenant, "primary"),
      (c) => c.some((x) => x.source === "call" && /\(500\)/.test(x.detail ?? "")),
    );
    expect(history.filter((c) => c.source === "call").map((c) => c.ok)).toEqual([false]);
  });

  it("a streamed call without max_tokens is huge: its first-token timeout does not count", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0, first_token_timeout: 0.3 });
    await fakes.openai.script(primaryUp, [{ kind: "no_first_token" }, { kind: "status", status: 500 }]);
    await chat(tenant, "no limit", true);
    await chat(tenant, "sentinel");
    const history = await until(
      () => checks(tenant, "primary"),
      (c) => c.some((x) => x.source === "call" && /\(500\)/.test(x.detail ?? "")),
    );
    expect(history.filter((c) => c.source === "call").map((c) => c.ok)).toEqual([false]);
  });
});

describe("upstream answers are read under a cap", () => {
  /** How much of its `huge_*` answer the fake has got rid of so far (the gateway has already answered). */
  async function delivered(upstream: string) {
    const [request] = await fakes.openai.requests<unknown>(upstream);
    return (request as { delivered?: { bytes: number; complete: boolean } }).delivered;
  }

  // Chunked, its size is known only as it arrives: read up to the cap. Declared, it is refused unread.
  it.each([
    { sent: "chunked", declared: false, takenBelow: 96 * 1024 * 1024 },
    { sent: "with a Content-Length", declared: true, takenBelow: 16 * 1024 * 1024 },
  ])(
    "a JSON answer past 16 MiB, $sent, is a clear error and the gateway stops reading it",
    async ({ declared, takenBelow }) => {
      const { tenant, primaryUp } = await pair({ max_retries: 0 });
      await api("PATCH", "/api/v1/models/primary", { token: tenant.adminKey, body: { fallbacks: [] } });
      await fakes.openai.script(primaryUp, [{ kind: "huge_json", bytes: 96 * 1024 * 1024, declared }]);
      const { tool } = await chat(tenant, "big");
      expect(tool.isError).toBe(true);
      expect(tool.content[0]!.text).toMatch(/an answer larger than 16 MiB.*\[upstream_error\]/);
      const taken = await delivered(primaryUp);
      expect(taken).toMatchObject({ complete: false });
      expect(taken!.bytes).toBeLessThan(takenBelow);
    },
    60_000,
  );

  it("an error body is read only as far as it is shown", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0 });
    await api("PATCH", "/api/v1/models/primary", { token: tenant.adminKey, body: { fallbacks: [] } });
    await fakes.openai.script(primaryUp, [{ kind: "huge_error", bytes: 64 * 1024 * 1024, status: 500 }]);
    const { tool } = await chat(tenant, "oops");
    expect(tool.content[0]!.text).toMatch(/failed \(500\): \{"error":\{"message":"aaaa.*\[upstream_error\]/);
    const taken = await delivered(primaryUp);
    expect(taken).toMatchObject({ complete: false });
    expect(taken!.bytes).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);

  it("a stream past 32 MiB is cut with an error, keeping the text received", async () => {
    const { tenant, primaryUp } = await pair({ max_retries: 0 });
    await fakes.openai.script(primaryUp, [{ kind: "huge_stream", bytes: 34 * 1024 * 1024 }]);
    const response = await v1(tenant, { model: "primary", messages: [{ role: "user", content: "stream a lot" }], stream: true });
    const { text, done, error } = await readSse(response);
    expect(done).toBe(false);
    expect(error?.message).toMatch(/more than 32 MiB in one stream/);
    expect(text.length).toBeGreaterThan(16 * 1024 * 1024);
    expect(text.length).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(/^b+$/.test(text)).toBe(true);
  }, 60_000);
});
