/**
 * The MCP tools (and resources) of one tenant registry and role, defined once
 * and installed on every request's McpServer until the registry changes,
 * instead of defined again on every request.
 *
 * The SDK needs a fresh McpServer per request, so each request still installs
 * its tools, but from a recorded set: the tool files run once per tenant
 * snapshot and role (their zod schemas, descriptions that list the tenant's
 * models, resource templates), and each tool's schemas carry their JSON Schema
 * converted once per schema object and isolate (the SDK converts a tool's
 * schemas on every `tools/list`, and the called tool's on every `tools/call`;
 * schemas that are module constants, like the inference tools', are converted
 * once for every tenant and registry version). Validation is still zod's, on
 * every call.
 *
 * The tool files see the registry and role they are recorded for (to write
 * descriptions), never a request: each handler acts for the request being
 * served, whose scope the SDK hands it in `ctx.http.authInfo` (result.ts
 * `guarded`), never for the one that happened to record the set.
 *
 * Sets hang off the tenant snapshot object (a WeakMap): it is replaced on every
 * reload or write, so a set never outlives the registry it describes, and one
 * tenant's set is never reachable from another's.
 */
import type { McpServer, StandardSchemaWithJSON } from "@modelcontextprotocol/server";
import type { Role } from "../tenants/keys";
import type { TenantSnapshot } from "../tenants/shapes";

/** What the tool files register on: the two McpServer methods they use. */
export type ToolRegistrar = Pick<McpServer, "registerTool" | "registerResource">;

/** What a set of tools is recorded for: a tenant registry and a role. */
export interface ToolSet {
  snapshot: TenantSnapshot;
  role: Role;
}

/** Registrations as recorded: a method of McpServer and its arguments, replayed as they were. */
type Recorded = { method: "registerTool" | "registerResource"; args: unknown[] }[];

const bySnapshot = new WeakMap<TenantSnapshot, Partial<Record<Role, Recorded>>>();
/**
 * Install this snapshot and role's tools on `server`, recording them first if
 * no request has yet (`define` registers them). `onlyTool`: the request is a
 * `tools/call` of that name, which needs no other tool and no resource.
 */
export function installTools(
  server: McpServer,
  { snapshot, role }: ToolSet,
  define: (registrar: ToolRegistrar, set: ToolSet) => void,
  onlyTool?: string,
): void {
  let roles = bySnapshot.get(snapshot);
  if (!roles) bySnapshot.set(snapshot, (roles = {}));
  let recorded = roles[role];
  if (!recorded) {
    const list: Recorded = [];
    const record =
      (method: Recorded[number]["method"]) =>
      (...args: unknown[]) => {
        if (method === "registerTool") {
          const [name, config, callback] = args as [string, Record<string, unknown>, unknown];
          args = [name, { ...config, inputSchema: withJsonOnce(config.inputSchema), outputSchema: withJsonOnce(config.outputSchema) }, callback];
        }
        list.push({ method, args });
      };
    // The SDK's overloads type each call from its own schemas; recording keeps the arguments as they are.
    define({ registerTool: record("registerTool"), registerResource: record("registerResource") } as unknown as ToolRegistrar, { snapshot, role });
    recorded = roles[role] = list;
  }
  // A name the set lacks installs everything, so the SDK answers it as it answers any unknown tool.
  const only = onlyTool !== undefined && recorded.some((r) => r.method === "registerTool" && r.args[0] === onlyTool) ? onlyTool : undefined;
  for (const { method, args } of recorded) {
    if (only !== undefined && (method !== "registerTool" || args[0] !== only)) continue;
    (server[method] as (...args: unknown[]) => unknown).apply(server, args);
  }
}

type ConversionOptions = Parameters<StandardSchemaWithJSON["~standard"]["jsonSchema"]["input"]>[0];

function isStandardJson(schema: unknown): schema is StandardSchemaWithJSON {
  return typeof schema === "object" && schema !== null && "~standard" in schema;
}

/** Each schema's stand-in, made once: a schema object never changes, so neither does its JSON Schema. */
const standIns = new WeakMap<StandardSchemaWithJSON, StandardSchemaWithJSON>();

/**
 * The same schema (same validation), whose JSON Schema conversion runs once per
 * target and io. The SDK builds new objects around what it gets and never
 * changes it, so every request is handed the same converted object.
 */
function withJsonOnce(schema: unknown): unknown {
  if (!isStandardJson(schema)) return schema;
  let standIn = standIns.get(schema);
  if (!standIn) standIns.set(schema, (standIn = jsonOnce(schema)));
  return standIn;
}

function jsonOnce(schema: StandardSchemaWithJSON): StandardSchemaWithJSON {
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
