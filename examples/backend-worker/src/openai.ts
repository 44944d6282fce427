/**
 * The OpenAI wire format (https://platform.openai.com/docs/api-reference/chat)
 * in the gateway contract's terms: requests out, answers and SSE chunks back,
 * HTTP errors as the contract's coded errors.
 */
import { backendError, type Generation, type WorkerChatRequest, type WorkerStreamEvent } from "../../../src/backends/contract";

type Message = WorkerChatRequest["messages"][number];

/** The gateway's messages as OpenAI's: an assistant's tool calls become `{id, type, function}`. */
export function openAIMessages(messages: Message[]): unknown[] {
  return messages.map((message) =>
    message.role === "assistant" && message.tool_calls
      ? {
          ...message,
          tool_calls: message.tool_calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } })),
        }
      : message,
  );
}

interface ChoiceMessage {
  content?: string | null;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
}

interface Completion {
  choices?: { message?: ChoiceMessage; text?: string; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

const FINISH = new Set(["stop", "length", "content_filter", "tool_calls"]);

function finish(reason: string | null | undefined): Generation["finish_reason"] {
  return reason && FINISH.has(reason) ? (reason as Generation["finish_reason"]) : reason ? "unknown" : "stop";
}

function usage(body: Completion["usage"]): Generation["usage"] {
  return { prompt_tokens: body?.prompt_tokens ?? null, completion_tokens: body?.completion_tokens ?? null };
}

/** A whole chat completion or text completion as a Generation. */
export function generation(body: Completion): Generation {
  const choice = body.choices?.[0];
  if (!choice) throw backendError("unavailable", "the upstream answered without a choice");
  const calls = choice.message?.tool_calls?.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }));
  return {
    text: choice.message?.content ?? choice.text ?? "",
    finish_reason: finish(choice.finish_reason),
    usage: usage(body.usage),
    ...(calls && calls.length > 0 && { tool_calls: calls }),
  };
}

interface Chunk {
  choices?: {
    delta?: { content?: string | null; tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[] };
    text?: string;
    finish_reason?: string | null;
  }[];
  usage?: Completion["usage"] | null;
}

/** One SSE chunk as one line of the contract's stream (null when it says nothing). */
export function streamEvent(chunk: Chunk): WorkerStreamEvent | null {
  const choice = chunk.choices?.[0];
  const event: WorkerStreamEvent = {};
  const text = choice?.delta?.content ?? choice?.text;
  if (text) event.text = text;
  const calls = choice?.delta?.tool_calls;
  if (calls && calls.length > 0) {
    event.tool_calls = calls.map((call) => ({ index: call.index, id: call.id, name: call.function?.name, arguments: call.function?.arguments }));
  }
  if (chunk.usage) event.usage = usage(chunk.usage);
  if (choice?.finish_reason) event.finish_reason = finish(choice.finish_reason);
  return Object.keys(event).length > 0 ? event : null;
}

/** An upstream's HTTP error as the contract's coded error: retried (429, 5xx) or final (other 4xx). */
export async function upstreamError(response: Response): Promise<Error> {
  const detail = `the upstream answered ${response.status}: ${(await response.text()).slice(0, 300)}`;
  if (response.status === 429) return backendError("rate_limited", detail);
  if (response.status >= 500) return backendError("unavailable", detail);
  if (/maximum context length|context_length_exceeded/i.test(detail)) return backendError("context_length_exceeded", detail);
  return backendError("invalid_request", detail);
}
