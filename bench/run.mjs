/**
 * The gateway's own cost per request, against the floors of the platform, in one run.
 *
 * Starts the fake upstreams (bench/upstream.mjs, their own process), and three
 * `wrangler dev` instances (tests/support/wrangler-dev.ts, temp storage):
 *   - the gateway (a copy of wrangler.toml whose per-tenant rate limit will not
 *     stop the load);
 *   - the /v1 floor, bench/floors/forward.js: forwards the chat to the upstream;
 *   - the MCP floor, bench/floors/mcp.js: bare `createMcpHandler`, one `chat`
 *     tool that calls the upstream.
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
 *   npm run bench -- --only=gateway-v1,floor-v1
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest, Agent } from "node:http";
import { cpus, loadavg, platform, release, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { PROJECT_ROOT, nodeBinary, startWranglerDev } from "../tests/support/wrangler-dev.ts";

const { AbortSignal, Buffer, Headers, WebSocket } = globalThis;

/** A whole number from the environment, within bounds. */
function setting(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`bench: ${name} must be a whole number from ${min} to ${max} (got "${raw}").`);
    process.exit(1);
  }
  return value;
}

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

  const RESULTS_DIR = fileURLToPath(new URL("./results/", import.meta.url));
  const UPSTREAM_MODEL = "gpt-bench";
  const MODEL_ID = "bench-chat";
  const STREAM_MODEL_ID = "bench-stream";
  const MESSAGES = [{ role: "user", content: "benchmark ping" }];
  const EXPECTED = "echo: benchmark ping";

  const started = new Date();
  const loads = [loadavg()[0]];
  let upstreamChild;
  let tmp;
  const devs = {};
  let cleaning;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await Promise.all(Object.values(devs).map((d) => d.dispose().catch(() => {})));
      upstreamChild?.kill("SIGTERM");
      if (tmp) await rm(tmp, { recursive: true, force: true });
    })());
  const watchdog = setTimeout(async () => {
    console.error(`bench: still running after ${DEADLINE_S} s (BENCH_DEADLINE_S); stopping.`);
    await cleanup();
    process.exit(2);
  }, DEADLINE_S * 1000);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, async () => {
      console.error(`bench: ${signal}, stopping.`);
      await cleanup();
      process.exit(130);
    });
  }

  try {
    console.log(`bench: ${ROUNDS} round(s); per target ${WARMUP_S} s warm-up + ${DURATION_S} s with ${CONNECTIONS} connections; starting…`);
    const upstream = await startUpstreams();
    tmp = await mkdtemp(join(tmpdir(), "mcp-gateway-bench-"));
    const gatewayConfig = await tunedGatewayConfig(tmp);
    const vars = { UPSTREAM_URL: `${upstream.openai}/v1`, UPSTREAM_MODEL };
    const upstreamKey = "sk-bench-upstream-key";
    const floorOptions = { vars, upstreamKey, migrations: false };
    [devs.gateway, devs.forward, devs.mcp] = await Promise.all([
      startWranglerDev({ config: gatewayConfig, vars, upstreamKey, startupTimeoutMs: 180_000 }),
      startWranglerDev({ ...floorOptions, config: join(PROJECT_ROOT, "bench/floors/forward.toml"), startupTimeoutMs: 180_000 }),
      startWranglerDev({ ...floorOptions, config: join(PROJECT_ROOT, "bench/floors/mcp.toml"), startupTimeoutMs: 180_000 }),
    ]);
    const { gateway, forward, mcp } = devs;

    // A tenant whose models are the fakes, with the upstream key granted for 127.0.0.1.
    const op = gateway.adminToken;
    await json(`${gateway.url}/api/v1/tenants`, { token: op, body: { id: "bench", name: "Benchmark" } });
    const admin = await json(`${gateway.url}/api/v1/tenants/bench/keys`, { token: op, body: { role: "admin" } });
    const user = await json(`${gateway.url}/api/v1/tenants/bench/keys`, { token: op, body: { role: "user", name: "bench" } });
    await json(`${gateway.url}/api/v1/tenants/bench/grants/UPSTREAM_KEY`, { method: "PUT", token: op, body: { hosts: ["127.0.0.1"] } });
    for (const [id, base] of [
      [MODEL_ID, upstream.openai],
      [STREAM_MODEL_ID, upstream.paced],
    ]) {
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

    // The MCP requests exactly as a real client (2026-07-28, stateless) sends them, replayed below.
    const mcpGateway = await captureMcp(`${gateway.url}/mcp`, user.key, MODEL_ID, MESSAGES);
    const mcpFloor = await captureMcp(`${mcp.url}/mcp`, undefined, MODEL_ID, MESSAGES);
    const chatBody = JSON.stringify({ model: MODEL_ID, messages: MESSAGES });
    const upstreamBody = JSON.stringify({ model: UPSTREAM_MODEL, messages: MESSAGES });
    const jsonHeaders = { "content-type": "application/json" };
    const includes = (needle) => (text) => text.includes(needle);

    const targets = [
      {
        key: "direct",
        label: "upstream direct (baseline)",
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
      {
        key: "gateway-v1",
        label: "gateway POST /v1/chat/completions",
        url: `${gateway.url}/v1/chat/completions`,
        body: chatBody,
        headers: { ...jsonHeaders, authorization: `Bearer ${user.key}` },
        check: includes(EXPECTED),
        gateway: true,
      },
      { key: "floor-mcp", label: "floor: bare createMcpHandler, chat", url: `${mcp.url}/mcp`, ...mcpFloor.chat, check: includes(EXPECTED) },
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
      {
        key: "gateway-mcp-list",
        label: "gateway MCP tools/list",
        url: `${gateway.url}/mcp`,
        ...mcpGateway.list,
        check: includes('"name":"chat"'),
        gateway: true,
      },
    ].filter((t) => !only || only.includes(t.key));

    if (profileTarget) {
      const target = targets.find((t) => t.key === profileTarget);
      const dev = { "floor-v1": forward, "floor-mcp": mcp, "floor-mcp-list": mcp }[profileTarget] ?? gateway;
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

    // Streaming: time to the first token through each /v1 path, against the token-paced upstream.
    let streaming;
    if (STREAM_N > 0 && (!only || only.includes("stream"))) {
      process.stdout.write(`streaming: ${STREAM_N} calls per path… `);
      const streamBody = (model) => JSON.stringify({ model, messages: MESSAGES, stream: true });
      const paths = {
        direct: { url: `${upstream.paced}/v1/chat/completions`, body: streamBody(UPSTREAM_MODEL), headers: jsonHeaders },
        floor: { url: `${devs.forward.url}/v1/chat/completions`, body: streamBody(UPSTREAM_MODEL), headers: jsonHeaders },
        gateway: {
          url: `${gateway.url}/v1/chat/completions`,
          body: streamBody(STREAM_MODEL_ID),
          headers: { ...jsonHeaders, authorization: `Bearer ${user.key}` },
        },
      };
      const samples = { direct: [], floor: [], gateway: [] };
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
      for (const [key, dev] of [
        ["floor-v1", devs.forward],
        ["gateway-v1", gateway],
        ["floor-mcp", devs.mcp],
        ["gateway-mcp", gateway],
      ]) {
        if (byKey[key]) cold[key] = await first(dev, byKey[key]);
      }
      console.log(
        Object.entries(cold)
          .map(([k, v]) => `${k} ${v.ms.toFixed(1)} ms`)
          .join(", "),
      );
    }

    const bundle = !only || only.includes("bundle") ? await bundleSize(tmp) : undefined;
    loads.push(loadavg()[0]);

    const summary = summarizeRounds(rounds, targets);
    const table = render(summary, targets, { streaming, cold, bundle, loads, rounds: ROUNDS, connections: CONNECTIONS, durationS: DURATION_S });
    console.log(table);

    const wrangler = JSON.parse(await readFile(join(PROJECT_ROOT, "node_modules/wrangler/package.json"), "utf8")).version;
    const result = {
      benchmark: "load",
      started_at: started.toISOString(),
      finished_at: new Date().toISOString(),
      settings: { connections: CONNECTIONS, duration_s: DURATION_S, warmup_s: WARMUP_S, rounds: ROUNDS, stream_n: STREAM_N },
      environment: {
        node: process.version,
        wrangler,
        platform: `${platform()} ${release()}`,
        cpu: cpus()[0]?.model,
        cpus: cpus().length,
        load_average_1m: loads,
      },
      summary,
      streaming_ttft_ms: streaming,
      cold_start: cold,
      bundle,
      rounds: rounds.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, { ...v, samples_ms: undefined }]))),
    };
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = `${RESULTS_DIR}load-${started.toISOString().replace(/[:.]/g, "-")}.json`;
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`bench: results written to ${file}`);
  } catch (error) {
    console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    for (const [name, dev] of Object.entries(devs)) console.error(`--- last wrangler dev output (${name}) ---\n${dev.logs().slice(-3000)}`);
    process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }

  /** The fake upstreams, in a child process; resolves with their URLs. */
  async function startUpstreams() {
    upstreamChild = spawn(nodeBinary(), [join(PROJECT_ROOT, "bench/upstream.mjs")], { stdio: ["pipe", "pipe", "inherit"] });
    const line = await new Promise((resolve, reject) => {
      createInterface({ input: upstreamChild.stdout }).once("line", resolve);
      upstreamChild.once("exit", (code) => reject(new Error(`bench/upstream.mjs exited (code ${code})`)));
    });
    return JSON.parse(line);
  }

  /** The project's wrangler.toml with absolute paths and a per-tenant rate limit the load cannot reach. */
  async function tunedGatewayConfig(dir) {
    let text = await readFile(join(PROJECT_ROOT, "wrangler.toml"), "utf8");
    const edits = [
      [/^main = "src\/worker\.ts"$/m, `main = ${JSON.stringify(join(PROJECT_ROOT, "src/worker.ts"))}`],
      [/^migrations_dir = "migrations"$/m, `migrations_dir = ${JSON.stringify(join(PROJECT_ROOT, "migrations"))}`],
      [/simple = \{ limit = \d+, period = 60 \}/, "simple = { limit = 100000000, period = 60 }"],
    ];
    for (const [pattern, replacement] of edits) {
      if (!pattern.test(text)) throw new Error(`bench: wrangler.toml no longer has ${pattern}; update tunedGatewayConfig in bench/run.mjs`);
      text = text.replace(pattern, replacement);
    }
    const path = join(dir, "wrangler.bench.toml");
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

  async function bundleSize(dir) {
    process.stdout.write("bundle… ");
    const out = { text: "" };
    await new Promise((resolve, reject) => {
      const child = spawn(
        nodeBinary(),
        [join(PROJECT_ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", join(dir, "dist")],
        {
          cwd: PROJECT_ROOT,
          env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", WRANGLER_LOG_PATH: join(dir, "logs") },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      child.stdout.on("data", (c) => (out.text += c));
      child.stderr.on("data", (c) => (out.text += c));
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`wrangler deploy --dry-run failed:\n${out.text}`))));
    });
    const match = /Total Upload: ([\d.]+ KiB) \/ gzip: ([\d.]+ KiB)/.exec(out.text);
    console.log(match ? `${match[2]} gzip` : "size not found in wrangler's output");
    return match ? { total: match[1], gzip: match[2] } : undefined;
  }
}

/** Send one request and read the whole answer. */
function send(target, agent, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(target.url, { method: target.method ?? "POST", headers: target.headers, agent, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${target.url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(target.body);
  });
}

function storageTrips(headers) {
  const timing = String(headers["server-timing"] ?? "");
  const match = /storage;[^,]*dur=(\d+)/.exec(timing);
  return match ? Number(match[1]) : undefined;
}

/**
 * Closed-loop load: `connections` loops on keep-alive connections, each sending
 * its next request when the last one answered; only requests started after the
 * warm-up and answered before the end are counted.
 */
async function load(target, { connections, warmupMs, durationMs, timeoutMs }) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const t0 = performance.now();
  const measureFrom = t0 + warmupMs;
  const end = measureFrom + durationMs;
  const samples = [];
  let trips = 0;
  let failure;
  const loop = async () => {
    while (failure === undefined) {
      const start = performance.now();
      if (start >= end) return;
      let answer;
      try {
        answer = await send(target, agent, timeoutMs);
      } catch (error) {
        failure = error;
        return;
      }
      const done = performance.now();
      if (answer.status < 200 || answer.status >= 300 || !target.check(answer.text)) {
        failure = new Error(`${target.key}: HTTP ${answer.status}: ${answer.text.slice(0, 400)}`);
        return;
      }
      if (start >= measureFrom && done <= end) {
        samples.push(done - start);
        if (target.gateway) trips += storageTrips(answer.headers) ?? 0;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  agent.destroy();
  if (failure) throw failure;
  if (samples.length === 0) throw new Error(`${target.key}: no request completed within the measured window`);
  return { ...summarize(samples), rps: samples.length / (durationMs / 1000), ...(target.gateway && { storageTrips: trips }), samples_ms: samples };
}

/**
 * The Worker's CPU profile while under load, through the inspector `wrangler dev`
 * exposes (Chrome DevTools protocol): written as a .cpuprofile (open it in
 * Chrome DevTools or VS Code), and its heaviest functions printed, by self time
 * and by total time.
 */
async function profile(target, dev, options, resultsDir) {
  const list = await (await fetch(`http://127.0.0.1:${dev.inspectorPort}/json`)).json();
  const page = list.find((t) => t.webSocketDebuggerUrl && !/ProxyWorker|UserWorker.*internal/i.test(t.title ?? "")) ?? list[0];
  // The inspector accepts local origins only; Node's WebSocket sends none unless told.
  const socket = new WebSocket(page.webSocketDebuggerUrl, { headers: { origin: "http://127.0.0.1" } });
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let id = 0;
  const pending = new Map();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id !== undefined && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
    }
  };
  const cdp = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      pending.set(n, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
      socket.send(JSON.stringify({ id: n, method, params }));
    });
  await cdp("Profiler.enable");
  await cdp("Profiler.setSamplingInterval", { interval: 100 });
  // Warm up without the profiler, then profile the measured window only.
  await load(target, { ...options, durationMs: Math.max(1000, options.warmupMs), warmupMs: 0 });
  await cdp("Profiler.start");
  const result = await load(target, { ...options, warmupMs: 0 });
  const { profile: cpu } = await cdp("Profiler.stop");
  socket.close();
  await mkdir(resultsDir, { recursive: true });
  const file = `${resultsDir}${target.key}-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`;
  await writeFile(file, JSON.stringify(cpu));

  const byId = new Map(cpu.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of cpu.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  for (const sample of cpu.samples) self.set(sample, (self.get(sample) ?? 0) + 1);
  const name = (n) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber + 1}`;
  const selfBy = new Map();
  const totalBy = new Map();
  let total = 0;
  for (const [nodeId, count] of self) {
    total += count;
    const node = byId.get(nodeId);
    selfBy.set(name(node), (selfBy.get(name(node)) ?? 0) + count);
    const seen = new Set();
    for (let at = nodeId; at !== undefined; at = parent.get(at)) {
      const key = name(byId.get(at));
      if (seen.has(key)) continue;
      seen.add(key);
      totalBy.set(key, (totalBy.get(key) ?? 0) + count);
    }
  }
  const idle = [...self]
    .filter(([nodeId]) => /^\((idle|program|garbage collector)\)$/.test(byId.get(nodeId).callFrame.functionName))
    .reduce((s, [, c]) => s + c, 0);
  const top = (map, n) =>
    [...map]
      .filter(([k]) => !/^\((idle|root|program)\)/.test(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, c]) => `  ${((100 * c) / total).toFixed(1).padStart(5)}%  ${k}`);
  const perRequestMs = (((cpu.endTime - cpu.startTime) / 1000) * ((total - idle) / total)) / result.n;
  console.log(
    [
      "",
      `${target.key}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms; busy ${((100 * (total - idle)) / total).toFixed(0)}% of samples, about ${perRequestMs.toFixed(2)} ms of isolate CPU per request`,
      "by self time:",
      ...top(selfBy, 25),
      "by total time (inclusive):",
      ...top(totalBy, 40),
      `profile written to ${file}`,
    ].join("\n"),
  );
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

async function json(url, { method = "POST", token, body } = {}) {
  const response = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

function rotate(items, by) {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted, p) {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summarize(samples) {
  const sorted = [...samples].sort((x, y) => x - y);
  return {
    n: samples.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: samples.reduce((s, x) => s + x, 0) / samples.length,
  };
}

function median(values) {
  const sorted = values.filter((v) => v !== undefined && Number.isFinite(v)).sort((x, y) => x - y);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const FLOOR_OF = { "gateway-v1": "floor-v1", "gateway-mcp": "floor-mcp", "gateway-mcp-list": "floor-mcp-list" };

/**
 * Per target, the median over rounds of req/s, p50 and p99, of the p50 added over
 * the direct call, and of the ratios to its floor computed within each round.
 */
function summarizeRounds(rounds, targets) {
  const out = {};
  for (const { key } of targets) {
    const per = rounds.map((r) => {
      const t = r[key];
      const direct = r.direct;
      const floor = r[FLOOR_OF[key]];
      const added = direct ? t.p50 - direct.p50 : undefined;
      const floorAdded = floor && direct ? floor.p50 - direct.p50 : undefined;
      return {
        rps: t.rps,
        p50: t.p50,
        p99: t.p99,
        added,
        rpsVsFloor: floor ? t.rps / floor.rps : undefined,
        addedVsFloor: added !== undefined && floorAdded ? added / floorAdded : undefined,
        listVsChat: key === "gateway-mcp-list" && r["gateway-mcp"] ? t.rps / r["gateway-mcp"].rps : undefined,
        storageTrips: t.storageTrips,
        n: t.n,
      };
    });
    out[key] = Object.fromEntries(
      ["rps", "p50", "p99", "added", "rpsVsFloor", "addedVsFloor", "listVsChat"].map((m) => [m, median(per.map((p) => p[m]))]),
    );
    out[key].storage_round_trips = per.some((p) => p.storageTrips !== undefined)
      ? `${per.reduce((s, p) => s + (p.storageTrips ?? 0), 0)} in ${per.reduce((s, p) => s + p.n, 0)} requests`
      : undefined;
    out[key].per_round = per;
  }
  return out;
}

function render(summary, targets, { streaming, cold, bundle, loads, rounds, connections, durationS }) {
  const f = (x, d = 1) => (x === undefined ? "" : x.toFixed(d));
  const rows = targets.map(({ key, label }) => {
    const s = summary[key];
    return `${label.padEnd(42)}${f(s.rps, 0).padStart(8)}${f(s.p50, 2).padStart(9)}${f(s.p99, 2).padStart(9)}${f(key === "direct" ? undefined : s.added, 2).padStart(10)}${(s.rpsVsFloor === undefined ? "" : `${f(s.rpsVsFloor, 2)}x`).padStart(13)}${(s.addedVsFloor === undefined ? "" : `${f(s.addedVsFloor, 2)}x`).padStart(13)}`;
  });
  const goal = (ok) => (ok === undefined ? "n/a " : ok ? "MET " : "MISS");
  const g = (key) => summary[key] ?? {};
  const lines = [
    "",
    `medians over ${rounds} round(s); ${connections} connections, ${durationS} s per target; 1-min load average during the run: min ${f(Math.min(...loads))}, median ${f(median(loads))}, max ${f(Math.max(...loads))} on ${cpus().length} cores`,
    `${"target".padEnd(42)}${"req/s".padStart(8)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"+p50 ms".padStart(10)}${"req/s÷floor".padStart(13)}${"+p50÷floor".padStart(13)}`,
    ...rows,
    "(+p50: p50 minus the direct call's p50; ÷floor: ratio to the floor of the same kind, within each round)",
    "",
    "goals:",
    `  ${goal(g("gateway-v1").rpsVsFloor === undefined ? undefined : g("gateway-v1").rpsVsFloor >= 0.8 && g("gateway-v1").addedVsFloor <= 1.25)} /v1 chat: req/s >= 0.8x floor (${f(g("gateway-v1").rpsVsFloor, 2)}x), added p50 <= 1.25x floor's (${f(g("gateway-v1").addedVsFloor, 2)}x)`,
    `  ${goal(g("gateway-mcp").rpsVsFloor === undefined ? undefined : g("gateway-mcp").rpsVsFloor >= 0.8 && g("gateway-mcp").addedVsFloor <= 1.25)} MCP chat: req/s >= 0.8x floor (${f(g("gateway-mcp").rpsVsFloor, 2)}x), added p50 <= 1.25x floor's (${f(g("gateway-mcp").addedVsFloor, 2)}x)`,
    `  ${goal(g("gateway-mcp-list").listVsChat === undefined ? undefined : g("gateway-mcp-list").listVsChat >= 2)} MCP tools/list: >= 2x the req/s of tools/call chat (${f(g("gateway-mcp-list").listVsChat, 2)}x)`,
    ...["gateway-v1", "gateway-mcp", "gateway-mcp-list"]
      .filter((k) => g(k).storage_round_trips)
      .map((k) => `       storage round trips, ${k} (warm; the snapshot is reloaded every 10 s): ${g(k).storage_round_trips}`),
  ];
  if (streaming) {
    const added = streaming.gateway.p50 - streaming.floor.p50;
    lines.push(
      `  ${goal(added <= 1)} streaming, time to first token: gateway ${f(streaming.gateway.p50, 2)} ms vs floor ${f(streaming.floor.p50, 2)} ms (+${f(added, 2)} ms; direct ${f(streaming.direct.p50, 2)} ms), p50 of ${streaming.gateway.n}`,
    );
  }
  if (cold) {
    lines.push(
      `       cold start (first request on a fresh isolate): ${Object.entries(cold)
        .map(([k, v]) => `${k} ${f(v.ms)} ms${v.storage_round_trips === undefined ? "" : ` (${v.storage_round_trips} storage round trip)`}`)
        .join(", ")}`,
    );
  }
  if (bundle) lines.push(`  ${goal(parseFloat(bundle.gzip) < 1024)} bundle < 1 MiB gzip: ${bundle.gzip} (${bundle.total} uncompressed)`);
  lines.push("");
  return lines.join("\n");
}

if (process.argv.includes("--sequential")) {
  await import("./chat-latency.mjs");
} else {
  await runLoad();
}
