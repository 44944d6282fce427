/**
 * What the core needs to know about native events (see `NativeInput` in
 * ./call.ts): which carry text of the answer, so redaction can hold back a
 * tail that may be the start of a secret (an upstream's tokenizer splits a
 * secret over several deltas), and which only frame that text, so a stream of
 * nothing else can be rescued (./rescue.ts). Text comes as Anthropic's
 * `content_block_delta` with a `text_delta`, and as the Responses API's
 * `response.output_text.delta`. Only Anthropic's frames are known: a
 * Responses stream is never rescued (its edge could not end it).
 */

/** The text of a text delta event, or undefined for any other event. */
export function isTextDelta(event: Record<string, unknown>): string | undefined {
  if (event.type === "response.output_text.delta") return typeof event.delta === "string" ? event.delta : undefined;
  if (event.type !== "content_block_delta") return undefined;
  const delta = event.delta as { type?: unknown; text?: unknown } | undefined;
  return delta?.type === "text_delta" && typeof delta.text === "string" ? delta.text : undefined;
}

/**
 * The text delta `event` (as `isTextDelta` knows it), carrying `text` instead.
 * A Responses delta's `logprobs` go empty: their tokens spell the text as the
 * upstream split it, a held-back secret's start included.
 */
export function withText(event: Record<string, unknown>, text: string): Record<string, unknown> {
  if (event.type === "response.output_text.delta") return { ...event, delta: text, ...("logprobs" in event && { logprobs: [] }) };
  return { ...event, delta: { ...(event.delta as object), text } };
}

/** Whether two text deltas write the same text: Anthropic's block, or the Responses item and content part. */
export function sameText(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return a.type === b.type && a.index === b.index && a.item_id === b.item_id && a.content_index === b.content_index;
}

/** How much of the answer an event carries, in characters (metering a call that fails after it, src/usage/meter.ts). */
export function contentChars(event: Record<string, unknown>): number {
  const text = isTextDelta(event);
  if (text !== undefined) return text.length;
  if (event.type === "content_block_delta") return JSON.stringify(event.delta ?? "").length;
  // The Responses API's other deltas (tool call arguments, reasoning) are strings.
  return typeof event.delta === "string" ? event.delta.length : 0;
}

/** An event that only frames text: the message's start, a ping, a text block's start or any block's stop. */
export function isTextFrame(event: Record<string, unknown>): boolean {
  if (event.type === "message_start" || event.type === "ping" || event.type === "content_block_stop") return true;
  return event.type === "content_block_start" && (event.content_block as { type?: unknown } | undefined)?.type === "text";
}
