/**
 * `ollama`: Ollama's native API (/api/chat, /api/generate, /api/embed, /api/tags),
 * typically reached through a Cloudflare Tunnel with Access service-token headers.
 * The wire format lives in `./ollama-wire.ts`; timeouts, retries and error
 * mapping are the shared ones of `./http.ts`.
 */
import { CommonConfig, Headers, HttpUrl, ModelName } from "../config/common";
import { GatewayError, toGatewayError } from "../errors";
import { httpGeneration, type HttpGeneration } from "./generate";
import { timedCheck } from "./health";
import { forCall, jsonGet, jsonPost, timing, upstreamJson, type UpstreamPolicy } from "./http";
import { imageLoader } from "./images";
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
import { ndjsonEvents } from "./stream";
import type { BackendFactory, ModelBackend } from "./types";

/**
 * Ollama's native API lives at the server root (/api/chat); a base_url ending in
 * /v1 is its OpenAI-compatible API, where every native path is a 404. Refused
 * when the config is checked (registration and every call), naming the fix.
 */
export const OLLAMA_V1_BASE_URL =
  "should be the server root, e.g. https://host:11434, without /v1; for Ollama's OpenAI-compatible API use backend_type openai_compatible";

function endsInV1(raw: string): boolean {
  try {
    return /\/v1\/*$/i.test(new URL(raw).pathname);
  } catch {
    return false; // not a URL: HttpUrl says so
  }
}

const Config = CommonConfig.extend({
  base_url: HttpUrl.refine((url) => !endsInV1(url), OLLAMA_V1_BASE_URL),
  model_name: ModelName,
  headers: Headers.optional(),
}).strict();

/** Model families Ollama's library lists with tool support (ollama.com/search?c=tools). */
const TOOL_MODELS =
  /llama3\.[123]|llama4|qwen2\.5|qwen3|qwq|mistral|mixtral|command-r|hermes3|granite3|firefunction|smollm2|nemotron|gpt-oss|deepseek-r1|phi4-mini/i;
/** ...and with image input (ollama.com/search?c=vision). */
const VISION_MODELS = /llava|vision|gemma3|qwen2\.5vl|qwen-vl|minicpm-v|moondream|llama4|mistral-small3\.[12]|bakllava/i;

export const ollama = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding"],
  // Ollama's embedding models by family name (nomic-embed-text, mxbai-embed-large, all-minilm, bge-m3, snowflake-arctic-embed,
  // multilingual-e5, gte-base); the short names only as a word of their own, so "llama-e5f2" or "gtest" stay chat models.
  defaultCapabilities: (config) =>
    /embed|minilm|(^|[^a-z0-9])(bge|e5|gte)([^a-z0-9]|$)/i.test(config.model_name) ? ["embedding"] : ["chat", "completion"],
  // `format` (JSON mode, schemas) works with every model; tools and images only with the families trained for them.
  defaultFeatures: ({ model_name }) => [
    ...(TOOL_MODELS.test(model_name) ? (["tools"] as const) : []),
    ...(VISION_MODELS.test(model_name) ? (["vision"] as const) : []),
    "json_schema" as const,
  ],
  upstreamUrls: (config) => [{ field: "config.base_url", url: config.base_url }],

  create(config, deps): ModelBackend {
    const base = config.base_url.replace(/\/+$/, "");
    const model = config.model_name;
    const label = `Ollama at ${new URL(config.base_url).host}`;
    // Config headers (e.g. the Access service token) go on every request, tags included.
    const headers = { ...config.headers };
    const newLoader = deps.imageLoader ?? (() => imageLoader(deps.fetch, new Set()));
    const policy: UpstreamPolicy = {
      label,
      ...timing(config),
      fetch: onlyOllama(deps.fetch, label),
      interpretError: (status, body) => (isModelMissing(status, body) ? notPulled(model, label) : undefined),
    };
    // Ollama streams NDJSON; `stream` is always in the body (see ollama-wire.ts).
    const generation: Pick<HttpGeneration, "headers" | "events" | "piece"> = { headers, events: ndjsonEvents, piece: ollamaStreamPiece };

    /**
     * GET /api/tags spends no tokens. Any failure to get Ollama's list means the
     * server was not reached (network, timeout, an Access page, some other
     * server); a list without the model means it is not pulled. No retries: a
     * check reports what it saw now, and the health rules already wait for
     * consecutive failures.
     */
    async function checkPulled(): Promise<null> {
      let tags;
      try {
        const json = await upstreamJson(`${base}/api/tags`, jsonGet(headers), { ...policy, maxRetries: 0 });
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
      return null;
    }

    return {
      healthCheck: () => timedCheck(checkPulled),
      async chat(request, options) {
        const body = await chatBody(model, request, label, newLoader(), options?.signal);
        return httpGeneration(
          { ...generation, url: `${base}/api/chat`, body: (stream) => ({ ...body, stream }), parse: chatGeneration },
          policy,
          options,
        );
      },
      complete: (request, options) =>
        httpGeneration(
          {
            ...generation,
            url: `${base}/api/generate`,
            body: (stream) => generateBody(model, request, stream, label),
            parse: generateGeneration,
          },
          policy,
          options,
        ),
      async embed(request, options) {
        const json = await upstreamJson(`${base}/api/embed`, jsonPost({ model, input: request.input }, headers), forCall(policy, options));
        const { embeddings, prompt_eval_count } = parseAnswer(EmbedAnswer, json, label);
        if (embeddings.length !== request.input.length) {
          throw new GatewayError("upstream_error", `${label} sent ${embeddings.length} embeddings for ${request.input.length} inputs.`);
        }
        return { embeddings, usage: { prompt_tokens: prompt_eval_count ?? null } };
      },
    };
  },
} satisfies BackendFactory<typeof Config>;
