/**
 * How long failover takes, measured the way issue-style failover suites do:
 * a primary configured with `timeout: 30`, `max_retries: 2` and one fallback,
 * one request per scenario through `/v1/chat/completions`, under `wrangler dev`.
 *
 *   node bench/failover.mjs            # or: npm run bench:failover
 *
 * Scenarios (the upstream is this script's own OpenAI-compatible server on
 * 127.0.0.1, so the same script measures any version of the gateway):
 *   - baseline: the fallback answering directly (no failover);
 *   - silent primary, not streamed: it accepts the request and never answers;
 *   - silent primary, streamed: the same, time to the first content byte;
 *   - flapping primary: 503 for BENCH_FLAP_DOWN_S seconds, then healthy; one
 *     request a second; how long after healing the primary answers again;
 *   - stalled stream: the primary sends its first token, then nothing; how long
 *     until the stream ends (`stall_timeout`, default 20 s; 30 s × 10 before it);
 *   - mid-stream rescue: the primary's stream is cut after its first token; its
 *     fallback has the `prefill` feature, and this upstream continues an
 *     unfinished final assistant message; whether the client got the whole answer;
 *   - load balancing, each pool in its own tenant (so the tenant's request rate,
 *     600 a minute, is not what is measured): a weighted 3:1 pool (the share each
 *     target got of BENCH_LB_CALLS calls); least_latency over a fast and a slow
 *     target (the fast one's share, then the share that moves once it slows
 *     down); sticky conversations (the share of calls that stayed on their
 *     conversation's first target).
 * Each answer says which upstream model wrote it. Prints one table.
 *
 * A pool is registered with the model's `load_balance` field; a version that
 * refuses it (400) gets `config.load_balance` (where it lived before), and a
 * version that refuses both prints "not supported". A fallback whose `prefill`
 * feature is refused is registered without it, and the row says so.
 */
import { createServer } from "node:http";
import { startWranglerDev } from "../tests/support/wrangler-dev.ts";

const { AbortSignal, Buffer, TextDecoder } = globalThis;

const DOWN_S = Number(process.env.BENCH_FLAP_DOWN_S ?? 10);
const WATCH_S = Number(process.env.BENCH_FLAP_WATCH_S ?? 60);
const SILENT_LIMIT_S = Number(process.env.BENCH_SILENT_LIMIT_S ?? 120);
const LB_CALLS = Number(process.env.BENCH_LB_CALLS ?? 400);
const LL_CALLS = Number(process.env.BENCH_LL_CALLS ?? 40);
const LL_SLOW_MS = Number(process.env.BENCH_LL_SLOW_MS ?? 150);
const LL_SLOWER_MS = Number(process.env.BENCH_LL_SLOWER_MS ?? 400);
const STICKY_CONVERSATIONS = Number(process.env.BENCH_STICKY_CONVERSATIONS ?? 20);
const STICKY_TURNS = Number(process.env.BENCH_STICKY_TURNS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_LB_CONCURRENCY ?? 8);

/**
 * Upstream model name → how it behaves now: "ok", "silent", "stall", "cut" (a
 * stream cut after its first token), or a time until which it answers 503.
 */
const behaviour = new Map();
/** Upstream model name → ms it waits before answering. */
const delays = new Map();

/** The answer the rescue scenario streams: its first token, then (cut, or continued) the rest. */
const WHOLE = "The quick brown fox jumps over the lazy dog.";
const FIRST = "The quick";

function chunk(model, delta, finish = null) {
  return `data: ${JSON.stringify({ id: "fo", object: "chat.completion.chunk", created: 1700000000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

function reply(res, model, stream, content) {
  if (stream) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(chunk(model, { role: "assistant", content: "" }));
    res.write(chunk(model, { content }));
    res.end(chunk(model, {}, "stop") + "data: [DONE]\n\n");
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      id: "fo",
      object: "chat.completion",
      created: 1700000000,
      model,
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
    }),
  );
}

function startUpstream() {
  const server = createServer((req, res) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => {
      const body = parts.length ? JSON.parse(Buffer.concat(parts).toString("utf8")) : {};
      const model = body.model ?? "";
      if (req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ object: "list", data: [...behaviour.keys()].map((id) => ({ id, object: "model", created: 0, owned_by: "bench" })) }),
        );
        return;
      }
      const now = behaviour.get(model) ?? "ok";
      if (now === "silent") return; // accept, never answer
      if (now === "cut" && body.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(chunk(model, { role: "assistant", content: "" }));
        res.write(chunk(model, { content: FIRST }));
        setTimeout(() => res.destroy(), 50); // the connection cut mid-answer
        return;
      }
      if (now === "continue") {
        // A prefill: the conversation ends with the assistant's unfinished message; answer what follows it.
        const last = body.messages?.at(-1);
        const prefix = last?.role === "assistant" && typeof last.content === "string" ? last.content : "";
        return reply(res, model, body.stream, WHOLE.startsWith(prefix) ? WHOLE.slice(prefix.length) : WHOLE);
      }
      if (now === "stall" && body.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(chunk(model, { role: "assistant", content: "" }));
        res.write(chunk(model, { content: `answered by ${model}` }));
        return; // then silence, the connection held open
      }
      if (typeof now === "number" && Date.now() < now) {
        res.writeHead(503, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "down", type: "server_error" } }));
        return;
      }
      const wait = delays.get(model) ?? 0;
      if (wait > 0) setTimeout(() => reply(res, model, body.stream, `answered by ${model}`), wait);
      else reply(res, model, body.stream, `answered by ${model}`);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/v1` })));
}

async function call(dev, token, path, method, body) {
  const res = await fetch(`${dev.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A POST whose refusal is an answer, not an error: its status and body. */
async function post(dev, token, path, body) {
  const res = await fetch(`${dev.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

/** One chat through /v1; seconds until the answer (streamed: until the first content), and who wrote it. */
async function chat(dev, key, model, stream, messages = [{ role: "user", content: "hi" }]) {
  const started = performance.now();
  const res = await fetch(`${dev.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages, stream }),
    signal: AbortSignal.timeout(SILENT_LIMIT_S * 1000),
  }).catch((error) => ({ error }));
  if (res.error) return { seconds: (performance.now() - started) / 1000, by: `no answer (${res.error.name})` };
  if (!stream) {
    const body = await res.json().catch(() => ({}));
    const content = body.choices?.[0]?.message?.content ?? `HTTP ${res.status} ${body.error?.code ?? ""}`;
    return { seconds: (performance.now() - started) / 1000, by: content.replace("answered by ", "") };
  }
  const decoder = new TextDecoder();
  let text = "";
  for await (const piece of res.body) {
    text += decoder.decode(piece, { stream: true });
    const found = /answered by ([\w.-]+)/.exec(text);
    if (found) {
      const seconds = (performance.now() - started) / 1000;
      await res.body.cancel().catch(() => {});
      return { seconds, by: found[1] };
    }
  }
  return { seconds: (performance.now() - started) / 1000, by: `no content (HTTP ${res.status})` };
}

/** One streamed chat read to its end: seconds until the stream closed, and how it ended. */
async function streamEnd(dev, key, model) {
  const started = performance.now();
  const res = await fetch(`${dev.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: true }),
    signal: AbortSignal.timeout(SILENT_LIMIT_S * 1000),
  }).catch((error) => ({ error }));
  if (res.error) return { seconds: (performance.now() - started) / 1000, by: `no answer (${res.error.name})` };
  const text = await res.text().catch(() => "");
  const events = dataEvents(text);
  // The error event has `error` at its top level (a rescued answer's `fallback.attempts[].error` is not one).
  const ended = events.some((e) => e.error) ? "text kept, then the error event" : /\[DONE\]/.test(text) ? "[DONE]" : "closed";
  const content = events.map((e) => e.choices?.[0]?.delta?.content ?? "").join("");
  const whole = ended === "[DONE]" && content === WHOLE ? ", whole answer" : "";
  return { seconds: (performance.now() - started) / 1000, by: ended + whole };
}

/** The JSON events of a chat stream (`data: {...}` lines), in order. */
function dataEvents(sse) {
  return sse
    .split("\n")
    .filter((line) => line.startsWith("data: {"))
    .map((line) => JSON.parse(line.slice(6)));
}

/** Run `tasks` (functions returning promises) `CONCURRENCY` at a time; their results in order. */
async function pooled(tasks) {
  const results = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, tasks.length) }, worker));
  return results;
}

/** "a 296/400 (74 %), b 104/400 (26 %)" over `answers`, in the order of `names`; answers by none of them counted apart. */
function shares(answers, names) {
  const n = answers.length;
  const share = (count) => `${count}/${n} (${Math.round((count / n) * 100)} %)`;
  const others = answers.filter((a) => !names.includes(a.by));
  return (
    names.map((name) => `${name} ${share(answers.filter((a) => a.by === name).length)}`).join(", ") +
    (others.length ? `, other ${share(others.length)} (${others[0].by})` : "")
  );
}

const upstream = await startUpstream();
const dev = await startWranglerDev({ vars: { ALLOWED_PRIVATE_HOSTS: "localhost,127.0.0.1" } });
try {
  /** A tenant of its own, with an admin key: each load-balancing scenario gets one, so its calls fit the tenant's request rate. */
  const tenant = async (label) => {
    const tenantId = `fo-${label}-${Date.now().toString(36)}`;
    await call(dev, dev.adminToken, "/api/v1/tenants", "POST", { id: tenantId, name: `failover bench (${label})` });
    return (await call(dev, dev.adminToken, `/api/v1/tenants/${tenantId}/keys`, "POST", { role: "admin" })).key;
  };
  const key = await tenant("main");
  const model = (id, upstreamName, extra = {}) => {
    behaviour.set(upstreamName, behaviour.get(upstreamName) ?? "ok"); // listed by /models, so the first check finds it
    return {
      id,
      name: id,
      backend_type: "openai_compatible",
      config: { base_url: upstream.url, model_name: upstreamName, timeout: 30, max_retries: 2 },
      ...extra,
    };
  };
  /**
   * Register a pool model: `load_balance` as a field of the model; where that is refused,
   * inside `config` (where it lived before it was a field). Null when neither is taken.
   */
  const registerPool = async (poolKey, id, balance) => {
    const asField = await post(dev, poolKey, "/api/v1/models", model(id, `${id}-up`, { load_balance: balance }));
    if (asField.status === 201) return { where: "load_balance" };
    const base = model(id, `${id}-up`);
    const inConfig = await post(dev, poolKey, "/api/v1/models", { ...base, config: { ...base.config, load_balance: balance } });
    if (inConfig.status === 201) return { where: "config.load_balance" };
    return { refused: `not supported (${asField.status}: ${asField.body.error?.message ?? ""})`.slice(0, 160) };
  };

  await call(dev, key, "/api/v1/models", "POST", model("backup", "backup-up"));
  for (const name of ["silent", "silent-stream", "flapping", "stalled"]) {
    await call(dev, key, "/api/v1/models", "POST", model(name, `${name}-up`, { fallbacks: ["backup"] }));
  }

  const rows = [];
  const baseline = await chat(dev, key, "backup", false);
  rows.push(["baseline: the fallback directly", baseline]);

  behaviour.set("silent-up", "silent");
  rows.push(["silent primary, not streamed", await chat(dev, key, "silent", false)]);
  behaviour.set("silent-stream-up", "silent");
  rows.push(["silent primary, streamed (first content)", await chat(dev, key, "silent-stream", true)]);
  const healsAt = Date.now() + DOWN_S * 1000;
  behaviour.set("flapping-up", healsAt);
  let back = null;
  while (Date.now() < healsAt + WATCH_S * 1000) {
    const answer = await chat(dev, key, "flapping", false);
    if (Date.now() > healsAt && answer.by === "flapping-up") {
      back = (Date.now() - healsAt) / 1000;
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  rows.push([
    `flapping primary: down ${DOWN_S} s, then healthy`,
    { seconds: back, by: back === null ? `primary unused ${WATCH_S} s after healing` : "flapping-up (primary, after healing)" },
  ]);

  behaviour.set("stalled-up", "stall");
  rows.push(["stalled stream: first token, then silence (until the stream ends)", await streamEnd(dev, key, "stalled")]);

  // Mid-stream rescue: a fallback that can continue the caller's text (`prefill`), where the version knows the feature.
  const withPrefill = await post(dev, key, "/api/v1/models", model("continuer", "continuer-up", { features: ["prefill"] }));
  let unprefilled = "";
  if (withPrefill.status !== 201) {
    await call(dev, key, "/api/v1/models", "POST", model("continuer", "continuer-up"));
    unprefilled = ` (prefill refused at registration, ${withPrefill.status}: the fallback registered without it)`;
  }
  behaviour.set("continuer-up", "continue");
  await call(dev, key, "/api/v1/models", "POST", model("cut", "cut-up", { fallbacks: ["continuer"] }));
  behaviour.set("cut-up", "cut");
  const rescued = await streamEnd(dev, key, "cut");
  rows.push([
    "mid-stream rescue: stream cut after its first token, fallback with prefill (until the stream ends)",
    { ...rescued, by: rescued.by + unprefilled },
  ]);

  // Weighted 3:1: the share of LB_CALLS calls each target answered.
  const weightedKey = await tenant("weighted");
  for (const id of ["wa", "wb"]) await call(dev, weightedKey, "/api/v1/models", "POST", model(id, `${id}-up`));
  const weighted = await registerPool(weightedKey, "weighted", {
    strategy: "weighted",
    targets: [
      { model_id: "wa", weight: 3 },
      { model_id: "wb", weight: 1 },
    ],
  });
  const weightedName = `weighted pool 3:1 (wa:wb), ${LB_CALLS} calls, ${CONCURRENCY} at a time (seconds: all of them)`;
  if (weighted.refused) rows.push([weightedName, { seconds: null, by: weighted.refused }]);
  else {
    const started = performance.now();
    const answers = await pooled(Array.from({ length: LB_CALLS }, () => () => chat(dev, weightedKey, "weighted", false)));
    rows.push([weightedName, { seconds: (performance.now() - started) / 1000, by: `${shares(answers, ["wa-up", "wb-up"])} (${weighted.where})` }]);
  }

  // least_latency: a fast target and one LL_SLOW_MS slower; then the fast one slows to LL_SLOWER_MS.
  const latencyKey = await tenant("least-latency");
  for (const id of ["fast", "slow"]) await call(dev, latencyKey, "/api/v1/models", "POST", model(id, `${id}-up`));
  const latency = await registerPool(latencyKey, "least-latency", {
    strategy: "least_latency",
    targets: [{ model_id: "fast" }, { model_id: "slow" }],
  });
  const latencyBefore = `least_latency: fast (0 ms) and slow (${LL_SLOW_MS} ms), ${LL_CALLS} calls one at a time`;
  const latencyAfter = `least_latency: then fast slows to ${LL_SLOWER_MS} ms, ${LL_CALLS} calls more`;
  if (latency.refused) {
    rows.push([latencyBefore, { seconds: null, by: latency.refused }], [latencyAfter, { seconds: null, by: latency.refused }]);
  } else {
    delays.set("slow-up", LL_SLOW_MS);
    const sequence = async () => {
      const started = performance.now();
      const answers = [];
      for (let i = 0; i < LL_CALLS; i++) answers.push(await chat(dev, latencyKey, "least-latency", false));
      return { seconds: (performance.now() - started) / 1000, answers };
    };
    const before = await sequence();
    rows.push([latencyBefore, { seconds: before.seconds, by: `${shares(before.answers, ["fast-up", "slow-up"])} (${latency.where})` }]);
    delays.set("fast-up", LL_SLOWER_MS);
    const after = await sequence();
    rows.push([latencyAfter, { seconds: after.seconds, by: shares(after.answers, ["fast-up", "slow-up"]) }]);
  }

  // Sticky: conversations of STICKY_TURNS calls each (each call one turn longer); the share that stayed on the first target.
  const stickyKey = await tenant("sticky");
  for (const id of ["sa", "sb"]) await call(dev, stickyKey, "/api/v1/models", "POST", model(id, `${id}-up`));
  const sticky = await registerPool(stickyKey, "sticky", { strategy: "weighted", sticky: true, targets: [{ model_id: "sa" }, { model_id: "sb" }] });
  const stickyName = `sticky 1:1 pool: ${STICKY_CONVERSATIONS} conversations × ${STICKY_TURNS} calls (seconds: all of them)`;
  if (sticky.refused) rows.push([stickyName, { seconds: null, by: sticky.refused }]);
  else {
    const conversation = (c, turns) => [
      { role: "system", content: "You are terse." },
      { role: "user", content: `conversation ${c}: the first question` },
      ...Array.from({ length: turns }, (_, i) => [
        { role: "assistant", content: `answer ${i}` },
        { role: "user", content: `follow-up ${i}` },
      ]).flat(),
    ];
    const started = performance.now();
    const conversations = await pooled(
      Array.from({ length: STICKY_CONVERSATIONS }, (_, c) => async () => {
        const answers = [];
        for (let turn = 0; turn < STICKY_TURNS; turn++) answers.push(await chat(dev, stickyKey, "sticky", false, conversation(c, turn)));
        return answers;
      }),
    );
    const calls = conversations.flat().length;
    const stayed = conversations.reduce((n, answers) => n + answers.filter((a) => a.by === answers[0].by).length, 0);
    const homes = shares(
      conversations.map((answers) => answers[0]),
      ["sa-up", "sb-up"],
    );
    rows.push([
      stickyName,
      {
        seconds: (performance.now() - started) / 1000,
        by: `${Math.round((stayed / calls) * 100)} % of calls stayed on their conversation's first target (first targets: ${homes}; ${sticky.where})`,
      },
    ]);
  }

  console.log("\n| scenario | seconds | answered by / result |\n| --- | --: | --- |");
  for (const [name, r] of rows) console.log(`| ${name} | ${r.seconds === null ? "—" : r.seconds.toFixed(2)} | ${r.by} |`);
} finally {
  await dev.dispose();
  upstream.server.close();
}
