/**
 * A client for any upstream that speaks OpenAI-style HTTP bodies, configured by
 * data (base URL, headers, model name, call policy) rather than by branches.
 * The `openai_compatible` backend is this client and nothing more; other
 * backends reuse it for the parts of their APIs that are OpenAI-style.
 */
import { httpGeneration } from "./generate";
import { forCall, jsonGet, jsonPost, upstreamJson, type UpstreamPolicy } from "./http";
import {
  chatBody,
  chatGeneration,
  completionBody,
  completionGeneration,
  EmbeddingList,
  InputTokens,
  ModelList,
  openAIStreamPiece,
} from "./openai-wire";
import { responsesBody, responsesGeneration, responsesStreamPiece } from "./responses-wire";
import { OPENAI_TOOL_NAME_MAX, toolNamesWithin } from "./tool-names";
import { parseAnswer } from "./wire";
import { sseEvents } from "./stream";
import type { CallOptions, ChatRequest, CompletionRequest, EmbeddingRequest, Embeddings, Generation, NativeRequest } from "./types";

export interface OpenAIClientOptions {
  /** Everything before `/chat/completions`, e.g. https://api.openai.com/v1 */
  baseUrl: string;
  model: string;
  headers: Record<string, string>;
  policy: Omit<UpstreamPolicy, "signal">;
}

export function openAIClient({ baseUrl, model, headers, policy }: OpenAIClientOptions) {
  const base = baseUrl.replace(/\/+$/, "");
  const label = policy.label;
  const withSignal = (options?: CallOptions): UpstreamPolicy => forCall(policy, options);
  const generation = { headers, events: sseEvents, piece: openAIStreamPiece };

  return {
    chat(request: ChatRequest, options?: CallOptions): Promise<Generation> {
      // Tool names past OpenAI's 64 characters go shortened, and come back as the caller's (./tool-names.ts).
      const names = toolNamesWithin(request, OPENAI_TOOL_NAME_MAX);
      const body = (stream: boolean) => chatBody(model, names.request, stream, label);
      return httpGeneration(
        {
          ...generation,
          url: `${base}/chat/completions`,
          body,
          piece: (event) => names.piece(openAIStreamPiece(event)),
          parse: (json, label) => names.generation(chatGeneration(json, label)),
        },
        policy,
        options,
      );
    },

    complete(request: CompletionRequest, options?: CallOptions): Promise<Generation> {
      const body = (stream: boolean) => completionBody(model, request, stream, label);
      return httpGeneration({ ...generation, url: `${base}/completions`, body, parse: completionGeneration }, policy, options);
    },

    /** A Responses API body, sent as it is to {base_url}/responses (./responses-wire.ts). */
    responses(request: NativeRequest, options?: CallOptions): Promise<Generation> {
      const body = (stream: boolean) => responsesBody(model, request.body, stream);
      return httpGeneration(
        { url: `${base}/responses`, body, headers, events: sseEvents, piece: responsesStreamPiece, parse: responsesGeneration },
        policy,
        options,
      );
    },

    /** The upstream's count of a Responses body's input tokens: POST {base_url}/responses/input_tokens, spending none. */
    async responsesInputTokens(request: NativeRequest, options?: CallOptions): Promise<number> {
      const { stream: _stream, store: _store, ...body } = request.body;
      const json = await upstreamJson(`${base}/responses/input_tokens`, jsonPost({ ...body, model }, headers), withSignal(options));
      return parseAnswer(InputTokens, json, label).input_tokens;
    },

    async embed(request: EmbeddingRequest, options?: CallOptions): Promise<Embeddings> {
      const json = await upstreamJson(`${base}/embeddings`, jsonPost({ model, input: request.input }, headers), withSignal(options));
      const answer = parseAnswer(EmbeddingList, json, label);
      const ordered = [...answer.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      return { embeddings: ordered.map((d) => d.embedding), usage: { prompt_tokens: answer.usage?.prompt_tokens ?? null } };
    },

    /** GET /models: costs no tokens; used by health checks. */
    async listModels(options?: CallOptions): Promise<string[]> {
      const json = await upstreamJson(`${base}/models`, jsonGet(headers), withSignal(options));
      return parseAnswer(ModelList, json, label).data.map((m) => m.id);
    },
  };
}
