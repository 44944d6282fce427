/**
 * A call's stream, as one pipeline, one function per kind of piece: each
 * attempt's pieces are redacted with that attempt's secrets (./redaction.ts),
 * recorded as having reached the caller, and handed to the edge's sink.
 * Failover (./run.ts) reads `started` (once anything reached the caller, the
 * call cannot move to another model) and metering (src/usage/meter.ts) reads
 * `reached` (what a failed call still generated).
 */
import type { CallOptions, ToolCallDelta } from "../backends/types";
import { contentChars, isTextDelta, textDelta } from "./native-events";
import type { StreamSink } from "./call";
import type { Redactor } from "./redaction";

export class CallStream {
  /** Something reached the caller. */
  started = false;
  /** Characters of text and tool call pieces that reached the caller. */
  reached = 0;
  /** When the first piece reached the caller (epoch ms): a call's time to first token (./load-balance.ts). */
  firstAt: number | undefined;

  constructor(private readonly sink: StreamSink | undefined) {}

  /** The backend's options for one attempt, and `flush`, which sends the text redaction held back when the attempt ends. */
  attempt(options: CallOptions, redact: Redactor): { options: CallOptions; flush(): Promise<void> } {
    const sink = this.sink;
    if (!sink) return { options, flush: async () => {} };
    const send = (text: string) => {
      this.firstAt ??= Date.now();
      this.started = true;
      this.reached += text.length;
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
   * text of text deltas goes through the same hold-back as `onText`, so a
   * secret split across two deltas is caught (the held tail goes out, as a
   * delta of its own block, before the next event that is not more of it).
   */
  private native(deliver: (event: Record<string, unknown>) => void | Promise<void>, redact: Redactor) {
    let held: { index: unknown; text: string } | undefined;
    const send = (event: Record<string, unknown>, chars: number) => {
      this.started = true;
      this.reached += chars;
      return deliver(event);
    };
    const release = async () => {
      if (!held) return;
      const { index, text } = held;
      held = undefined;
      const rest = redact(text);
      if (rest) await send(textDelta(index, rest), rest.length);
    };
    return {
      take: async (event: Record<string, unknown>) => {
        const text = isTextDelta(event);
        if (text === undefined || redact.idle) {
          await release();
          return send(redact.result(event), contentChars(event));
        }
        if (held && held.index !== event.index) await release();
        const pending = redact((held?.text ?? "") + text);
        const ready = pending.length - redact.unsafeTail(pending);
        held = { index: event.index, text: pending.slice(Math.max(0, ready)) };
        if (ready > 0) await send(textDelta(event.index, pending.slice(0, ready)), ready);
      },
      flush: release,
    };
  }
}
