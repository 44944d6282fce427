/**
 * What every streaming wire format does the same way (the /v1 chat and
 * completion routes, Anthropic Messages, and any format added later), written
 * once. The call starts first, and the response (its headers, then the
 * format's lifecycle events) goes out only once the call's first piece is in
 * hand: if it fails before any piece, the edge answers an ordinary HTTP error
 * in its format (and fallbacks had their turn). Once pieces flow, the format
 * says how a failure ends the stream (never as a clean stop).
 *
 * Every piece goes through one ordered queue with backpressure: the call's sink
 * waits until the response has taken its piece, so nothing is dropped or
 * reordered, and a slow client slows the upstream read instead of filling
 * memory. A client that goes away stops the upstream too: the call ends (and
 * is counted) with what was generated.
 */
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { ToolCallDelta } from "../backends/types";
import type { AppEnv } from "../http/app-env";
import type { CallInput, CallResult, InferenceCall, StreamSink } from "../inference/call";
import { runCall } from "../inference/run";
import { budgetRemainingHeader } from "../usage/meter";

/** A streamed text piece, or a streamed piece of a tool call. */
export type Piece = string | ToolCallDelta;
/** An upstream's own event, when a backend answered the call's native request (CallInput.native) in the caller's format. */
export interface NativePiece {
  native: Record<string, unknown>;
}
/** Any piece: an upstream's own events go only to an edge that asks for them. */
export type AnyPiece = Piece | NativePiece;

export function isNative(piece: AnyPiece | undefined): piece is NativePiece {
  return typeof piece === "object" && "native" in piece;
}

export interface HeldStream<I extends CallInput, P extends AnyPiece = Piece> {
  /** The call as opened (its worst case, what it needs). */
  opened: InferenceCall<I>;
  /** The first piece, once in hand (undefined when the call ended without any). */
  first: P | undefined;
  /** The call's result, settling when it ends (after its last piece is queued). */
  call: Promise<CallResult<I["capability"]>>;
  /** The SSE response: `write` sends the format's events for each piece, in order, then for the call's end. */
  respond(write: (sse: SSEStreamingApi, pieces: AsyncIterable<P>) => Promise<void>): Response;
}

/**
 * Open a call (`open` is given the sink that queues its pieces and the
 * signal), run it, and wait for its first piece (or its failure, which is
 * thrown). `toolCalls`: the format streams tool call pieces too (a completion
 * streams text only); `native`: the format takes a native call's events.
 */
export async function holdUntilFirstPiece<I extends CallInput, P extends AnyPiece = Piece>(
  c: Context<AppEnv>,
  open: (io: { sink: StreamSink; signal: AbortSignal }) => InferenceCall<I>,
  { toolCalls, native = false }: { toolCalls: boolean; native?: boolean },
): Promise<HeldStream<I, P>> {
  const queue = new TransformStream<AnyPiece, AnyPiece>();
  const writer = queue.writable.getWriter();
  let firstPiece!: () => void;
  const started = new Promise<void>((resolve) => (firstPiece = resolve));
  const gone = new AbortController();
  let first: P | undefined;
  const take = async (piece: AnyPiece) => {
    gone.signal.throwIfAborted(); // the reader stops at the next piece and cancels the upstream body
    first ??= piece as P;
    firstPiece();
    await writer.write(piece);
  };
  const opened = open({
    sink: {
      text: take,
      ...(toolCalls && { toolCall: take }),
      ...(native && { native: (event: Record<string, unknown>) => take({ native: event }) }),
    },
    signal: AbortSignal.any([c.req.raw.signal, gone.signal]),
  });
  const call = runCall(opened);
  await Promise.race([started, call]); // rejects when the call fails before any piece
  // The queue ends when the call does, after the pieces already in it.
  const close = () => writer.close().catch(() => {});
  void call.then(close, close);
  budgetHeader(c);

  return {
    opened,
    first,
    call,
    respond: (write) =>
      streamSSE(c, async (sse) => {
        sse.onAbort(() => gone.abort());
        const reader = queue.readable.getReader();
        const pieces = {
          async *[Symbol.asyncIterator]() {
            for (;;) {
              const next = await reader.read();
              if (next.done) return;
              // Only an edge that asked for native events (and so typed P to hold them) gets them.
              yield next.value as P;
            }
          },
        };
        try {
          await write(sse, pieces);
        } finally {
          // A no-op after the last piece; if writing failed (the client left), the call stops waiting on the queue.
          void reader.cancel().catch(() => {});
        }
      }),
  };
}

/** `x-gateway-budget-remaining` when a budget applies to the call (see docs/usage.md). */
export function budgetHeader(c: Context<AppEnv>): void {
  const remaining = budgetRemainingHeader(c.var.scope);
  if (remaining) c.header("x-gateway-budget-remaining", remaining);
}
