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
import { budgetHeader, holdUntilFirstPiece } from "../edge/held-stream";
import { anthropicErrorResponse, toGatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { readJson } from "../http/body";
import { type CallInput, openCall } from "../inference/call";
import { runCall } from "../inference/run";
import { chatRequest, inAnthropicTerms } from "./request";
import { ContentEvents, contentBlocks, type MessagesEvent, messageEnd, messageId, messageStart, stopReason, streamError, usage } from "./response";
import { CountTokensRequest, MessagesRequest } from "./schemas";

const auth = tenantAuth({ apiKeyHeader: true, show: anthropicErrorResponse });

export const anthropicRoutes = new Hono<AppEnv>()
  .post("/messages", auth, async (c) => {
    const body = await readJson(c, MessagesRequest);
    const { request, notApplied } = chatRequest(body);
    hintsHeader(c, notApplied);
    const input = { capability: "chat", request } as const;
    if (body.stream) return stream(c, body.model, input);
    const call = openCall(c.var.scope, body.model, input, { signal: c.req.raw.signal });
    const result = await runCall(call);
    budgetHeader(c);
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
    const body = await readJson(c, CountTokensRequest);
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

/**
 * The answer as Anthropic's events, held until the first piece
 * (src/edge/held-stream.ts): message_start goes out only then. Once pieces
 * flow, a failure ends the stream with an `error` event and no message_stop.
 */
async function stream(c: Context<AppEnv>, requested: string, input: Extract<CallInput, { capability: "chat" }>) {
  const held = await holdUntilFirstPiece(c, (io) => openCall(c.var.scope, requested, input, io), { toolCalls: true });
  const promptEstimate = held.opened.demand.prompt_tokens;
  return held.respond(async (sse, pieces) => {
    const send = (e: MessagesEvent) => sse.writeSSE({ event: e.event, data: JSON.stringify(e.data) });
    const blocks = new ContentEvents();
    await send(messageStart(messageId(), held.opened.model.id, promptEstimate));
    for await (const piece of pieces) for (const e of blocks.piece(piece)) await send(e);
    try {
      const result = await held.call;
      if (result.error) return await send(streamError(result.error));
      for (const e of [...blocks.stop(), ...messageEnd(result, promptEstimate)]) await send(e);
    } catch (error) {
      await send(streamError(toGatewayError(error).message));
    }
  });
}
