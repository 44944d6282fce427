/**
 * A passed-through Responses stream that a rescue finished
 * (src/inference/rescue.ts): the upstream had sent only text, in one open
 * `output_text` part of a message item, when it broke. The rescue's text goes
 * on as deltas of that part, and the events that end the part, the item and
 * the response are the gateway's, in the API's order.
 */
import type { Generation } from "../backends/types";
import { incomplete, usage } from "./response";

interface Part {
  item_id: unknown;
  output_index: unknown;
  content_index: unknown;
}

export class ContinuedText {
  #open: Part | undefined;
  #text = "";
  /** The rescue added text: the gateway ends the stream. */
  continued = false;

  /** Follow an upstream event: the output_text part it opens or ends, and its text. */
  follow(event: Record<string, unknown>): void {
    if (event.type === "response.content_part.added" && (event.part as { type?: unknown } | undefined)?.type === "output_text") {
      this.#open = { item_id: event.item_id, output_index: event.output_index, content_index: event.content_index };
      this.#text = "";
    } else if (event.type === "response.output_text.delta" && typeof event.delta === "string") {
      this.#text += event.delta;
    } else if (event.type === "response.content_part.done") {
      this.#open = undefined;
    }
  }

  /** A rescue's text as a delta of the open part; undefined when no part is open (nothing it could continue). */
  delta(text: string): Record<string, unknown> | undefined {
    if (!this.#open) return undefined;
    this.#text += text;
    this.continued = true;
    return { type: "response.output_text.delta", ...this.#open, delta: text, logprobs: [] };
  }

  /** The events that end the part, the message and the response (built on the upstream's latest response object). */
  end(latest: Record<string, unknown>, result: Generation, promptEstimate: number): { events: Record<string, unknown>[]; response: object } {
    const at = this.#open!;
    const part = { type: "output_text", text: this.#text, annotations: [] };
    const item = { id: at.item_id, type: "message", status: "completed", role: "assistant", content: [part] };
    const cut = incomplete(result);
    const response = {
      ...latest,
      status: cut ? "incomplete" : "completed",
      output: [item],
      usage: usage(result, promptEstimate),
      ...(cut && { incomplete_details: cut }),
    };
    return {
      events: [
        { type: "response.output_text.done", ...at, text: this.#text, logprobs: [] },
        { type: "response.content_part.done", ...at, part },
        { type: "response.output_item.done", output_index: at.output_index, item },
        { type: cut ? "response.incomplete" : "response.completed", response },
      ],
      response,
    };
  }
}
