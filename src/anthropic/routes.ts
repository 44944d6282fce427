/**
 * Anthropic's Messages API under /v1 (`POST /v1/messages`,
 * `POST /v1/messages/count_tokens`), on every backend: the body becomes the
 * gateway's typed call (./request.ts) and the result Anthropic's message or
 * events (./response.ts). The key comes as `x-api-key` (what the Anthropic
 * SDKs and Claude Code send) or `Authorization: Bearer`; errors use Anthropic's
 * shape. Hints left out are named in `x-gateway-not-applied`.
 */
import { type Context, Hono } from "hono";
import { tenantAuth } from "../auth/middleware";
import { type AnyPiece, budgetHeader, holdUntilFirstPiece } from "../edge/held-stream";
import { anthropicErrorResponse, toGatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { readJson } from "../http/body";
import { parseOrThrow } from "../http/validation";
import { type CallInput, openCall } from "../inference/call";
import { nativeFormatOf, upstreamTokenCount } from "../inference/count-tokens";
import { runCall } from "../inference/run";
import { chatRequest, inAnthropicTerms } from "./request";
import { ContentEvents, contentBlocks, type MessagesEvent, messageEnd, messageId, messageStart, stopReason, streamError, usage } from "./response";
import { CountTokensRequest, MessagesRequest, NATIVE_HEADERS, NativeCountTokensRequest, NativeMessagesRequest } from "./schemas";

const auth = tenantAuth({ apiKeyHeader: true, show: anthropicErrorResponse });

export const anthropicRoutes = new Hono<AppEnv>()
  .post("/messages", auth, async (c) => {
    const raw = await readJson(c, NativeMessagesRequest);
    const { input, notApplied } = messagesInput(c, raw);
    // A native model takes the request as written: nothing is left out, so nothing is named (a translated fallback's hints are).
    if (!input.native) hintsHeader(c, notApplied);
    if (raw.stream) return stream(c, raw.model, input);
    const call = openCall(c.var.scope, raw.model, input, { signal: c.req.raw.signal });
    const result = await runCall(call);
    budgetHeader(c);
    if (result.native) return c.json(result.native);
    if (input.native) hintsHeader(c, notApplied);
    return c.json({
      id: messageId(),
      type: "message",
      role: "assistant",
      model: result.model_id,
      content: contentBlocks(result),
      stop_reason: stopReason(result),
      stop_sequence: null,
      usage: usage(result, call.demand.prompt_tokens),
      ...(result.fallback && { fallback: result.fallback }),
    });
  })
  .post("/messages/count_tokens", auth, async (c) => {
    const raw = await readJson(c, NativeCountTokensRequest);
    // A native model's upstream counts the body as written; the gateway estimates when it cannot.
    const model = c.var.scope.model(raw.model);
    if (nativeFormatOf(model) === "anthropic") {
      const native = { format: "anthropic", body: raw, headers: nativeHeaders(c) } as const;
      const counted = await upstreamTokenCount(c.var.scope, model, native, c.req.raw.signal);
      if (counted !== undefined) return c.json({ input_tokens: counted });
    }
    const body = parseOrThrow(CountTokensRequest, raw);
    const { request, notApplied } = chatRequest(body);
    hintsHeader(c, notApplied);
    // The gateway's own estimate of what would be sent (the one budgets admit), not the upstream's tokenizer.
    const call = openCall(c.var.scope, body.model, { capability: "chat", request });
    return c.json({ input_tokens: call.demand.prompt_tokens });
  })
  .onError((error) => anthropicErrorResponse(inAnthropicTerms(toGatewayError(error))));

/** `x-gateway-not-applied`: the hints in the body, and every `anthropic-beta` flag (none is sent on). */
function hintsHeader(c: Context<AppEnv>, fromBody: string[]) {
  const beta = (c.req.header("anthropic-beta") ?? "")
    .split(",")
    .map((flag) => flag.trim())
    .filter(Boolean)
    .map((flag) => `anthropic-beta:${flag}`);
  const all = [...fromBody, ...beta];
  if (all.length > 0) c.header("x-gateway-not-applied", all.join(", "));
}

type ChatInput = Extract<CallInput, { capability: "chat" }>;

/** The request headers of the Messages API a native upstream gets as the caller sent them. */
function nativeHeaders(c: Context<AppEnv>): Record<string, string> {
  return Object.fromEntries(
    NATIVE_HEADERS.flatMap((name) => {
      const value = c.req.header(name);
      return value === undefined ? [] : [[name, value]];
    }),
  );
}

/**
 * The call for a Messages body. On a model of a backend that speaks the
 * Messages API (`anthropic`), the body goes upstream as the caller wrote it
 * (`native`, see src/inference/call.ts), its translation kept for fallbacks
 * of other types; a body that does not translate can still be sent natively
 * (then only such a model can take it). On any other model the body must
 * translate, and hints left out are named.
 */
function messagesInput(c: Context<AppEnv>, raw: NativeMessagesRequest): { input: ChatInput; notApplied: string[] } {
  const model = c.var.scope.model(raw.model);
  if (nativeFormatOf(model) !== "anthropic") {
    const { request, notApplied } = chatRequest(parseOrThrow(MessagesRequest, raw));
    return { input: { capability: "chat", request }, notApplied };
  }
  const native = { format: "anthropic", body: raw, headers: nativeHeaders(c) } as const;
  try {
    const { request, notApplied } = chatRequest(parseOrThrow(MessagesRequest, raw));
    return { input: { capability: "chat", request, native: { request: native } }, notApplied };
  } catch (error) {
    const untranslated = toGatewayError(error);
    if (untranslated.code !== "invalid_request" && untranslated.code !== "unsupported_feature") throw error;
    // Sized by the native body (call.ts); the typed request only carries max_tokens.
    const request = { messages: [], max_tokens: raw.max_tokens };
    return { input: { capability: "chat", request, native: { request: native, untranslated } }, notApplied: [] };
  }
}

/**
 * The answer as Anthropic's events, held until the first piece
 * (src/edge/held-stream.ts): message_start goes out only then. A native
 * model's events are forwarded as the upstream sent them (redacted); a
 * translated model's pieces become events here. Once pieces flow, a failure
 * ends the stream with an `error` event and no message_stop. When a fallback
 * answered (or rescued the stream), `message_delta` carries `fallback`, as the
 * non-streamed message does.
 */
async function stream(c: Context<AppEnv>, requested: string, input: ChatInput) {
  const held = await holdUntilFirstPiece<ChatInput, AnyPiece>(c, (io) => openCall(c.var.scope, requested, input, io), {
    toolCalls: true,
    native: true,
  });
  const promptEstimate = held.opened.demand.prompt_tokens;
  return held.respond(async (sse, pieces) => {
    const send = (e: MessagesEvent) => sse.writeSSE({ event: e.event, data: JSON.stringify(e.data) });
    const blocks = new ContentEvents();
    let started = false;
    // The upstream's own message_delta and message_stop: sent only once the call has ended well, with its `fallback`.
    const ending: Record<string, unknown>[] = [];
    for await (const piece of pieces) {
      if (typeof piece === "object" && "native" in piece) {
        // Followed, so that text a rescue adds (src/inference/rescue.ts) continues the block the upstream left open.
        blocks.follow(piece.native);
        started = true;
        if (piece.native.type === "message_delta" || piece.native.type === "message_stop") ending.push(piece.native);
        else await sse.writeSSE({ event: String(piece.native.type), data: JSON.stringify(piece.native) });
        continue;
      }
      if (!started) {
        started = true;
        await send(messageStart(messageId(), held.opened.model.id, promptEstimate));
      }
      for (const e of blocks.piece(piece)) await send(e);
    }
    try {
      const result = await held.call;
      if (result.error) return await send(streamError(result.error));
      const answeredBy = result.fallback && { fallback: result.fallback };
      if (ending.length > 0) {
        for (const e of ending) await send({ event: String(e.type), data: e.type === "message_delta" ? { ...e, ...answeredBy } : e });
        return;
      }
      for (const e of [...blocks.stop(), ...messageEnd(result, promptEstimate, answeredBy)]) await send(e);
    } catch (error) {
      await send(streamError(toGatewayError(error).message));
    }
  });
}
