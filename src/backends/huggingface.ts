/**
 * `huggingface`: Inference Providers through the router (OpenAI-compatible chat),
 * hf-inference tasks (feature-extraction, text-classification,
 * zero-shot-classification), or a dedicated Inference Endpoint.
 */
import { z } from "zod";
import { CommonConfig, HttpUrl, ModelName } from "../config/common";
import { GatewayError } from "../errors";
import type { BackendFactory, ModelBackend } from "./types";

const Config = CommonConfig.extend({
  model_name: ModelName,
  api_key: z.string().min(1),
  provider: z.string().regex(/^[a-z0-9-]+$/, "must be a provider name such as together or hf-inference").optional(),
  base_url: HttpUrl.default("https://router.huggingface.co"),
  endpoint_url: HttpUrl.optional(),
}).strict();

export const huggingface = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding", "classification"],
  defaultCapabilities: () => ["chat", "completion"],
  upstreamUrls: (config) => [{ field: "config.base_url", url: config.endpoint_url ?? config.base_url }],
  create(): ModelBackend {
    throw new GatewayError("internal", "The huggingface backend is not built yet.");
  },
} satisfies BackendFactory<typeof Config>;
