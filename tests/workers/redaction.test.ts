/** The redactor every backend gets: streamed text, encodings, error bodies. */
import { describe, expect, it } from "vitest";
import { redactor } from "../../src/inference/redaction";

const SECRET = "sk-live-0123456789abcdef";

async function streamThrough(pieces: string[]) {
  const seen: string[] = [];
  const r = redactor([SECRET]);
  const { options, flush } = r.stream({ onText: (d) => void seen.push(d) });
  for (const piece of pieces) await options!.onText!(piece);
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
});
