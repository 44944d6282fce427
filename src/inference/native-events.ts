/**
 * What the core needs to know about native events (see `NativeInput` in
 * ./call.ts): which stream a string in pieces (text, thinking, tool input),
 * so redaction can hold back a tail that may be the start of a secret (an
 * upstream's tokenizer splits a secret over several deltas); which carry the
 * answer's text; and which only frame that text, so a stream of nothing else
 * can be rescued (./rescue.ts). Text comes as Anthropic's `content_block_delta`
 * with a `text_delta`, and as the Responses API's `response.output_text.delta`.
 */

/** The text of a text delta event, or undefined for any other event. */
export function isTextDelta(event: Record<string, unknown>): string | undefined {
  if (event.type === "response.output_text.delta") return typeof event.delta === "string" ? event.delta : undefined;
  if (event.type !== "content_block_delta") return undefined;
  const delta = event.delta as { type?: unknown; text?: unknown } | undefined;
  return delta?.type === "text_delta" && typeof delta.text === "string" ? delta.text : undefined;
}

/** Anthropic's deltas that stream a string in pieces, and the field that holds it. */
const ANTHROPIC_PIECES: Record<string, string> = { text_delta: "text", thinking_delta: "thinking", input_json_delta: "partial_json" };

/**
 * The piece of a string an event streams (answer text, thinking, a tool
 * call's input JSON, reasoning), or undefined: what redaction holds back a
 * tail of, since a secret can span pieces (./stream.ts).
 */
export function streamedPiece(event: Record<string, unknown>): string | undefined {
  if (event.type === "content_block_delta") {
    const delta = (event.delta ?? {}) as Record<string, unknown>;
    const field = ANTHROPIC_PIECES[String(delta.type)];
    return field !== undefined && typeof delta[field] === "string" ? delta[field] : undefined;
  }
  // The Responses API streams every such string as `response.<…>.delta` with a string `delta`.
  const type = String(event.type);
  return type.startsWith("response.") && type.endsWith(".delta") && typeof event.delta === "string" ? event.delta : undefined;
}

/**
 * The event of a streamed piece (`streamedPiece`), carrying `piece` instead.
 * A Responses delta's `logprobs` go empty: their tokens spell the text as the
 * upstream split it, a held-back secret's start included.
 */
export function withPiece(event: Record<string, unknown>, piece: string): Record<string, unknown> {
  if (event.type !== "content_block_delta") return { ...event, delta: piece, ...("logprobs" in event && { logprobs: [] }) };
  const delta = event.delta as Record<string, unknown>;
  return { ...event, delta: { ...delta, [ANTHROPIC_PIECES[String(delta.type)]!]: piece } };
}

/** Whether two streamed pieces belong to one string: the same kind, block, item, part and summary. */
export function samePiece(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const kind = (e: Record<string, unknown>) => (e.delta as { type?: unknown } | undefined)?.type;
  return (
    a.type === b.type &&
    (a.type !== "content_block_delta" || kind(a) === kind(b)) &&
    a.index === b.index &&
    a.item_id === b.item_id &&
    a.output_index === b.output_index &&
    a.content_index === b.content_index &&
    a.summary_index === b.summary_index
  );
}

/** How much of the answer an event carries, in characters (metering a call that fails after it, src/usage/meter.ts). */
export function contentChars(event: Record<string, unknown>): number {
  const text = isTextDelta(event);
  if (text !== undefined) return text.length;
  if (event.type === "content_block_delta") return JSON.stringify(event.delta ?? "").length;
  // The Responses API's other deltas (tool call arguments, reasoning) are strings.
  return typeof event.delta === "string" ? event.delta.length : 0;
}

/**
 * An event that only frames text. Anthropic: the message's start, a ping, a
 * text block's start or any block's stop. Responses: the response's creation
 * and progress, a message item's start, an output_text part's start.
 */
export function isTextFrame(event: Record<string, unknown>): boolean {
  switch (event.type) {
    case "message_start":
    case "ping":
    case "content_block_stop":
    case "response.created":
    case "response.in_progress":
      return true;
    case "content_block_start":
      return (event.content_block as { type?: unknown } | undefined)?.type === "text";
    case "response.output_item.added":
      return (event.item as { type?: unknown } | undefined)?.type === "message";
    case "response.content_part.added":
      return (event.part as { type?: unknown } | undefined)?.type === "output_text";
    default:
      return false;
  }
}
