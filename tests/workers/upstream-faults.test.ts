/**
 * What a caller sees when the upstream misbehaves, driven through MCP against
 * the fake upstream's fault scripts.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callTool, CANARY, createTenant, fakes, openaiModel, registerModel, uniqueId } from "./helpers";

async function setup(config: Record<string, unknown> = {}) {
  const tenant = await createTenant({ grantCanary: true });
  const upstream = uniqueId("up");
  await registerModel(tenant, openaiModel("m", upstream, config));
  const chat = () => callTool(tenant.userKey, "chat", { model_id: "m", messages: [{ role: "user", content: "ping" }] });
  return { tenant, upstream, chat };
}

describe("upstream faults", () => {
  it("retries 5xx and network-level failures, then succeeds", async () => {
    const { upstream, chat } = await setup({ max_retries: 2 });
    await fakes.openai.script(upstream, [
      { kind: "status", status: 502 },
      { kind: "status", status: 503 },
    ]);
    const res = await chat();
    expect(res.tool.structuredContent).toMatchObject({ text: "echo: ping" });
    expect(await fakes.openai.requests(upstream)).toHaveLength(3);
  });

  it('says a refused connection was refused, instead of workerd\'s "Network connection lost"', async () => {
    const refused = await setup({ base_url: "http://127.0.0.1:9/v1", max_retries: 0 });
    const res = await refused.chat();
    expect(res.tool.isError).toBe(true);
    expect(res.tool.content[0]!.text).toBe(
      "OpenAI-compatible upstream 127.0.0.1:9 is unreachable: the connection was refused or closed before any answer " +
        "(is the server running and listening on that host and port?) [upstream_error]",
    );
    // A server that takes the request and closes the connection without answering throws the same error in workerd.
    const dropped = await setup({ max_retries: 0 });
    await fakes.openai.script(dropped.upstream, [{ kind: "drop" }]);
    expect((await dropped.chat()).tool.content[0]!.text).toMatch(
      /^OpenAI-compatible upstream 127\.0\.0\.1:\d+ is unreachable: the connection was refused or closed before any answer /,
    );
  });

  it("gives up after max_retries with the upstream's status and message", async () => {
    const { upstream, chat } = await setup({ max_retries: 1 });
    await fakes.openai.script(upstream, [
      { kind: "status", status: 500, body: { error: { message: "GPU on fire" } } },
      { kind: "status", status: 500, body: { error: { message: "GPU on fire" } } },
    ]);
    const res = await chat();
    expect(res.tool.isError).toBe(true);
    expect(res.tool.content[0]!.text).toMatch(/OpenAI-compatible upstream 127\.0\.0\.1:\d+ failed \(500\): GPU on fire \[upstream_error\]/);
    expect(await fakes.openai.requests(upstream)).toHaveLength(2);
  });

  it("honours Retry-After on 429", async () => {
    const { upstream, chat } = await setup({ max_retries: 1 });
    await fakes.openai.script(upstream, [{ kind: "status", status: 429, retryAfter: "1" }]);
    const started = Date.now();
    const res = await chat();
    expect(res.tool.structuredContent).toMatchObject({ text: "echo: ping" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("says when and why it stops: a long Retry-After is passed on instead of waited out", async () => {
    const { upstream, chat } = await setup({ max_retries: 3 });
    await fakes.openai.script(upstream, [{ kind: "status", status: 429, retryAfter: "120" }]);
    const res = await chat();
    expect(res.tool.isError).toBe(true);
    expect(res.tool.content[0]!.text).toMatch(/Rate limited by OpenAI-compatible upstream .*, retry after 120 s.*\[rate_limited\]/);
    expect(await fakes.openai.requests(upstream)).toHaveLength(1);
  });

  it("does not retry other 4xx", async () => {
    const { upstream, chat } = await setup({ max_retries: 3 });
    await fakes.openai.script(upstream, [{ kind: "status", status: 400, body: { error: { message: "context too long" } } }]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(/rejected the request \(400\): context too long \[invalid_request\]/);
    expect(await fakes.openai.requests(upstream)).toHaveLength(1);
  });

  it("times out a hanging upstream per the model's timeout", async () => {
    const { upstream, chat } = await setup({ max_retries: 0, timeout: 0.5 });
    await fakes.openai.script(upstream, [{ kind: "hang" }]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(/did not answer within 0\.5 s .*\[upstream_timeout\]/);
  });

  it("reports a malformed body as the upstream's fault", async () => {
    const { upstream, chat } = await setup({ max_retries: 0 });
    await fakes.openai.script(upstream, [{ kind: "malformed" }]);
    const res = await chat();
    expect(res.tool.content[0]!.text).toMatch(/sent a body that is not JSON.*\[upstream_error\]/);
  });

  it("never shows the secret, even when the upstream echoes it back", async () => {
    const { upstream, chat } = await setup({ max_retries: 0 });
    await fakes.openai.script(upstream, [{ kind: "echo_auth", status: 401 }]);
    const res = await chat();
    const text = res.tool.content[0]!.text;
    expect(text).toMatch(/rejected the credentials \(401\)/);
    expect(text).toContain("[redacted]");
    expect(JSON.stringify(res.messages)).not.toContain(CANARY);
  });
});

describe("stream timeouts", () => {
  it("a stream that keeps trickling is cut at ten times the timeout, keeping its text", async () => {
    // Gaps of 50 ms against a 250 ms idle timeout (room for a loaded machine); the stream needs ~4 s, the cap is 2.5 s.
    const { tenant, upstream } = await setup({ max_retries: 0, timeout: 0.25 });
    await fakes.openai.script(upstream, [{ kind: "slow_stream", delayMs: 50 }]);
    const content = Array.from({ length: 80 }, (_, i) => `w${i}`).join(" ");
    const res = await callTool(tenant.userKey, "chat", { model_id: "m", messages: [{ role: "user", content }] }, { progressToken: "t" });
    const out = res.tool.structuredContent as { text: string; finish_reason: string; error?: string };
    expect(out.finish_reason).toBe("error");
    expect(out.error).toMatch(/still streaming after 2\.5 s, the limit for a stream/);
    expect(out.text.length).toBeGreaterThan(0);
    expect(out.text.length).toBeLessThan(`echo: ${content}`.length);
  });

  it("a stream that stalls after its first tokens ends within stall_timeout, keeping every byte, with the format's error", async () => {
    const { tenant, upstream } = await setup({ max_retries: 0, timeout: 30, stall_timeout: 0.5 });
    await fakes.openai.script(upstream, [{ kind: "stall", afterChunks: 2 }]);
    const started = Date.now();
    const res = await callTool(tenant.userKey, "chat", { model_id: "m", messages: [{ role: "user", content: "a b c d" }] }, { progressToken: "t" });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.tool.structuredContent).toMatchObject({
      text: "echo: a ",
      finish_reason: "error",
      error: expect.stringMatching(/stopped sending for 0\.5 s \(stall_timeout/),
    });

    await fakes.openai.script(upstream, [{ kind: "stall", afterChunks: 2 }]);
    const v1Started = Date.now();
    const v1 = await exports.default.fetch(
      new Request("http://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.userKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "a b c d" }], stream: true }),
      }),
    );
    const raw = await v1.text();
    expect(Date.now() - v1Started).toBeLessThan(3_000);
    const events = raw
      .split("\n\n")
      .map((e) => e.replace(/^data: /, "").trim())
      .filter((e) => e && e !== "[DONE]")
      .map((e) => JSON.parse(e) as { choices?: { delta?: { content?: string } }[]; error?: { message: string } });
    expect(events.map((e) => e.choices?.[0]?.delta?.content ?? "").join("")).toBe("echo: a ");
    expect(events.at(-1)?.error?.message).toMatch(/stall_timeout/);
  });

  it("a stream that goes quiet is cut after the timeout", async () => {
    const { tenant, upstream } = await setup({ max_retries: 0, timeout: 0.2, first_token_timeout: 5 });
    await fakes.openai.script(upstream, [{ kind: "slow_stream", delayMs: 400, afterChunks: 1 }]);
    const res = await callTool(tenant.userKey, "chat", { model_id: "m", messages: [{ role: "user", content: "a b" }] }, { progressToken: "t" });
    expect(res.tool.structuredContent).toMatchObject({ finish_reason: "error", error: expect.stringMatching(/stopped sending for 0\.2 s/) });
  });
});
