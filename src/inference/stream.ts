/**
 * A call's stream, as one pipeline, one function per kind of piece: each
 * attempt's pieces are redacted with that attempt's secrets (./redaction.ts),
 * recorded as having reached the caller, and handed to the edge's sink.
 * Failover (./run.ts) reads `started` (once anything reached the caller, the
 * call cannot move to another model) and metering (src/usage/meter.ts) reads
 * `reached` (what a failed call still generated).
 */
import type { CallOptions, ToolCallDelta } from "../backends/types";
import { contentChars, isTextDelta, isTextFrame, samePiece, streamedPiece, withPiece } from "./native-events";
import type { StreamSink } from "./call";
import type { Redactor } from "./redaction";

export class CallStream {
  /** Something reached the caller. */
  started = false;
  /** Characters of text and tool call pieces that reached the caller. */
  reached = 0;
  /** When the first piece reached the caller (epoch ms): a call's time to first token (./load-balance.ts). */
  firstAt: number | undefined;
  /** The text that reached the caller, as it got it (redacted): what a rescue (./rescue.ts) must continue. */
  text = "";
  /** Something other than text reached the caller (a tool call's piece, a native event other than text): no rescue can prove it whole. */
  notText = false;

  constructor(private readonly sink: StreamSink | undefined) {}

  /**
   * The backend's options for one attempt, and `flush`, which sends the text redaction held back when the attempt ends.
   * `join`: the attempt rescues this stream (./rescue.ts), and its text joins what the caller already has.
   */
  attempt(options: CallOptions, redact: Redactor, join?: Join): { options: CallOptions; flush(): Promise<void> } {
    const sink = this.sink;
    if (!sink) return { options, flush: async () => {} };
    const send = (piece: string) => {
      const text = join ? join.take(piece) : piece;
      if (!text) return;
      this.firstAt ??= Date.now();
      this.started = true;
      this.reached += text.length;
      this.text += text;
      return sink.text(text);
    };
    // Text that could be the start of a secret waits for the next piece, so a secret split across pieces is caught.
    let pending = "";
    const onText = async (delta: string) => {
      if (redact.idle) return send(delta);
      pending = redact(pending + delta);
      const ready = pending.length - redact.unsafeTail(pending);
      if (ready <= 0) return;
      const out = pending.slice(0, ready);
      pending = pending.slice(ready);
      await send(out);
    };
    const toolCall = sink.toolCall?.bind(sink);
    const sendTool = (delta: ToolCallDelta) => {
      join?.take(null);
      this.notText = true;
      this.firstAt ??= Date.now();
      this.started = true;
      this.reached += JSON.stringify(delta).length;
      return toolCall!(delta);
    };
    // Each call's arguments are held back like text: a secret split across two pieces is caught.
    const pendingArgs = new Map<number, string>();
    const flushTools = async (except?: number) => {
      for (const [index, rest] of pendingArgs) {
        if (index === except) continue;
        pendingArgs.delete(index);
        if (rest) await sendTool({ index, arguments: redact(rest) });
      }
    };
    const onToolCall =
      toolCall &&
      (async (delta: ToolCallDelta) => {
        if (redact.idle) return sendTool(delta);
        const opens = delta.id !== undefined || delta.name !== undefined;
        // A new call begins: what earlier calls held back goes first, so each call's pieces stay in order.
        if (opens) await flushTools(delta.index);
        let args: string | undefined;
        if (delta.arguments) {
          const joined = redact((pendingArgs.get(delta.index) ?? "") + delta.arguments);
          const ready = joined.length - redact.unsafeTail(joined);
          pendingArgs.set(delta.index, joined.slice(ready));
          args = joined.slice(0, ready);
        }
        if (!opens && !args) return;
        await sendTool({
          index: delta.index,
          ...(delta.id !== undefined && { id: delta.id }),
          ...(delta.name !== undefined && { name: redact(delta.name) }),
          ...(args && { arguments: args }),
        });
      });
    const native = sink.native && this.native(sink.native.bind(sink), redact);
    return {
      options: { ...options, onText, ...(onToolCall && { onToolCall }), ...(native && { onNative: native.take }) },
      flush: async () => {
        const rest = redact(pending);
        pending = "";
        if (rest) await send(rest);
        if (toolCall) await flushTools();
        await native?.flush();
      },
    };
  }

  /**
   * A native call's events (src/inference/call.ts): each redacted whole; the
   * strings deltas stream in pieces (text, thinking, tool input JSON,
   * reasoning: ./native-events.ts) go through the same hold-back as `onText`,
   * so a secret split across two deltas is caught (the held tail goes out, as
   * a delta of its own, before the next event that is not more of it).
   */
  private native(deliver: (event: Record<string, unknown>) => void | Promise<void>, redact: Redactor) {
    /** A streamed string's tail held back, and the event it came in (a released tail goes out as an event like it). */
    let held: { like: Record<string, unknown>; text: string } | undefined;
    const send = (event: Record<string, unknown>, chars: number) => {
      // Text, and the events that only frame it, keep the stream one a rescue can continue (./rescue.ts).
      const text = isTextDelta(event);
      if (text !== undefined) this.text += text;
      else if (!isTextFrame(event)) this.notText = true;
      this.started = true;
      this.reached += chars;
      return deliver(event);
    };
    const release = async () => {
      if (!held) return;
      const { like, text } = held;
      held = undefined;
      const rest = redact(text);
      if (rest) await send(redact.result(withPiece(like, rest)), rest.length);
    };
    return {
      take: async (event: Record<string, unknown>) => {
        const piece = streamedPiece(event);
        if (piece === undefined || redact.idle) {
          await release();
          return send(redact.result(event), contentChars(event));
        }
        if (held && !samePiece(held.like, event)) await release();
        const pending = redact((held?.text ?? "") + piece);
        const ready = pending.length - redact.unsafeTail(pending);
        held = { like: event, text: pending.slice(Math.max(0, ready)) };
        if (ready > 0) await send(redact.result(withPiece(event, pending.slice(0, ready))), ready);
      },
      flush: release,
    };
  }
}

/**
 * How a rescuing attempt's text joins what already reached the caller:
 * `continue` (an assistant prefill) skips the whitespace the prefill left
 * out, where the continuation repeats it; `regenerate` forwards nothing until
 * the attempt's text has matched every character the caller has, and fails
 * (`mismatched`, its upstream cut off) at the first that differs.
 */
export class Join {
  mismatched = false;
  constructor(
    /** `continue`: the whitespace the prefill left out; `regenerate`: all the caller has. */
    private rest: string,
    readonly how: "continue" | "regenerate",
  ) {}

  /** Whether the attempt's text has covered all the caller had (always, for a continuation). */
  get matched(): boolean {
    return this.how === "continue" || this.rest === "";
  }

  /** What of `piece` goes to the caller; null for a piece that is not text (it must not come before the match). */
  take(piece: string | null): string {
    if (this.how === "continue" || this.rest === "") {
      if (piece === null) return "";
      // Skip the left-out whitespace only as far as the continuation repeats it, at its very start.
      let i = 0;
      while (i < this.rest.length && i < piece.length && piece[i] === this.rest[i]) i++;
      this.rest = i === piece.length ? this.rest.slice(i) : "";
      return piece.slice(i);
    }
    const n = piece === null ? 0 : Math.min(this.rest.length, piece.length);
    if (piece === null || piece.slice(0, n) !== this.rest.slice(0, n)) {
      this.mismatched = true;
      // Thrown into the backend's stream, which stops reading (its upstream is cancelled) and returns it as broken.
      throw new Error("The regenerated answer differs from the text the caller has.");
    }
    this.rest = this.rest.slice(n);
    return piece.slice(n);
  }
}
