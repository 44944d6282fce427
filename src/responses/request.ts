/**
 * A Responses body as the gateway's own chat request. What changes what a
 * correct answer is (input items, images, function tools and their outputs,
 * tool_choice, text.format, max_output_tokens, sampling) is translated, or
 * refused with a 400 naming it; hints the upstreams behind this edge cannot
 * use (reasoning, include, prompt caching, metadata, service tier, hosted
 * tools, Codex's namespace tools) are left out and listed in
 * `notApplied`, which the route sends as `x-gateway-not-applied`. See
 * docs/responses-api.md.
 */
import type { ChatMessage, ChatRequest, ContentPart, ToolCall, ToolChoice, ToolDefinition } from "../backends/types";
import { GatewayError } from "../errors";
import { parseOrThrow } from "../http/validation";
import {
  FunctionCallItem,
  FunctionCallOutputItem,
  type InputItem,
  type InputTokensRequest,
  MessageItem,
  type Part,
  type ResponsesRequest,
  type Tool,
  type ToolChoice as ResponsesToolChoice,
} from "./schemas";

export interface Translated {
  request: ChatRequest;
  /** Hints sent by the caller and not sent on, by name, in the order met. */
  notApplied: string[];
  /** `parallel_tool_calls: false`: honoured here (only the model's first call is returned), on every backend. */
  oneToolCall: boolean;
  /** The system message `instructions` became (none or one): not carried over to a response that continues this one. */
  instructions: ChatMessage[];
  /** The input items as chat messages: what a stored conversation continues with. */
  input: ChatMessage[];
}

/** Tools OpenAI runs on its own servers: nothing here runs them, so they are hints, left out. */
const HOSTED_TOOL = /^(web_search(_preview)?(_\d{4}_\d{2}_\d{2})?|file_search|code_interpreter|image_generation)$/;

/** Hosted tool calls an earlier answer recorded: hints (nothing here ran them). */
const HOSTED_CALL = new Set(["web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call"]);

/** A request body's parameter that no backend can honour faithfully: refused, naming it. */
function refuse(field: string, why: string): GatewayError {
  return new GatewayError("unsupported_feature", `${field}: ${why}`);
}

/** A Responses request as a ChatRequest. */
export function chatRequest(body: ResponsesRequest): Translated {
  return translate(body, body);
}

/** The part of a Responses request that input_tokens takes, as a ChatRequest. */
export function promptRequest(body: InputTokensRequest): Translated {
  return translate(body, undefined);
}

function translate(body: InputTokensRequest, full: ResponsesRequest | undefined): Translated {
  const notApplied = new Set<string>();
  const hint = (name: string) => notApplied.add(name);

  if (body.conversation !== undefined && body.conversation !== null) {
    throw refuse("conversation", "conversations are not kept by the gateway; send the whole conversation in `input`.");
  }
  if (body.prompt !== undefined && body.prompt !== null)
    throw refuse("prompt", "prompt templates exist on OpenAI's API only; send `instructions` and `input`.");
  if (full?.background) throw refuse("background", "background responses are not supported; leave background out.");
  if (full?.top_logprobs) throw refuse("top_logprobs", "log probabilities are not returned by the gateway; leave top_logprobs out.");

  if (body.reasoning && (body.reasoning.effort ?? "none") !== "none") hint("reasoning");
  else if (body.reasoning?.summary || body.reasoning?.generate_summary) hint("reasoning");
  if (body.truncation === "auto") hint("truncation");
  if (body.text?.verbosity) hint("text.verbosity");
  for (const entry of full?.include ?? []) hint(`include:${entry}`);
  if (full?.prompt_cache_key) hint("prompt_cache_key");
  if (full?.prompt_cache_retention) hint("prompt_cache_retention");
  if (full?.metadata && Object.keys(full.metadata).length > 0) hint("metadata");
  if (full?.client_metadata && Object.keys(full.client_metadata).length > 0) hint("client_metadata");
  if (full?.user) hint("user");
  if (full?.safety_identifier) hint("safety_identifier");
  if (full?.service_tier) hint("service_tier");
  if (full?.max_tool_calls) hint("max_tool_calls");
  if (full?.stream_options) hint("stream_options");

  const instructions: ChatMessage[] = body.instructions ? [{ role: "system", content: body.instructions }] : [];
  const input: ChatMessage[] = [];
  if (typeof body.input === "string") input.push({ role: "user", content: body.input });
  else items(body.input ?? [], input, hint);
  if (!body.previous_response_id && input.every((m) => m.role === "system")) {
    throw new GatewayError("invalid_request", "input: give at least one message to answer.");
  }
  const messages = [...instructions, ...input];

  const tools = body.tools ? functionTools(body.tools, hint) : [];
  const choice = body.tool_choice ? toolChoice(body.tool_choice, tools) : undefined;
  const format = body.text?.format;
  const request: ChatRequest = {
    messages,
    ...(tools.length > 0 && { tools }),
    ...(choice !== undefined && { tool_choice: choice }),
    ...(format?.type === "json_object" && { response_format: { type: "json_object" } }),
    ...(format?.type === "json_schema" && {
      response_format: {
        type: "json_schema",
        json_schema: {
          name: format.name,
          schema: format.schema,
          ...(format.description && { description: format.description }),
          ...(format.strict !== undefined && format.strict !== null && { strict: format.strict }),
        },
      },
    }),
  };
  if (full) {
    Object.assign(request, {
      ...(full.max_output_tokens && { max_tokens: full.max_output_tokens }),
      ...(full.temperature !== undefined && full.temperature !== null && { temperature: full.temperature }),
      ...(full.top_p !== undefined && full.top_p !== null && { top_p: full.top_p }),
    });
  }
  return { request, notApplied: [...notApplied], oneToolCall: tools.length > 0 && body.parallel_tool_calls === false, instructions, input };
}

/** The chat call's parameters a backend may refuse, by the names a Responses caller wrote. */
const RESPONSES_NAMES: Record<string, string> = {
  max_tokens: "max_output_tokens",
  response_format: "text.format",
};

/** A backend's refusal names the chat call's parameter: said again with the field the caller sent. */
export function inResponsesTerms(error: GatewayError): GatewayError {
  if (error.code !== "unsupported_feature") return error;
  const param = /^([a-z_]+)[:\s]/.exec(error.message)?.[1];
  const name = param && RESPONSES_NAMES[param];
  if (!name) return error;
  const message = error.message.replace(new RegExp(`^${param}\\b`), name).replace(`Leave ${param} out`, `Leave ${name} out`);
  return new GatewayError(error.code, message, { cause: error });
}

/** Input items as chat messages: consecutive function_call items are one assistant turn's tool calls. */
function items(input: readonly InputItem[], out: ChatMessage[], hint: (name: string) => void) {
  input.forEach((raw, i) => {
    const path = `input.${i}`;
    const type = "type" in raw && raw.type !== undefined ? raw.type : "message";
    switch (type) {
      case "message":
        out.push(message(parseOrThrow(MessageItem, raw, path), path));
        return;
      case "function_call": {
        const item = parseOrThrow(FunctionCallItem, raw, path);
        if (item.namespace) hint("input.function_call.namespace");
        const call: ToolCall = { id: item.call_id, name: item.name, arguments: item.arguments };
        const last = out.at(-1);
        if (last?.role === "assistant") last.tool_calls = [...(last.tool_calls ?? []), call];
        else out.push({ role: "assistant", content: "", tool_calls: [call] });
        return;
      }
      case "function_call_output": {
        const item = parseOrThrow(FunctionCallOutputItem, raw, path);
        out.push({
          role: "tool",
          tool_call_id: item.call_id,
          content: typeof item.output === "string" ? item.output : outputText(item.output, `${path}.output`),
        });
        return;
      }
      case "reasoning":
        hint("input.reasoning");
        return;
      default:
        if (HOSTED_CALL.has(type)) {
          hint(`input.${type}`);
          return;
        }
        throw refuse(path, `"${type}" items are not supported by the gateway; send messages, function_call and function_call_output items.`);
    }
  });
}

function message(item: MessageItem, path: string): ChatMessage {
  const { role, content } = item;
  if (role === "system" || role === "developer") {
    return { role: "system", content: typeof content === "string" ? content : partsText(content, path, ["input_text"]) };
  }
  if (role === "assistant") {
    return { role: "assistant", content: typeof content === "string" ? content : partsText(content, path, ["output_text", "refusal", "input_text"]) };
  }
  if (typeof content === "string") return { role: "user", content };
  const parts: ContentPart[] = content.map((part, j) => userPart(part, `${path}.content.${j}`));
  const textOnly = parts.every((p) => p.type === "text");
  // Text-only parts are one text (as /v1 sends them, and as every upstream takes); parts with images stay parts.
  return { role: "user", content: textOnly ? parts.map((p) => (p.type === "text" ? p.text : "")).join("") : parts };
}

function userPart(part: Part, path: string): ContentPart {
  switch (part.type) {
    case "input_text":
      return { type: "text", text: part.text };
    case "input_image":
      if (!part.image_url)
        throw refuse(`${path}.file_id`, "files uploaded to OpenAI are not available here; send the image as image_url (https or data: URL).");
      return { type: "image_url", image_url: { url: part.image_url, ...(part.detail && { detail: part.detail }) } };
    case "input_file":
      throw refuse(path, "input_file is not supported; send the file's text as input_text.");
    default:
      throw new GatewayError("invalid_request", `${path}: a user message cannot carry ${part.type} parts.`);
  }
}

/** Parts that must all be text (system prompts, assistant turns), as one text. */
function partsText(parts: readonly Part[], path: string, allowed: string[]): string {
  return parts
    .map((part, j) => {
      if (!allowed.includes(part.type))
        throw new GatewayError("invalid_request", `${path}.content.${j}: this message cannot carry ${part.type} parts.`);
      return "text" in part ? part.text : "refusal" in part ? part.refusal : "";
    })
    .join("");
}

/** A function call's output given as parts: text only (tool messages carry text). */
function outputText(parts: readonly Part[], path: string): string {
  return parts
    .map((part, j) => {
      if (part.type === "input_text" || part.type === "output_text") return part.text;
      throw refuse(`${path}.${j}`, `${part.type} in a function call output is not supported (tool messages carry text); send it in a user message.`);
    })
    .join("");
}

/** Function tools as the gateway's; OpenAI's hosted tools and Codex's namespace tools are hints left out; other types are refused. */
function functionTools(tools: readonly Tool[], hint: (name: string) => void): ToolDefinition[] {
  const out: ToolDefinition[] = [];
  tools.forEach((tool, i) => {
    if (tool.type === "function" && "name" in tool) {
      const { name, description, parameters, strict } = tool as Extract<Tool, { name: string }>;
      out.push({
        type: "function",
        function: {
          name,
          ...(description && { description }),
          ...(parameters && { parameters }),
          ...(strict !== undefined && strict !== null && { strict }),
        },
      });
    } else if (HOSTED_TOOL.test(tool.type)) {
      hint(`tools.${tool.type}`);
    } else if (tool.type === "namespace") {
      hint("tools.namespace");
    } else {
      throw refuse(
        `tools.${i}`,
        `"${tool.type}" tools are not supported by the gateway; describe the tool as a function tool (name, description, parameters).`,
      );
    }
  });
  return out;
}

function toolChoice(choice: ResponsesToolChoice, tools: readonly ToolDefinition[]): ToolChoice | undefined {
  if (tools.length === 0) {
    // Without function tools, "auto" and "none" ask for a text answer, which is what the model gives.
    if (choice === "auto" || choice === "none") return undefined;
    throw new GatewayError("invalid_request", `tool_choice: ${JSON.stringify(choice)} needs function tools in \`tools\`.`);
  }
  if (typeof choice === "string") return choice;
  if (choice.type === "function" && "name" in choice && typeof choice.name === "string") {
    const name = choice.name;
    if (!tools.some((t) => t.function.name === name)) {
      throw new GatewayError("invalid_request", `tool_choice.name: no function tool named "${name}" in \`tools\`.`);
    }
    return { type: "function", function: { name } };
  }
  throw refuse("tool_choice", `"${choice.type}" is not supported; use "auto", "none", "required" or {type: "function", name}.`);
}
