/**
 * The body a `responses_api` upstream gets (pass-through, docs/responses-api.md):
 * the caller's own body as sent, with the gateway's storage applied. The
 * gateway, not the upstream, keeps responses: a model's fallbacks and
 * load-balanced targets are other upstreams (or other accounts) that never saw
 * an earlier response, so an upstream-side `previous_response_id` would break
 * on the first failover. So the upstream is sent `store: false`, and a
 * `previous_response_id` is resolved here: the stored conversation goes first
 * in `input`, as Responses items.
 */
import type { ChatMessage, ContentPart } from "../backends/types";

export function nativeBody(raw: Record<string, unknown>, before: ChatMessage[]): Record<string, unknown> {
  const { previous_response_id: _previous, ...body } = raw;
  if (before.length === 0) return { ...body, store: false };
  const input = typeof body.input === "string" ? [{ type: "message", role: "user", content: body.input }] : (body.input ?? []);
  return { ...body, input: [...before.flatMap(inputItems), ...(input as unknown[])], store: false };
}

/** A stored chat message as the Responses input items it came from. */
function inputItems(message: ChatMessage): Record<string, unknown>[] {
  switch (message.role) {
    case "system":
      return [{ type: "message", role: "system", content: message.content }];
    case "user":
      return [{ type: "message", role: "user", content: typeof message.content === "string" ? message.content : message.content.map(inputPart) }];
    case "assistant":
      return [
        ...(message.content
          ? [{ type: "message", role: "assistant", content: [{ type: "output_text", text: message.content, annotations: [] }] }]
          : []),
        ...(message.tool_calls ?? []).map((call) => ({ type: "function_call", call_id: call.id, name: call.name, arguments: call.arguments })),
      ];
    case "tool":
      return [{ type: "function_call_output", call_id: message.tool_call_id, output: message.content }];
  }
}

function inputPart(part: ContentPart): Record<string, unknown> {
  return part.type === "text"
    ? { type: "input_text", text: part.text }
    : { type: "input_image", image_url: part.image_url.url, detail: part.image_url.detail ?? "auto" };
}
