/**
 * Every tool of every role, called through a real MCP client: each result's
 * structuredContent validates against the outputSchema the tool declared in
 * tools/list (with a JSON Schema validator of its own, not the server's zod),
 * and each error result carries the one error shape.
 */
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/client/validators/cf-worker";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { ToolErrorContent } from "../../src/mcp/advice";
import { createTenant, openaiModel, registerModel } from "./helpers";
import { connectClient } from "./mcp-client";

/** One valid call of each tool (the tenant below has these models). */
const CALLS: Record<string, Record<string, unknown>> = {
  list_models: {},
  get_model: { model_id: "chatty" },
  check_health: { model_id: "chatty" },
  explain_route: { model_id: "chatty", capability: "chat", features: ["tools"] },
  get_usage: { group_by: "day" },
  chat: { model_id: "chatty", messages: [{ role: "user", content: "hello" }] },
  complete: { model_id: "chatty", prompt: "once upon" },
  embed: { model_id: "vectors", input: ["a", "b"] },
  classify: { model_id: "sorter", text: "I love it" },
  register_model: openaiModel("added"),
  update_model: { model_id: "added", name: "Renamed" },
  set_maintenance: { model_id: "added", maintenance: true },
  remove_model: { model_id: "added" },
  set_telemetry_export: {},
};

const validator = new CfWorkerJsonSchemaValidator();

describe("MCP output schemas", () => {
  it("every tool of every role returns structuredContent that validates against its declared outputSchema", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, { ...openaiModel("chatty"), capabilities: ["chat", "completion"] });
    await registerModel(tenant, { ...openaiModel("vectors", "fake-embed"), capabilities: ["embedding"] });
    await registerModel(tenant, {
      id: "sorter",
      name: "Sorter",
      backend_type: "huggingface",
      config: { model_name: `distilbert/sst-${Date.now()}`, api_key: "${UPSTREAM_KEY}", base_url: inject("hfUrl"), timeout: 5 },
    });

    for (const [key, count] of [
      [tenant.userKey, 9],
      [tenant.adminKey, 14],
    ] as const) {
      const client = await connectClient(key);
      const { tools } = await client.listTools();
      expect(tools.every((t) => t.name in CALLS)).toBe(true);
      expect(tools).toHaveLength(count);
      // In CALLS order: the admin tools register, change and remove one model.
      for (const [name, args] of Object.entries(CALLS)) {
        const tool = tools.find((t) => t.name === name);
        if (!tool) continue; // not offered to this role
        expect(tool.outputSchema, `${tool.name} declares an outputSchema`).toBeDefined();
        const result = await client.callTool({ name: tool.name, arguments: args });
        expect(result.isError, `${tool.name}: ${JSON.stringify(result.content)}`).toBeFalsy();
        const check = validator.getValidator(tool.outputSchema as never)(result.structuredContent);
        expect(check, `${tool.name}: ${JSON.stringify(result.structuredContent).slice(0, 500)}`).toMatchObject({ valid: true });
      }
      await client.close();
    }
  });

  it("an error result carries { error: { code, message } } in structuredContent, next to the same text", async () => {
    const tenant = await createTenant();
    const client = await connectClient(tenant.userKey);
    const result = await client.callTool({ name: "chat", arguments: { model_id: "nowhere", messages: [{ role: "user", content: "hi" }] } });
    expect(result.isError).toBe(true);
    const parsed = ToolErrorContent.parse(result.structuredContent);
    expect(parsed.error.code).toBe("not_found");
    expect((result.content as { text: string }[])[0]!.text).toContain(parsed.error.message);
    await client.close();
  });
});
