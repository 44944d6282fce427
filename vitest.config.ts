/**
 * Two test projects:
 * - `workers`: runs inside workerd with the real bindings (Durable Objects,
 *   D1 with migrations applied) via @cloudflare/vitest-plugin;
 * - `e2e`: runs in Node, starts `wrangler dev` and drives it with real MCP clients.
 * Both talk to fake upstreams on 127.0.0.1 started in a globalSetup.
 */
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { bundleExampleBackend } from "./tests/support/backend-worker.ts";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  // The example backend Worker runs beside the gateway, behind the service binding EXAMPLE_BACKEND.
  const backend = await bundleExampleBackend();
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              // No Cloudflare account here: every binding is local (the AI binding is faked below).
              remoteBindings: false,
              miniflare: {
                bindings: {
                  ADMIN_TOKEN: "test-operator-token",
                  SECRETS_KEY: "dGVzdC1zZWNyZXRzLWtleS0zMi1ieXRlcy1sb25nISE=",
                  // The key before a rotation (a passphrase: the HKDF path); tests/workers/secrets.test.ts seals with it.
                  SECRETS_KEY_PREVIOUS: "previous secrets key: a passphrase, not base64",
                  ALLOWED_PRIVATE_HOSTS: "localhost,127.0.0.1",
                  PUBLIC_URL: "http://localhost",
                  // Every fired cron checks every model, and no alarm fires by itself: tests drive the schedule.
                  HEALTH_CHECK_INTERVAL_S: "0",
                  // A canary Worker secret: tests grant it and check it never leaks.
                  UPSTREAM_KEY: "sk-canary-7d1f0c9e4b2a",
                  // No request log line per request (thousands of lines in the test output):
                  // tests/workers/request-log.test.ts turns it on for its own requests and asserts the lines.
                  REQUEST_LOGS: "off",
                  TEST_MIGRATIONS: migrations,
                },
                // The real AI binding takes an AbortSignal; an RPC fake needs this flag to receive one.
                compatibilityFlags: ["enable_abortsignal_rpc"],
                // The Workers AI binding, faked where the real one is (env.AI).
                workers: [
                  {
                    name: "fake-workers-ai",
                    // The entrypoint first, then the module it imports (the vectors all fakes share).
                    modules: [
                      { type: "ESModule", path: "./tests/support/fake-workers-ai.js" },
                      { type: "ESModule", path: "./tests/support/fake-vectors.js" },
                    ],
                    compatibilityDate: "2026-11-01",
                  },
                  {
                    name: "example-backend",
                    modules: [{ type: "ESModule", path: backend.path }],
                    compatibilityDate: "2026-11-01",
                    compatibilityFlags: ["nodejs_compat"],
                    bindings: { UPSTREAM_BASE_URL: `http://127.0.0.1:${backend.upstreamPort}/v1`, EMBEDDING_MODELS: "fake-embed" },
                  },
                ],
                serviceBindings: {
                  AI: { name: "fake-workers-ai", entrypoint: "FakeAi" },
                  // A backend Worker (examples/backend-worker) for `worker` models, and one with no such entrypoint (a failing RPC).
                  EXAMPLE_BACKEND: { name: "example-backend", entrypoint: "OpenAIBackend" },
                },
                // ...and the real (remote-only) binding from wrangler.toml moved out of its way.
                ai: { binding: "UNUSED_REMOTE_AI" },
                // A small per-tenant budget, so the limit test needs few requests.
                ratelimits: { TENANT_RATE_LIMIT: { namespace_id: "1001", simple: { limit: 100, period: 60 } } },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["tests/workers/**/*.test.ts"],
            globalSetup: ["tests/support/upstreams.setup.ts", "tests/support/backend-worker.setup.ts"],
            setupFiles: ["tests/support/apply-migrations.ts"],
          },
        },
        {
          test: {
            name: "e2e",
            include: ["tests/e2e/**/*.test.ts"],
            environment: "node",
            globalSetup: ["tests/support/upstreams.setup.ts"],
            // wrangler dev's output is kept, not printed, unless a test fails.
            setupFiles: ["tests/support/e2e-failure-logs.ts"],
            testTimeout: 60_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
