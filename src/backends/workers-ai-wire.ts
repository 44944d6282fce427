/**
 * Workers AI text generation's inputs and outputs (developers.cloudflare.com/workers-ai:
 * the models' schemas, "Traditional function calling", "JSON Mode"):
 *   inputs   {messages, max_tokens, temperature, top_p, seed, frequency_penalty,
 *             presence_penalty, tools: [{name, description, parameters}],
 *             response_format: {type: "json_object" | "json_schema", json_schema}}
 *            messages: {role: system | user | assistant | tool, content, tool_call_id?};
 *            a user's content may be parts, `image_url` as a data: URL only
 *   outputs  {response: string | object (JSON mode), tool_calls?: [{name, arguments}]
 *             (newer models: [{id, type, function: {name, arguments}}]), usage}
 * JSON mode does not stream, and tool calls are documented whole, so requests
 * with either are made whole and handed to a streaming caller at once.
 */
import { z } from "zod";
import { GatewayError } from "../errors";
import { type ParamMap, refuseExtras, unsupportedParam, wireParams } from "./params";
import { argumentsObject, argumentsText, newCallId } from "./tool-calls";
import type { ChatMessage, ChatRequest, CompletionRequest, Generation, ImageLoader, ToolCall } from "./types";

/** Workers AI text generation's names; it has no stop sequences, no logit bias, no end-user field. */
const PARAMS: ParamMap = {
  max_tokens: "max_tokens",
  temperature: "temperature",
  top_p: "top_p",
  stop: null,
  seed: "seed",
  presence_penalty: "presence_penalty",
  frequency_penalty: "frequency_penalty",
  logit_bias: null,
  user: null,
};

const LegacyCall = z.object({ name: z.string(), arguments: z.unknown() });
const OpenAICall = z.object({ id: z.string().nullish(), function: z.object({ name: z.string(), arguments: z.unknown() }) });

export const TextOutput = z.object({
  // An object in JSON mode.
  response: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).nullish(),
  tool_calls: z.array(z.union([OpenAICall, LegacyCall])).nullish(),
  usage: z.object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() }).nullish(),
});
export type TextOutput = z.infer<typeof TextOutput>;

export interface Inputs {
  inputs: Record<string, unknown>;
  /** False when the request cannot stream on Workers AI (tools offered, or JSON mode). */
  streams: boolean;
}

export async function chatInputs(request: ChatRequest, label: string, loadImage: ImageLoader, signal?: AbortSignal): Promise<Inputs> {
  refuseExtras(request.extra, label);
  const { tools, tool_choice, parallel_tool_calls, response_format } = request;
  if (tool_choice === "required" || typeof tool_choice === "object") {
    throw unsupportedParam("tool_choice", label, `cannot be made to call a tool ("auto" and "none" work)`);
  }
  if (parallel_tool_calls === false) throw unsupportedParam("parallel_tool_calls", label, "cannot be limited to one tool call");
  const offered = tools && tools.length > 0 && tool_choice !== "none" ? tools : undefined;
  const format =
    response_format?.type === "json_schema" && response_format.json_schema.schema
      ? { type: "json_schema", json_schema: response_format.json_schema.schema }
      : response_format && response_format.type !== "text"
        ? { type: "json_object" }
        : undefined;
  const messages = await Promise.all(request.messages.map((m, i) => message(m, i, label, loadImage, signal)));
  return {
    inputs: {
      messages,
      ...wireParams(request, PARAMS, label),
      ...(offered && {
        tools: offered.map(({ function: f }) => ({
          name: f.name,
          description: f.description ?? "",
          parameters: f.parameters ?? { type: "object", properties: {} },
        })),
      }),
      ...(format && { response_format: format }),
    },
    streams: !offered && !format,
  };
}

export function completionInputs(request: CompletionRequest, label: string): Inputs {
  refuseExtras(request.extra, label);
  // `raw` skips the chat template: the model continues the prompt as written.
  return { inputs: { prompt: request.prompt, raw: true, ...wireParams(request, PARAMS, label) }, streams: true };
}

async function message(m: ChatMessage, i: number, label: string, loadImage: ImageLoader, signal?: AbortSignal) {
  if ("name" in m && m.name !== undefined) throw unsupportedParam(`messages.${i}.name`, label, "has no message names");
  switch (m.role) {
    case "system":
      return { role: m.role, content: m.content };
    case "user":
      if (typeof m.content === "string") return { role: m.role, content: m.content };
      return {
        role: m.role,
        content: await Promise.all(
          m.content.map(async (part) => {
            if (part.type === "text") return part;
            // Workers AI takes data: URLs only ("HTTP URL will not be accepted"): the gateway fetches others.
            const image = await loadImage(part.image_url.url, signal);
            return { type: "image_url", image_url: { url: `data:${image.mediaType};base64,${image.base64}` } };
          }),
        ),
      };
    case "assistant": {
      if (!m.tool_calls) return { role: m.role, content: m.content };
      // Workers AI's messages have no tool_calls field: the calls go as their JSON, as the model wrote them.
      const calls = m.tool_calls.map((call, j) => {
        const args = argumentsObject(call.arguments);
        if (!args) throw new GatewayError("invalid_request", `messages.${i}.tool_calls.${j}.function.arguments: must be a JSON object for ${label}.`);
        return { name: call.name, arguments: args };
      });
      return { role: m.role, content: m.content || JSON.stringify(calls) };
    }
    case "tool":
      return { role: m.role, tool_call_id: m.tool_call_id, content: m.content };
  }
}

export function outputGeneration(answer: TextOutput): Generation {
  const calls: ToolCall[] = (answer.tool_calls ?? []).map((c) =>
    "function" in c
      ? { id: c.id || newCallId(), name: c.function.name, arguments: argumentsText(c.function.arguments) }
      : { id: newCallId(), name: c.name, arguments: argumentsText(c.arguments) },
  );
  const response = answer.response;
  return {
    text: typeof response === "string" ? response : response == null ? "" : JSON.stringify(response),
    finish_reason: calls.length > 0 ? "tool_calls" : "stop",
    usage: usage(answer.usage),
    ...(calls.length > 0 && { tool_calls: calls }),
  };
}

export function usage(value: TextOutput["usage"]): Generation["usage"] {
  return { prompt_tokens: value?.prompt_tokens ?? null, completion_tokens: value?.completion_tokens ?? null };
}
