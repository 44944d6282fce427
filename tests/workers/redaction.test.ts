/** The redactor every backend gets: streamed text, encodings, error bodies, and every field of a result. */
import { describe, expect, inject, it } from "vitest";
import { redactor } from "../../src/inference/redaction";
import { CallStream } from "../../src/inference/stream";
import type { ToolCallDelta } from "../../src/backends/types";
import { callTool, CANARY, createTenant, fakes, registerModel } from "./helpers";

const SECRET = "sk-live-0123456789abcdef";

/** Pieces through a call's stream pipeline, as one attempt with SECRET resolved sends them. */
async function streamThrough(pieces: string[]) {
  const seen: string[] = [];
  const { options, flush } = new CallStream({ text: (d) => void seen.push(d) }).attempt({}, redactor([SECRET]));
  for (const piece of pieces) await options.onText!(piece);
  await flush();
  return seen;
}

describe("redactor", () => {
  it("removes a secret split across streamed pieces, and never emits a part of it", async () => {
    const seen = await streamThrough(["the key is sk-li", "ve-0123", "456789abcdef, ok"]);
    expect(seen.join("")).toBe("the key is [redacted], ok");
    for (const piece of seen) expect(SECRET.startsWith(piece.trim()) && piece.trim().length > 2).toBe(false);
  });

  it("lets ordinary text through at once", async () => {
    const seen = await streamThrough(["hello ", "world ", "again"]);
    expect(seen).toEqual(["hello ", "world ", "again"]);
  });

  it("holds back only a tail that could start a secret, and releases it when it does not", async () => {
    const seen = await streamThrough(["a sk", "y is blue"]);
    expect(seen).toEqual(["a ", "sky is blue"]);
  });

  it("removes a secret split across streamed tool call argument pieces; each call's pieces stay whole and in order", async () => {
    const seen: ToolCallDelta[] = [];
    const { options, flush } = new CallStream({ text: () => {}, toolCall: (d) => void seen.push(d) }).attempt({}, redactor([SECRET]));
    await options.onToolCall!({ index: 0, id: "c1", name: "lookup" });
    for (const piece of ['{"key":"sk-li', "ve-0123", '456789abcdef","q":"sk', '"}']) await options.onToolCall!({ index: 0, arguments: piece });
    await options.onToolCall!({ index: 1, id: "c2", name: "other", arguments: '{"a":1}' });
    await flush();
    const args = (i: number) =>
      seen
        .filter((d) => d.index === i)
        .map((d) => d.arguments ?? "")
        .join("");
    expect(args(0)).toBe('{"key":"[redacted]","q":"sk"}');
    expect(args(1)).toBe('{"a":1}');
    for (const d of seen) expect(d.arguments ?? "").not.toMatch(/sk-li|0123456789/);
    // Call 0's held-back tail went out before call 1 began.
    expect(seen.map((d) => d.index)).toEqual([...seen.filter((d) => d.index === 0).map(() => 0), ...seen.filter((d) => d.index === 1).map(() => 1)]);
    expect(seen[0]).toEqual({ index: 0, id: "c1", name: "lookup" });
  });

  it("covers URL-encoded and base64 forms", () => {
    const r = redactor(["p@ss w0rd!"]);
    expect(r(`x ${encodeURIComponent("p@ss w0rd!")} y ${btoa("p@ss w0rd!")} z p@ss w0rd!`)).toBe("x [redacted] y [redacted] z [redacted]");
  });

  it("redacts error bodies before anyone reads them, and leaves successful bodies alone", async () => {
    const upstream = (status: number, body: string) => async () => new Response(body, { status });
    const failed = await redactor([SECRET], upstream(401, `{"error":"Invalid API key ${SECRET}"}`)).fetch("https://upstream.example/v1");
    expect(failed.status).toBe(401);
    expect(await failed.text()).toBe('{"error":"Invalid API key [redacted]"}');
    const ok = await redactor([SECRET], upstream(200, `ok ${SECRET}`)).fetch("https://upstream.example/");
    expect(await ok.text()).toBe(`ok ${SECRET}`);
  });

  it("redacts a secret an error body spells with JSON escapes (\\u, \\/), whoever parses it", async () => {
    const escaped = [...SECRET].map((ch, i) => (i % 2 ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}` : ch)).join("");
    const upstream = (body: string) => async () => new Response(body, { status: 401, headers: { "content-type": "application/json" } });
    const failed = await redactor([SECRET], upstream(`{"error":{"message":"Invalid API key ${escaped}"}}`)).fetch("https://upstream.example/v1");
    const body = await failed.text();
    expect(JSON.parse(body)).toEqual({ error: { message: "Invalid API key [redacted]" } });
    // Not JSON (cut short, or plain text that quotes JSON): still decoded before redaction.
    const cut = await redactor([SECRET], upstream(`upstream said: {"key":"${escaped}`)).fetch("https://upstream.example/v1");
    expect(await cut.text()).not.toMatch(/sk-live|\\u0/);
    const slash = "sk/live/0123456789";
    const withSlash = await redactor([slash], upstream(`{"error":"${slash.replace(/\//g, "\\/")}"}`)).fetch("https://upstream.example/");
    expect(JSON.parse(await withSlash.text())).toEqual({ error: "[redacted]" });
  });

  it("redacts every string of a result: text, labels, tool calls, parsed JSON, keys included", () => {
    const r = redactor([SECRET]);
    const result = {
      text: `a ${SECRET}`,
      labels: [{ label: SECRET, score: 0.9 }],
      tool_calls: [{ id: "c1", name: "f", arguments: { [SECRET]: `x${SECRET}`, n: 1 } }],
      json: { nested: [SECRET, 2, null, true] },
      embeddings: [[0.1, 0.2]],
    };
    expect(r.result(result)).toEqual({
      text: "a [redacted]",
      labels: [{ label: "[redacted]", score: 0.9 }],
      tool_calls: [{ id: "c1", name: "f", arguments: { "[redacted]": "x[redacted]", n: 1 } }],
      json: { nested: ["[redacted]", 2, null, true] },
      embeddings: [[0.1, 0.2]],
    });
  });
});

describe("results of a real call", () => {
  it("a classification label that echoes the model's secret is redacted (canary upstream)", async () => {
    const hf = inject("hfUrl");
    const name = `distilbert/sst-canary-${Date.now()}`;
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, {
      id: "clf",
      name: "Classifier",
      backend_type: "huggingface",
      config: { model_name: name, api_key: "${UPSTREAM_KEY}", base_url: hf, timeout: 5 },
    });
    await fakes.hf.script(name, [
      {
        kind: "status",
        status: 200,
        body: [
          [
            { label: CANARY, score: 0.7 },
            { label: `key=${CANARY}`, score: 0.3 },
          ],
        ],
      },
    ]);
    const res = await callTool(tenant.userKey, "classify", { model_id: "clf", text: "anything" });
    expect(res.tool.isError).toBeFalsy();
    expect(res.tool.structuredContent).toMatchObject({
      labels: [
        { label: "[redacted]", score: 0.7 },
        { label: "key=[redacted]", score: 0.3 },
      ],
    });
    expect(JSON.stringify(res.messages)).not.toContain(CANARY);
  });
});
