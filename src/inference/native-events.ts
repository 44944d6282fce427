/**
 * What the core needs to know about native events (see `NativeInput` in
 * ./call.ts): which carry text of the answer, so redaction can hold back a
 * tail that may be the start of a secret, and which only frame that text, so
 * a stream of nothing else can be rescued (./rescue.ts). Anthropic's Messages
 * events are the only native format the core reads so far: text comes as
 * `content_block_delta` with a `text_delta`; tool input and thinking as other
 * deltas. Any other format's events count as more than text.
 */

/** The text of a text delta event, or undefined for any other event. */
export function isTextDelta(event: Record<string, unknown>): string | undefined {
  if (event.type !== "content_block_delta") return undefined;
  const delta = event.delta as { type?: unknown; text?: unknown } | undefined;
  return delta?.type === "text_delta" && typeof delta.text === "string" ? delta.text : undefined;
}

/** A text delta event of block `index`. */
export function textDelta(index: unknown, text: string): Record<string, unknown> {
  return { type: "content_block_delta", index, delta: { type: "text_delta", text } };
}

/** How much of the answer an event carries, in characters (metering a call that fails after it, src/usage/meter.ts). */
export function contentChars(event: Record<string, unknown>): number {
  if (event.type !== "content_block_delta") return 0;
  return isTextDelta(event)?.length ?? JSON.stringify(event.delta ?? "").length;
}

/** An event that only frames text: the message's start, a ping, a text block's start or any block's stop. */
export function isTextFrame(event: Record<string, unknown>): boolean {
  if (event.type === "message_start" || event.type === "ping" || event.type === "content_block_stop") return true;
  return event.type === "content_block_start" && (event.content_block as { type?: unknown } | undefined)?.type === "text";
}
