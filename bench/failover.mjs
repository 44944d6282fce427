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
 *     until the stream ends (`stall_timeout`, default 20 s; 30 s × 10 before it).
 * Each answer says which upstream model wrote it. Prints one table.
 */
import { createServer } from "node:http";
import { startWranglerDev } from "../tests/support/wrangler-dev.ts";

const { AbortSignal, Buffer, TextDecoder } = globalThis;

const DOWN_S = Number(process.env.BENCH_FLAP_DOWN_S ?? 10);
const WATCH_S = Number(process.env.BENCH_FLAP_WATCH_S ?? 60);
const SILENT_LIMIT_S = Number(process.env.BENCH_SILENT_LIMIT_S ?? 120);

/** Upstream model name → how it behaves now: "ok", "silent", or a time until which it answers 503. */
const behaviour = new Map();

function chunk(model, delta, finish = null) {
  return `data: ${JSON.stringify({ id: "fo", object: "chat.completion.chunk", created: 1700000000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
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
      const content = `answered by ${model}`;
      if (body.stream) {
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

/** One chat through /v1; seconds until the answer (streamed: until the first content), and who wrote it. */
async function chat(dev, key, model, stream) {
  const started = performance.now();
  const res = await fetch(`${dev.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream }),
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
  const ended = /"error"/.test(text) ? "text kept, then the error event" : /\[DONE\]/.test(text) ? "[DONE]" : "closed";
  return { seconds: (performance.now() - started) / 1000, by: ended };
}

const upstream = await startUpstream();
const dev = await startWranglerDev({ vars: { ALLOWED_PRIVATE_HOSTS: "localhost,127.0.0.1" } });
try {
  const tenantId = `fo-${Date.now().toString(36)}`;
  await call(dev, dev.adminToken, "/api/v1/tenants", "POST", { id: tenantId, name: "failover bench" });
  const { key } = await call(dev, dev.adminToken, `/api/v1/tenants/${tenantId}/keys`, "POST", { role: "admin" });
  const model = (id, upstreamName, extra = {}) => ({
    id,
    name: id,
    backend_type: "openai_compatible",
    config: { base_url: upstream.url, model_name: upstreamName, timeout: 30, max_retries: 2 },
    ...extra,
  });
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

  console.log("\n| scenario | seconds | answered by |\n| --- | --: | --- |");
  for (const [name, r] of rows) console.log(`| ${name} | ${r.seconds === null ? "—" : r.seconds.toFixed(2)} | ${r.by} |`);
} finally {
  await dev.dispose();
  upstream.server.close();
}
