/**
 * Inference tools. With a progressToken, `chat` and `complete` stream: each new
 * piece of text is sent as a notifications/progress message, and the final
 * result still holds the whole text.
 */
import type { CallToolResult, ServerContext } from "@modelcontextprotocol/server";
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
import { z } from "zod";
import { requiredFeatures } from "../../inference/features";
import type { Capability, ModelRecord } from "../../models/schema";
import type { Want } from "../advice";
import { fitsInline, linked, LinkedResource, TEXT_PREVIEW_CHARS } from "../large";
import type { TenantScope } from "../../tenants/scope";
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
      outputSchema: linkableText(ChatResult),
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
        return fitted(scope, structured, result.error ? `${said}\n\n[stream ended early: ${result.error}]` : said);
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
      outputSchema: linkableText(GenerationResult),
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    guarded(async ({ model_id, prompt, stop, ...sampling }, scope, ctx) => {
      const request = { prompt, stop: stopList(stop), ...sampling };
      const result = untagged(await runCall(openCall(scope, model_id, { capability: "completion", request }, streaming(ctx))));
      return fitted(scope, result, result.error ? `${result.text}\n\n[stream ended early: ${result.error}]` : result.text);
    }, wants("completion")),
  );

  server.registerTool(
    "embed",
    {
      title: "Embed",
      description: `Turn text into embedding vectors.${menu("embedding")}`,
      inputSchema: EmbedInput,
      outputSchema: LinkableEmbeddings,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    guarded(async ({ model_id, input }, scope, ctx) => {
      const request = { input: Array.isArray(input) ? input : [input] };
      const result = untagged(await runCall(openCall(scope, model_id, { capability: "embedding", request }, { signal: ctx.mcpReq.signal })));
      const dimensions = result.embeddings[0]?.length ?? 0;
      const count = result.embeddings.length;
      const full = { ...result, dimensions, count };
      const text = `${count} embedding(s) of ${dimensions} dimensions from ${result.model_id}.`;
      const json = JSON.stringify(full);
      if (fitsInline(json, count)) return ok(full, text);
      const { embeddings, ...summary } = full;
      void embeddings;
      return linked(scope, json, summary, text, `${count} embeddings from ${result.model_id}`);
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

/** embed's result: the vectors inline, or (past the sizes of ../large.ts) behind `resource`. */
const LinkableEmbeddings = EmbeddingResult.extend({
  embeddings: EmbeddingResult.shape.embeddings.optional().describe("The vectors, in input order; absent when `resource` holds them"),
  count: z.number().describe("How many vectors"),
  resource: LinkedResource.optional(),
});

/** chat's and complete's result: the text inline, or (past the sizes of ../large.ts) its start, with `resource` holding it all. */
function linkableText<S extends z.ZodObject<{ text: z.ZodString }>>(schema: S) {
  return schema.extend({
    text_truncated: z.boolean().optional().describe("true when `text` is only the start and `resource` holds the whole result"),
    resource: LinkedResource.optional(),
  });
}

/** A generated text inline, or behind a link when it is too long for a host (then `text` is its first TEXT_PREVIEW_CHARS). */
async function fitted(scope: TenantScope, result: { text: string; model_id: string }, said: string): Promise<CallToolResult> {
  const json = JSON.stringify(result);
  if (fitsInline(json)) return ok(result, said);
  const preview = result.text.slice(0, TEXT_PREVIEW_CHARS);
  const summary = { ...result, text: preview, text_truncated: true };
  return linked(
    scope,
    json,
    summary,
    `${preview}…\n\n[${result.text.length} characters from ${result.model_id}; the rest is behind the link]`,
    `text from ${result.model_id}`,
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
