/**
 * What both benchmark modes share (run.mjs under load, chat-latency.mjs one call
 * at a time): settings from the environment, the fake upstreams, the benchmark
 * tenant, a deadline and signals that clean up, statistics, and the results file.
 */
import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, platform, release } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { PROJECT_ROOT, nodeBinary } from "../tests/support/wrangler-dev.ts";

const { AbortSignal } = globalThis;

export const RESULTS_DIR = fileURLToPath(new URL("./results/", import.meta.url));
export const UPSTREAM_MODEL = "gpt-bench";
export const MODEL_ID = "bench-chat";
export const MESSAGES = [{ role: "user", content: "benchmark ping" }];
/** What the fake upstream answers to MESSAGES. */
export const EXPECTED = "echo: benchmark ping";

/** A whole number from the environment, within bounds. */
export function setting(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`bench: ${name} must be a whole number from ${min} to ${max} (got "${raw}").`);
    process.exit(1);
  }
  return value;
}

/**
 * Stop the run at its deadline or on Ctrl-C, after `cleanup` (which must be
 * safe to call twice). `stopping` tells the run that the errors it now sees
 * come from the stop; `done()` is for a run that ended by itself.
 */
export function guardRun(deadlineS, cleanup) {
  const guard = { stopping: false, done: () => clearTimeout(watchdog) };
  const stop = async (message, code) => {
    guard.stopping = true;
    console.error(message);
    await cleanup();
    process.exit(code);
  };
  const watchdog = setTimeout(() => void stop(`bench: still running after ${deadlineS} s (BENCH_DEADLINE_S); stopping.`, 2), deadlineS * 1000);
  for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => void stop(`bench: ${signal}, stopping.`, 130));
  return guard;
}

/**
 * The fake upstreams (bench/upstream.mjs) in a child process, so serving them
 * does not compete with the load generator's event loop: `openai` answers at
 * once, `paced` streams tokens at a pace. `stop()` ends the process.
 */
export async function startUpstreams() {
  const child = spawn(nodeBinary(), [join(PROJECT_ROOT, "bench/upstream.mjs")], { stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`bench/upstream.mjs exited (code ${code})`)));
  });
  return { ...JSON.parse(line), stop: () => child.kill("SIGTERM") };
}

/** A JSON request; throws on a non-2xx answer. */
export async function json(url, { method = "POST", token, body, timeoutMs = 30_000 } = {}) {
  const response = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

/**
 * The tenant `bench` on a gateway: an admin and a user key, the upstream key
 * granted for 127.0.0.1, and one openai_compatible model per `[id, upstream
 * URL]`. Resolves with the keys.
 */
export async function benchTenant(gateway, models, id = "bench") {
  const op = gateway.adminToken;
  await json(`${gateway.url}/api/v1/tenants`, { token: op, body: { id, name: "Benchmark" } });
  const admin = await json(`${gateway.url}/api/v1/tenants/${id}/keys`, { token: op, body: { role: "admin" } });
  const user = await json(`${gateway.url}/api/v1/tenants/${id}/keys`, { token: op, body: { role: "user", name: "bench" } });
  await json(`${gateway.url}/api/v1/tenants/${id}/grants/UPSTREAM_KEY`, { method: "PUT", token: op, body: { hosts: ["127.0.0.1"] } });
  for (const [id, base] of models) {
    await json(`${gateway.url}/api/v1/models`, {
      token: admin.key,
      body: {
        id,
        name: id,
        backend_type: "openai_compatible",
        config: { base_url: `${base}/v1`, model_name: UPSTREAM_MODEL, api_key: "${UPSTREAM_KEY}", max_retries: 0 },
      },
    });
  }
  return { admin, user };
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted, p) {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function summarize(samples) {
  const sorted = [...samples].sort((x, y) => x - y);
  return {
    n: samples.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: samples.reduce((s, x) => s + x, 0) / samples.length,
    min: sorted[0],
    max: sorted.at(-1),
  };
}

/** Where the run happened: enough to tell runs on different machines or versions apart. */
export async function environment() {
  const wrangler = JSON.parse(await readFile(join(PROJECT_ROOT, "node_modules/wrangler/package.json"), "utf8")).version;
  return { node: process.version, wrangler, platform: `${platform()} ${release()}`, cpu: cpus()[0]?.model, cpus: cpus().length };
}

/** Write `bench/results/<name>-<started>.json`; resolves with its path. */
export async function writeResults(name, started, result) {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}-${started.toISOString().replace(/[:.]/g, "-")}.json`;
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}
