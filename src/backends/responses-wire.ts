/**
 * OpenAI's Responses API wire format (`POST {base_url}/responses`), for an
 * `openai_compatible` upstream with `responses_api: true`: the caller's body
 * sent as it is (only `model` named by the upstream's own name), the answer
 * read into a Generation for metering and storage while the upstream's own
 * object (or each of its events) is what the caller gets.
 * https://platform.openai.com/docs/api-reference/responses
 */
import { z } from "zod";
import { GatewayError } from "../errors";
import { upstreamMessage } from "./http";
import type { StreamPiece } from "./stream";
import type { FinishReason, Generation, ToolCall } from "./types";
import { parseAnswer } from "./wire";

const Usage = z
  .object({
    input_tokens: z.number().nullish(),
    output_tokens: z.number().nullish(),
    input_tokens_details: z.object({ cached_tokens: z.number().nullish() }).nullish(),
    output_tokens_details: z.object({ reasoning_tokens: z.number().nullish() }).nullish(),
  })
  .nullish();

const OutputItem = z.looseObject({
  type: z.string(),
  // message items
  content: z.array(z.looseObject({ type: z.string(), text: z.string().nullish() })).nullish(),
  // function_call items
  call_id: z.string().nullish(),
  name: z.string().nullish(),
  arguments: z.string().nullish(),
});

const ResponseObject = z.looseObject({
  id: z.string(),
  status: z.string().nullish(),
  output: z.array(OutputItem).default([]),
  usage: Usage,
  incomplete_details: z.object({ reason: z.string().nullish() }).nullish(),
  error: z.object({ message: z.string().nullish() }).nullish(),
});

/** The body sent upstream: the caller's, with the upstream's model name, streamed or not as the call is. */
export function responsesBody(model: string, body: Record<string, unknown>, stream: boolean): Record<string, unknown> {
  const sent: Record<string, unknown> = { ...body, model };
  if (stream) sent.stream = true;
  else delete sent.stream;
  return sent;
}

function usage(value: z.infer<typeof Usage>): Generation["usage"] {
  return {
    prompt_tokens: value?.input_tokens ?? null,
    completion_tokens: value?.output_tokens ?? null,
    cached_tokens: value?.input_tokens_details?.cached_tokens ?? null,
    reasoning_tokens: value?.output_tokens_details?.reasoning_tokens ?? null,
  };
}

/** Why an incomplete response stopped, in the gateway's words. */
function incompleteReason(reason: string | null | undefined): FinishReason {
  return reason === "content_filter" ? "content_filter" : "length";
}

/** A whole response object as a Generation, carrying the object itself as `native`. A failed response is the upstream's failure. */
export function responsesGeneration(json: unknown, label: string): Generation {
  const answer = parseAnswer(ResponseObject, json, label);
  if (answer.status === "failed") {
    throw new GatewayError("upstream_error", `${label} answered a failed response: ${upstreamMessage(answer.error?.message ?? "no reason given")}`);
  }
  const text = answer.output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content ?? [])
    .filter((part) => part.type === "output_text")
    .map((part) => part.text ?? "")
    .join("");
  const calls: ToolCall[] = answer.output
    .filter((item) => item.type === "function_call")
    .map((item, i) => ({ id: item.call_id ?? `call_${i}`, name: item.name ?? "", arguments: item.arguments ?? "" }));
  const finish: FinishReason =
    answer.status === "incomplete" ? incompleteReason(answer.incomplete_details?.reason) : calls.length > 0 ? "tool_calls" : "stop";
  return {
    text,
    finish_reason: finish,
    usage: usage(answer.usage),
    ...(calls.length > 0 && { tool_calls: calls }),
    native: json as Record<string, unknown>,
  };
}

const StreamEvent = z.looseObject({
  type: z.string(),
  output_index: z.number().int().min(0).max(127).nullish(),
  delta: z.string().nullish(),
  item: OutputItem.nullish(),
  response: ResponseObject.nullish(),
  message: z.string().nullish(),
});

/**
 * One Responses event as a stream piece: text deltas are text, a function
 * call's item and argument deltas are tool call pieces (indexed by output
 * item), `response.completed` / `response.incomplete` end the stream with the
 * usage, `response.failed` and `error` are the upstream's failure; reasoning
 * deltas are content without text. Every
 * event rides along as `native`, so a caller taking native events gets each
 * one as it came; the lifecycle events before the first content are held with
 * the rest of a stream's first pieces until that content (./stream.ts).
 */
export function responsesStreamPiece(event: unknown): StreamPiece {
  const parsed = StreamEvent.safeParse(event);
  if (!parsed.success) return { error: "a stream event in an unexpected shape" };
  const e = parsed.data;
  const native = event as Record<string, unknown>;
  switch (e.type) {
    case "error":
      return { error: upstreamMessage(e.message ?? JSON.stringify(event)) };
    case "response.failed":
      return { error: upstreamMessage(e.response?.error?.message ?? "the upstream reported response.failed") };
    case "response.output_text.delta":
      return { text: e.delta ?? "", native };
    // A reasoning model's visible reasoning is content too: the client shows it, and the first of it may come long
    // before any text (so it must not wait for the first-token timer).
    case "response.reasoning_summary_text.delta":
    case "response.reasoning_text.delta":
      return { content: true, native };
    case "response.output_item.added":
      if (e.item?.type !== "function_call") return { native };
      return { toolCalls: [{ index: e.output_index ?? 0, id: e.item.call_id ?? undefined, name: e.item.name ?? undefined }], native };
    case "response.function_call_arguments.delta":
      return { toolCalls: [{ index: e.output_index ?? 0, arguments: e.delta ?? "" }], native };
    case "response.completed":
      return { done: true, finish: "stop", usage: usage(e.response?.usage), native };
    case "response.incomplete":
      return { done: true, finish: incompleteReason(e.response?.incomplete_details?.reason), usage: usage(e.response?.usage), native };
    default:
      return { native };
  }
}
