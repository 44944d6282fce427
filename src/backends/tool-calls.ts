/**
 * Tool calls, written once for every backend: ids for upstreams that give
 * none, and arguments between OpenAI's JSON text and the objects Ollama,
 * Workers AI and MCP use.
 */
import type { ToolCall } from "./types";

/** An id in OpenAI's style, for a call whose upstream gave it none. */
export function newCallId(): string {
  return `call_${crypto.randomUUID().replace(/-/g, "").slice(0, 24)}`;
}

/** Arguments as the object they encode; undefined when the model wrote something that is not a JSON object. */
export function argumentsObject(text: string): Record<string, unknown> | undefined {
  if (text.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Arguments an upstream gave as an object (or as a string already) in OpenAI's JSON-text form. */
export function argumentsText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value ?? {});
}

/** The name of the function a tool message answers, found from its call id in the assistant messages before it. */
export function callNames(messages: readonly { role: string; tool_calls?: ToolCall[] }[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const m of messages) for (const call of m.tool_calls ?? []) names.set(call.id, call.name);
  return names;
}
