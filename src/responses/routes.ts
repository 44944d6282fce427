/**
 * OpenAI's Responses API under /v1 (`POST /v1/responses`,
 * `POST /v1/responses/input_tokens`), on every backend: the body becomes the
 * gateway's typed call (./request.ts) and the result a response object or
 * Responses events (./response.ts). The key comes as `Authorization: Bearer`
 * (as on the other /v1 routes); errors use OpenAI's shape. Hints left out are
 * named in `x-gateway-not-applied`. With `store` (OpenAI's default) the answer
 * and its conversation are kept in the tenant's Durable Object, for
 * `previous_response_id` and `GET` / `DELETE /v1/responses/:id`
 * (docs/responses-api.md).
 */
import { type Context, Hono } from "hono";
import { tenantAuth } from "../auth/middleware";
import type { ChatMessage, Generation } from "../backends/types";
import { budgetHeader, type HeldStream, holdUntilFirstPiece, isNative, type NativePiece, type Piece } from "../edge/held-stream";
import { GatewayError, openAIErrorResponse, toGatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { z } from "zod";
import { ChatMessage as ChatMessageShape, JsonObject } from "../backends/shapes";
import { readJson } from "../http/body";
import { type CallInput, openCall } from "../inference/call";
import { nativeFormatOf, upstreamTokenCount } from "../inference/count-tokens";
import { runCall } from "../inference/run";
import type { TenantScope } from "../tenants/scope";
import { ContinuedText } from "./continued";
import { nativeBody } from "./native";
import { chatRequest, inResponsesTerms, promptRequest, type Translated } from "./request";
import { echo, incomplete, outputItems, ResponseEvents, type ResponsesEvent, responseId, responseObject, type Shell, usage } from "./response";
import { InputTokensRequest, ResponsesRequest } from "./schemas";

const auth = tenantAuth({ show: openAIErrorResponse });

export const responsesRoutes = new Hono<AppEnv>()
  .post("/responses/input_tokens", auth, async (c) => {
    const body = await readJson(c, InputTokensRequest);
    const translated = promptRequest(body);
    const { request, before } = await continued(c.var.scope, translated, body.previous_response_id);
    // A responses_api model's upstream counts the body as sent (the stored conversation put first); the gateway estimates when it cannot.
    const model = c.var.scope.model(body.model);
    if (nativeFormatOf(model) === "responses") {
      const raw = JsonObject.parse(await c.req.json());
      const native = { format: "responses", body: nativeBody(raw, before), headers: {} } as const;
      const counted = await upstreamTokenCount(c.var.scope, model, native, c.req.raw.signal);
      if (counted !== undefined) return c.json({ object: "response.input_tokens", input_tokens: counted });
    }
    hintsHeader(c, translated.notApplied);
    // The gateway's own estimate of what would be sent (the one budgets admit), not the upstream's tokenizer.
    const call = openCall(c.var.scope, body.model, { capability: "chat", request });
    return c.json({ object: "response.input_tokens", input_tokens: call.demand.prompt_tokens });
  })
  .post("/responses", auth, async (c) => {
    const body = await readJson(c, ResponsesRequest);
    // The body as sent, for a responses_api upstream (./native.ts); the parsed one is what translation reads.
    const raw = JsonObject.parse(await c.req.json());
    const translated = chatRequest(body);
    const { request, conversation, before } = await continued(c.var.scope, translated, body.previous_response_id);
    const native = { request: { format: "responses", body: nativeBody(raw, before), headers: {} } } as const;
    const input = { capability: "chat", request, native } as const;
    const keep = body.store !== false ? (result: Generation, response: object) => store(c.var.scope, conversation, result, response) : undefined;
    const shell = (model: string): Shell => ({ id: responseId(), created_at: Math.floor(Date.now() / 1000), model, echo: echo(body) });
    if (body.stream) return stream(c, body.model, input, shell, translated, keep);
    const call = openCall(c.var.scope, body.model, input, { signal: c.req.raw.signal });
    const answered = await runCall(call);
    budgetHeader(c);
    if (answered.native) {
      // Passed through: the upstream's own response object (nothing was left out: no x-gateway-not-applied).
      if (keep && !(await keep(answered, answered.native))) c.header("x-gateway-not-applied", "store");
      return c.json({ ...answered.native, ...(answered.fallback && { fallback: answered.fallback }) });
    }
    hintsHeader(c, translated.notApplied);
    const result = firstCallOnly(answered, translated.oneToolCall);
    const cut = incomplete(result);
    const response = responseObject(shell(result.model_id), {
      status: cut ? "incomplete" : "completed",
      output: outputItems(result),
      usage: usage(result, call.demand.prompt_tokens),
      incomplete_details: cut,
    });
    // A conversation too large to keep is answered all the same, and says so.
    if (keep && !(await keep(result, response))) c.header("x-gateway-not-applied", [...translated.notApplied, "store"].join(", "));
    return c.json({ ...response, ...(result.fallback && { fallback: result.fallback }) });
  })
  .get("/responses/:id", auth, async (c) => {
    const stored = await c.var.scope.tenant.getResponse(c.req.param("id"));
    if (!stored) throw notFound(c.req.param("id"));
    return c.json(JSON.parse(stored.response) as object);
  })
  .delete("/responses/:id", auth, async (c) => {
    const id = c.req.param("id");
    // Another tenant's id is not in this tenant's object: not found, as a nonexistent one.
    await c.var.scope.tenant.deleteResponse(id).catch((error: unknown) => {
      throw error instanceof GatewayError && error.code === "not_found" ? notFound(id) : error;
    });
    return c.json({ id, object: "response", deleted: true });
  })
  .onError((error) => openAIErrorResponse(inResponsesTerms(toGatewayError(error))));

function notFound(id: string): GatewayError {
  return new GatewayError("not_found", `No stored response "${id}" (never stored, deleted, or older than 30 days).`);
}

/**
 * The chat request with the stored conversation a `previous_response_id`
 * continues put before the new input (its `instructions` are not carried
 * over, as OpenAI does), and the conversation to keep with the answer.
 */
async function continued(scope: TenantScope, translated: Translated, previousId: string | null | undefined) {
  let before: ChatMessage[] = [];
  if (previousId) {
    const stored = await scope.tenant.getResponse(previousId);
    if (!stored) {
      throw new GatewayError(
        "invalid_request",
        `previous_response_id: no stored response "${previousId}" (never stored, deleted, or older than 30 days).`,
      );
    }
    // Parsed, not cast: a row written by an older version (or damaged) fails here, loudly.
    const parsed = z.array(ChatMessageShape).safeParse(JSON.parse(stored.conversation));
    if (!parsed.success) throw new GatewayError("internal", `The stored conversation of "${previousId}" cannot be read.`, { cause: parsed.error });
    before = parsed.data;
  }
  const conversation = [...before, ...translated.input];
  return { request: { ...translated.request, messages: [...translated.instructions, ...conversation] }, conversation, before };
}

/** Keep an answer and the conversation up to it; false when it was not kept. A failure to keep it is logged: the answer stands. */
async function store(
  scope: TenantScope,
  conversation: ChatMessage[],
  result: Generation,
  response: object & { id?: unknown; created_at?: unknown },
): Promise<boolean> {
  const answer: ChatMessage = { role: "assistant", content: result.text, ...(result.tool_calls?.length && { tool_calls: result.tool_calls }) };
  try {
    const kept = await scope.tenant.putResponse({
      id: String(response.id),
      created_at: Number(response.created_at),
      response: JSON.stringify({ ...response, store: true }),
      conversation: JSON.stringify([...conversation, answer]),
    });
    return kept.stored;
  } catch (error) {
    console.error("responses: could not store a response", toGatewayError(error).message);
    return false;
  }
}

function hintsHeader(c: Context<AppEnv>, notApplied: string[]) {
  if (notApplied.length > 0) c.header("x-gateway-not-applied", notApplied.join(", "));
}

/** `parallel_tool_calls: false`, honoured here on every backend: the model's first call only. */
function firstCallOnly<R extends Generation>(result: R, one: boolean): R {
  if (!one || (result.tool_calls?.length ?? 0) <= 1) return result;
  return { ...result, tool_calls: result.tool_calls!.slice(0, 1) };
}

/**
 * The answer as Responses events, held until the first piece
 * (src/edge/held-stream.ts): response.created goes out only then. Once pieces
 * flow, a failure ends the stream with response.failed, never
 * response.completed.
 */
async function stream(
  c: Context<AppEnv>,
  requested: string,
  input: Extract<CallInput, { capability: "chat" }>,
  shellFor: (model: string) => Shell,
  translated: Translated,
  keep: Keep | undefined,
) {
  const held = await holdUntilFirstPiece<typeof input, Piece | NativePiece>(c, (io) => openCall(c.var.scope, requested, input, io), {
    toolCalls: true,
    native: true,
  });
  // One attempt's pieces are all of one kind: the upstream's own events (a responses_api model), or translated pieces.
  if (isNative(held.first)) return passThrough(held, keep);
  hintsHeader(c, translated.notApplied);
  const { oneToolCall } = translated;
  const promptEstimate = held.opened.demand.prompt_tokens;
  // The model's id, whatever name (an alias) the caller asked for it by.
  const shell = shellFor(held.opened.model.id);
  return held.respond(async (sse, pieces) => {
    const send = (e: ResponsesEvent) => sse.writeSSE({ event: e.event, data: JSON.stringify(e.data) });
    const items = new ResponseEvents();
    const failed = (message: string) =>
      items.event("response.failed", {
        response: responseObject(shell, { status: "failed", output: items.done, error: { code: "server_error", message } }),
      });
    const begun = responseObject(shell, { status: "in_progress", output: [] });
    await send(items.event("response.created", { response: begun }));
    await send(items.event("response.in_progress", { response: begun }));
    for await (const piece of pieces) {
      if (isNative(piece) || (oneToolCall && typeof piece !== "string" && piece.index > 0)) continue;
      for (const e of items.piece(piece)) await send(e);
    }
    try {
      const result = firstCallOnly(await held.call, oneToolCall);
      if (result.error) return await send(failed(result.error));
      for (const e of items.stop()) await send(e);
      const cut = incomplete(result);
      const final = responseObject(shell, {
        status: cut ? "incomplete" : "completed",
        output: items.done,
        usage: usage(result, promptEstimate),
        incomplete_details: cut,
      });
      await keep?.(result, final);
      await send(items.event(cut ? "response.incomplete" : "response.completed", { response: withFallback(final, result) }));
    } catch (error) {
      await send(failed(toGatewayError(error).message));
    }
  });
}

type Keep = (result: Generation, response: object) => Promise<boolean>;

/** The response a stream ends with, as the caller gets it: with `fallback` when a fallback answered (as a non-streamed response), not as kept. */
function withFallback(response: object, result: { fallback?: unknown }): object {
  return result.fallback ? { ...response, fallback: result.fallback } : response;
}

/** The two events that end a Responses stream well: passed on only once the call has ended well (and the answer is kept). */
const TERMINAL = new Set(["response.completed", "response.incomplete"]);

/**
 * A responses_api upstream's events, passed on as it sent them (each
 * redacted), held like any stream until the first content. The event that
 * ends the stream well is sent only once the call has ended well; a stream
 * that breaks after content (or whose upstream reports response.failed) ends
 * with the gateway's own response.failed, unless a rescue finished it (./continued.ts).
 * Every event is numbered (`sequence_number`) in the order the gateway sends it.
 */
function passThrough(held: HeldStream<Extract<CallInput, { capability: "chat" }>, Piece | NativePiece>, keep: Keep | undefined) {
  const promptEstimate = held.opened.demand.prompt_tokens;
  return held.respond(async (sse, pieces) => {
    // Numbered here, in the order sent: redaction may hold text back and send it as a delta of its own.
    let sequence = -1;
    const send = (e: Record<string, unknown>) => {
      const numbered = { ...e, sequence_number: ++sequence };
      return sse.writeSSE({ event: String(e.type), data: JSON.stringify(numbered) });
    };
    let latest: Record<string, unknown> = {};
    let terminal: Record<string, unknown> | undefined;
    // Text a rescue adds after the upstream broke off (src/inference/rescue.ts) continues its open output_text part.
    const text = new ContinuedText();
    let unjoinable = false;
    for await (const piece of pieces) {
      if (!isNative(piece)) {
        const delta = typeof piece === "string" ? text.delta(piece) : undefined;
        if (delta) await send(delta);
        else unjoinable = true; // a tool call (or text with no part open) cannot join the upstream's items
        continue;
      }
      const e = piece.native;
      text.follow(e);
      const response = JsonObject.safeParse(e.response);
      if (response.success) latest = response.data;
      if (TERMINAL.has(String(e.type))) terminal = e;
      else await send(e);
    }
    const failed = (message: string) =>
      send({ type: "response.failed", response: { ...latest, status: "failed", error: { code: "server_error", message } } });
    try {
      const result = await held.call;
      if (result.error) return await failed(result.error);
      if (unjoinable) return await failed("The answer that finished the stream called a tool, which cannot join the upstream's output.");
      if (text.continued) {
        const { events, response } = text.end(latest, result, promptEstimate);
        for (const e of events.slice(0, -1)) await send(e);
        await keep?.(result, response);
        return await send({ ...events.at(-1)!, response: withFallback(response, result) });
      }
      if (!terminal) return await failed("The upstream ended the stream without response.completed.");
      await keep?.(result, latest);
      const response = JsonObject.safeParse(terminal.response);
      await send(response.success ? { ...terminal, response: withFallback(response.data, result) } : terminal);
    } catch (error) {
      await failed(toGatewayError(error).message);
    }
  });
}
