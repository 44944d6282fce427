/**
 * The MCP tool definitions (title, description, input and output schemas,
 * annotations) of one tenant registry and role, built once and reused by every
 * request until the registry changes, instead of once per request.
 *
 * The SDK needs a fresh McpServer per request, and the tools' callbacks belong
 * to the request (they act for the caller's key), so each request still
 * registers its tools; but it registers them through `registrar()`, which hands
 * the server the definition this tenant's snapshot and role already have, and
 * whose schemas carry their JSON Schema converted once (the SDK converts a
 * tool's schemas on every `tools/list`, and the called tool's on every
 * `tools/call`). Validation is still zod's, on every call.
 *
 * Definitions hang off the tenant snapshot object (a WeakMap): it is replaced on
 * every reload or write, so tool descriptions that list the tenant's models never
 * go stale, and one tenant's definitions are never seen by another.
 */
import type { McpServer, StandardSchemaWithJSON } from "@modelcontextprotocol/server";
import type { Role } from "../tenants/keys";
import type { TenantSnapshot } from "../tenants/stub";

/** What the tool files register on: the two McpServer methods they use. */
export type ToolRegistrar = Pick<McpServer, "registerTool" | "registerResource">;

interface ToolDefinition {
  inputSchema?: unknown;
  outputSchema?: unknown;
}

type Definitions = Map<string, ToolDefinition>;
type ConversionOptions = Parameters<StandardSchemaWithJSON["~standard"]["jsonSchema"]["input"]>[0];

const bySnapshot = new WeakMap<TenantSnapshot, Partial<Record<Role, Definitions>>>();

/** The definitions of this snapshot and role, filled by the first request that registers them. */
export function definitionsFor(snapshot: TenantSnapshot, role: Role): Definitions {
  let roles = bySnapshot.get(snapshot);
  if (!roles) bySnapshot.set(snapshot, (roles = {}));
  return (roles[role] ??= new Map());
}

/**
 * A registrar for `server` that registers the cached definition of each tool
 * (the first registration of a name defines it) with this request's callback.
 */
export function registrar(server: McpServer, definitions: Definitions): ToolRegistrar {
  const registerTool = (name: string, definition: ToolDefinition, callback: unknown) => {
    let cached = definitions.get(name);
    if (!cached) {
      cached = { ...definition, inputSchema: withJsonOnce(definition.inputSchema), outputSchema: withJsonOnce(definition.outputSchema) };
      definitions.set(name, cached);
    }
    // The SDK's overloads type each call site from its own schemas; the definition is the same one, typed loosely here.
    return server.registerTool(name, cached as never, callback as never);
  };
  return { registerTool: registerTool as ToolRegistrar["registerTool"], registerResource: server.registerResource.bind(server) };
}

function isStandardJson(schema: unknown): schema is StandardSchemaWithJSON {
  return typeof schema === "object" && schema !== null && "~standard" in schema;
}

/** The same schema (same validation), whose JSON Schema conversion runs once per target and io. */
function withJsonOnce(schema: unknown): unknown {
  if (!isStandardJson(schema)) return schema;
  const standard = schema["~standard"];
  const converted = new Map<string, Record<string, unknown>>();
  const once =
    (io: "input" | "output") =>
    (options: ConversionOptions): Record<string, unknown> => {
      const key = `${io} ${options.target}`;
      let json = converted.get(key);
      if (!json) converted.set(key, (json = standard.jsonSchema[io](options)));
      return json;
    };
  return { "~standard": { ...standard, jsonSchema: { input: once("input"), output: once("output") } } } satisfies StandardSchemaWithJSON;
}
