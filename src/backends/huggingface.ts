/**
 * `huggingface`: Inference Providers through the router (OpenAI-compatible chat),
 * hf-inference tasks (feature-extraction, text-classification,
 * zero-shot-classification, text-generation), or a dedicated Inference Endpoint.
 *
 * Routes, from the config, as Hugging Face's own client (huggingface.js,
 * providers/hf-inference.ts) builds them:
 * - router (default): chat at {base_url}/v1/chat/completions with model
 *   "<model_name>" or "<model_name>:<provider>"; hf-inference tasks (whatever
 *   the provider: the other providers serve chat only here) at
 *   {base_url}/hf-inference/models/<model_name>, except that embeddings name
 *   their pipeline (…/pipeline/feature-extraction: a sentence-transformers
 *   model's own pipeline is sentence-similarity, which refuses a list of
 *   strings) and completions are OpenAI-style at …/v1/completions;
 * - `endpoint_url` set: every call goes to the endpoint instead (TGI's
 *   OpenAI-compatible {endpoint_url}/v1/chat/completions and /v1/completions,
 *   tasks POSTed to {endpoint_url} itself); base_url is then never called.
 * Never sends `x-wait-for-model`: a loading model becomes a retryable error
 * (see `modelLoading`) instead of a request held open for minutes.
 */
import { z } from "zod";
import { CommonConfig, HttpUrl, ModelName } from "../config/common";
import type { Capability } from "../models/schema";
import { timedCheck } from "./health";
import { forCall, jsonGet, jsonPost, timing, upstreamJson, type UpstreamPolicy } from "./http";
import { embeddingVectors, modelLoading, textClassification, zeroShot } from "./huggingface-wire";
import { openAIClient } from "./openai-client";
import { VISION_MODELS } from "./openai-compatible";
import type { BackendFactory, CallOptions, CompletionRequest, Generation, ModelBackend } from "./types";

const Config = CommonConfig.extend({
  model_name: ModelName,
  api_key: z.string().min(1),
  provider: z
    .string()
    .regex(/^[a-z0-9-]+$/, "must be a provider name such as together or hf-inference")
    .optional(),
  base_url: HttpUrl.default("https://router.huggingface.co"),
  endpoint_url: HttpUrl.optional(),
}).strict();

type HFConfig = z.output<typeof Config>;

/**
 * Default capabilities guessed from the model name, since one HF token reaches
 * every kind of model: sentence-transformers/*, *bge*, *e5* and names with
 * "embed" are embedding models; names with "sentiment", "nli" (mnli, xnli,
 * anli), "classif" or "sst" are classifiers; anything else is a text
 * generator (chat + completion). Registration can always name capabilities.
 */
const EMBEDDING = /^sentence-transformers\/|bge|(^|[^a-z0-9])e5([^a-z0-9]|$)|embed/i;
const CLASSIFIER = /sentiment|(^|[^a-z])[a-z]?nli([^a-z]|$)|classif|(^|[^a-z])sst/i;

function defaultCapabilities(config: HFConfig): Capability[] {
  if (EMBEDDING.test(config.model_name)) return ["embedding"];
  if (CLASSIFIER.test(config.model_name)) return ["classification"];
  return ["chat", "completion"];
}

/** Where each kind of call goes, and the name used for this upstream in messages. */
function routes(config: HFConfig) {
  const trim = (url: string) => url.replace(/\/+$/, "");
  if (config.endpoint_url) {
    const base = trim(config.endpoint_url);
    return {
      label: `Hugging Face endpoint ${new URL(base).host}`,
      openAIBase: `${base}/v1`,
      chatModel: config.model_name,
      completionsBase: `${base}/v1`,
      task: base,
      embed: base,
      info: `${base}/info`,
    };
  }
  const base = trim(config.base_url);
  const host = new URL(base).host;
  const path = config.model_name.split("/").map(encodeURIComponent).join("/");
  return {
    label: host === "router.huggingface.co" ? "Hugging Face router" : `Hugging Face router at ${host}`,
    openAIBase: `${base}/v1`,
    chatModel: config.provider ? `${config.model_name}:${config.provider}` : config.model_name,
    completionsBase: `${base}/hf-inference/models/${path}/v1`,
    task: `${base}/hf-inference/models/${path}`,
    embed: `${base}/hf-inference/models/${path}/pipeline/feature-extraction`,
    info: undefined,
  };
}

export const huggingface = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding", "classification"],
  defaultCapabilities,
  // The router's chat is OpenAI-compatible: tools and structured output pass to the provider; images by model.
  defaultFeatures: ({ model_name }) => ["tools", "json_schema", ...(VISION_MODELS.test(model_name) ? (["vision"] as const) : [])],
  upstreamUrls: (config) =>
    config.endpoint_url ? [{ field: "config.endpoint_url", url: config.endpoint_url }] : [{ field: "config.base_url", url: config.base_url }],

  create(config, deps): ModelBackend {
    const route = routes(config);
    const policy: Omit<UpstreamPolicy, "signal"> = {
      label: route.label,
      ...timing(config),
      fetch: deps.fetch,
      interpretError: (status, body, headers) => modelLoading(status, body, headers, config.model_name),
    };
    const auth = { authorization: `Bearer ${config.api_key}` };
    const chatClient = openAIClient({ baseUrl: route.openAIBase, model: route.chatModel, headers: auth, policy });
    const completionsClient = openAIClient({ baseUrl: route.completionsBase, model: config.model_name, headers: auth, policy });
    const post = (url: string, body: unknown, options?: CallOptions) => upstreamJson(url, jsonPost(body, auth), forCall(policy, options));

    /**
     * The router itself has no /v1/completions. Endpoints and hf-inference
     * (provider unset or "hf-inference") serve OpenAI-style completions; for
     * any other provider the prompt is sent to chat as a single user message.
     */
    const viaCompletions = !!config.endpoint_url || !config.provider || config.provider === "hf-inference";

    function complete(request: CompletionRequest, options?: CallOptions): Promise<Generation> {
      if (viaCompletions) return completionsClient.complete(request, options);
      const { prompt, ...sampling } = request;
      return chatClient.chat({ ...sampling, messages: [{ role: "user", content: prompt }] }, options);
    }

    /**
     * Spends no tokens: an endpoint's /info (TGI and TEI both serve it), or
     * the router's model list (which names chat models only).
     */
    async function probe(): Promise<string | null> {
      if (route.info) {
        await upstreamJson(route.info, jsonGet(auth), policy);
        return null;
      }
      const models = await chatClient.listModels();
      const listed = defaultCapabilities(config)[0] !== "chat" || models.length === 0 || models.includes(config.model_name);
      return listed ? null : `${config.model_name} is not in the Hugging Face router's model list`;
    }

    return {
      healthCheck: () => timedCheck(probe),
      chat: chatClient.chat,
      complete,
      async embed(request, options) {
        return { embeddings: embeddingVectors(await post(route.embed, { inputs: request.input }, options), request.input.length, route.label) };
      },
      async classify({ text, labels }, options) {
        if (labels) return zeroShot(await post(route.task, { inputs: text, parameters: { candidate_labels: labels } }, options), route.label);
        return textClassification(await post(route.task, { inputs: text }, options), route.label);
      },
    };
  },
} satisfies BackendFactory<typeof Config>;
