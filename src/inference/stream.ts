/**
 * A call's stream, as one pipeline: each attempt's pieces are redacted with
 * that attempt's secrets (./redaction.ts), recorded as having reached the
 * caller, then handed to the edge's sink. Failover (./run.ts) reads `started`
 * (once anything reached the caller, the call cannot move to another model)
 * and metering (src/usage/meter.ts) reads `reached` (what a failed call still
 * generated).
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

  /** The backend's options for one attempt, and `flush`, which sends what redaction held back when the attempt ends. */
  attempt(options: CallOptions, redact: Redactor): { options: CallOptions; flush(): Promise<void> } {
    const sink = this.sink;
    if (!sink) return { options, flush: async () => {} };
    const toolCall = sink.toolCall?.bind(sink);
    return redact.stream({
      ...options,
      onText: (delta: string) => {
        this.started = true;
        this.reached += delta.length;
        return sink.text(delta);
      },
      ...(toolCall && {
        onToolCall: (delta: ToolCallDelta) => {
          this.started = true;
          this.reached += JSON.stringify(delta).length;
          return toolCall(delta);
        },
      }),
    });
  }
}
