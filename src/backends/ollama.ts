/**
 * `ollama`: Ollama's native API (/api/chat, /api/generate, /api/embed, /api/tags),
 * typically reached through a Cloudflare Tunnel with Access service-token headers.
 */
import { CommonConfig, Headers, HttpUrl, ModelName } from "../config/common";
import { GatewayError } from "../errors";
import type { BackendFactory, ModelBackend } from "./types";

const Config = CommonConfig.extend({
  base_url: HttpUrl,
  model_name: ModelName,
  headers: Headers.optional(),
}).strict();

export const ollama = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding"],
  defaultCapabilities: (config) => (/embed/i.test(config.model_name) ? ["embedding"] : ["chat", "completion"]),
  upstreamUrls: (config) => [{ field: "config.base_url", url: config.base_url }],
  create(): ModelBackend {
    throw new GatewayError("internal", "The ollama backend is not built yet.");
  },
} satisfies BackendFactory<typeof Config>;
