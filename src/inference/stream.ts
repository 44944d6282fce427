/**
 * A call's stream, as one pipeline, one function per kind of piece: each
 * attempt's pieces are redacted with that attempt's secrets (./redaction.ts),
 * recorded as having reached the caller, and handed to the edge's sink.
 * Failover (./run.ts) reads `started` (once anything reached the caller, the
 * call cannot move to another model) and metering (src/usage/meter.ts) reads
 * `reached` (what a failed call still generated).
 */
import type { CallOptions, ToolCallDelta } from "../backends/types";
import type { StreamSink } from "./call";
import type { Redactor } from "./redaction";

export class CallStream {
  /** Something reached the caller. */
  started = false;
  /** Characters of text and tool call pieces that reached the caller. */
  reached = 0;

  constructor(private readonly sink: StreamSink | undefined) {}

  /** The backend's options for one attempt, and `flush`, which sends the text redaction held back when the attempt ends. */
  attempt(options: CallOptions, redact: Redactor): { options: CallOptions; flush(): Promise<void> } {
    const sink = this.sink;
    if (!sink) return { options, flush: async () => {} };
    const send = (text: string) => {
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
    const native = sink.native?.bind(sink);
    // A native event is redacted whole (every string in it), and reaches the caller as it is otherwise.
    const onNative =
      native &&
      ((event: Record<string, unknown>) => {
        const clean = redact.result(event);
        this.started = true;
        // What was generated is in the deltas; the rest of an event is the format's framing.
        if (typeof clean.delta === "string") this.reached += clean.delta.length;
        return native(clean);
      });
    const toolCall = sink.toolCall?.bind(sink);
    // Tool call pieces are redacted one by one (a secret split across two argument pieces is not caught here; the whole call is, after).
    const onToolCall =
      toolCall &&
      ((delta: ToolCallDelta) => {
        const clean = redact.idle
          ? delta
          : { ...delta, ...(delta.name && { name: redact(delta.name) }), ...(delta.arguments && { arguments: redact(delta.arguments) }) };
        this.started = true;
        this.reached += JSON.stringify(clean).length;
        return toolCall(clean);
      });
    return {
      options: { ...options, onText, ...(onToolCall && { onToolCall }), ...(onNative && { onNative }) },
      flush: async () => {
        const rest = redact(pending);
        pending = "";
        if (rest) await send(rest);
      },
    };
  }
}
