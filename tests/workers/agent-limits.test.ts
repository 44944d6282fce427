/**
 * What agents send beyond the old limits: tool names up to 128 characters
 * (Claude Code's MCP tools, `mcp__<server>__<tool>`), shortened losslessly for
 * an upstream whose documented limit is 64 (OpenAI) and answered under the
 * caller's name; and `max_tokens` up to 128 000 (Claude Code asks for 32 000 to
 * 64 000).
 */
import { exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { createTenant, fakes, openaiClient, openaiModel, registerModel, uniqueId } from "./helpers";

const OLLAMA = inject("ollamaUrl");
const LONG = `mcp__claude-code-project-server__${"read_the_repository_file_with_a_long_name_".repeat(2)}end`; // 120 characters
const tool = (name: string) => ({
  type: "function" as const,
  function: { name, parameters: { type: "object", properties: { path: { type: "string" } } } },
});

async function post(key: string, path: string, body: Record<string, unknown>) {
  return exports.default.fetch(
    new Request(`http://gateway.test${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01" },
      body: JSON.stringify(body),
    }),
  );
}

describe("tool names up to 128 characters", () => {
  it("an OpenAI-style upstream gets a long name shortened to 64; the caller gets its calls under its own name, streamed and not", async () => {
    expect(LONG.length).toBeGreaterThan(64);
    expect(LONG.length).toBeLessThanOrEqual(128);
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("long-names");
    await registerModel(tenant, { ...openaiModel("gpt", up), features: ["tools"] });
    const client = openaiClient(tenant.userKey);
    const history = [
      { role: "user" as const, content: "read it" },
      { role: "assistant" as const, content: null, tool_calls: [{ id: "c1", type: "function" as const, function: { name: LONG, arguments: "{}" } }] },
      { role: "tool" as const, tool_call_id: "c1", content: "done" },
      { role: "user" as const, content: "again" },
    ];
    const answered = await client.chat.completions.create({ model: "gpt", messages: history, tools: [tool(LONG), tool("short_one")] });
    expect(answered.choices[0]!.message.tool_calls?.[0]).toMatchObject({ function: { name: LONG } });

    const stream = await client.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "x" }],
      tools: [tool(LONG)],
      stream: true,
    });
    const names: string[] = [];
    for await (const chunk of stream)
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) if (call.function?.name) names.push(call.function.name);
    expect(names).toEqual([LONG]);

    const sent = (await fakes.openai.requests(up)).filter((r) => r.path === "/v1/chat/completions").map((r) => r.body);
    const sentNames = (sent[0]!.tools as { function: { name: string } }[]).map((t) => t.function.name);
    expect(sentNames[0]).toHaveLength(64);
    expect(sentNames[0]).toMatch(new RegExp(`^${LONG.slice(0, 55)}_[0-9a-f]{8}$`));
    expect(sentNames[1]).toBe("short_one");
    // The earlier call in the conversation goes under the same short name, and the same name every time.
    const earlier = (sent[0]!.messages as { tool_calls?: { function: { name: string } }[] }[]).find((m) => m.tool_calls);
    expect(earlier!.tool_calls![0]!.function.name).toBe(sentNames[0]);
    expect((sent[1]!.tools as { function: { name: string } }[])[0]!.function.name).toBe(sentNames[0]);
  });

  it("Ollama (no documented limit) gets the name as it is; over 128 characters is a 400 naming the field", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const local = uniqueId("llama-names");
    await fakes.ollama.control("pull", { model: local });
    await registerModel(tenant, {
      id: "local",
      name: "local",
      backend_type: "ollama",
      config: { base_url: OLLAMA, model_name: local },
      features: ["tools"],
    });
    const client = openaiClient(tenant.userKey);
    const answered = await client.chat.completions.create({ model: "local", messages: [{ role: "user", content: "x" }], tools: [tool(LONG)] });
    expect(answered.choices[0]!.message.tool_calls?.[0]).toMatchObject({ function: { name: LONG } });
    const [sent] = (await fakes.ollama.requests(local)).filter((r) => r.path === "/api/chat");
    expect((sent!.body.tools as { function: { name: string } }[])[0]!.function.name).toBe(LONG);

    const tooLong = await client.chat.completions
      .create({ model: "local", messages: [{ role: "user", content: "x" }], tools: [tool("a".repeat(129))] })
      .catch((error: { status: number; message: string }) => error);
    expect(tooLong).toMatchObject({ status: 400 });
    expect((tooLong as { message: string }).message).toContain("tools");
    expect((tooLong as { message: string }).message).toContain("1-128");
  });
});

describe("max_tokens up to 128 000", () => {
  it("Claude Code's 64 000 is sent on; above 128 000 is a 400 naming max_tokens", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("big-out");
    await registerModel(tenant, openaiModel("gpt", up));
    const ok = await post(tenant.userKey, "/v1/messages", { model: "gpt", max_tokens: 64_000, messages: [{ role: "user", content: "hi" }] });
    expect(ok.status).toBe(200);
    const [sent] = (await fakes.openai.requests(up)).filter((r) => r.path === "/v1/chat/completions");
    expect(sent!.body.max_tokens).toBe(64_000);

    const over = await post(tenant.userKey, "/v1/messages", { model: "gpt", max_tokens: 128_001, messages: [{ role: "user", content: "hi" }] });
    expect(over.status).toBe(400);
    expect(await over.text()).toContain("max_tokens");
  });
});
