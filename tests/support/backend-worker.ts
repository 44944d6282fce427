/**
 * The example backend Worker (examples/backend-worker) as the tests run it
 * beside the gateway: bundled with esbuild (miniflare runs JavaScript modules;
 * wrangler bundles the same way on deploy), talking to its own fake
 * OpenAI-compatible upstream on a port chosen before the bundle is configured.
 */
import { join } from "node:path";
import { build } from "esbuild";
import { freePort, PROJECT_ROOT } from "./wrangler-dev.ts";

/** The env var that hands the chosen port from vitest.config.ts to the globalSetup (same process). */
export const UPSTREAM_PORT_VAR = "EXAMPLE_BACKEND_UPSTREAM_PORT";

export interface BundledBackend {
  /** The bundled entry module (ESM). */
  path: string;
  /** The port its fake upstream must listen on. */
  upstreamPort: number;
}

export async function bundleExampleBackend(): Promise<BundledBackend> {
  // Inside the project (git-ignored): workerd reads modules from below its working directory only.
  const path = join(PROJECT_ROOT, ".wrangler/example-backend/index.js");
  await build({
    entryPoints: [join(PROJECT_ROOT, "examples/backend-worker/src/index.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: ["cloudflare:*"],
    outfile: path,
    logLevel: "error",
  });
  // The config may be evaluated more than once in the process: keep the first port, the one the globalSetup will use.
  const upstreamPort = Number(process.env[UPSTREAM_PORT_VAR]) || (await freePort());
  process.env[UPSTREAM_PORT_VAR] = String(upstreamPort);
  return { path, upstreamPort };
}
