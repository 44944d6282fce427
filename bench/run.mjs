/**
 * The gateway's own cost per request, against the floors of the platform, in one run.
 *
 * Starts the fake upstreams (bench/upstream.mjs, their own process), and
 * `wrangler dev` instances (tests/support/wrangler-dev.ts, temp storage):
 *   - the gateway (a copy of wrangler.toml whose per-tenant rate limit will not
 *     stop the load);
 *   - the /v1 floor, bench/floors/forward.js: forwards the chat to the upstream;
 *   - the MCP floor, bench/floors/mcp.js: bare `createMcpHandler`, one `chat`
 *     tool that calls the upstream;
 *   - the rate-limited floors (forward-rl.toml, mcp-rl.toml): the same floors
 *     calling a Rate Limiting binding once per request, as the gateway does
 *     (limit raised like the gateway's);
 *   - with BENCH_BASELINE_DIR (another checkout of the project, with its own
 *     node_modules), that checkout's gateway, the same way: the baseline.
 * Then, for BENCH_ROUNDS rounds, each target one after another: BENCH_WARMUP_S
 * seconds of load not counted, then BENCH_DURATION_S seconds counted, with
 * BENCH_CONNECTIONS keep-alive connections each sending its next request as soon
 * as the last one answered. Every answer is checked; percentiles come from every
 * counted response. Then streaming (time to first token, sequential), cold
 * starts (first request on a fresh isolate) and the bundle size.
 * Prints one table (medians over rounds) and writes bench/results/load-<time>.json.
 *
 *   npm run bench                     # this
 *   npm run bench -- --sequential     # the old sequential latency comparison (chat-latency.mjs)
 * What both modes share (settings, upstreams, tenant, statistics) is in common.mjs.
 *   npm run bench -- --only=gateway-v1,floor-v1
 *   BENCH_BASELINE_DIR=../other-worktree npm run bench   # adds baseline-v1, baseline-mcp and baseline-mcp-list
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest, Agent } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { PROJECT_ROOT, nodeBinary, startWranglerDev } from "../tests/support/wrangler-dev.ts";
import {
  benchTenant,
  environment,
  EXPECTED,
  guardRun,
  json,
  MESSAGES,
  MODEL_ID,
  RESULTS_DIR,
  setting,
  startUpstreams,
  summarize,
  UPSTREAM_MODEL,
  writeResults,
} from "./common.mjs";
import { load, send, storageTrips } from "./load.mjs";
import { profile } from "./profile.mjs";
import { render, summarizeRounds } from "./report.mjs";
import { createServer } from "node:http";

const { Headers } = globalThis;

async function runLoad() {
  const CONNECTIONS = setting("BENCH_CONNECTIONS", 10, 1, 1000);
  const DURATION_S = setting("BENCH_DURATION_S", 10, 1, 600);
  const WARMUP_S = setting("BENCH_WARMUP_S", 3, 0, 600);
  const ROUNDS = setting("BENCH_ROUNDS", 3, 1, 50);
  const STREAM_N = setting("BENCH_STREAM_N", 40, 0, 10_000);
  const CALL_TIMEOUT_MS = setting("BENCH_CALL_TIMEOUT_MS", 10_000, 100, 120_000);
  const DEADLINE_S = setting("BENCH_DEADLINE_S", 1800, 10, 7200);
  const only = process.argv
    .find((a) => a.startsWith("--only="))
    ?.slice(7)
    .split(",");
  const profileTarget = process.argv.find((a) => a.startsWith("--profile="))?.slice(10);

  const STREAM_MODEL_ID = "bench-stream";
  const BASELINE_DIR = process.env.BENCH_BASELINE_DIR ? resolve(process.env.BENCH_BASELINE_DIR) : undefined;
  if (BASELINE_DIR && !existsSync(join(BASELINE_DIR, "node_modules/wrangler/bin/wrangler.js"))) {
    console.error(`bench: BENCH_BASELINE_DIR=${BASELINE_DIR} is not a checkout of this project with its node_modules installed (npm ci there).`);
    process.exit(1);
  }
  const wanted = (key) => !only || only.includes(key);

  const started = new Date();
  const loads = [loadavg()[0]];
  let upstream;
  let sink;
  let tmp;
  const devs = {};
  let cleaning;
  const cleanup = () =>
    (cleaning ??= (async () => {
      sink?.close();
      await Promise.all(Object.values(devs).map((d) => d.dispose().catch(() => {})));
      upstream?.stop();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    })());
  const guard = guardRun(DEADLINE_S, cleanup);

  try {
    console.log(`bench: ${ROUNDS} round(s); per target ${WARMUP_S} s warm-up + ${DURATION_S} s with ${CONNECTIONS} connections; starting…`);
    upstream = await startUpstreams();
    tmp = await mkdtemp(join(tmpdir(), "mcp-gateway-bench-"));
    const vars = { UPSTREAM_URL: `${upstream.openai}/v1`, PACED_URL: `${upstream.paced}/v1`, UPSTREAM_MODEL };
    const upstreamKey = "sk-bench-upstream-key";
    // No wrangler debug log files: wrangler appends each line a Worker logs to them (the gateway's request
    // log line, and a debug copy of it from the inspector), a cost of wrangler dev that a deployed Worker does not have.
    const gatewayOptions = { vars, upstreamKey, startupTimeoutMs: 180_000, debugLogFiles: false };
    const floorOptions = { ...gatewayOptions, migrations: false };
    const floor = (name) => join(PROJECT_ROOT, "bench/floors", name);
    // What to start, with which options; the copied configs are all written before anything starts.
    const plan = {
      gateway: { ...gatewayOptions, config: await benchConfig(join(PROJECT_ROOT, "wrangler.toml"), "gateway") },
      forward: { ...floorOptions, config: floor("forward.toml") },
      mcp: { ...floorOptions, config: floor("mcp.toml") },
      ...(wanted("floor-v1-rl") && { forwardRl: { ...floorOptions, config: await benchConfig(floor("forward-rl.toml"), "forward-rl") } }),
      ...(wanted("floor-mcp-rl") && { mcpRl: { ...floorOptions, config: await benchConfig(floor("mcp-rl.toml"), "mcp-rl") } }),
      ...(BASELINE_DIR && {
        baseline: { ...gatewayOptions, root: BASELINE_DIR, config: await benchConfig(join(BASELINE_DIR, "wrangler.toml"), "baseline") },
      }),
    };
    // All are kept once each has come up or failed, so a failure of one still disposes of the others.
    const launched = await Promise.allSettled(Object.entries(plan).map(async ([name, options]) => (devs[name] = await startWranglerDev(options))));
    const failed = launched.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const { gateway, forward, mcp, forwardRl, mcpRl, baseline } = devs;

    // A tenant whose models are the fakes (on the baseline too).
    const tenantModels = [
      [MODEL_ID, upstream.openai],
      [STREAM_MODEL_ID, upstream.paced],
    ];
    const { user } = await benchTenant(gateway, tenantModels);
    const baselineUser = baseline && (await benchTenant(baseline, tenantModels)).user;
    // The same tenant again, exporting every trace (sampling 1.0) to an OTLP sink on 127.0.0.1 (docs/observability.md).
    let otel;
    if (wanted("gateway-v1-otel")) {
      otel = await benchTenant(gateway, tenantModels, "bench-otel");
      sink = await otlpSink();
      await json(`${gateway.url}/api/v1/telemetry`, {
        method: "PUT",
        token: otel.admin.key,
        body: { endpoint: `${sink.url}/v1/traces`, sampling_ratio: 1 },
      });
    }

    // The MCP requests exactly as a real client (2026-07-28, stateless) sends them, replayed below.
    const mcpGateway = await captureMcp(`${gateway.url}/mcp`, user.key, MODEL_ID, MESSAGES);
    const mcpFloor = await captureMcp(`${mcp.url}/mcp`, undefined, MODEL_ID, MESSAGES);
    const mcpBaseline = baseline && (await captureMcp(`${baseline.url}/mcp`, baselineUser.key, MODEL_ID, MESSAGES));
    const chatBody = JSON.stringify({ model: MODEL_ID, messages: MESSAGES });
    const upstreamBody = JSON.stringify({ model: UPSTREAM_MODEL, messages: MESSAGES });
    const jsonHeaders = { "content-type": "application/json" };
    const includes = (needle) => (text) => text.includes(needle);

    const targets = [
      {
        key: "direct",
        label: "upstream direct (reference)",
        url: `${upstream.openai}/v1/chat/completions`,
        body: upstreamBody,
        headers: { ...jsonHeaders, authorization: `Bearer ${upstreamKey}` },
        check: includes(EXPECTED),
      },
      { key: "health", label: "gateway GET /health (ref)", url: `${gateway.url}/health`, method: "GET", check: includes('"ok"') },
      {
        key: "floor-v1",
        label: "floor: thin forwarding Worker",
        url: `${forward.url}/v1/chat/completions`,
        body: upstreamBody,
        headers: jsonHeaders,
        check: includes(EXPECTED),
      },
      forwardRl && {
        key: "floor-v1-rl",
        label: "floor: forwarding Worker + rate limit",
        url: `${forwardRl.url}/v1/chat/completions`,
        body: upstreamBody,
        headers: jsonHeaders,
        check: includes(EXPECTED),
      },
      baseline && {
        key: "baseline-v1",
        label: "baseline POST /v1/chat/completions",
        url: `${baseline.url}/v1/chat/completions`,
        body: chatBody,
        headers: { ...jsonHeaders, authorization: `Bearer ${baselineUser.key}` },
        check: includes(EXPECTED),
        gateway: true,
      },
      {
        key: "gateway-v1",
        label: "gateway POST /v1/chat/completions",
        url: `${gateway.url}/v1/chat/completions`,
        body: chatBody,
        headers: { ...jsonHeaders, authorization: `Bearer ${user.key}` },
        check: includes(EXPECTED),
        gateway: true,
      },
      {
        key: "gateway-messages",
        label: "gateway POST /v1/messages",
        url: `${gateway.url}/v1/messages`,
        body: JSON.stringify({ model: MODEL_ID, max_tokens: 64, messages: MESSAGES }),
        headers: { ...jsonHeaders, "x-api-key": user.key, "anthropic-version": "2023-06-01" },
        check: includes(EXPECTED),
        gateway: true,
      },
      {
        key: "gateway-responses",
        label: "gateway POST /v1/responses",
        url: `${gateway.url}/v1/responses`,
        body: JSON.stringify({ model: MODEL_ID, input: MESSAGES, store: false }),
        headers: { ...jsonHeaders, authorization: `Bearer ${user.key}` },
        check: includes(EXPECTED),
        gateway: true,
      },
      otel && {
        key: "gateway-v1-otel",
        label: "gateway POST /v1/chat/completions, OTel export on",
        url: `${gateway.url}/v1/chat/completions`,
        body: chatBody,
        headers: { ...jsonHeaders, authorization: `Bearer ${otel.user.key}` },
        check: includes(EXPECTED),
        gateway: true,
      },
      { key: "floor-mcp", label: "floor: bare createMcpHandler, chat", url: `${mcp.url}/mcp`, ...mcpFloor.chat, check: includes(EXPECTED) },
      // The floor's captured request: the rate-limited floor is the same Worker.
      mcpRl && {
        key: "floor-mcp-rl",
        label: "floor: createMcpHandler + rate limit, chat",
        url: `${mcpRl.url}/mcp`,
        ...mcpFloor.chat,
        check: includes(EXPECTED),
      },
      baseline && {
        key: "baseline-mcp",
        label: "baseline MCP tools/call chat",
        url: `${baseline.url}/mcp`,
        ...mcpBaseline.chat,
        check: includes(EXPECTED),
        gateway: true,
      },
      {
        key: "gateway-mcp",
        label: "gateway MCP tools/call chat",
        url: `${gateway.url}/mcp`,
        ...mcpGateway.chat,
        check: includes(EXPECTED),
        gateway: true,
      },
      {
        key: "floor-mcp-list",
        label: "floor: bare createMcpHandler, tools/list",
        url: `${mcp.url}/mcp`,
        ...mcpFloor.list,
        check: includes('"name":"chat"'),
      },
      baseline && {
        key: "baseline-mcp-list",
        label: "baseline MCP tools/list",
        url: `${baseline.url}/mcp`,
        ...mcpBaseline.list,
        check: includes('"name":"chat"'),
        gateway: true,
      },
      {
        key: "gateway-mcp-list",
        label: "gateway MCP tools/list",
        url: `${gateway.url}/mcp`,
        ...mcpGateway.list,
        check: includes('"name":"chat"'),
        gateway: true,
      },
    ].filter((t) => t && wanted(t.key));
    /** The `wrangler dev` serving each target. */
    const servedBy = {
      direct: undefined,
      "floor-v1": forward,
      "floor-v1-rl": forwardRl,
      "floor-mcp": mcp,
      "floor-mcp-rl": mcpRl,
      "floor-mcp-list": mcp,
      "baseline-v1": baseline,
      "baseline-mcp": baseline,
      "baseline-mcp-list": baseline,
    };
    const devOf = (key) => (key in servedBy ? servedBy[key] : gateway);

    if (profileTarget) {
      const target = targets.find((t) => t.key === profileTarget);
      const dev = devOf(profileTarget);
      if (!target) throw new Error(`--profile=${profileTarget}: no such target (${targets.map((t) => t.key).join(", ")})`);
      await profile(
        target,
        dev,
        { connections: CONNECTIONS, warmupMs: WARMUP_S * 1000, durationMs: DURATION_S * 1000, timeoutMs: CALL_TIMEOUT_MS },
        RESULTS_DIR,
      );
      return;
    }

    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      const results = {};
      for (const target of targets) {
        process.stdout.write(`round ${round + 1}/${ROUNDS}: ${target.key}… `);
        results[target.key] = await load(target, {
          connections: CONNECTIONS,
          warmupMs: WARMUP_S * 1000,
          durationMs: DURATION_S * 1000,
          timeoutMs: CALL_TIMEOUT_MS,
        });
        const r = results[target.key];
        console.log(
          `${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms${r.storageTrips === undefined ? "" : `, storage round trips ${r.storageTrips}/${r.n}`}`,
        );
        loads.push(loadavg()[0]);
      }
      rounds.push(results);
    }
    if (rounds[0]?.["gateway-v1-otel"] && rounds[0]?.["gateway-v1"]) {
      const ratios = rounds.map((r) => r["gateway-v1-otel"].rps / r["gateway-v1"].rps);
      console.log(
        `OTel export on / off, req/s per round: ${ratios.map((x) => x.toFixed(3)).join(", ")}; spans received by the sink: ${sink.spans()}`,
      );
    }

    // Streaming: time to the first token through each /v1 path, against the token-paced upstream.
    let streaming;
    if (STREAM_N > 0 && (!only || only.includes("stream"))) {
      process.stdout.write(`streaming: ${STREAM_N} calls per path… `);
      const streamBody = (model) => JSON.stringify({ model, messages: MESSAGES, stream: true });
      const paths = {
        direct: { url: `${upstream.paced}/v1/chat/completions`, body: streamBody(UPSTREAM_MODEL), headers: jsonHeaders },
        floor: { url: `${devs.forward.url}/paced/v1/chat/completions`, body: streamBody(UPSTREAM_MODEL), headers: jsonHeaders },
        gateway: {
          url: `${gateway.url}/v1/chat/completions`,
          body: streamBody(STREAM_MODEL_ID),
          headers: { ...jsonHeaders, authorization: `Bearer ${user.key}` },
        },
      };
      if (baseline) {
        paths.baseline = {
          url: `${baseline.url}/v1/chat/completions`,
          body: streamBody(STREAM_MODEL_ID),
          headers: { ...jsonHeaders, authorization: `Bearer ${baselineUser.key}` },
        };
      }
      const samples = Object.fromEntries(Object.keys(paths).map((key) => [key, []]));
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < STREAM_N + 3; i++) {
        for (const key of rotate(Object.keys(paths), i)) {
          const ttft = await firstToken(paths[key], agent, CALL_TIMEOUT_MS);
          if (i >= 3) samples[key].push(ttft);
        }
      }
      agent.destroy();
      streaming = Object.fromEntries(Object.entries(samples).map(([k, s]) => [k, summarize(s)]));
      console.log(`p50 floor ${streaming.floor.p50.toFixed(2)} ms, gateway ${streaming.gateway.p50.toFixed(2)} ms`);
    }

    // Cold start: the first chat on a fresh isolate (wrangler dev restarted; only GET /health served before it).
    let cold;
    if (!only || only.includes("cold")) {
      process.stdout.write("cold starts… ");
      cold = {};
      const first = async (dev, target) => {
        await dev.restart();
        const url = target.url.replace(/^http:\/\/127\.0\.0\.1:\d+/, dev.url);
        const t0 = performance.now();
        const answer = await once({ ...target, url });
        const ms = performance.now() - t0;
        if (!target.check(answer.text)) throw new Error(`cold ${target.key}: unexpected answer ${answer.text.slice(0, 300)}`);
        return { ms, storage_round_trips: storageTrips(answer.headers) };
      };
      const byKey = Object.fromEntries(targets.map((t) => [t.key, t]));
      for (const key of ["floor-v1", "floor-v1-rl", "baseline-v1", "gateway-v1", "floor-mcp", "floor-mcp-rl", "baseline-mcp", "gateway-mcp"]) {
        if (byKey[key]) cold[key] = await first(devOf(key), byKey[key]);
      }
      console.log(
        Object.entries(cold)
          .map(([k, v]) => `${k} ${v.ms.toFixed(1)} ms`)
          .join(", "),
      );
    }

    const bundle = wanted("bundle") ? await bundleSize(PROJECT_ROOT, join(tmp, "dist")) : undefined;
    if (bundle && BASELINE_DIR) bundle.baseline = await bundleSize(BASELINE_DIR, join(tmp, "dist-baseline"));
    loads.push(loadavg()[0]);

    const baselineInfo = BASELINE_DIR && { dir: BASELINE_DIR, describe: describeCheckout(BASELINE_DIR), self: describeCheckout(PROJECT_ROOT) };
    const summary = summarizeRounds(rounds, targets);
    const table = render(summary, targets, {
      streaming,
      cold,
      bundle,
      loads,
      rounds: ROUNDS,
      connections: CONNECTIONS,
      durationS: DURATION_S,
      baseline: baselineInfo,
    });
    console.log(table);

    const result = {
      benchmark: "load",
      started_at: started.toISOString(),
      finished_at: new Date().toISOString(),
      settings: { connections: CONNECTIONS, duration_s: DURATION_S, warmup_s: WARMUP_S, rounds: ROUNDS, stream_n: STREAM_N },
      environment: { ...(await environment()), load_average_1m: loads, checkout: describeCheckout(PROJECT_ROOT) },
      baseline: baselineInfo && { ...baselineInfo, wrangler: wranglerVersion(BASELINE_DIR) },
      summary,
      streaming_ttft_ms: streaming,
      cold_start: cold,
      bundle,
      rounds: rounds.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, { ...v, samples_ms: undefined }]))),
    };
    const file = await writeResults("load", started, result);
    console.log(`bench: results written to ${file}`);
  } catch (error) {
    console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    for (const [name, dev] of Object.entries(devs)) console.error(`--- last wrangler dev output (${name}) ---\n${dev.logs().slice(-3000)}`);
    process.exitCode = 1;
  } finally {
    guard.done();
    await cleanup();
  }

  /**
   * A copy of a wrangler config (the gateway's, a rate-limited floor's, the
   * baseline's) in the temp dir, with its paths made absolute and its
   * `[[ratelimits]]` limit raised so the load is never refused. Resolves with its path.
   */
  async function benchConfig(source, name) {
    let text = await readFile(source, "utf8");
    const absolute = (key) => [new RegExp(`^${key} = "([^"]+)"$`, "m"), (_, path) => `${key} = ${JSON.stringify(resolve(dirname(source), path))}`];
    const edits = [
      absolute("main"),
      [/simple = \{ limit = \d+, period = 60 \}/, "simple = { limit = 100000000, period = 60 }"],
      ...(/^migrations_dir = /m.test(text) ? [absolute("migrations_dir")] : []),
    ];
    for (const [pattern, replacement] of edits) {
      if (!pattern.test(text)) throw new Error(`bench: ${source} no longer has ${pattern}; update benchConfig in bench/run.mjs`);
      text = text.replace(pattern, replacement);
    }
    const path = join(tmp, `${name}.bench.toml`);
    await writeFile(path, text);
    return path;
  }

  /** tools/call chat and tools/list as `@modelcontextprotocol/client` sends them, captured once. */
  async function captureMcp(url, token, modelId, messages) {
    const captured = {};
    const client = new Client({ name: "load-bench", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        ...(token && { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
        fetch: (input, init) => {
          const body = typeof init?.body === "string" ? init.body : undefined;
          const method = body && JSON.parse(body).method;
          if (method) captured[method] = { method: init.method ?? "POST", headers: Object.fromEntries(new Headers(init.headers).entries()), body };
          return fetch(input, init);
        },
      }),
    );
    const result = await client.callTool({ name: "chat", arguments: { model_id: modelId, messages } });
    if (result.isError || result.structuredContent?.text !== EXPECTED) throw new Error(`${url}: tools/call chat answered ${JSON.stringify(result)}`);
    await client.listTools();
    await client.close();
    if (!captured["tools/call"] || !captured["tools/list"]) throw new Error(`${url}: could not capture the MCP requests`);
    return { chat: captured["tools/call"], list: captured["tools/list"] };
  }

  /** One request on its own connection. */
  function once(target) {
    const agent = new Agent({ keepAlive: false });
    return send(target, agent, CALL_TIMEOUT_MS).finally(() => agent.destroy());
  }

  /** `wrangler deploy --dry-run`'s upload size for the checkout `root`. */
  async function bundleSize(root, outdir) {
    process.stdout.write(`bundle${root === PROJECT_ROOT ? "" : ` (${root})`}… `);
    const out = { text: "" };
    await new Promise((resolve, reject) => {
      const child = spawn(nodeBinary(), [join(root, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outdir], {
        cwd: root,
        env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", WRANGLER_LOG_PATH: join(tmp, "logs") },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.on("data", (c) => (out.text += c));
      child.stderr.on("data", (c) => (out.text += c));
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`wrangler deploy --dry-run failed:\n${out.text}`))));
    });
    const match = /Total Upload: ([\d.]+ KiB) \/ gzip: ([\d.]+ KiB)/.exec(out.text);
    console.log(match ? `${match[2]} gzip` : "size not found in wrangler's output");
    return match ? { total: match[1], gzip: match[2] } : undefined;
  }
}

/** A checkout's commit, and whether it has uncommitted changes (what a baseline comparison compares). */
function describeCheckout(dir) {
  try {
    const git = (...args) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8" }).trim();
    const subject = git("log", "-1", "--format=%s");
    const commit = `${git("rev-parse", "--short", "HEAD")} ${subject.length > 60 ? `${subject.slice(0, 59)}…` : subject}`;
    return `${commit}${git("status", "--porcelain") ? ", with uncommitted changes" : ""}`;
  } catch {
    return "not a git checkout";
  }
}

function wranglerVersion(dir) {
  return JSON.parse(readFileSync(join(dir, "node_modules/wrangler/package.json"), "utf8")).version;
}

/** Time to the first content token of an OpenAI SSE stream. */
function firstToken(path, agent, timeoutMs) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first;
    let text = "";
    const req = httpRequest(path.url, { method: "POST", headers: path.headers, agent, timeout: timeoutMs }, (res) => {
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        text += chunk;
        if (first === undefined && /"content":"[^"]/.test(text)) first = performance.now() - t0;
      });
      res.on("end", () => {
        if (res.statusCode !== 200 || first === undefined || !text.includes("[DONE]"))
          reject(new Error(`${path.url}: HTTP ${res.statusCode}: ${text.slice(0, 400)}`));
        else resolve(first);
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${path.url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(path.body);
  });
}

function rotate(items, by) {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

if (process.argv.includes("--sequential")) {
  await import("./chat-latency.mjs");
} else {
  await runLoad();
}

/** An OTLP/HTTP sink for the export target: answers 200 at once, counts the bytes it got. */
async function otlpSink() {
  let bytes = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    req.on("data", (c) => (bytes += c.length));
    req.on("end", () => {
      requests++;
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    spans: () => `${requests} export request(s), ${bytes} bytes`,
    close: () => server.close(),
  };
}
