/**
 * A client for any upstream that speaks OpenAI-style HTTP bodies, configured by
 * data (base URL, headers, model name, call policy) rather than by branches.
 * The `openai_compatible` backend is this client and nothing more; other
 * backends reuse it for the parts of their APIs that are OpenAI-style.
 */
import { upstreamJson, upstreamStream, type UpstreamPolicy } from "./http";
import { chatBody, chatGeneration, completionBody, completionGeneration, EmbeddingList, ModelList, openAIStreamPiece } from "./openai-wire";
import { parseAnswer } from "./wire";
import { collectStream, sseEvents } from "./stream";
import type { CallOptions, ChatRequest, CompletionRequest, EmbeddingRequest, Embeddings, Generation } from "./types";

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
  const post = (body: unknown) => ({
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const withSignal = (options?: CallOptions): UpstreamPolicy => ({ ...policy, signal: options?.signal });

  async function generate(path: string, body: unknown, parse: (json: unknown, label: string) => Generation, options?: CallOptions) {
    if (options?.onText) {
      const stream = await upstreamStream(`${base}${path}`, post(body), withSignal(options));
      return collectStream(sseEvents(stream), openAIStreamPiece, options.onText, { idleMs: policy.timeoutMs, label });
    }
    return parse(await upstreamJson(`${base}${path}`, post(body), withSignal(options)), label);
  }

  return {
    chat(request: ChatRequest, options?: CallOptions): Promise<Generation> {
      return generate("/chat/completions", chatBody(model, request, !!options?.onText), chatGeneration, options);
    },

    complete(request: CompletionRequest, options?: CallOptions): Promise<Generation> {
      return generate("/completions", completionBody(model, request, !!options?.onText), completionGeneration, options);
    },

    async embed(request: EmbeddingRequest, options?: CallOptions): Promise<Embeddings> {
      const json = await upstreamJson(`${base}/embeddings`, post({ model, input: request.input }), withSignal(options));
      const answer = parseAnswer(EmbeddingList, json, label);
      const ordered = [...answer.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      return { embeddings: ordered.map((d) => d.embedding) };
    },

    /** GET /models: costs no tokens; used by health checks. */
    async listModels(options?: CallOptions): Promise<string[]> {
      const json = await upstreamJson(`${base}/models`, { method: "GET", headers: { accept: "application/json", ...headers } }, withSignal(options));
      return parseAnswer(ModelList, json, label).data.map((m) => m.id);
    },
  };
}
