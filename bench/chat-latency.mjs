/**
 * How much latency does the gateway add to a `chat` call?
 *
 * One run, three paths, the same chat each time, against the same fake
 * OpenAI-compatible upstream (bench/upstream.mjs) on 127.0.0.1:
 *   (a) direct   POST <fake>/v1/chat/completions             the baseline
 *   (b) mcp      tools/call chat through a real MCP client     (`@modelcontextprotocol/client`, 2026-07-28)
 *   (c) v1       POST <gateway>/v1/chat/completions
 * plus a reference row, GET <gateway>/health: what any request through
 * `wrangler dev` costs before the gateway does any work.
 * The gateway runs under `wrangler dev --local` (tests/support/wrangler-dev.ts).
 * Node >= 22.18 loads those .ts support files directly (type stripping).
 *
 * Calls are sequential (one in flight at a time) and interleaved round-robin,
 * rotating the order each round, so drift (GC, JIT, caches) hits every path
 * alike. Every answer is checked; a wrong one stops the run.
 *
 * Settings (environment): BENCH_N calls per path (200), BENCH_WARMUP warm-up
 * calls per path (20), BENCH_CALL_TIMEOUT_MS per call (10000), BENCH_DEADLINE_S
 * for the whole run (600). Results: a table on stdout and JSON in bench/results/.
 * Run by `npm run bench -- --sequential` (bench/run.mjs); what it shares with
 * the load mode is in bench/common.mjs.
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { startWranglerDev } from "../tests/support/wrangler-dev.ts";
import {
  benchTenant,
  environment,
  EXPECTED,
  guardRun,
  json,
  MESSAGES,
  MODEL_ID,
  setting,
  startUpstreams,
  summarize,
  UPSTREAM_MODEL,
  writeResults,
} from "./common.mjs";

const N = setting("BENCH_N", 200, 1, 100_000);
const WARMUP = setting("BENCH_WARMUP", 20, 0, 10_000);
const CALL_TIMEOUT_MS = setting("BENCH_CALL_TIMEOUT_MS", 10_000, 100, 120_000);
const DEADLINE_S = setting("BENCH_DEADLINE_S", 600, 10, 3_600);

const PATHS = [
  { key: "direct", label: "(a) upstream direct (baseline)" },
  { key: "mcp", label: "(b) MCP tools/call chat" },
  { key: "v1", label: "(c) /v1/chat/completions" },
  // Not a chat: the floor of any request through `wrangler dev` (no auth, no storage, no upstream).
  { key: "health", label: "(ref) gateway GET /health" },
];

let upstream;
let dev;
let mcp;
let cleaning;

/** Stop everything this script started; safe to call more than once. */
function cleanup() {
  cleaning ??= (async () => {
    await mcp?.close().catch(() => {});
    await dev?.dispose().catch(() => {});
    upstream?.stop();
  })();
  return cleaning;
}

const guard = guardRun(DEADLINE_S, cleanup);

function check(path, text) {
  if (text !== EXPECTED) throw new Error(`${path}: expected "${EXPECTED}", got ${JSON.stringify(text)}`);
}

const ms = (x) => x.toFixed(2);

async function main() {
  const started = new Date();
  console.log(`bench: ${N} calls per path after ${WARMUP} warm-up calls; starting the fake upstream and wrangler dev…`);
  upstream = await startUpstreams();
  dev = await startWranglerDev();
  const { user } = await benchTenant(dev, [[MODEL_ID, upstream.openai]]);

  let mcpRequests = 0;
  mcp = new Client({ name: "chat-latency-bench", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(`${dev.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${user.key}` } },
      fetch: (input, init) => {
        mcpRequests++;
        return fetch(input, init);
      },
    }),
  );

  /** The gateway's own latency_ms (time spent on the upstream call inside the Worker), per MCP call. */
  const gatewayReported = [];
  const call = {
    direct: async () => {
      const answer = await json(`${upstream.openai}/v1/chat/completions`, {
        token: dev.upstreamKey,
        body: { model: UPSTREAM_MODEL, messages: MESSAGES },
        timeoutMs: CALL_TIMEOUT_MS,
      });
      check("direct", answer.choices?.[0]?.message?.content);
    },
    mcp: async (measured) => {
      const result = await mcp.callTool({ name: "chat", arguments: { model_id: MODEL_ID, messages: MESSAGES } }, { timeout: CALL_TIMEOUT_MS });
      if (result.isError) throw new Error(`mcp: ${JSON.stringify(result.content)}`);
      check("mcp", result.structuredContent?.text);
      if (measured) gatewayReported.push(result.structuredContent.latency_ms);
    },
    v1: async () => {
      const answer = await json(`${dev.url}/v1/chat/completions`, {
        token: user.key,
        body: { model: MODEL_ID, messages: MESSAGES },
        timeoutMs: CALL_TIMEOUT_MS,
      });
      check("v1", answer.choices?.[0]?.message?.content);
    },
    health: async () => {
      const answer = await json(`${dev.url}/health`, { method: "GET", timeoutMs: CALL_TIMEOUT_MS });
      if (answer?.status !== "ok") throw new Error(`health: ${JSON.stringify(answer)}`);
    },
  };

  const samples = { direct: [], mcp: [], v1: [], health: [] };
  const rounds = WARMUP + N;
  let mcpRequestsAtStart = 0;
  for (let round = 0; round < rounds; round++) {
    const measured = round >= WARMUP;
    if (round === WARMUP) mcpRequestsAtStart = mcpRequests;
    for (let k = 0; k < PATHS.length; k++) {
      const { key } = PATHS[(round + k) % PATHS.length];
      const t0 = performance.now();
      await call[key](measured);
      const elapsed = performance.now() - t0;
      if (measured) samples[key].push(elapsed);
    }
  }

  const stats = Object.fromEntries(PATHS.map(({ key }) => [key, summarize(samples[key])]));
  const base = stats.direct;
  const added = Object.fromEntries(
    ["mcp", "v1", "health"].map((key) => [
      key,
      Object.fromEntries(
        ["p50", "p95", "mean"].map((m) => [
          m,
          { added_ms: stats[key][m] - base[m], ratio: stats[key][m] / base[m], added_ratio: (stats[key][m] - base[m]) / base[m] },
        ]),
      ),
    ]),
  );

  const rows = PATHS.map(({ key, label }) => {
    const s = stats[key];
    return `${label.padEnd(32)}${String(s.n).padStart(5)}${ms(s.p50).padStart(9)}${ms(s.p95).padStart(9)}${ms(s.mean).padStart(9)}${ms(s.min).padStart(9)}${ms(s.max).padStart(9)}`;
  });
  const addedRows = ["mcp", "v1", "health"].map((key) => {
    const cell = (m) => `+${ms(added[key][m].added_ms)} (${added[key][m].ratio.toFixed(1)}x)`.padStart(18);
    return `${PATHS.find((p) => p.key === key).label.padEnd(32)}${cell("p50")}${cell("p95")}${cell("mean")}`;
  });
  const reported = summarize(gatewayReported);
  const table = [
    "",
    `${"path".padEnd(32)}${"n".padStart(5)}${"p50 ms".padStart(9)}${"p95 ms".padStart(9)}${"mean ms".padStart(9)}${"min ms".padStart(9)}${"max ms".padStart(9)}`,
    ...rows,
    "",
    `${"added over (a)  [x = path / baseline]".padEnd(32)}${"p50".padStart(18)}${"p95".padStart(18)}${"mean".padStart(18)}`,
    ...addedRows,
    "",
    `MCP: ${((mcpRequests - mcpRequestsAtStart) / N).toFixed(2)} HTTP request(s) per measured call; the gateway's own latency_ms (upstream part, inside the Worker): p50 ${reported.p50} ms, mean ${ms(reported.mean)} ms.`,
    "",
  ].join("\n");
  console.log(table);

  const result = {
    benchmark: "chat-latency",
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    settings: { n: N, warmup: WARMUP, call_timeout_ms: CALL_TIMEOUT_MS, order: "interleaved round-robin, rotated each round" },
    environment: await environment(),
    paths: Object.fromEntries(PATHS.map(({ key, label }) => [key, { label, ...stats[key] }])),
    added_over_baseline: added,
    mcp_http_requests_per_call: (mcpRequests - mcpRequestsAtStart) / N,
    gateway_reported_latency_ms: reported,
    samples_ms: samples,
  };
  const file = await writeResults("chat-latency", started, result);
  console.log(`bench: results written to ${file}`);
}

try {
  await main();
} catch (error) {
  if (guard.stopping) await new Promise(() => {}); // the guard ends the process
  console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  if (dev) console.error(`--- last wrangler dev output ---\n${dev.logs().slice(-4000)}`);
  process.exitCode = 1;
} finally {
  guard.done();
  await cleanup();
}
