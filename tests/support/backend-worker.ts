/**
 * The example backend Worker (examples/backend-worker) as the tests run it
 * beside the gateway: bundled with esbuild (miniflare runs JavaScript modules;
 * wrangler bundles the same way on deploy), talking to its own fake
 * OpenAI-compatible upstream on a port chosen before the bundle is configured.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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

export interface BackendConfigs {
  /** The gateway's wrangler.toml, plus the service binding EXAMPLE_BACKEND. */
  gateway: string;
  /** The example backend Worker's wrangler.toml, pointed at `upstreamUrl`. */
  backend: string;
  dispose(): Promise<void>;
}

/**
 * Configs for `wrangler dev -c <gateway> -c <backend>`: copies of the two
 * wrangler.toml files with absolute paths, the gateway's with the service
 * binding (the project's own has none: a deploy would need the backend
 * deployed first) and the backend's with its upstream set.
 */
export async function backendWranglerConfigs(upstreamUrl: string): Promise<BackendConfigs> {
  await mkdir(join(PROJECT_ROOT, ".wrangler"), { recursive: true });
  const dir = await mkdtemp(join(PROJECT_ROOT, ".wrangler/backend-e2e-"));
  const absolute = (text: string, base: string, keys: string[]) =>
    keys.reduce(
      (out, key) => out.replace(new RegExp(`^${key} = "([^"]+)"`, "m"), (_m, path: string) => `${key} = ${JSON.stringify(join(base, path))}`),
      text,
    );

  const gatewayToml =
    absolute(await readFile(join(PROJECT_ROOT, "wrangler.toml"), "utf8"), PROJECT_ROOT, ["main", "migrations_dir"]) +
    '\n[[services]]\nbinding = "EXAMPLE_BACKEND"\nservice = "example-backend"\nentrypoint = "OpenAIBackend"\n';
  const backendDir = join(PROJECT_ROOT, "examples/backend-worker");
  const backendToml = absolute(await readFile(join(backendDir, "wrangler.toml"), "utf8"), backendDir, ["main"])
    .replace(/^UPSTREAM_BASE_URL = .*$/m, `UPSTREAM_BASE_URL = ${JSON.stringify(`${upstreamUrl}/v1`)}`)
    .replace(/^EMBEDDING_MODELS = .*$/m, 'EMBEDDING_MODELS = "fake-embed"');
  const gateway = join(dir, "gateway.toml");
  const backend = join(dir, "backend.toml");
  await writeFile(gateway, gatewayToml);
  await writeFile(backend, backendToml);
  return { gateway, backend, dispose: () => rm(dir, { recursive: true, force: true }) };
}
