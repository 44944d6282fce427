/**
 * A fake Anthropic Messages API on 127.0.0.1, speaking the documented wire
 * format (https://docs.anthropic.com/en/api/messages, /en/docs/build-with-claude/streaming,
 * /en/api/errors): POST /v1/messages (JSON, or SSE with `stream: true`),
 * POST /v1/messages/count_tokens (1000 + the words of what it is sent, so a
 * test can tell its count from the gateway's estimate), GET /v1/models/{id}. It wants `x-api-key` (401 authentication_error
 * without) and `anthropic-version` (400 without), as Anthropic does.
 *
 * Replies are the shared deterministic ones (./fake-replies.ts), read from the
 * Messages body: text "claude: <user text>", tools offered are called
 * (tool_use blocks, streamed as input_json_delta in two fragments), tool
 * results answered, `output_config.format` gets JSON. A request with
 * `thinking` enabled gets a thinking block first (thinking_delta, then
 * signature_delta). Streams follow the documented order: message_start, ping,
 * per block content_block_start / _delta... / _stop, message_delta (stop
 * reason and usage), message_stop. Models named `unknown-*` are not found.
 *
 * Faults per model (fake-control.ts): the common ones (a status with
 * Anthropic's error body, e.g. 529 overloaded_error or 429 rate_limit_error
 * with retry-after; a hang; a dropped connection), and `cut_after_text` (the
 * connection is lost after the first text delta), `error_after_text` (an
 * `error` event, overloaded_error, after the first text delta),
 * `cache_usage` (the usage reports prompt tokens read from / written to the
 * cache). Every request is recorded with its headers and body.
 */
import { answerCommonFault, type CommonStep, FakeControl } from "./fake-control.ts";
import { dropConnection, type FakeServer, json, serve } from "./fake-http.ts";
import { type FakeReply, reply } from "./fake-replies.ts";

export type Step = CommonStep | { kind: "cut_after_text" } | { kind: "error_after_text" } | { kind: "cache_usage"; read: number; write: number };

/** Anthropic's error types by status (https://docs.anthropic.com/en/api/errors). */
const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

export function errorBody(status: number, message = `scripted ${status}`) {
  return { type: "error", error: { type: ERROR_TYPES[status] ?? "api_error", message }, request_id: "req_fake" };
}

type Block = Record<string, unknown> & { type: string };
interface Body {
  model?: string;
  system?: unknown;
  messages?: { role: string; content: string | Block[] }[];
  tools?: { name: string; input_schema?: Record<string, unknown> }[];
  tool_choice?: { type: string; name?: string; disable_parallel_tool_use?: boolean };
  output_config?: { format?: { type: string; schema?: Record<string, unknown> } };
  thinking?: { type: string };
  stream?: boolean;
  max_tokens?: unknown;
}

/** The Messages body in the shared replies' terms: tool_result blocks are tool messages. */
function answer(body: Body): FakeReply {
  const messages: { role: string; content?: unknown }[] = [];
  for (const m of body.messages ?? []) {
    const blocks = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
    const results = blocks.filter((b) => b.type === "tool_result");
    if (results.length > 0) for (const r of results) messages.push({ role: "tool", content: r.content });
    else messages.push({ role: m.role, content: blocks });
  }
  const lastUser = [...(body.messages ?? [])].reverse().find((m) => m.role === "user")?.content;
  const choice = body.tool_choice;
  return reply(
    {
      messages,
      tools: (body.tools ?? []).filter((t) => t.input_schema).map((t) => ({ name: t.name, parameters: t.input_schema })),
      toolChoice: choice?.type === "none" ? "none" : choice?.type === "tool" ? { function: { name: choice.name } } : undefined,
      parallel: choice?.disable_parallel_tool_use !== true,
      json: body.output_config?.format?.type === "json_schema" ? (body.output_config.format.schema ?? "json") : undefined,
      images: Array.isArray(lastUser) ? lastUser.filter((b) => b.type === "image").length : 0,
    },
    "claude: ",
  );
}

/** The body fields POST /v1/messages/count_tokens takes. */
const COUNTED_FIELDS = ["model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management", "output_config"];

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

export function startFakeAnthropic(port = 0): Promise<FakeServer> {
  const control = new FakeControl<Step>();
  return serve(async (request, res) => {
    if (control.handle(request, res)) return;
    const { method, url, headers } = request;
    const body = request.fields as Body;
    const model = typeof body.model === "string" ? body.model : decodeURIComponent(url.pathname.split("/").at(-1) ?? "");
    control.record(request, { model });
    if (!headers["x-api-key"]) return json(res, 401, errorBody(401, "x-api-key header is required"));
    if (!headers["anthropic-version"]) return json(res, 400, errorBody(400, "anthropic-version: header is required"));

    if (method === "GET" && url.pathname.startsWith("/v1/models/")) {
      if (model.startsWith("unknown-")) return json(res, 404, errorBody(404, `model: ${model}`));
      return json(res, 200, { type: "model", id: model, display_name: model, created_at: "2026-01-01T00:00:00Z" });
    }
    if (method === "POST" && url.pathname === "/v1/messages/count_tokens") {
      if (answerCommonFault(res, control.next(model), (status) => errorBody(status))) return;
      // Counts what it is sent (its own tokenizer: words); takes only the fields count_tokens documents.
      const extra = Object.keys(body).find((k) => !COUNTED_FIELDS.includes(k));
      if (extra) return json(res, 400, errorBody(400, `${extra}: Extra inputs are not permitted`));
      const { model: _model, ...counted } = body as Record<string, unknown>;
      return json(res, 200, { input_tokens: 1000 + words(JSON.stringify(counted)) });
    }
    if (method !== "POST" || url.pathname !== "/v1/messages") return json(res, 404, errorBody(404, `Unknown path ${url.pathname}`));
    if (typeof body.max_tokens !== "number") return json(res, 400, errorBody(400, "max_tokens: Field required"));
    const step = control.next(model);
    if (answerCommonFault(res, step, (status) => errorBody(status))) return;

    if (body.messages?.at(-1)?.role === "assistant") {
      // Claude models without prefill (Opus 4.6 and later) refuse it in these words.
      if (control.quirks(model).prefill === "refuse") {
        return json(
          res,
          400,
          errorBody(400, "This model does not support assistant message prefill. The conversation must end with a user message."),
        );
      }
      const content = body.messages.at(-1)!.content;
      const text = typeof content === "string" ? content : content.map((b) => (b.type === "text" ? String(b.text ?? "") : "")).join("");
      if (/\s$/.test(text)) return json(res, 400, errorBody(400, "messages: final assistant content cannot end with trailing whitespace"));
    }
    const said = answer(body);
    const thinking = body.thinking && body.thinking.type !== "disabled";
    const cache = step?.kind === "cache_usage" ? step : { read: 0, write: 0 };
    const usage = {
      input_tokens: words(JSON.stringify(body.messages ?? [])),
      cache_creation_input_tokens: cache.write,
      cache_read_input_tokens: cache.read,
    };
    const outputTokens = words(said.text) + (said.toolCalls?.length ?? 0) * 5 + (thinking ? 3 : 0);
    const stopReason = said.toolCalls ? "tool_use" : "end_turn";
    const blocks: Block[] = [
      ...(thinking ? [{ type: "thinking", thinking: "Let me think.", signature: "sig_fake" }] : []),
      ...(said.text ? [{ type: "text", text: said.text }] : []),
      ...(said.toolCalls ?? []).map((c) => ({ type: "tool_use", id: c.id.replace("call_", "toolu_"), name: c.name, input: c.arguments })),
    ];
    const message = { id: "msg_fake", type: "message", role: "assistant", model, content: blocks, stop_reason: stopReason, stop_sequence: null };
    if (!body.stream) return json(res, 200, { ...message, usage: { ...usage, output_tokens: outputTokens } });

    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (type: string, data: Record<string, unknown> = {}) =>
      new Promise<void>((resolve) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`, () => resolve()));
    await send("message_start", { message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } });
    await send("ping");
    for (const [index, block] of blocks.entries()) {
      if (block.type === "thinking") {
        await send("content_block_start", { index, content_block: { type: "thinking", thinking: "", signature: "" } });
        await send("content_block_delta", { index, delta: { type: "thinking_delta", thinking: block.thinking } });
        await send("content_block_delta", { index, delta: { type: "signature_delta", signature: block.signature } });
      } else if (block.type === "text") {
        await send("content_block_start", { index, content_block: { type: "text", text: "" } });
        for (const [i, piece] of String(block.text)
          .split(/(?<= )/)
          .entries()) {
          await send("content_block_delta", { index, delta: { type: "text_delta", text: piece } });
          if (i === 0 && step?.kind === "cut_after_text") return dropConnection(res);
          if (i === 0 && step?.kind === "error_after_text") {
            await send("error", { error: { type: "overloaded_error", message: "Overloaded" } });
            return void res.end();
          }
        }
      } else {
        await send("content_block_start", { index, content_block: { ...block, input: {} } });
        const args = JSON.stringify(block.input);
        const half = Math.ceil(args.length / 2);
        for (const part of [args.slice(0, half), args.slice(half)]) {
          await send("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: part } });
        }
      }
      await send("content_block_stop", { index });
    }
    await send("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
    await send("message_stop");
    res.end();
  }, port);
}
