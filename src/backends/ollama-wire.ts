/**
 * Ollama's native wire format (https://docs.ollama.com/api), written once:
 * request bodies, zod schemas of the answers, one NDJSON stream line as a
 * StreamPiece, how model names compare, and the messages a person needs when
 * the model is not pulled or something other than Ollama answered.
 */
import { z } from "zod";
import { GatewayError } from "../errors";
import { snippet, upstreamMessage } from "./http";
import { type ParamMap, refuseExtras, unsupportedParam, wireParams } from "./params";
import { argumentsObject, argumentsText, callNames, newCallId } from "./tool-calls";
import { finishReason, parseAnswer } from "./wire";
import type { StreamPiece } from "./stream";
import type { ChatMessage, ChatRequest, CompletionRequest, FinishReason, Generation, ImageLoader, SamplingParams, ToolCall } from "./types";

/** What the answer of /api/chat and /api/generate (and a stream's last line) says about how it ended. */
const Ending = {
  done: z.boolean().optional(),
  done_reason: z.string().nullish(),
  // Ollama leaves prompt_eval_count out when the prompt was cached.
  prompt_eval_count: z.number().nullish(),
  eval_count: z.number().nullish(),
};

/** Ollama's tool calls: whole calls, arguments as an object, an id only in newer versions. */
const OllamaToolCalls = z.array(z.object({ id: z.string().nullish(), function: z.object({ name: z.string(), arguments: z.unknown() }) })).nullish();

const ChatAnswer = z.object({ message: z.object({ content: z.string().nullish(), tool_calls: OllamaToolCalls }), ...Ending });
const GenerateAnswer = z.object({ response: z.string(), ...Ending });
export const EmbedAnswer = z.object({ embeddings: z.array(z.array(z.number())), prompt_eval_count: z.number().nullish() });
export const Tags = z.object({ models: z.array(z.object({ name: z.string(), model: z.string().optional() })) });

/** One NDJSON line: a chat delta, a generate delta, the closing line, or an error. */
const StreamLine = z.object({
  message: z.object({ content: z.string().nullish(), tool_calls: OllamaToolCalls }).optional(),
  response: z.string().optional(),
  error: z.string().optional(),
  ...Ending,
});

/** Ollama's names for the sampling parameters (its Modelfile names), sent under `options`. */
const OPTIONS: ParamMap = {
  max_tokens: "num_predict",
  temperature: "temperature",
  top_p: "top_p",
  stop: "stop",
  seed: "seed",
  presence_penalty: "presence_penalty",
  frequency_penalty: "frequency_penalty",
  logit_bias: null,
  user: null,
};

function options(params: SamplingParams, label: string) {
  const mapped = wireParams(params, OPTIONS, label);
  return Object.keys(mapped).length > 0 ? { options: mapped } : {};
}

/**
 * /api/chat's body, less `stream`: tools as they are (Ollama takes OpenAI's
 * tool shape), `format` for JSON mode ("json") or a JSON schema, images as
 * base64 in `images`, assistant tool calls with arguments as objects, tool
 * results with `tool_name`. Async because images given by URL are fetched.
 */
export async function chatBody(model: string, request: ChatRequest, label: string, loadImage: ImageLoader, signal?: AbortSignal) {
  refuseExtras(request.extra, label);
  const { tools, tool_choice, parallel_tool_calls, response_format } = request;
  if (tool_choice === "required" || typeof tool_choice === "object") {
    throw unsupportedParam("tool_choice", label, `cannot be made to call a tool ("auto" and "none" work)`);
  }
  if (parallel_tool_calls === false) throw unsupportedParam("parallel_tool_calls", label, "cannot be limited to one tool call");
  const format =
    response_format?.type === "json_object"
      ? "json"
      : response_format?.type === "json_schema"
        ? (response_format.json_schema.schema ?? "json")
        : undefined;
  const names = callNames(request.messages);
  const messages = await Promise.all(request.messages.map((m, i) => ollamaMessage(m, i, names, label, loadImage, signal)));
  return {
    model,
    messages,
    // tool_choice "none": the model is not offered the tools.
    ...(tools && tools.length > 0 && tool_choice !== "none" && { tools }),
    ...(format !== undefined && { format }),
    ...options(request, label),
  };
}

async function ollamaMessage(m: ChatMessage, i: number, names: Map<string, string>, label: string, loadImage: ImageLoader, signal?: AbortSignal) {
  if ("name" in m && m.name !== undefined) throw unsupportedParam(`messages.${i}.name`, label, "has no message names");
  switch (m.role) {
    case "system":
      return { role: m.role, content: m.content };
    case "user": {
      if (typeof m.content === "string") return { role: m.role, content: m.content };
      const text = m.content.flatMap((p) => (p.type === "text" ? [p.text] : [])).join("");
      const urls = m.content.flatMap((p) => (p.type === "image_url" ? [p.image_url.url] : []));
      const images = await Promise.all(urls.map(async (url) => (await loadImage(url, signal)).base64));
      return { role: m.role, content: text, ...(images.length > 0 && { images }) };
    }
    case "assistant":
      if (!m.tool_calls) return { role: m.role, content: m.content };
      return {
        role: m.role,
        content: m.content,
        tool_calls: m.tool_calls.map((call, j) => {
          const args = argumentsObject(call.arguments);
          if (!args)
            throw new GatewayError("invalid_request", `messages.${i}.tool_calls.${j}.function.arguments: must be a JSON object for ${label}.`);
          return { function: { name: call.name, arguments: args } };
        }),
      };
    case "tool": {
      const name = names.get(m.tool_call_id);
      return { role: m.role, content: m.content, ...(name && { tool_name: name }) };
    }
  }
}

export function generateBody(model: string, request: CompletionRequest, stream: boolean, label: string) {
  refuseExtras(request.extra, label);
  return { model, prompt: request.prompt, stream, ...options(request, label) };
}

function toolCalls(calls: z.infer<typeof OllamaToolCalls>): ToolCall[] {
  return (calls ?? []).map((c) => ({ id: c.id || newCallId(), name: c.function.name, arguments: argumentsText(c.function.arguments) }));
}

function ending(answer: { done?: boolean; done_reason?: string | null }): FinishReason | undefined {
  if (answer.done_reason) return finishReason(answer.done_reason);
  return answer.done ? "stop" : undefined;
}

function usage(answer: { prompt_eval_count?: number | null; eval_count?: number | null }): Generation["usage"] {
  return { prompt_tokens: answer.prompt_eval_count ?? null, completion_tokens: answer.eval_count ?? null };
}

export function chatGeneration(json: unknown, label: string): Generation {
  const answer = parseAnswer(ChatAnswer, json, label);
  const calls = toolCalls(answer.message.tool_calls);
  const finish = ending(answer) ?? "unknown";
  return {
    text: answer.message.content ?? "",
    // Ollama says "stop" after a tool call; OpenAI's word for it is tool_calls.
    finish_reason: calls.length > 0 && finish === "stop" ? "tool_calls" : finish,
    usage: usage(answer),
    ...(calls.length > 0 && { tool_calls: calls }),
  };
}

export function generateGeneration(json: unknown, label: string): Generation {
  const answer = parseAnswer(GenerateAnswer, json, label);
  return { text: answer.response, finish_reason: ending(answer) ?? "unknown", usage: usage(answer) };
}

export function ollamaStreamPiece(event: unknown): StreamPiece {
  const parsed = StreamLine.safeParse(event);
  if (!parsed.success) return { error: "a stream line in an unexpected shape" };
  const line = parsed.data;
  if (line.error) return { error: snippet(line.error) };
  const calls = line.message?.tool_calls;
  return {
    text: line.message?.content ?? line.response,
    // Whole calls, one piece each (collectStream gives them their indexes).
    ...(calls && calls.length > 0 && { toolCalls: toolCalls(calls) }),
    done: line.done,
    finish: line.done ? ending(line) : undefined,
    usage: line.done ? usage(line) : undefined,
  };
}

/** Ollama's default tag: "llama3.2" is "llama3.2:latest" (a ":" before the last "/" is a registry port). */
function canonicalName(name: string): string {
  const last = name.slice(name.lastIndexOf("/") + 1);
  return (last.includes(":") ? name : `${name}:latest`).toLowerCase();
}

export function isPulled(tags: z.infer<typeof Tags>, model: string): boolean {
  const wanted = canonicalName(model);
  return tags.models.some((m) => canonicalName(m.name) === wanted || (m.model !== undefined && canonicalName(m.model) === wanted));
}

export function notPulled(model: string, label: string): GatewayError {
  return new GatewayError(
    "model_unavailable",
    `${label}: model ${model} is not pulled on the Ollama server; run \`ollama pull ${model}\` there, or fix config.model_name.`,
  );
}

/** Ollama's 404 for a missing model: `model "x" not found, try pulling it first`. */
export function isModelMissing(status: number, body: string): boolean {
  return status === 404 && /\bmodel\b.*\bnot found\b/i.test(upstreamMessage(body));
}

/**
 * Ollama answers JSON (NDJSON when streaming), never HTML and never a
 * redirect: either means something else answered in its place, typically a
 * Cloudflare Access login page because the service-token headers are missing
 * or wrong. This wraps the injected fetch so every call says so, as an error
 * that is not retried, instead of "not JSON" or "redirect".
 */
export function onlyOllama(fetch: typeof globalThis.fetch, label: string): typeof globalThis.fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const redirect = response.status >= 300 && response.status < 400;
    if (!redirect && !/text\/html/i.test(response.headers.get("content-type") ?? "")) return response;
    void response.body?.cancel().catch(() => {});
    const target = redirect ? hostOf(response.headers.get("location")) : undefined;
    const what = redirect ? `a redirect (${response.status}) to ${target ?? "another page"}` : `an HTML page (${response.status})`;
    const access = target?.endsWith(".cloudflareaccess.com") ? " (a Cloudflare Access login)" : "";
    throw new GatewayError(
      "upstream_error",
      `${label} answered with ${what}${access} instead of Ollama's JSON API. If the server is behind Cloudflare Access, ` +
        "set config.headers CF-Access-Client-Id and CF-Access-Client-Secret (a service token allowed by the Access policy, " +
        "as ${SECRET} references); otherwise check config.base_url.",
    );
  };
}

/** Only the host of a redirect target: its query may carry tokens. */
function hostOf(location: string | null): string | undefined {
  if (!location) return undefined;
  try {
    return new URL(location).host;
  } catch {
    return undefined;
  }
}
