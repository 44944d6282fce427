/**
 * `ollama`: Ollama's native API (/api/chat, /api/generate, /api/embed, /api/tags),
 * typically reached through a Cloudflare Tunnel with Access service-token headers.
 * The wire format lives in `./ollama-wire.ts`; timeouts, retries and error
 * mapping are the shared ones of `./http.ts`.
 */
import { CommonConfig, Headers, HttpUrl, ModelName } from "../config/common";
import { GatewayError, toGatewayError } from "../errors";
import { upstreamJson, upstreamStream, type UpstreamPolicy } from "./http";
import {
  chatBody,
  chatGeneration,
  EmbedAnswer,
  generateBody,
  generateGeneration,
  isModelMissing,
  isPulled,
  notPulled,
  ollamaStreamPiece,
  onlyOllama,
  Tags,
} from "./ollama-wire";
import { parseAnswer } from "./wire";
import { collectStream, ndjsonEvents } from "./stream";
import type { BackendFactory, CallOptions, Generation, ModelBackend } from "./types";

const Config = CommonConfig.extend({
  base_url: HttpUrl,
  model_name: ModelName,
  headers: Headers.optional(),
}).strict();

export const ollama = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding"],
  // Ollama's embedding models by family name (nomic-embed-text, mxbai-embed-large, all-minilm, bge-m3, snowflake-arctic-embed).
  defaultCapabilities: (config) => (/embed|minilm|bge|e5|gte/i.test(config.model_name) ? ["embedding"] : ["chat", "completion"]),
  upstreamUrls: (config) => [{ field: "config.base_url", url: config.base_url }],

  create(config, deps): ModelBackend {
    const base = config.base_url.replace(/\/+$/, "");
    const model = config.model_name;
    const label = `Ollama at ${new URL(config.base_url).host}`;
    // Config headers (e.g. the Access service token) go on every request, tags included.
    const headers = { accept: "application/json", ...config.headers };
    const policy: UpstreamPolicy = {
      label,
      timeoutMs: config.timeout * 1000,
      maxRetries: config.max_retries,
      fetch: onlyOllama(deps.fetch, label),
      interpretError: (status, body) => (isModelMissing(status, body) ? notPulled(model, label) : undefined),
    };
    const post = (body: unknown): RequestInit => ({
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });

    /** Streams (NDJSON) when the caller takes text as it arrives, else one JSON answer. */
    async function generate(
      path: string,
      body: (stream: boolean) => unknown,
      parse: (json: unknown, label: string) => Generation,
      options?: CallOptions,
    ): Promise<Generation> {
      const call = { ...policy, signal: options?.signal };
      if (options?.onText) {
        const stream = await upstreamStream(`${base}${path}`, post(body(true)), call);
        return collectStream(ndjsonEvents(stream), ollamaStreamPiece, options.onText, { idleMs: policy.timeoutMs, label });
      }
      return parse(await upstreamJson(`${base}${path}`, post(body(false)), call), label);
    }

    /**
     * GET /api/tags spends no tokens. Any failure to get Ollama's list means the
     * server was not reached (network, timeout, an Access page, some other
     * server); a list without the model means it is not pulled.
     */
    async function checkPulled(maxRetries: number): Promise<void> {
      let tags;
      try {
        const json = await upstreamJson(`${base}/api/tags`, { method: "GET", headers }, { ...policy, maxRetries });
        tags = parseAnswer(Tags, json, label);
      } catch (error) {
        const failure = toGatewayError(error);
        throw new GatewayError(failure.code, `Ollama tunnel unreachable: ${failure.message}`, {
          retryAfter: failure.retryAfter,
          retryable: failure.retryable,
          cause: error,
        });
      }
      if (!isPulled(tags, model)) throw notPulled(model, label);
    }

    return {
      capabilities: ollama.supports,
      initialize: () => checkPulled(config.max_retries),
      async healthCheck() {
        const started = Date.now();
        try {
          // No retries: a check reports what it saw now, within one timeout;
          // the health rules already wait for consecutive failures.
          await checkPulled(0);
          return { ok: true, latency_ms: Date.now() - started, detail: null };
        } catch (error) {
          return { ok: false, latency_ms: Date.now() - started, detail: toGatewayError(error).message };
        }
      },
      async shutdown() {},
      chat: (request, options) => generate("/api/chat", (stream) => chatBody(model, request, stream), chatGeneration, options),
      complete: (request, options) => generate("/api/generate", (stream) => generateBody(model, request, stream), generateGeneration, options),
      async embed(request, options) {
        const json = await upstreamJson(`${base}/api/embed`, post({ model, input: request.input }), { ...policy, signal: options?.signal });
        const { embeddings } = parseAnswer(EmbedAnswer, json, label);
        if (embeddings.length !== request.input.length) {
          throw new GatewayError("upstream_error", `${label} sent ${embeddings.length} embeddings for ${request.input.length} inputs.`);
        }
        return { embeddings };
      },
    };
  },
} satisfies BackendFactory<typeof Config>;
