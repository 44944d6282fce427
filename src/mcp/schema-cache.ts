/**
 * The MCP server is built per request (stateless), and the SDK turns a tool's
 * zod schemas into JSON Schema on every `tools/call` (to check `Mcp-Param-*`
 * headers and to project the result). The schemas are module constants, so
 * their JSON Schema is made once per isolate here and handed out as copies (the
 * SDK may add to what it gets): a call pays a clone, not a conversion.
 */
import type { z } from "zod";

type Io = "input" | "output";
interface JsonSchemaProps {
  input(options?: unknown): unknown;
  output(options?: unknown): unknown;
}
type StandardWithJson = Record<string, unknown> & { jsonSchema?: JsonSchemaProps };

const done = new WeakSet<object>();

export function cachedJsonSchema<T extends z.ZodType>(schema: T): T {
  if (done.has(schema)) return schema;
  done.add(schema);
  const standard = schema["~standard"] as unknown as StandardWithJson;
  const convert = standard.jsonSchema;
  if (!convert) return schema;
  const made = new Map<string, unknown>();
  const memo = (io: Io) => (options?: unknown) => {
    const key = `${io} ${JSON.stringify(options ?? null)}`;
    if (!made.has(key)) made.set(key, convert[io](options));
    return structuredClone(made.get(key));
  };
  (schema as unknown as { "~standard": StandardWithJson })["~standard"] = {
    ...standard,
    jsonSchema: { input: memo("input"), output: memo("output") },
  };
  return schema;
}
