/**
 * An Anthropic Messages body as the gateway's own chat request. What changes
 * what a correct answer is (messages, images, client tools and their results,
 * tool_choice, stop sequences, max_tokens, sampling, JSON output) is translated,
 * or refused with a 400 naming it; hints the upstreams behind this edge cannot
 * use (thinking, effort, context management, prompt caching, metadata, service
 * tier, hosted tools) are left out and listed in `notApplied`, which the route
 * sends as `x-gateway-not-applied`. See docs/anthropic-api.md.
 */
import type { ChatMessage, ChatRequest, ContentPart, ToolChoice, ToolDefinition } from "../backends/types";
import { GatewayError } from "../errors";
import type { ContentBlock, CountTokensRequest, CustomTool, Message, MessagesRequest, Tool, ToolChoice as AnthropicToolChoice } from "./schemas";

export interface Translated {
  request: ChatRequest;
  /** Hints sent by the caller and not sent on, by name, in the order met. */
  notApplied: string[];
}

/** Tools Anthropic runs on its own servers: nothing here runs them, so they are hints, left out. */
const HOSTED_TOOL = /^(web_search|web_fetch|code_execution|tool_search_tool_(regex|bm25))_\d{8}$/;

/** A request body's parameter that no backend can honour faithfully: refused, naming it. */
function refuse(field: string, why: string): GatewayError {
  return new GatewayError("unsupported_feature", `${field}: ${why}`);
}

/** A Messages request (or the part of it count_tokens takes) as a ChatRequest. */
export function chatRequest(body: MessagesRequest | CountTokensRequest): Translated {
  const notApplied = new Set<string>();
  const hint = (name: string) => notApplied.add(name);

  if ("top_k" in body && body.top_k !== undefined) {
    throw refuse("top_k", "not supported: the gateway's backends sample with temperature and top_p only; leave top_k out.");
  }
  if (body.mcp_servers?.length) throw refuse("mcp_servers", "remote MCP servers are run by Anthropic's API only; call the tools yourself.");
  if (body.container !== undefined && body.container !== null) throw refuse("container", "code execution containers exist on Anthropic's API only.");

  if (body.thinking && body.thinking.type !== "disabled") hint("thinking");
  if (body.context_management) hint("context_management");
  if (body.output_config?.effort) hint("output_config.effort");
  if (body.cache_control) hint("cache_control");
  if (body.diagnostics) hint("diagnostics");
  if (body.inference_geo) hint("inference_geo");
  if (body.speed) hint("speed");
  if ("metadata" in body && body.metadata !== undefined) hint("metadata");
  if ("service_tier" in body && body.service_tier !== undefined) hint("service_tier");

  const last = body.messages.length - 1;
  if (body.messages[last]!.role === "assistant") {
    throw refuse(
      `messages.${last}`,
      "a last assistant message (prefilling the answer) is not supported: the upstreams behind the gateway answer with a new turn instead of continuing it.",
    );
  }

  const messages: ChatMessage[] = [];
  const system = body.system === undefined ? "" : typeof body.system === "string" ? body.system : blocksText(body.system, hint);
  if (system !== "") messages.push({ role: "system", content: system });
  body.messages.forEach((m, i) => messages.push(...message(m, `messages.${i}`, hint)));

  const tools = body.tools && functionTools(body.tools, hint);
  const choice = body.tool_choice && toolChoice(body.tool_choice, tools ?? []);
  const format = body.output_config?.format;
  const request: ChatRequest = {
    messages,
    ...(tools?.length && { tools }),
    ...(choice?.tool_choice !== undefined && { tool_choice: choice.tool_choice }),
    ...(choice?.parallel_tool_calls !== undefined && { parallel_tool_calls: choice.parallel_tool_calls }),
    ...(format && { response_format: { type: "json_schema", json_schema: { name: "output", schema: format.schema, strict: true } } }),
  };
  if ("max_tokens" in body) {
    Object.assign(request, {
      max_tokens: body.max_tokens,
      ...(body.temperature !== undefined && { temperature: body.temperature }),
      ...(body.top_p !== undefined && { top_p: body.top_p }),
      ...(body.stop_sequences?.length && { stop: body.stop_sequences }),
    });
  }
  return { request, notApplied: [...notApplied] };
}

/** The chat call's parameters a backend may refuse, by the names a Messages caller wrote. */
const ANTHROPIC_NAMES: Record<string, string> = {
  stop: "stop_sequences",
  parallel_tool_calls: "tool_choice.disable_parallel_tool_use",
  response_format: "output_config.format",
};

/**
 * A backend's refusal names the chat call's parameter (`stop: … Leave stop
 * out …`): said again with the field the caller sent (`stop_sequences`).
 */
export function inAnthropicTerms(error: GatewayError): GatewayError {
  if (error.code !== "unsupported_feature") return error;
  const param = /^([a-z_]+)[:\s]/.exec(error.message)?.[1];
  const name = param && ANTHROPIC_NAMES[param];
  if (!name) return error;
  const message = error.message.replace(new RegExp(`^${param}\\b`), name).replace(`Leave ${param} out`, `Leave ${name} out`);
  return new GatewayError(error.code, message, { cause: error });
}

/** Text blocks as one text (system prompts, tool results and assistant turns carry text only). */
function blocksText(blocks: readonly { text: string; cache_control?: unknown }[], hint: (name: string) => void, separator = "\n\n"): string {
  for (const b of blocks) if (b.cache_control) hint("cache_control");
  return blocks.map((b) => b.text).join(separator);
}

/** A system message among the turns: its text (text blocks only; a system message carries no images or tools). */
function systemText(content: Message["content"], path: string, hint: (name: string) => void): string {
  if (typeof content === "string") return content;
  const texts = content.map((block, j) => {
    if (block.type !== "text") throw refuse(`${path}.content.${j}`, `a system message takes text blocks only, not ${block.type}.`);
    return block;
  });
  return blocksText(texts, hint);
}

function image(block: Extract<ContentBlock, { type: "image" }>): ContentPart {
  const { source } = block;
  const url = source.type === "base64" ? `data:${source.media_type};base64,${source.data}` : source.url;
  return { type: "image_url", image_url: { url } };
}

/**
 * One Anthropic message as chat messages: a user turn's tool_result blocks
 * become tool messages (in order, between the user text around them); an
 * assistant turn's tool_use blocks become its tool calls.
 */
function message(m: Message, path: string, hint: (name: string) => void): ChatMessage[] {
  if (m.role === "system") return [{ role: "system", content: systemText(m.content, path, hint) }];
  if (typeof m.content === "string") return [m.role === "user" ? { role: "user", content: m.content } : { role: "assistant", content: m.content }];
  const out: ChatMessage[] = [];
  if (m.role === "assistant") {
    let text = "";
    const calls: { id: string; name: string; arguments: string }[] = [];
    m.content.forEach((block, j) => {
      if ("cache_control" in block && block.cache_control) hint("cache_control");
      switch (block.type) {
        case "text":
          text += block.text;
          return;
        case "tool_use":
          if (block.caller && block.caller.type !== "direct") hint("caller");
          if (block.toolset_name) hint("toolset_name");
          calls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) });
          return;
        case "thinking":
        case "redacted_thinking":
          hint("thinking");
          return;
        default:
          throw new GatewayError("invalid_request", `${path}.content.${j}: an assistant message cannot carry ${block.type} blocks.`);
      }
    });
    return [{ role: "assistant", content: text, ...(calls.length > 0 && { tool_calls: calls }) }];
  }
  let parts: ContentPart[] = [];
  // Images a tool returned (Claude Code's Read of an image file): a tool message carries text only, so they follow
  // the turn's tool messages in one user message, each after a line naming its tool call.
  const toolImages: ContentPart[] = [];
  const flush = (end = false) => {
    if (end && toolImages.length > 0) parts = [...toolImages, ...parts];
    if (parts.length === 0) return;
    // Text-only parts are one text (as /v1 sends them, and as every upstream takes); parts with images stay parts.
    const content = parts.every((p) => p.type === "text") ? parts.map((p) => (p.type === "text" ? p.text : "")).join("") : parts;
    out.push({ role: "user", content });
    parts = [];
  };
  m.content.forEach((block, j) => {
    if ("cache_control" in block && block.cache_control) hint("cache_control");
    switch (block.type) {
      case "text":
        parts.push({ type: "text", text: block.text });
        return;
      case "image":
        if (block.transformations !== undefined && block.transformations !== null) {
          throw refuse(`${path}.content.${j}.transformations`, "image transformations are not supported; send the image as the model should see it.");
        }
        parts.push(image(block));
        return;
      case "tool_result": {
        if (block.toolset_name) hint("toolset_name");
        flush();
        const { text, images } = toolResult(block, `${path}.content.${j}`, hint);
        out.push({ role: "tool", tool_call_id: block.tool_use_id, content: text });
        if (images.length > 0)
          toolImages.push({ type: "text", text: `The image${images.length > 1 ? "s" : ""} the tool call ${block.tool_use_id} returned:` }, ...images);
        return;
      }
      default:
        throw new GatewayError("invalid_request", `${path}.content.${j}: a user message cannot carry ${block.type} blocks.`);
    }
  });
  flush(true);
  return out;
}

/**
 * A tool result as a tool message's text (a failed tool says so in it: tool
 * messages have no error flag), and the images it holds, as image parts.
 */
function toolResult(
  block: Extract<ContentBlock, { type: "tool_result" }>,
  path: string,
  hint: (name: string) => void,
): { text: string; images: ContentPart[] } {
  const content = block.content ?? "";
  const images: ContentPart[] = [];
  let text: string;
  if (typeof content === "string") {
    text = content;
  } else {
    const texts: { type: "text"; text: string; cache_control?: unknown }[] = [];
    content.forEach((b, k) => {
      if (b.type === "image") {
        if (b.transformations !== undefined && b.transformations !== null) {
          throw refuse(`${path}.content.${k}.transformations`, "image transformations are not supported; send the image as the model should see it.");
        }
        images.push(image(b));
      } else texts.push(b as { type: "text"; text: string; cache_control?: unknown });
    });
    text = blocksText(texts, hint, "\n");
  }
  return { text: block.is_error ? `Error: ${text}` : text, images };
}

/** Client tools as function tools; Anthropic's hosted tools are hints left out; its other tool types are refused. */
function functionTools(tools: readonly Tool[], hint: (name: string) => void): ToolDefinition[] {
  const out: ToolDefinition[] = [];
  tools.forEach((tool, i) => {
    if ("input_schema" in tool) {
      const custom = tool as CustomTool;
      if (custom.cache_control) hint("cache_control");
      if (custom.allowed_callers?.some((caller) => caller !== "direct")) hint("tools.allowed_callers");
      if (custom.defer_loading) hint("tools.defer_loading");
      if (custom.eager_input_streaming) hint("tools.eager_input_streaming");
      if (custom.input_examples?.length) hint("tools.input_examples");
      const { name, description, input_schema, strict } = custom;
      out.push({
        type: "function",
        function: { name, ...(description !== undefined && { description }), parameters: input_schema, ...(strict !== undefined && { strict }) },
      });
    } else if (tool.type && HOSTED_TOOL.test(tool.type)) {
      hint(`tools.${tool.type}`);
    } else {
      throw refuse(
        `tools.${i}`,
        `"${tool.type}" is a tool whose schema only Anthropic's models know; describe it as a client tool (name, description, input_schema).`,
      );
    }
  });
  return out;
}

/** Anthropic's tool_choice in OpenAI's terms; `disable_parallel_tool_use` becomes parallel_tool_calls: false. */
function toolChoice(choice: AnthropicToolChoice, tools: readonly ToolDefinition[]): { tool_choice?: ToolChoice; parallel_tool_calls?: boolean } {
  const parallel = "disable_parallel_tool_use" in choice && choice.disable_parallel_tool_use ? { parallel_tool_calls: false } : {};
  if (tools.length === 0) {
    // Without tools, "auto" and "none" ask for a text answer, which is what the model gives.
    if (choice.type === "auto" || choice.type === "none") return {};
    throw new GatewayError("invalid_request", `tool_choice: "${choice.type}" needs client tools in \`tools\`.`);
  }
  switch (choice.type) {
    case "auto":
      return { tool_choice: "auto", ...parallel };
    case "any":
      return { tool_choice: "required", ...parallel };
    case "none":
      return { tool_choice: "none" };
    case "tool":
      if (!tools.some((t) => t.function.name === choice.name)) {
        throw new GatewayError("invalid_request", `tool_choice.name: no client tool named "${choice.name}" in \`tools\`.`);
      }
      return { tool_choice: { type: "function", function: { name: choice.name } }, ...parallel };
  }
}
