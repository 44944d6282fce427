/**
 * `openai_compatible` (alias `external_api`): OpenAI, vLLM, llama.cpp server,
 * Groq, Together, LM Studio — anything with /chat/completions, /completions,
 * /embeddings and /models under one base URL.
 */
import { z } from "zod";
import { CommonConfig, Headers, HttpUrl, ModelName } from "../config/common";
import { timedCheck } from "./health";
import { timing } from "./http";
import { openAIClient } from "./openai-client";
import type { BackendFactory, ModelBackend } from "./types";

const Config = CommonConfig.extend({
  base_url: HttpUrl,
  model_name: ModelName,
  api_key: z.string().min(1).optional(),
  headers: Headers.optional(),
  /** The upstream has OpenAI's Responses API: `/v1/responses` passes through to `{base_url}/responses`. */
  responses_api: z.boolean().optional(),
}).strict();

/** Models that take image input, by name: OpenAI's (gpt-4o, gpt-4.1, gpt-5, o1, o3, o4) and common open ones. */
export const VISION_MODELS =
  /gpt-4o|gpt-4\.1|gpt-4-turbo|gpt-5|(^|\/)o[134]($|-)|vision|-vl|vl-|llava|pixtral|gemma-?3|llama-?4|claude|gemini|idefics|smolvlm|minicpm-v|moondream|mistral-small-3\.[12]/i;

export const openaiCompatible = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding"],
  defaultCapabilities: (config) => (/embed/i.test(config.model_name) ? ["embedding"] : ["chat", "completion"]),
  // Function calling and JSON mode are near universal among OpenAI-compatible servers; image input is by model.
  defaultFeatures: ({ model_name }) => ["tools", "json_schema", ...(VISION_MODELS.test(model_name) ? (["vision"] as const) : [])],
  upstreamUrls: (config) => [{ field: "config.base_url", url: config.base_url }],

  create(config, deps): ModelBackend {
    const host = new URL(config.base_url).host;
    const client = openAIClient({
      baseUrl: config.base_url,
      model: config.model_name,
      headers: {
        ...(config.api_key && { authorization: `Bearer ${config.api_key}` }),
        ...config.headers,
      },
      policy: {
        label: `OpenAI-compatible upstream ${host}`,
        ...timing(config),
        fetch: deps.fetch,
      },
    });
    return {
      // GET /models spends no tokens; an empty list (some servers) says nothing either way.
      healthCheck: () =>
        timedCheck(async () => {
          const models = await client.listModels();
          return models.length === 0 || models.includes(config.model_name) ? null : `${config.model_name} is not in the upstream's model list`;
        }),
      chat: client.chat,
      ...(config.responses_api && {
        native: { format: "responses" as const, chat: client.responses, countTokens: client.responsesInputTokens },
      }),
      complete: client.complete,
      embed: client.embed,
    };
  },
} satisfies BackendFactory<typeof Config>;
