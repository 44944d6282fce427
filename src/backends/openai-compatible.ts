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
}).strict();

export const openaiCompatible = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding"],
  defaultCapabilities: (config) => (/embed/i.test(config.model_name) ? ["embedding"] : ["chat", "completion"]),
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
      complete: client.complete,
      embed: client.embed,
    };
  },
} satisfies BackendFactory<typeof Config>;
