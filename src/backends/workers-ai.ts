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
import { streamOrWhole } from "./generate";
import { timedCheck } from "./health";
import { type ParamMap, wireParams } from "./params";
import { forCall, retrying, timing, type RetryPolicy } from "./retry";
import { ScoredLabel } from "./shapes";
import { sseEvents, type StreamPiece } from "./stream";
import { parseAnswer } from "./wire";
import type { BackendFactory, CallOptions, Generation, ModelBackend, SamplingParams } from "./types";

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

const TextOutput = z.object({
  response: z.string().nullish(),
  usage: z.object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() }).nullish(),
});
const EmbeddingOutput = z.object({ data: z.array(z.array(z.number())).min(1) });
const ClassificationOutput = z.array(ScoredLabel);
const RerankOutput = z.object({ response: z.array(z.object({ id: z.number(), score: z.number() })) });

const isEmbedding = (model: string) => /\/bge-(?!reranker)|embed/i.test(model);
const isReranker = (model: string) => /reranker/i.test(model);
const isClassifier = (model: string) => /sst-2|classif|sentiment/i.test(model) || isReranker(model);

/** Workers AI text generation's names; it has no stop sequences, so `stop` is not sent. */
const PARAMS: ParamMap = { max_tokens: "max_tokens", temperature: "temperature", top_p: "top_p", stop: null };

export const workersAi = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding", "classification"],
  defaultCapabilities: ({ model_name }) =>
    isEmbedding(model_name) ? ["embedding"] : isClassifier(model_name) ? ["classification"] : ["chat", "completion"],
  upstreamUrls: () => [],
  binding: "Workers AI binding (AI)",

  create(config, deps): ModelBackend {
    const label = `Workers AI model ${config.model_name}`;
    const binding = deps.ai as unknown as AiBinding | undefined;
    const policy: RetryPolicy = { label, ...timing(config) };

    /** One binding call, given up when `signal` aborts; the binding's errors read into GatewayErrors. */
    const once = async (inputs: Record<string, unknown>, signal: AbortSignal): Promise<unknown> => {
      if (typeof binding?.run !== "function") {
        throw new GatewayError(
          "model_unavailable",
          "The Workers AI binding (AI) is not available here; it needs a deployed Worker (wrangler dev --local has no Workers AI).",
        );
      }
      try {
        return await abortable(binding.run(config.model_name, inputs, runOptions(config, signal)), signal);
      } catch (error) {
        throw bindingError(error, label, signal);
      }
    };
    /** One binding call through the shared retry loop. */
    const run = (inputs: Record<string, unknown>, options?: CallOptions) => retrying(forCall(policy, options), (signal) => once(inputs, signal));

    const generate = async (inputs: Record<string, unknown>, params: SamplingParams, options?: CallOptions): Promise<Generation> => {
      const body = { ...inputs, ...wireParams(params, PARAMS) };
      const ways = {
        async open(signal: AbortSignal) {
          const stream = await once({ ...body, stream: true }, signal);
          if (!(stream instanceof ReadableStream)) throw new GatewayError("upstream_error", `${label} did not return a stream.`);
          return stream;
        },
        whole: async (): Promise<Generation> => {
          const answer = parseAnswer(TextOutput, await run(body, options), label);
          return { text: answer.response ?? "", finish_reason: "stop", usage: usage(answer.usage) };
        },
        events: sseEvents,
        piece: textPiece,
      };
      return withLength(await streamOrWhole(ways, options, forCall(policy, options)), params);
    };

    return {
      // A binding has no free "list models" call; probing would spend neurons, so the check is presence only.
      healthCheck: () =>
        timedCheck(async () => {
          if (typeof binding?.run !== "function") throw new GatewayError("model_unavailable", "The Workers AI binding (AI) is not configured.");
          return null;
        }),
      chat: (request, options) => generate({ messages: request.messages }, request, options),
      // `raw` skips the chat template: the model continues the prompt as written.
      complete: (request, options) => generate({ prompt: request.prompt, raw: true }, request, options),
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
  if (!parsed.success) return { error: "a stream event in an unexpected shape" };
  return { text: parsed.data.response ?? undefined, usage: parsed.data.usage ? usage(parsed.data.usage) : undefined };
}

function usage(value: z.infer<typeof TextOutput>["usage"]): Generation["usage"] {
  return { prompt_tokens: value?.prompt_tokens ?? null, completion_tokens: value?.completion_tokens ?? null };
}

/** Workers AI reports no finish reason: a generation that used all of max_tokens was cut. */
function withLength(result: Generation, params: SamplingParams): Generation {
  const cut =
    result.finish_reason === "stop" &&
    params.max_tokens !== undefined &&
    result.usage.completion_tokens !== null &&
    result.usage.completion_tokens >= params.max_tokens;
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
