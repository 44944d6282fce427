/**
 * The OpenAI-compatible API under /v1, on the same registry, routing, health
 * and limits as MCP: `model` is a model id of the caller's tenant. Errors use
 * OpenAI's error shape so SDKs surface them as they would OpenAI's own.
 */
import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { tenantAuth } from "../auth/middleware";
import type { Generation } from "../backends/types";
import { GatewayError, openAIErrorBody, openAIErrorResponse, toGatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { readJson } from "../http/body";
import { chat, complete, embed, type Answered } from "../inference/run";
import { stopList } from "../inference/schemas";
import { inputDemand } from "../usage/cost";
import { budgetRemainingHeader } from "../usage/meter";
import { ChatCompletionRequest, CompletionRequest, EmbeddingRequest } from "./schemas";

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
      })),
    }),
  )
  .post("/chat/completions", async (c) => {
    const body = await readJson(c, ChatCompletionRequest);
    const messages = body.messages.map((m) => ({ role: m.role === "developer" ? ("system" as const) : m.role, content: m.content }));
    const params = sampling(body);
    if (!body.stream) {
      const result = await chat(c.var.scope, body.model, { messages, ...params }, { signal: c.req.raw.signal });
      budgetHeader(c);
      return c.json({
        id: `chatcmpl-${crypto.randomUUID()}`,
        object: "chat.completion",
        created: now(),
        model: result.model_id,
        choices: [{ index: 0, message: { role: "assistant", content: result.text }, finish_reason: finish(result), logprobs: null }],
        usage: usage(result),
      });
    }
    return stream(c, body.model, "chat.completion.chunk", body.stream_options?.include_usage === true, (onText, signal) =>
      chat(c.var.scope, body.model, { messages, ...params }, { onText, signal }),
    );
  })
  .post("/completions", async (c) => {
    const body = await readJson(c, CompletionRequest);
    const prompt = Array.isArray(body.prompt) ? body.prompt[0]! : body.prompt;
    const params = sampling(body);
    if (!body.stream) {
      const result = await complete(c.var.scope, body.model, { prompt, ...params }, { signal: c.req.raw.signal });
      budgetHeader(c);
      return c.json({
        id: `cmpl-${crypto.randomUUID()}`,
        object: "text_completion",
        created: now(),
        model: result.model_id,
        choices: [{ index: 0, text: result.text, finish_reason: finish(result), logprobs: null }],
        usage: usage(result),
      });
    }
    return stream(c, body.model, "text_completion", body.stream_options?.include_usage === true, (onText, signal) =>
      complete(c.var.scope, body.model, { prompt, ...params }, { onText, signal }),
    );
  })
  .post("/embeddings", async (c) => {
    const body = await readJson(c, EmbeddingRequest);
    const input = Array.isArray(body.input) ? body.input : [body.input];
    const result = await embed(c.var.scope, body.model, { input }, { signal: c.req.raw.signal });
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
    });
  })
  .onError((error) => openAIErrorResponse(toGatewayError(error)));

function sampling(body: { max_tokens?: number; max_completion_tokens?: number; temperature?: number; top_p?: number; stop?: string | string[] }) {
  return {
    max_tokens: body.max_completion_tokens ?? body.max_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
    stop: stopList(body.stop),
  };
}

/** OpenAI's finish reasons; a broken stream or an unknown reason reads as "stop" with the error said separately. */
function finish(result: Generation): "stop" | "length" | "content_filter" | "tool_calls" {
  return result.finish_reason === "length" || result.finish_reason === "content_filter" || result.finish_reason === "tool_calls"
    ? result.finish_reason
    : "stop";
}

function usage(result: Generation) {
  const prompt = result.usage.prompt_tokens ?? 0;
  const completion = result.usage.completion_tokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** `x-gateway-budget-remaining` when a budget applies to the call (see docs/openai-api.md). */
function budgetHeader(c: Context<AppEnv>) {
  const remaining = budgetRemainingHeader(c.var.scope);
  if (remaining) c.header("x-gateway-budget-remaining", remaining);
}

function now() {
  return Math.floor(Date.now() / 1000);
}

/**
 * Server-sent events in OpenAI's chunk format. The call starts first: if it
 * fails before any text, the client gets an ordinary HTTP error (and fallbacks
 * had their chance). Once text flows, a failure arrives as an `error` event and
 * the stream ends without [DONE], so clients see that it was cut.
 */
async function stream(
  c: Context<AppEnv>,
  requested: string,
  object: "chat.completion.chunk" | "text_completion",
  includeUsage: boolean,
  run: (onText: (delta: string) => Promise<void>, signal: AbortSignal) => Promise<Generation & Answered>,
): Promise<Response> {
  const id = `${object === "text_completion" ? "cmpl" : "chatcmpl"}-${crypto.randomUUID()}`;
  const isChat = object === "chat.completion.chunk";
  const chunk = (model: string, choices: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id, object, created: now(), model, choices: choices.map((choice) => ({ index: 0, ...choice })), ...extra });
  const piece = (delta: string) => (isChat ? { delta: { content: delta }, finish_reason: null } : { text: delta, finish_reason: null });

  let forward: ((delta: string) => Promise<void>) | undefined;
  const early: string[] = [];
  let firstText!: () => void;
  const started = new Promise<void>((resolve) => (firstText = resolve));
  // A client that goes away mid-stream stops the upstream too: the call ends (and is counted) with what was generated.
  const gone = new AbortController();
  const call = run(
    async (delta) => {
      gone.signal.throwIfAborted(); // the reader stops at the next piece and cancels the upstream body
      if (forward) return forward(delta);
      early.push(delta);
      firstText();
    },
    AbortSignal.any([c.req.raw.signal, gone.signal]),
  );
  await Promise.race([started, call]); // rejects when the call fails before any text
  budgetHeader(c);

  return streamSSE(c, async (sse) => {
    sse.onAbort(() => gone.abort());
    const send = (delta: string) => sse.writeSSE({ data: chunk(requested, [piece(delta)]) });
    if (isChat) await sse.writeSSE({ data: chunk(requested, [{ delta: { role: "assistant", content: "" }, finish_reason: null }]) });
    for (const delta of early.splice(0)) await send(delta);
    forward = send;
    const fail = (message: string) => sse.writeSSE({ data: JSON.stringify(openAIErrorBody(new GatewayError("upstream_error", message))) });
    try {
      const result = await call;
      if (result.error) return await fail(result.error);
      const done = isChat ? { delta: {}, finish_reason: finish(result) } : { text: "", finish_reason: finish(result) };
      await sse.writeSSE({ data: chunk(result.model_id, [done]) });
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
