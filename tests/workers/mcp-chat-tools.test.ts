/**
 * The MCP `chat` tool with tools, tool results, structured output and images:
 * tool_calls come back with arguments as objects and `json` parsed, both
 * declared in the tool's outputSchema; progress streaming still sends text.
 */
import { describe, expect, it } from "vitest";
import { callTool, createTenant, openaiModel, registerModel, rpc, fakes, uniqueId } from "./helpers";

const WEATHER = {
  type: "function",
  function: { name: "get_weather", description: "The weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
};

async function setup() {
  const tenant = await createTenant({ grantCanary: true });
  const up = uniqueId("mcp-tools");
  await registerModel(tenant, { ...openaiModel("gpt", up), features: ["tools", "vision", "json_schema"] });
  return {
    tenant,
    up,
    chat: (args: Record<string, unknown>, meta?: Record<string, unknown>) => callTool(tenant.userKey, "chat", { model_id: "gpt", ...args }, meta),
  };
}

describe("MCP chat with tools", () => {
  it("declares tool_calls and json in its outputSchema, and tools, tool_choice, response_format in its input", async () => {
    const { tenant } = await setup();
    const listed = await rpc(tenant.userKey, "tools/list");
    const chat = (listed.result?.tools as { name: string; inputSchema: { properties: object }; outputSchema: { properties: object } }[]).find(
      (t) => t.name === "chat",
    )!;
    expect(Object.keys(chat.inputSchema.properties)).toEqual(
      expect.arrayContaining(["tools", "tool_choice", "response_format", "parallel_tool_calls"]),
    );
    expect(Object.keys(chat.outputSchema.properties)).toEqual(expect.arrayContaining(["tool_calls", "json", "text", "finish_reason"]));
  });

  it("the agent loop: tool call with arguments as an object, the result sent back as a tool message, the final answer", async () => {
    const { chat, up } = await setup();
    const first = await chat({ messages: [{ role: "user", content: "Paris" }], tools: [WEATHER], tool_choice: "auto" });
    expect(first.tool.isError).toBeUndefined();
    expect(first.tool.structuredContent).toMatchObject({
      finish_reason: "tool_calls",
      tool_calls: [{ id: "call_fake_0", name: "get_weather", arguments: { city: "Paris" } }],
    });
    expect(first.tool.content[0]!.text).toContain('get_weather({"city":"Paris"})');
    const second = await chat({
      messages: [
        { role: "user", content: "Paris" },
        { role: "assistant", content: "", tool_calls: [{ id: "call_fake_0", name: "get_weather", arguments: { city: "Paris" } }] },
        { role: "tool", tool_call_id: "call_fake_0", content: "sunny" },
      ],
      tools: [WEATHER],
    });
    expect(second.tool.structuredContent).toMatchObject({ text: "tool said: sunny", finish_reason: "stop" });
    const [, sent] = await fakes.openai.requests<{ messages: unknown[] }>(up);
    expect(sent!.body.messages[1]).toEqual({
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_fake_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
    });
  });

  it("with a progressToken, tool calls arrive whole in the result while text still streams as progress", async () => {
    const { chat } = await setup();
    const calls = await chat({ messages: [{ role: "user", content: "Rome" }], tools: [WEATHER] }, { progressToken: "p1" });
    expect(calls.tool.structuredContent).toMatchObject({
      finish_reason: "tool_calls",
      tool_calls: [{ name: "get_weather", arguments: { city: "Rome" } }],
    });
    const text = await chat(
      { messages: [{ role: "user", content: "one two three" }], tools: [WEATHER], tool_choice: "none" },
      { progressToken: "p2" },
    );
    const pieces = text.messages.filter((m) => m.method === "notifications/progress").map((m) => (m.params as { message: string }).message);
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.join("")).toBe("echo: one two three");
  });

  it("response_format gives json (the parsed object); image parts are passed on", async () => {
    const { chat, up } = await setup();
    const res = await chat({
      messages: [{ role: "user", content: "Bern" }],
      response_format: { type: "json_schema", json_schema: { name: "c", schema: { type: "object", properties: { name: { type: "string" } } } } },
    });
    expect(res.tool.structuredContent).toMatchObject({ json: { name: "Bern" }, text: '{"name":"Bern"}' });
    const image = await chat({
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "look" },
            { type: "image_url", image_url: { url: "https://images.example.com/a.png" } },
          ],
        },
      ],
    });
    expect(image.tool.structuredContent).toMatchObject({ text: "echo: look [1 image(s)]" });
    const [, sent] = await fakes.openai.requests<{ messages: unknown[] }>(up);
    expect(sent!.body.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "look" },
          { type: "image_url", image_url: { url: "https://images.example.com/a.png" } },
        ],
      },
    ]);
  });

  it("a model without the feature is a tool error naming it; bad tool shapes are invalid params", async () => {
    const { tenant } = await setup();
    await registerModel(tenant, { ...openaiModel("plain", uniqueId("plain")), features: [] });
    const res = await callTool(tenant.userKey, "chat", { model_id: "plain", messages: [{ role: "user", content: "x" }], tools: [WEATHER] });
    expect(res.tool.isError).toBe(true);
    expect(res.tool.content[0]!.text).toMatch(/Model "plain" lacks the tools feature, which tools needs.*\[unsupported_feature\]/);
    const bad = await rpc(tenant.userKey, "tools/call", {
      name: "chat",
      arguments: { model_id: "gpt", messages: [{ role: "user", content: "x" }], tool_choice: "sometimes" },
    });
    expect(JSON.stringify(bad.error ?? bad.result)).toMatch(/tool_choice/);
  });
});
