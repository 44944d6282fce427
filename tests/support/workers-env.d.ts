/** Test-only bindings added in vitest.config.ts. */
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    UPSTREAM_KEY: string;
    /** The example backend Worker (examples/backend-worker), for `worker` models. */
    EXAMPLE_BACKEND: Fetcher;
    /** Optional in production (only during a key rotation), so read in src through `optionalSecret`. */
    SECRETS_KEY_PREVIOUS?: string;
  }
}
