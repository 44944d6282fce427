/**
 * An OpenAI request body as the gateway's own request: every field the body
 * holds ends up in it, translated (messages, `developer`, `max_completion_tokens`)
 * or as it is (tools, tool_choice, response_format, unknown fields in `extra`).
 */
import type { ChatMessage, ChatRequest, CompletionRequest, SamplingParams } from "../backends/types";
import { stopList } from "../inference/schemas";
import { type ChatCompletionRequest, type CompletionRequest as CompletionBody, type Message, unknownFields } from "./schemas";

export function chatRequest(body: ChatCompletionRequest): ChatRequest {
  const { tools, tool_choice, parallel_tool_calls, response_format } = body;
  return {
    messages: body.messages.map(message),
    ...sampling(body),
    ...(tools && { tools }),
    ...(tool_choice !== undefined && { tool_choice }),
    ...(parallel_tool_calls !== undefined && { parallel_tool_calls }),
    ...(response_format && { response_format }),
  };
}

export function completionRequest(body: CompletionBody): CompletionRequest {
  return { prompt: Array.isArray(body.prompt) ? body.prompt[0]! : body.prompt, ...sampling(body) };
}

function sampling(body: ChatCompletionRequest | CompletionBody): SamplingParams & { extra?: Record<string, unknown> } {
  const extra = unknownFields(body);
  return {
    max_tokens: body.max_completion_tokens ?? body.max_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
    stop: stopList(body.stop),
    seed: body.seed,
    presence_penalty: body.presence_penalty,
    frequency_penalty: body.frequency_penalty,
    logit_bias: body.logit_bias,
    user: body.user,
    ...(extra && { extra }),
  };
}

function message(m: Message): ChatMessage {
  const name = "name" in m && m.name !== undefined ? { name: m.name } : {};
  switch (m.role) {
    case "system":
    case "developer":
      return { role: "system", content: m.content, ...name };
    case "user": {
      // Text-only parts are one text (as before, and as every upstream takes); parts with images stay parts.
      const content = m.content;
      const joined = typeof content !== "string" && content.every((p) => p.type === "text") ? content.map((p) => p.text).join("") : content;
      return { role: "user", content: joined, ...name };
    }
    case "assistant":
      return {
        role: "assistant",
        content: m.content ?? "",
        ...(m.tool_calls && { tool_calls: m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) }),
        ...name,
      };
    case "tool":
      return { role: "tool", tool_call_id: m.tool_call_id, content: m.content };
  }
}
