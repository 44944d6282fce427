/** Registration bodies for models on the fakes, shared by both test projects. */
import { inject } from "vitest";

/** The fake OpenAI-compatible upstream's base URL, as a model's `base_url`. */
export function upstreamUrl(): string {
  return `${inject("openaiUrl")}/v1`;
}

/** A model on the fake OpenAI-compatible upstream using the granted canary; `upstreamModel` selects its fault script. */
export function openaiModel(id: string, upstreamModel = "gpt-fake", config: Record<string, unknown> = {}) {
  return {
    id,
    name: `Model ${id}`,
    backend_type: "openai_compatible",
    config: { base_url: upstreamUrl(), model_name: upstreamModel, api_key: "${UPSTREAM_KEY}", timeout: 5, ...config },
  };
}

/** A model on the fake Anthropic Messages API using the granted canary; `upstreamModel` selects its fault script. */
export function anthropicModel(id: string, upstreamModel: string, config: Record<string, unknown> = {}) {
  return {
    id,
    name: `Claude ${id}`,
    backend_type: "anthropic",
    config: { base_url: inject("anthropicUrl"), model_name: upstreamModel, api_key: "${UPSTREAM_KEY}", timeout: 5, ...config },
  };
}
