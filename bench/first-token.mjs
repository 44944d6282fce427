/**
 * Where a streamed answer's time to first token goes, through the `/v1` floor
 * and through the gateway, one request at a time:
 *   - to upstream: from the client sending the request to the upstream receiving it
 *     (the Worker's own work before its fetch, plus `wrangler dev`'s proxy);
 *   - upstream gap: the upstream's own wait before its first content token (20 ms here);
 *   - after write: from the upstream writing that token to the client reading it;
 *   - headers: when the client had the response headers.
 *
 *   node bench/first-token.mjs          # or: npm run bench:first-token
 *
 * The upstream is this script's own OpenAI-compatible server on 127.0.0.1: a
 * role chunk at once, a content token after 20 ms, then the end. Prints the
 * median of each part over BENCH_STREAM_N calls per path.
 */
import { createServer } from "node:http";
import { join } from "node:path";
import { PROJECT_ROOT, startWranglerDev } from "../tests/support/wrangler-dev.ts";

const { Buffer, TextDecoder } = globalThis;
const N = Number(process.env.BENCH_STREAM_N ?? 40);
const PACE_MS = 20;

/** When the last chat request arrived, and when its first content token was written. */
const marks = { arrived: 0, written: 0 };

function frame(model, delta, finish = null) {
  return `data: ${JSON.stringify({ id: "ft", object: "chat.completion.chunk", created: 1700000000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

const upstream = createServer((req, res) => {
  const arrived = performance.now();
  const parts = [];
  req.on("data", (c) => parts.push(c));
  req.on("end", () => {
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "paced", object: "model", created: 0, owned_by: "bench" }] }));
      return;
    }
    const { model } = JSON.parse(Buffer.concat(parts).toString("utf8"));
    marks.arrived = arrived;
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(frame(model, { role: "assistant", content: "" }));
    setTimeout(() => {
      marks.written = performance.now();
      res.write(frame(model, { content: "t0 " }));
      setTimeout(() => res.end(frame(model, {}, "stop") + "data: [DONE]\n\n"), PACE_MS);
    }, PACE_MS);
  });
});
await new Promise((resolve) => upstream.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${upstream.address().port}/v1`;

const vars = { UPSTREAM_URL: base, PACED_URL: base, UPSTREAM_MODEL: "paced" };
const [gateway, floor] = await Promise.all([
  startWranglerDev({ vars }),
  startWranglerDev({ vars, migrations: false, config: join(PROJECT_ROOT, "bench/floors/forward.toml") }),
]);

async function send(url, method, token, body) {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** One streamed chat; the parts of its time to first token, in ms. */
async function once(url, token) {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ model: "paced", messages: [{ role: "user", content: "hi" }], stream: true }),
  });
  const headers = performance.now() - t0;
  const decoder = new TextDecoder();
  let text = "";
  let first;
  for await (const piece of res.body) {
    text += decoder.decode(piece, { stream: true });
    if (first === undefined && /"content":"[^"]/.test(text)) first = performance.now();
  }
  if (res.status !== 200 || first === undefined) throw new Error(`${url}: ${res.status} ${text.slice(0, 300)}`);
  return {
    "to upstream": marks.arrived - t0,
    "upstream gap": marks.written - marks.arrived,
    "after write": first - marks.written,
    headers,
    "first token": first - t0,
  };
}

try {
  const tenant = `ft-${Date.now().toString(36)}`;
  await send(`${gateway.url}/api/v1/tenants`, "POST", gateway.adminToken, { id: tenant, name: "first token bench" });
  await send(`${gateway.url}/api/v1/tenants/${tenant}/grants/UPSTREAM_KEY`, "PUT", gateway.adminToken, { hosts: ["127.0.0.1"] });
  const { key } = await send(`${gateway.url}/api/v1/tenants/${tenant}/keys`, "POST", gateway.adminToken, { role: "admin" });
  const model = { id: "paced", name: "paced", backend_type: "openai_compatible" };
  await send(`${gateway.url}/api/v1/models`, "POST", key, { ...model, config: { base_url: base, model_name: "paced", api_key: "${UPSTREAM_KEY}" } });

  const paths = { floor: [`${floor.url}/paced/v1/chat/completions`, undefined], gateway: [`${gateway.url}/v1/chat/completions`, key] };
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(
    `\nmedians of ${N} sequential streamed chats (ms)\n| path | to upstream | upstream gap | after write | headers | first token |\n| --- | --: | --: | --: | --: | --: |`,
  );
  for (const [name, [url, token]] of Object.entries(paths)) {
    const rows = [];
    for (let i = 0; i < N + 3; i++) {
      const row = await once(url, token);
      if (i >= 3) rows.push(row);
    }
    const cells = Object.keys(rows[0]).map((k) => median(rows.map((r) => r[k])).toFixed(2));
    console.log(`| ${name} | ${cells.join(" | ")} |`);
  }
} finally {
  await Promise.all([gateway.dispose(), floor.dispose()]);
  upstream.close();
}
