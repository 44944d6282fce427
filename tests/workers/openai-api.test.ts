/** The /v1 OpenAI-compatible API, driven by the official `openai` client. */
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { api, CANARY, createTenant, fakes, openaiModel, registerModel, uniqueId, openaiClient } from "./helpers";

async function setup() {
  const tenant = await createTenant({ grantCanary: true });
  const up = uniqueId("v1");
  await registerModel(tenant, openaiModel("gpt", up));
  await registerModel(tenant, { ...openaiModel("vec", "fake-embed"), capabilities: ["embedding"] });
  return { tenant, up, openai: openaiClient(tenant.userKey) };
}

describe("/v1 with the openai client", () => {
  it("lists the tenant's models", async () => {
    const { openai } = await setup();
    const models = [];
    for await (const m of openai.models.list()) models.push(m.id);
    expect(models.sort()).toEqual(["gpt", "vec"]);
  });

  it("creates a chat completion", async () => {
    const { openai, up } = await setup();
    const res = await openai.chat.completions.create({
      model: "gpt",
      messages: [
        { role: "developer", content: "be brief" },
        {
          role: "user",
          content: [
            { type: "text", text: "hello " },
            { type: "text", text: "world" },
          ],
        },
      ],
      max_completion_tokens: 20,
      stop: ["END"],
    });
    expect(res.object).toBe("chat.completion");
    expect(res.model).toBe("gpt");
    expect(res.choices[0]?.message).toMatchObject({ role: "assistant", content: "echo: hello world" });
    expect(res.choices[0]?.finish_reason).toBe("stop");
    expect(res.usage?.completion_tokens).toBe(3);
    const [sent] = await fakes.openai.requests(up);
    expect(sent?.body).toMatchObject({
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello world" },
      ],
      max_tokens: 20,
      stop: ["END"],
    });
  });

  it("streams a chat completion as SSE chunks, with usage when asked", async () => {
    const { openai } = await setup();
    const stream = await openai.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "one two three" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe("echo: one two three");
    expect(chunks).toBeGreaterThan(4);
    expect(finish).toBe("stop");
    expect(usage?.completion_tokens).toBe(4);
  });

  it("a stream broken mid-way raises an error in the client after the text so far", async () => {
    const { openai, up } = await setup();
    await fakes.openai.script(up, [{ kind: "break_stream", afterChunks: 2 }]);
    const stream = await openai.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "a b c d" }], stream: true });
    let text = "";
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      })(),
    ).rejects.toThrow(/broke off|ended the stream/);
    expect(text).toBe("echo: a ");
  });

  it("creates completions, streamed and not", async () => {
    const { openai } = await setup();
    const res = await openai.completions.create({ model: "gpt", prompt: "once upon", max_tokens: 50 });
    expect(res.choices[0]).toMatchObject({ text: "once upon …continued", finish_reason: "stop" });
    const stream = await openai.completions.create({ model: "gpt", prompt: "a b", stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe("a b …continued");
  });

  it("creates embeddings, as floats and as base64", async () => {
    const { openai } = await setup();
    const res = await openai.embeddings.create({ model: "vec", input: ["a", "b"], encoding_format: "float" });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]?.embedding).toHaveLength(8);
    // The SDK asks for base64 by default and decodes it: the vectors must survive the round trip.
    const decoded = await openai.embeddings.create({ model: "vec", input: ["a", "b"] });
    expect(decoded.data[0]?.embedding).toHaveLength(8);
    decoded.data[0]!.embedding.forEach((x, i) => expect(x).toBeCloseTo(res.data[0]!.embedding[i]!, 5));
  });

  it("errors arrive in OpenAI's shape, with the right status, before any upstream call", async () => {
    const { openai, tenant, up } = await setup();
    await expect(openai.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({
      status: 404,
      error: { type: "not_found", message: 'Model "nope" not found. Models of this tenant: "gpt", "vec".' },
    });
    await expect(openai.embeddings.create({ model: "gpt", input: "x" })).rejects.toMatchObject({ status: 422 });
    await expect(openai.chat.completions.create({ model: "gpt", messages: [{ role: "function", content: "x", name: "f" }] })).rejects.toMatchObject({
      status: 400,
      error: { message: expect.stringMatching(/messages\.0\.role: role must be system, developer, user, assistant or tool/) },
    });
    await expect(openaiClient("mgw_nope_bad").models.list()).rejects.toMatchObject({ status: 401 });
    expect(await fakes.openai.requests(up)).toEqual([]);
    const raw = await api("POST", "/v1/chat/completions", { token: tenant.userKey, raw: "{oops" });
    expect(raw.status).toBe(400);
    expect(raw.body).toMatchObject({ error: { type: "invalid_request", message: expect.stringMatching(/not valid JSON/) } });
  });

  it("an upstream failure before the stream starts is an HTTP error, and never shows the secret", async () => {
    const { openai, up } = await setup();
    await fakes.openai.script(up, [{ kind: "echo_auth", status: 401 }]);
    const failure = await openai.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "x" }], stream: true }).then(
      () => null,
      (e: unknown) => e as { status: number; message: string },
    );
    expect(failure?.status).toBe(502);
    expect(failure?.message).toContain("[redacted]");
    expect(failure?.message).not.toContain(CANARY);
  });
});
