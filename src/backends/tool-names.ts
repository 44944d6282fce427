/**
 * Tool names longer than an upstream takes. The gateway accepts names up to
 * 128 characters (Anthropic's limit; Claude Code's MCP tools, named
 * `mcp__<server>__<tool>`, pass 64), while OpenAI documents 64 for a function
 * name (`^[a-zA-Z0-9_-]{1,64}$`), as do the servers that copy its API. For
 * such an upstream each longer name is sent shortened, losslessly: its first
 * characters, `_`, and 8 hex digits of a hash of the whole name, and every
 * name the model answers with is mapped back, so the caller only ever sees its
 * own names. Names within the limit are sent as they are.
 */
import { GatewayError } from "../errors";
import type { StreamPiece } from "./stream";
import type { ChatRequest, Generation } from "./types";

/** OpenAI's documented limit on a function name. */
export const OPENAI_TOOL_NAME_MAX = 64;

export interface ToolNames {
  /** The request as the upstream gets it: long names shortened in tools, tool_choice and earlier tool calls. */
  request: ChatRequest;
  /** An answer with the upstream's names mapped back to the caller's. */
  generation(result: Generation): Generation;
  piece(piece: StreamPiece): StreamPiece;
}

/** FNV-1a, 32 bits, as 8 hex digits: a stable, dependency-free hash (collisions are checked, not assumed away). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

export function toolNamesWithin(request: ChatRequest, max: number): ToolNames {
  const named = [
    ...(request.tools ?? []).map((t) => t.function.name),
    ...request.messages.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.name) : [])),
    ...(typeof request.tool_choice === "object" ? [request.tool_choice.function.name] : []),
  ];
  const long = [...new Set(named.filter((name) => name.length > max))];
  if (long.length === 0) return { request, generation: (result) => result, piece: (piece) => piece };

  const short = new Map<string, string>();
  const back = new Map<string, string>();
  const taken = new Set(named.filter((name) => name.length <= max));
  for (const name of long) {
    const sent = `${name.slice(0, max - 9)}_${fnv1a(name)}`;
    if (taken.has(sent) || back.has(sent)) {
      throw new GatewayError(
        "invalid_request",
        `tools: the tool name "${name}" cannot be shortened to the upstream's ${max} characters without a clash; rename it.`,
      );
    }
    short.set(name, sent);
    back.set(sent, name);
  }
  const out = (name: string) => short.get(name) ?? name;
  const home = (name: string) => back.get(name) ?? name;
  const { tools, tool_choice, messages } = request;
  return {
    request: {
      ...request,
      messages: messages.map((m) =>
        m.role === "assistant" && m.tool_calls ? { ...m, tool_calls: m.tool_calls.map((c) => ({ ...c, name: out(c.name) })) } : m,
      ),
      ...(tools && { tools: tools.map((t) => ({ ...t, function: { ...t.function, name: out(t.function.name) } })) }),
      ...(typeof tool_choice === "object" && { tool_choice: { ...tool_choice, function: { name: out(tool_choice.function.name) } } }),
    },
    generation: (result) => (result.tool_calls ? { ...result, tool_calls: result.tool_calls.map((c) => ({ ...c, name: home(c.name) })) } : result),
    piece: (piece) =>
      piece.toolCalls ? { ...piece, toolCalls: piece.toolCalls.map((c) => (c.name === undefined ? c : { ...c, name: home(c.name) })) } : piece,
  };
}
