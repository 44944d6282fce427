/**
 * Model aliases: other names a client may use for a model (an agent's default
 * model names), unique in the tenant across ids and aliases, registered and
 * changed over the admin API and MCP, listed, and resolved wherever a model id
 * is taken, with results and usage naming the model's real id.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, callTool, createTenant, fakes, openaiClient, openaiModel, registerModel, uniqueId } from "./helpers";

/** POST a /v1 route with fetch, for the raw answer. */
async function post(key: string, path: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return exports.default.fetch(
    new Request(`http://gateway.test${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
      body: JSON.stringify(body),
    }),
  );
}

describe("model aliases", () => {
  it("registers aliases, lists them everywhere, and answers every wire format by alias naming the real id", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const up = uniqueId("alias");
    const registered = await registerModel(tenant, {
      ...openaiModel("gpt", up),
      aliases: ["gpt-5-codex", "claude-sonnet-4-5", "llama3.2:latest"],
      features: ["tools"],
    });
    expect(registered).toMatchObject({ id: "gpt", aliases: ["gpt-5-codex", "claude-sonnet-4-5", "llama3.2:latest"] });

    const listed = await api<{ models: { id: string; aliases: string[] }[] }>("GET", "/api/v1/models", { token: tenant.userKey });
    expect(listed.body.models).toEqual([expect.objectContaining({ id: "gpt", aliases: ["gpt-5-codex", "claude-sonnet-4-5", "llama3.2:latest"] })]);
    const v1 = await api<{ data: { id: string; aliases: string[] }[] }>("GET", "/v1/models", { token: tenant.userKey });
    expect(v1.body.data).toEqual([expect.objectContaining({ id: "gpt", aliases: ["gpt-5-codex", "claude-sonnet-4-5", "llama3.2:latest"] })]);
    const mcpList = await callTool(tenant.userKey, "list_models", {});
    expect(mcpList.tool.structuredContent).toMatchObject({
      models: [{ id: "gpt", aliases: ["gpt-5-codex", "claude-sonnet-4-5", "llama3.2:latest"] }],
    });

    // Chat completions, streamed and not: the answer names the model's id, not the alias asked for.
    const openai = openaiClient(tenant.userKey);
    const chat = await openai.chat.completions.create({ model: "gpt-5-codex", messages: [{ role: "user", content: "hi" }] });
    expect(chat.model).toBe("gpt");
    const chunks = await openai.chat.completions.create({ model: "llama3.2:latest", messages: [{ role: "user", content: "hi" }], stream: true });
    const models = new Set<string>();
    for await (const chunk of chunks) models.add(chunk.model);
    expect([...models]).toEqual(["gpt"]);
    const completion = await openai.completions.create({ model: "gpt-5-codex", prompt: "Once" });
    expect(completion.model).toBe("gpt");

    // Responses and Messages, by alias.
    const response = await openai.responses.create({ model: "gpt-5-codex", input: "hi", store: false });
    expect(response.model).toBe("gpt");
    const message = await post(tenant.userKey, "/v1/messages", {
      model: "claude-sonnet-4-5",
      max_tokens: 50,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(message.status).toBe(200);
    expect(await message.json()).toMatchObject({ model: "gpt" });

    // MCP tools take an alias wherever they take a model id.
    const mcpChat = await callTool(tenant.userKey, "chat", { model_id: "llama3.2:latest", messages: [{ role: "user", content: "hi" }] });
    expect(mcpChat.tool.isError).toBeFalsy();
    expect(mcpChat.tool.structuredContent).toMatchObject({ model_id: "gpt" });
    const route = await callTool(tenant.userKey, "explain_route", { model_id: "claude-sonnet-4-5", capability: "chat" });
    expect(route.tool.isError).toBeFalsy();

    // What the upstream got is the model's own upstream name; usage is under the model's id.
    const sent = (await fakes.openai.requests(up)).filter((r) => r.path !== "/v1/models");
    expect(sent.length).toBe(6);
    expect(new Set(sent.map((r) => r.body.model))).toEqual(new Set([up]));
    const report = await api<{ totals: { requests: number }; groups: { model_id: string }[] }>("GET", "/api/v1/usage?group_by=model", {
      token: tenant.adminKey,
    });
    expect(report.body.groups.map((g) => g.model_id)).toEqual(["gpt"]);
    expect(report.body.totals.requests).toBe(6);
  });

  it("refuses a name another model holds with a 409 naming that model, and bad syntax with a 400 naming the field; nothing is stored", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, { ...openaiModel("first"), aliases: ["gpt-5-codex"] });

    const taken = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: { ...openaiModel("second"), aliases: ["gpt-5-codex"] } });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ error: { message: '"gpt-5-codex" is already an alias of model "first"; a name is unique in the tenant.' } });
    // An id that is another model's alias clashes too, and an alias that is another model's id.
    const idTaken = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("gpt-5-codex") });
    expect(idTaken.status).toBe(409);
    expect(idTaken.text).toContain("first");
    const aliasIsId = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: { ...openaiModel("third"), aliases: ["first"] } });
    expect(aliasIsId.status).toBe(409);
    expect(aliasIsId.text).toContain("is already id of model");

    const badSyntax = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: { ...openaiModel("fourth"), aliases: ["Claude Sonnet"] } });
    expect(badSyntax.status).toBe(400);
    expect(badSyntax.text).toContain("aliases");
    const own = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: { ...openaiModel("fifth"), aliases: ["fifth"] } });
    expect(own.status).toBe(400);
    expect(own.text).toContain("aliases");

    const ids = (await api<{ models: { id: string }[] }>("GET", "/api/v1/models", { token: tenant.adminKey })).body.models.map((m) => m.id);
    expect(ids).toEqual(["first"]);

    // Updating: MCP's update tool moves an alias once its holder let it go; until then it is a conflict.
    await registerModel(tenant, openaiModel("second"));
    const clash = await callTool(tenant.adminKey, "update_model", { model_id: "second", aliases: ["gpt-5-codex"] });
    expect(clash.tool.isError).toBe(true);
    expect(clash.tool.content[0]!.text).toContain('model "first"');
    await callTool(tenant.adminKey, "update_model", { model_id: "first", aliases: [] });
    const moved = await callTool(tenant.adminKey, "update_model", { model_id: "second", aliases: ["gpt-5-codex"] });
    expect(moved.tool.isError).toBeFalsy();
    expect(moved.tool.structuredContent).toMatchObject({ id: "second", aliases: ["gpt-5-codex"] });
    const answered = await openaiClient(tenant.userKey).chat.completions.create({
      model: "gpt-5-codex",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(answered.model).toBe("second");
  });

  it("two registrations racing for one alias: exactly one wins", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const results = await Promise.all(
      ["a", "b", "c"].map((id) => api("POST", "/api/v1/models", { token: tenant.adminKey, body: { ...openaiModel(id), aliases: ["shared"] } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409]);
  });

  it("an unknown alias is the same not-found as an unknown id, listing only ids", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const other = await createTenant({ grantCanary: true });
    await registerModel(other, { ...openaiModel("theirs"), aliases: ["secret-alias"] });
    await registerModel(tenant, openaiModel("mine"));
    const res = await post(tenant.userKey, "/v1/chat/completions", { model: "secret-alias", messages: [{ role: "user", content: "hi" }] });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('Model \\"secret-alias\\" not found. Models of this tenant: \\"mine\\"');
  });
});
