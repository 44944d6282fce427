/**
 * Inference tools. With a progressToken, `chat` and `complete` stream: each new
 * piece of text is sent as a notifications/progress message, and the final
 * result still holds the whole text.
 */
import type { ServerContext } from "@modelcontextprotocol/server";
import { type CallResult, openCall, type StreamSink } from "../../inference/call";
import { runCall } from "../../inference/run";
import {
  backendMessages,
  ChatInput,
  ChatResult,
  ClassificationResult,
  ClassifyInput,
  CompleteInput,
  EmbedInput,
  EmbeddingResult,
  GenerationResult,
  mcpToolCalls,
  stopList,
} from "../../inference/schemas";
import type { z } from "zod";
import { requiredFeatures } from "../../inference/features";
import type { Capability, ModelRecord } from "../../models/schema";
import type { Want } from "../advice";
import type { ToolRegistrar, ToolSet } from "../definitions";
import { guarded, ok } from "../result";

export function registerInferenceTools(server: ToolRegistrar, { snapshot }: ToolSet): void {
  const menu = (capability: ModelRecord["capabilities"][number]) => {
    const models = snapshot.models.filter((m) => m.capabilities.includes(capability));
    return models.length === 0
      ? " No model of this tenant has this capability yet."
      : ` Models: ${models.map((m) => `${m.id} (${m.status})`).join(", ")}.`;
  };

  server.registerTool(
    "chat",
    {
      title: "Chat",
      description:
        "Send a conversation to a chat model and get its reply. Streams text with a progressToken. " +
        "With tools, the model may answer with tool_calls (arguments as objects): run them and send the results back as " +
        "tool messages. With response_format, json holds the parsed answer. Images go in user content parts " +
        `(image_url: https or data: URL).${menu("chat")}`,
      inputSchema: ChatInput,
      outputSchema: ChatResult,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    guarded(
      async ({ model_id, messages, stop, ...rest }, scope, ctx) => {
        const request = chatRequest({ messages, stop, ...rest });
        const result = untagged(await runCall(openCall(scope, model_id, { capability: "chat", request }, streaming(ctx))));
        const calls = mcpToolCalls(result.tool_calls);
        const wantsJson = rest.response_format !== undefined && rest.response_format.type !== "text";
        const structured = { ...result, ...(calls && { tool_calls: calls }), ...(wantsJson && parsedJson(result.text)) };
        const said = calls
          ? [result.text, ...calls.map((c) => `[tool call ${c.id}: ${c.name}(${JSON.stringify(c.arguments)})]`)].filter(Boolean).join("\n")
          : result.text;
        return ok(structured, result.error ? `${said}\n\n[stream ended early: ${result.error}]` : said);
      },
      ({ model_id, ...args }) => ({ model_id, capability: "chat", features: requiredFeatures(chatRequest(args)).map((n) => n.feature) }),
    ),
  );

  server.registerTool(
    "complete",
    {
      title: "Complete",
      description: `Continue a prompt with a completion model. Streams with a progressToken.${menu("completion")}`,
      inputSchema: CompleteInput,
      outputSchema: GenerationResult,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    guarded(async ({ model_id, prompt, stop, ...sampling }, scope, ctx) => {
      const request = { prompt, stop: stopList(stop), ...sampling };
      const result = untagged(await runCall(openCall(scope, model_id, { capability: "completion", request }, streaming(ctx))));
      return ok(result, result.error ? `${result.text}\n\n[stream ended early: ${result.error}]` : result.text);
    }, wants("completion")),
  );

  server.registerTool(
    "embed",
    {
      title: "Embed",
      description: `Turn text into embedding vectors.${menu("embedding")}`,
      inputSchema: EmbedInput,
      outputSchema: EmbeddingResult,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    guarded(async ({ model_id, input }, scope, ctx) => {
      const request = { input: Array.isArray(input) ? input : [input] };
      const result = untagged(await runCall(openCall(scope, model_id, { capability: "embedding", request }, { signal: ctx.mcpReq.signal })));
      const dimensions = result.embeddings[0]?.length ?? 0;
      return ok({ ...result, dimensions }, `${result.embeddings.length} embedding(s) of ${dimensions} dimensions from ${result.model_id}.`);
    }, wants("embedding")),
  );

  server.registerTool(
    "classify",
    {
      title: "Classify",
      description: `Score text against a classifier's labels, or against the labels you give (zero-shot). Highest score first.${menu("classification")}`,
      inputSchema: ClassifyInput,
      outputSchema: ClassificationResult,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    guarded(async ({ model_id, text, labels }, scope, ctx) => {
      const request = { text, labels };
      const result = untagged(await runCall(openCall(scope, model_id, { capability: "classification", request }, { signal: ctx.mcpReq.signal })));
      const lines = result.labels.map((l) => `${l.label}: ${l.score.toFixed(4)}`).join("\n");
      return ok(result, lines || "No labels returned.");
    }, wants("classification")),
  );
}

/** The call a non-chat tool makes, for the advice on its refusals (advice.ts): no features needed. */
function wants(capability: Capability) {
  return <A extends { model_id: string }>({ model_id }: A): Want => ({ model_id, capability, features: [] });
}

/** The chat tool's arguments as the backends take them. */
function chatRequest({ messages, stop, ...rest }: Omit<z.infer<typeof ChatInput>, "model_id">) {
  return { messages: backendMessages(messages), stop: stopList(stop), ...rest };
}

/** A call's result as the tools' output schemas have it: the capability tag is the tool's own name. */
function untagged<R extends CallResult>({ capability, ...result }: R): Omit<R, "capability"> {
  void capability;
  return result;
}

/** The answer of a JSON response_format, parsed; or why it could not be. */
function parsedJson(text: string): { json: unknown } | { json_error: string } {
  try {
    return { json: JSON.parse(text) as unknown };
  } catch {
    return { json_error: "The model's answer is not valid JSON; text holds it as written." };
  }
}

/** A tool call's I/O: cancellation always, and streamed text as progress notifications when the client sent a progressToken. */
function streaming(ctx: ServerContext): { signal: AbortSignal; sink?: StreamSink } {
  const token = ctx.mcpReq._meta?.progressToken;
  if (token === undefined) return { signal: ctx.mcpReq.signal };
  let received = 0;
  return {
    signal: ctx.mcpReq.signal,
    sink: {
      text: async (delta) => {
        received += delta.length;
        await ctx.mcpReq.notify({
          method: "notifications/progress",
          params: { progressToken: token, progress: received, message: delta },
        });
      },
    },
  };
}
