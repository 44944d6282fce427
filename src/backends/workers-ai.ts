/**
 * `workers_ai`: models on Cloudflare Workers AI through the `AI` binding
 * (`env.AI.run(model, inputs, options)`), optionally via an AI Gateway.
 * Shapes (developers.cloudflare.com/workers-ai/models):
 *   text generation  {messages | prompt, max_tokens, temperature, top_p, stream}
 *                    -> {response, usage} or, streaming, SSE of {response} then [DONE]
 *   embeddings       {text: string[]} -> {shape, data: number[][]}        (@cf/baai/bge-*)
 *   classification   {text} -> [{label, score}]                          (@cf/huggingface/distilbert-sst-2-int8)
 *   reranking        {query, contexts: [{text}]} -> {response: [{id, score}]}   (@cf/baai/bge-reranker-base),
 *                    which serves zero-shot classification: the labels are the contexts.
 * The binding throws plain Errors ("3040: Capacity temporarily exceeded"); they
 * are read once here into GatewayErrors, retryable where the platform says so.
 */
import { z } from "zod";
import { CommonConfig } from "../config/common";
import { GatewayError } from "../errors";
import { untilEnd } from "../util/until-end";
import { streamOrWhole } from "./generate";
import { timedCheck } from "./health";
import { imageLoader } from "./images";
import { forCall, retrying, timing, type RetryPolicy } from "./retry";
import { ScoredLabel } from "./shapes";
import { sseEvents, type StreamPiece } from "./stream";
import { parseAnswer } from "./wire";
import { chatInputs, completionInputs, type Inputs, outputGeneration, TextOutput, usage } from "./workers-ai-wire";
import type { BackendFactory, CallOptions, Generation, ModelBackend } from "./types";

const Config = CommonConfig.extend({
  model_name: z.string().regex(/^@(cf|hf)\/[\w.-]+\/[\w.:-]+$/, "must be a Workers AI model id such as @cf/meta/llama-3.1-8b-instruct"),
  /** An AI Gateway id: calls then go through that gateway (caching, logs, limits). */
  gateway: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/, "must be an AI Gateway id")
    .optional(),
}).strict();
type Config = z.output<typeof Config>;

/** The part of the binding this backend uses; the generated `Ai` type is keyed by model literal. */
interface AiBinding {
  run(model: string, inputs: Record<string, unknown>, options?: { gateway?: { id: string }; signal?: AbortSignal }): Promise<unknown>;
}

const EmbeddingOutput = z.object({ data: z.array(z.array(z.number())).min(1) });
const ClassificationOutput = z.array(ScoredLabel);
const RerankOutput = z.object({ response: z.array(z.object({ id: z.number(), score: z.number() })) });

const isEmbedding = (model: string) => /\/bge-(?!reranker)|embed/i.test(model);
const isReranker = (model: string) => /reranker/i.test(model);
const isClassifier = (model: string) => /sst-2|classif|sentiment/i.test(model) || isReranker(model);

/** Function calling (developers.cloudflare.com/workers-ai/features/function-calling): the models documented with `tools`. */
const TOOL_MODELS = /hermes-2-pro|llama-3\.[123]|llama-3-8b|llama-4|qwen2\.5|qwq|qwen3|mistral-small|gemma-3|gpt-oss|kimi|glm/i;
/** Image input: the models whose messages take image parts. */
const VISION_MODELS = /vision|llama-4-scout|gemma-3|mistral-small-3\.1|kimi/i;
/** JSON mode's list of models (developers.cloudflare.com/workers-ai/features/json-mode), and later models with response_format. */
const JSON_MODELS =
  /llama-3\.[123]|llama-3-8b|llama-4|hermes-2-pro|deepseek-coder-6\.7b|deepseek-r1-distill|qwen2\.5-coder|qwen3|gemma-sea-lion|gemma-3|gpt-oss/i;

export const workersAi = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding", "classification"],
  defaultCapabilities: ({ model_name }) =>
    isEmbedding(model_name) ? ["embedding"] : isClassifier(model_name) ? ["classification"] : ["chat", "completion"],
  defaultFeatures: ({ model_name }) => [
    ...(TOOL_MODELS.test(model_name) ? (["tools"] as const) : []),
    ...(VISION_MODELS.test(model_name) ? (["vision"] as const) : []),
    ...(JSON_MODELS.test(model_name) ? (["json_schema"] as const) : []),
  ],
  upstreamUrls: () => [],
  binding: "Workers AI binding (AI)",

  create(config, deps): ModelBackend {
    const label = `Workers AI model ${config.model_name}`;
    const binding = deps.ai as unknown as AiBinding | undefined;
    const policy: RetryPolicy = { label, ...timing(config) };
    const newLoader = deps.imageLoader ?? (() => imageLoader(fetch, new Set()));

    /**
     * One binding call, given up when `signal` aborts; the binding's errors read into GatewayErrors.
     * The binding gets a signal of its own, aborted once the call is over (a stream: once it has
     * ended or its reader went away). A signal given to a binding over RPC (a service binding, as
     * the tests' fake is) stays open in the callee until it aborts, and workerd reports a callee
     * left waiting on one that never does as hung. The abort reaches such a callee asynchronously:
     * a call that ends here waits one turn of the event loop for it to leave, or a request that
     * ends right after (a health check's alarm) can take it down unsent.
     */
    const once = async (inputs: Record<string, unknown>, signal: AbortSignal): Promise<unknown> => {
      if (typeof binding?.run !== "function") {
        throw new GatewayError(
          "model_unavailable",
          "The Workers AI binding (AI) is not available here; it needs a deployed Worker (wrangler dev --local has no Workers AI).",
        );
      }
      const call = new AbortController();
      const over = async () => {
        call.abort();
        await new Promise((resolve) => setTimeout(resolve, 0));
      };
      try {
        const answer = await abortable(binding.run(config.model_name, inputs, runOptions(config, AbortSignal.any([signal, call.signal]))), signal);
        if (answer instanceof ReadableStream) return untilEnd(answer, over);
        await over();
        return answer;
      } catch (error) {
        await over();
        throw bindingError(error, label, signal);
      }
    };
    /** One binding call through the shared retry loop. */
    const run = (inputs: Record<string, unknown>, options?: CallOptions) => retrying(forCall(policy, options), (signal) => once(inputs, signal));

    const generate = async ({ inputs: body, streams }: Inputs, maxTokens: number | undefined, options?: CallOptions): Promise<Generation> => {
      const ways = {
        async connect(signal: AbortSignal) {
          const stream = await once({ ...body, stream: true }, signal);
          if (!(stream instanceof ReadableStream)) throw new GatewayError("upstream_error", `${label} did not return a stream.`);
          return stream;
        },
        whole: async (): Promise<Generation> => outputGeneration(parseAnswer(TextOutput, await run(body, options), label)),
        events: sseEvents,
        piece: textPiece,
        streams,
      };
      return withLength(await streamOrWhole(ways, options, forCall(policy, options)), maxTokens);
    };

    return {
      // A binding has no free "list models" call; probing would spend neurons, so the check is presence only.
      healthCheck: () =>
        timedCheck(async () => {
          if (typeof binding?.run !== "function") throw new GatewayError("model_unavailable", "The Workers AI binding (AI) is not configured.");
          return null;
        }),
      chat: async (request, options) => generate(await chatInputs(request, label, newLoader(), options?.signal), request.max_tokens, options),
      complete: async (request, options) => generate(completionInputs(request, label), request.max_tokens, options),
      async embed(request, options) {
        const answer = parseAnswer(EmbeddingOutput, await run({ text: request.input }, options), label);
        return { embeddings: answer.data };
      },
      async classify(request, options) {
        if (isReranker(config.model_name)) {
          if (!request.labels) throw new GatewayError("invalid_request", `${label} ranks candidate labels: give labels.`);
          const contexts = request.labels.map((text) => ({ text }));
          const answer = parseAnswer(RerankOutput, await run({ query: request.text, contexts }, options), label);
          return { labels: answer.response.map((r) => ({ label: request.labels?.[r.id] ?? String(r.id), score: r.score })) };
        }
        if (request.labels) {
          throw new GatewayError(
            "invalid_request",
            `${label} has fixed labels; for zero-shot labels use a reranker such as @cf/baai/bge-reranker-base.`,
          );
        }
        const answer = parseAnswer(ClassificationOutput, await run({ text: request.text }, options), label);
        return { labels: answer };
      },
    };
  },
} satisfies BackendFactory<typeof Config>;

function runOptions(config: Config, signal: AbortSignal) {
  return { ...(config.gateway && { gateway: { id: config.gateway } }), signal };
}

function textPiece(event: unknown): StreamPiece {
  const parsed = TextOutput.safeParse(event);
  if (!parsed.success || (parsed.data.response != null && typeof parsed.data.response !== "string")) {
    return { error: "a stream event in an unexpected shape" };
  }
  return { text: parsed.data.response ?? undefined, usage: parsed.data.usage ? usage(parsed.data.usage) : undefined };
}

/** Workers AI reports no finish reason: a generation that used all of max_tokens was cut. */
function withLength(result: Generation, maxTokens: number | undefined): Generation {
  const cut =
    result.finish_reason === "stop" &&
    maxTokens !== undefined &&
    result.usage.completion_tokens !== null &&
    result.usage.completion_tokens >= maxTokens;
  return cut ? { ...result, finish_reason: "length" } : result;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** The binding's errors carry a numeric code in their text; map it to what a person can act on. */
function bindingError(error: unknown, label: string, signal: AbortSignal): unknown {
  if (signal.aborted) return error; // the retry loop reports the timeout or the cancellation
  const message = error instanceof Error ? error.message : String(error);
  if (/capacity|rate.?limit|too many requests|\b3040\b|\b429\b/i.test(message)) {
    return new GatewayError("rate_limited", `${label} is over capacity or rate limited: ${message}`, { retryable: true, retryAfter: 1 });
  }
  if (/no such model|\b5007\b|model not found/i.test(message)) {
    return new GatewayError("upstream_error", `${label} does not exist on Workers AI: ${message}`);
  }
  if (/invalid|validation|\b5006\b|\b400\b/i.test(message)) {
    return new GatewayError("invalid_request", `${label} rejected the input: ${message}`);
  }
  if (/internal|timeout|unavailable|\b50\d\b/i.test(message)) {
    return new GatewayError("upstream_error", `${label} failed: ${message}`, { retryable: true });
  }
  return new GatewayError("upstream_error", `${label} failed: ${message}`);
}
