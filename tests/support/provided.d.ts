/** Values the globalSetup hands to tests with provide()/inject(). */
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the fake OpenAI-compatible upstream (without /v1). */
    openaiUrl: string;
  }
}
