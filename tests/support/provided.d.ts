/** Values the globalSetup hands to tests with provide()/inject(). */
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the fake OpenAI-compatible upstream (without /v1). */
    openaiUrl: string;
    /** Base URL of the fake Ollama server. */
    ollamaUrl: string;
    /** Base URL of the fake Hugging Face router + hf-inference + Inference Endpoint. */
    hfUrl: string;
    /** Base URL of the fake Anthropic Messages API. */
    anthropicUrl: string;
    /** Base URL of the fake OpenAI-compatible upstream behind the example backend Worker (workers project). */
    backendUpstreamUrl: string;
  }
}
