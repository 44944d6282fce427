/**
 * The OpenAI-compatible API under /v1, on the same registry, routing, health
 * and limits as MCP: `model` is a model id of the caller's tenant. Errors use
 * OpenAI's error shape so SDKs surface them as they would OpenAI's own.
 */
import { type Context, Hono } from "hono";
import { tenantAuth } from "../auth/middleware";
import { z } from "zod";
import type { Generation, ToolCallDelta } from "../backends/types";
import { budgetHeader, holdUntilFirstPiece, type Piece } from "../edge/held-stream";
import { GatewayError, openAIErrorBody, openAIErrorResponse, toGatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { readJson } from "../http/body";
import { type Answered, type CallInput, openCall } from "../inference/call";
import { runCall } from "../inference/run";
import { inputDemand } from "../usage/cost";
import { chatRequest, completionRequest } from "./request";
import { ChatCompletionRequest, CompletionRequest, EmbeddingRequest, withoutNulls } from "./schemas";

const ChatBody = z.preprocess(withoutNulls, ChatCompletionRequest);
const CompletionBody = z.preprocess(withoutNulls, CompletionRequest);

const CREATED = Math.floor(Date.parse("2026-01-01T00:00:00Z") / 1000);

export const openAIRoutes = new Hono<AppEnv>()
  .use(tenantAuth())
  .get("/models", (c) =>
    c.json({
      object: "list",
      data: c.var.scope.snapshot.models.map((m) => ({
        id: m.id,
        object: "model",
        created: Math.floor(Date.parse(m.created_at) / 1000) || CREATED,
        owned_by: m.backend_type,
        capabilities: m.capabilities,
        features: m.features,
        feature_checks: m.feature_checks,
        aliases: m.aliases,
      })),
    }),
  )
  .post("/chat/completions", async (c) => {
    const body = await readJson(c, ChatBody);
    const input = { capability: "chat", request: chatRequest(body) } as const;
    if (!body.stream) {
      const result = await runCall(openCall(c.var.scope, body.model, input, { signal: c.req.raw.signal }));
      budgetHeader(c);
      return c.json({
        id: `chatcmpl-${crypto.randomUUID()}`,
        object: "chat.completion",
        created: now(),
        model: result.model_id,
        choices: [{ index: 0, message: assistantMessage(result), finish_reason: finish(result), logprobs: null }],
        usage: usage(result),
        ...answeredBy(result),
      });
    }
    return stream(c, body.model, input, "chat.completion.chunk", body.stream_options?.include_usage === true);
  })
  .post("/completions", async (c) => {
    const body = await readJson(c, CompletionBody);
    const input = { capability: "completion", request: completionRequest(body) } as const;
    if (!body.stream) {
      const result = await runCall(openCall(c.var.scope, body.model, input, { signal: c.req.raw.signal }));
      budgetHeader(c);
      return c.json({
        id: `cmpl-${crypto.randomUUID()}`,
        object: "text_completion",
        created: now(),
        model: result.model_id,
        choices: [{ index: 0, text: result.text, finish_reason: finish(result), logprobs: null }],
        usage: usage(result),
        ...answeredBy(result),
      });
    }
    return stream(c, body.model, input, "text_completion", body.stream_options?.include_usage === true);
  })
  .post("/embeddings", async (c) => {
    const body = await readJson(c, EmbeddingRequest);
    const input = Array.isArray(body.input) ? body.input : [body.input];
    const call = openCall(c.var.scope, body.model, { capability: "embedding", request: { input } }, { signal: c.req.raw.signal });
    const result = await runCall(call);
    budgetHeader(c);
    // The upstream's own count; the gateway's estimate (the one it records) when it gave none.
    const tokens = result.usage?.prompt_tokens ?? inputDemand(input).prompt_tokens;
    return c.json({
      object: "list",
      model: result.model_id,
      data: result.embeddings.map((vector, index) => ({
        object: "embedding",
        index,
        embedding: body.encoding_format === "base64" ? toBase64(vector) : vector,
      })),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
      ...answeredBy(result),
    });
  })
  .onError((error) => openAIErrorResponse(toGatewayError(error)));

/** The answer's message in OpenAI's shape: content null when the model only called tools. */
function assistantMessage(result: Generation) {
  const calls = result.tool_calls;
  if (!calls) return { role: "assistant", content: result.text, refusal: null };
  return {
    role: "assistant",
    content: result.text === "" ? null : result.text,
    refusal: null,
    tool_calls: calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } })),
  };
}

/**
 * A streamed tool call piece as OpenAI streams it: the first piece of a call
 * carries index, id, type and name with empty arguments, then the arguments
 * follow in pieces. A piece with all of them at once (a whole call) is split so.
 */
function toolCallDeltas(delta: ToolCallDelta): Record<string, unknown>[] {
  const args = { index: delta.index, function: { arguments: delta.arguments ?? "" } };
  if (delta.id === undefined) return [args];
  const head = { index: delta.index, id: delta.id, type: "function", function: { name: delta.name ?? "", arguments: "" } };
  return delta.arguments ? [head, args] : [head];
}

/** OpenAI's finish reasons; a broken stream or an unknown reason reads as "stop" with the error said separately. */
function finish(result: Generation): "stop" | "length" | "content_filter" | "tool_calls" {
  return result.finish_reason === "length" || result.finish_reason === "content_filter" || result.finish_reason === "tool_calls"
    ? result.finish_reason
    : "stop";
}

/** OpenAI's usage, with the parts the upstream reported (cached prompt tokens, reasoning tokens) in their details. */
function usage(result: Generation) {
  const prompt = result.usage.prompt_tokens ?? 0;
  const completion = result.usage.completion_tokens ?? 0;
  const { cached_tokens, reasoning_tokens } = result.usage;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    ...(cached_tokens != null && { prompt_tokens_details: { cached_tokens } }),
    ...(reasoning_tokens != null && { completion_tokens_details: { reasoning_tokens } }),
  };
}

/** When a fallback answered: which model was asked for and why each model before it failed (as on MCP). */
function answeredBy(result: Answered): { fallback?: Answered["fallback"] } {
  return result.fallback ? { fallback: result.fallback } : {};
}

function now() {
  return Math.floor(Date.now() / 1000);
}

/**
 * Server-sent events in OpenAI's chunk format, held until the first piece
 * (src/edge/held-stream.ts). Once text flows, a failure arrives as an `error`
 * event and the stream ends without [DONE], so clients see that it was cut.
 */
async function stream(
  c: Context<AppEnv>,
  requested: string,
  input: Extract<CallInput, { capability: "chat" | "completion" }>,
  object: "chat.completion.chunk" | "text_completion",
  includeUsage: boolean,
): Promise<Response> {
  const id = `${object === "text_completion" ? "cmpl" : "chatcmpl"}-${crypto.randomUUID()}`;
  const isChat = object === "chat.completion.chunk";
  const chunk = (model: string, choices: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id, object, created: now(), model, choices: choices.map((choice) => ({ index: 0, ...choice })), ...extra });
  /** The chunks' choices for one piece: a tool call piece may become two chunks (see toolCallDeltas). */
  const choices = (delta: Piece) =>
    typeof delta !== "string"
      ? toolCallDeltas(delta).map((call) => ({ delta: { tool_calls: [call] }, finish_reason: null }))
      : [isChat ? { delta: { content: delta }, finish_reason: null } : { text: delta, finish_reason: null }];

  // A completion streams text only; a chat, tool call pieces too.
  const held = await holdUntilFirstPiece(c, (io) => openCall(c.var.scope, requested, input, io), { toolCalls: isChat });
  // The model's id, whatever name (an alias) the caller asked for it by.
  const model = held.opened.model.id;
  return held.respond(async (sse, pieces) => {
    if (isChat) await sse.writeSSE({ data: chunk(model, [{ delta: { role: "assistant", content: "" }, finish_reason: null }]) });
    for await (const piece of pieces) for (const one of choices(piece)) await sse.writeSSE({ data: chunk(model, [one]) });
    const fail = (message: string) => sse.writeSSE({ data: JSON.stringify(openAIErrorBody(new GatewayError("upstream_error", message))) });
    try {
      const result = await held.call;
      if (result.error) return await fail(result.error);
      const done = isChat ? { delta: {}, finish_reason: finish(result) } : { text: "", finish_reason: finish(result) };
      await sse.writeSSE({ data: chunk(result.model_id, [done], answeredBy(result)) });
      if (includeUsage) await sse.writeSSE({ data: chunk(result.model_id, [], { usage: usage(result) }) });
      await sse.writeSSE({ data: "[DONE]" });
    } catch (error) {
      await fail(toGatewayError(error).message);
    }
  });
}

function toBase64(vector: number[]): string {
  const bytes = new Uint8Array(new Float32Array(vector).buffer);
  return btoa(String.fromCharCode(...bytes));
}
