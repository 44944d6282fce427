/**
 * What the fake chat upstreams answer, decided once for all of them from the
 * request in OpenAI's terms (each fake reads its own wire format into these):
 *   - the user's text holds `[call <tool> <JSON object>]` and that tool is offered:
 *     the model calls it with those arguments (how an agent is driven end to end);
 *   - tools offered (and tool_choice not "none"), last message not a tool result:
 *     the model calls the tool named by tool_choice, or every tool when the user
 *     says "parallel" (unless parallel_tool_calls is false), or else the first;
 *     each string argument is the user's text, numbers 42, booleans true;
 *   - last message a tool result: "tool said: <results, joined by ' | '>";
 *   - "Count from 1 to N…" (the capability probe's prefill request): the numbers;
 *   - JSON asked for (json_object, or a schema): a JSON object; for a schema,
 *     its properties filled as above; for json_object {"echo": <user text>};
 *   - otherwise "<prefix><user text>", plus " [N image(s)]" when the last user
 *     message carried images;
 *   - the conversation ends in an assistant message with text (a prefill): the
 *     answer above, from where that text ends.
 */
export interface FakeToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export interface FakeChat {
  messages: { role: string; content?: unknown }[];
  tools?: { name: string; parameters?: JsonSchema }[];
  toolChoice?: unknown;
  parallel?: boolean;
  /** "json" for JSON mode without a schema, or the schema. */
  json?: "json" | JsonSchema;
  /** Images seen in the last user message. */
  images?: number;
}

interface JsonSchema {
  properties?: Record<string, { type?: string }>;
}

export interface FakeReply {
  text: string;
  json?: boolean;
  toolCalls?: FakeToolCall[];
}

export function userText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p: { type?: string; text?: string }) => (p.type === "text" ? (p.text ?? "") : "")).join("");
  return "";
}

function fill(schema: JsonSchema | undefined, text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    out[key] = prop.type === "number" || prop.type === "integer" ? 42 : prop.type === "boolean" ? true : text;
  }
  return out;
}

export function reply(chat: FakeChat, prefix: string): FakeReply {
  const last = chat.messages.at(-1);
  // A prefill: the answer to the conversation before it, from where the prefill ends (as a model that continues it does).
  if (last?.role === "assistant" && !("tool_calls" in last) && userText(last.content)) {
    const prefill = userText(last.content);
    const whole = reply({ ...chat, messages: chat.messages.slice(0, -1) }, prefix);
    return { ...whole, text: whole.text.startsWith(prefill) ? whole.text.slice(prefill.length) : whole.text };
  }
  const user = userText([...chat.messages].reverse().find((m) => m.role === "user")?.content);
  if (last?.role === "tool") {
    const results: string[] = [];
    for (let i = chat.messages.length - 1; i >= 0 && chat.messages[i]!.role === "tool"; i--) results.unshift(userText(chat.messages[i]!.content));
    return { text: `tool said: ${results.join(" | ")}` };
  }
  const tools = chat.tools ?? [];
  const scripted = /\[call ([A-Za-z0-9_-]+) (\{.*?\})\]/.exec(user);
  if (scripted && tools.some((t) => t.name === scripted[1])) {
    return { text: "", toolCalls: [{ id: "call_fake_0", name: scripted[1]!, arguments: JSON.parse(scripted[2]!) as Record<string, unknown> }] };
  }
  if (tools.length > 0 && chat.toolChoice !== "none") {
    const named =
      typeof chat.toolChoice === "object" && chat.toolChoice ? (chat.toolChoice as { function?: { name?: string } }).function?.name : undefined;
    const chosen = named ? tools.filter((t) => t.name === named) : /parallel/.test(user) && chat.parallel !== false ? tools : tools.slice(0, 1);
    return { text: "", toolCalls: chosen.map((t, i) => ({ id: `call_fake_${i}`, name: t.name, arguments: fill(t.parameters, user) })) };
  }
  const counting = /^Count from 1 to (\d+)/.exec(user);
  if (counting) return { text: Array.from({ length: Number(counting[1]) }, (_, i) => String(i + 1)).join(" ") };
  if (chat.json) return { text: JSON.stringify(chat.json === "json" ? { echo: user } : fill(chat.json, user)), json: true };
  return { text: `${prefix}${user}${chat.images ? ` [${chat.images} image(s)]` : ""}` };
}

/** An OpenAI chat request body read as a FakeChat, and answered. */
export function chatReply(request: Record<string, unknown>): FakeReply {
  const messages = (request.messages ?? []) as { role: string; content?: unknown }[];
  const tools = ((request.tools ?? []) as { function: { name: string; parameters?: JsonSchema } }[]).map((t) => t.function);
  const format = request.response_format as { type?: string; json_schema?: { schema?: JsonSchema } } | undefined;
  const lastUser = [...messages].reverse().find((m) => m.role === "user")?.content;
  const images = Array.isArray(lastUser) ? lastUser.filter((p: { type?: string }) => p.type === "image_url").length : 0;
  return reply(
    {
      messages,
      tools,
      toolChoice: request.tool_choice,
      parallel: request.parallel_tool_calls as boolean | undefined,
      json: format?.type === "json_object" ? "json" : format?.type === "json_schema" ? (format.json_schema?.schema ?? "json") : undefined,
      images,
    },
    "echo: ",
  );
}
