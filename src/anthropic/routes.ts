/**
 * Anthropic's Messages API under /v1 (`POST /v1/messages`,
 * `POST /v1/messages/count_tokens`), on every backend: the body becomes the
 * gateway's typed call (./request.ts) and the result Anthropic's message or
 * events (./response.ts). The key comes as `x-api-key` (what the Anthropic
 * SDKs and Claude Code send) or `Authorization: Bearer`; errors use Anthropic's
 * shape. Hints left out are named in `x-gateway-not-applied`.
 */
import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { tenantAuth } from "../auth/middleware";
import type { ToolCallDelta } from "../backends/types";
import { anthropicErrorResponse, toGatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { readJson } from "../http/body";
import { type CallInput, type CallResult, openCall } from "../inference/call";
import { runCall } from "../inference/run";
import { budgetRemainingHeader } from "../usage/meter";
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

/** `x-gateway-budget-remaining` when a budget applies to the call (as on the OpenAI routes). */
function budgetHeader(c: Context<AppEnv>) {
  const remaining = budgetRemainingHeader(c.var.scope);
  if (remaining) c.header("x-gateway-budget-remaining", remaining);
}

/**
 * The answer as Anthropic's events. The call starts first, and the headers and
 * message_start go out only once its first piece is in hand: a failure before
 * it is an ordinary HTTP error (and fallbacks had their turn). Once pieces flow,
 * a failure ends the stream with an `error` event and no message_stop.
 *
 * Pieces go through one ordered queue with backpressure (as on the OpenAI
 * routes): the call's sink waits until the writer has taken each piece.
 */
async function stream(c: Context<AppEnv>, requested: string, input: Extract<CallInput, { capability: "chat" }>) {
  type Piece = string | ToolCallDelta;
  const queue = new TransformStream<Piece, Piece>();
  const writer = queue.writable.getWriter();
  let firstPiece!: () => void;
  const started = new Promise<void>((resolve) => (firstPiece = resolve));
  // A client that goes away mid-stream stops the upstream too.
  const gone = new AbortController();
  const take = async (piece: Piece) => {
    gone.signal.throwIfAborted();
    firstPiece();
    await writer.write(piece);
  };
  const opened = openCall(c.var.scope, requested, input, {
    sink: { text: take, toolCall: take },
    signal: AbortSignal.any([c.req.raw.signal, gone.signal]),
  });
  const promptEstimate = opened.demand.prompt_tokens;
  const call: Promise<CallResult<"chat">> = runCall(opened);
  await Promise.race([started, call]); // rejects when the call fails before any piece
  void call.then(
    () => writer.close().catch(() => {}),
    () => writer.close().catch(() => {}),
  );
  budgetHeader(c);

  return streamSSE(c, async (sse) => {
    sse.onAbort(() => gone.abort());
    const send = (e: MessagesEvent) => sse.writeSSE({ event: e.event, data: JSON.stringify(e.data) });
    const blocks = new ContentEvents();
    const reader = queue.readable.getReader();
    try {
      await send(messageStart(messageId(), requested, promptEstimate));
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        for (const e of blocks.piece(next.value)) await send(e);
      }
    } finally {
      void reader.cancel().catch(() => {});
    }
    try {
      const result = await call;
      if (result.error) return await send(streamError(result.error));
      for (const e of [...blocks.stop(), ...messageEnd(result, promptEstimate)]) await send(e);
    } catch (error) {
      await send(streamError(toGatewayError(error).message));
    }
  });
}
