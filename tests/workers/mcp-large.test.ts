/**
 * Results that fit: an embed of 1,000 inputs (sent upstream in batches the
 * backend takes) and a long generated text come back as a `resource_link` to a
 * short-lived resource of the caller's key, with a summary inline; reading it
 * with the same key gives the whole result, any other key gets not-found, and
 * it expires. Small results stay inline.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { getResult, putResult, RESULT_CHUNK_CHARS, RESULT_TTL_MS } from "../../src/durable/result-store";
import { fakeVector8 } from "../support/fake-vectors";
import { createTenant, fakes, openaiModel, registerModel, tenantObject, uniqueId } from "./helpers";
import { connectClient } from "./mcp-client";

interface Linked {
  uri: string;
  mime_type: string;
  size_chars: number;
  expires_at: string;
}

describe("results that fit", () => {
  it("embed of 1,000 inputs: batched upstream, a resource_link inline, every vector behind it for this key only, until it expires", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const other = await createTenant({ grantCanary: true });
    const up = uniqueId("embed-1000");
    await registerModel(tenant, { ...openaiModel("vec", up), capabilities: ["embedding"] });
    const inputs = Array.from({ length: 1000 }, (_, i) => `text number ${i}`);

    const probes = (await fakes.openai.requests(up)).length; // the probe at registration
    const client = await connectClient(tenant.userKey);
    const before = Date.now();
    const result = await client.callTool({ name: "embed", arguments: { model_id: "vec", input: inputs } });
    expect(result.isError).toBeFalsy();
    const content = result.content as { type: string; text?: string; uri?: string; mimeType?: string }[];
    const structured = result.structuredContent as { count: number; dimensions: number; embeddings?: unknown; resource: Linked };
    expect(structured).toMatchObject({ count: 1000, dimensions: 8, model_id: "vec" });
    expect(structured.embeddings).toBeUndefined();
    expect(structured.resource.uri).toMatch(/^result:\/\/[0-9a-f-]{36}$/);
    expect(content[0]!.text).toMatch(
      /^1000 embedding\(s\) of 8 dimensions from vec\.\nThe whole result \(\d+ characters of JSON\) is at result:\/\//,
    );
    expect(content[1]).toMatchObject({ type: "resource_link", uri: structured.resource.uri, mimeType: "application/json" });
    expect(JSON.stringify(result).length).toBeLessThan(5_000);
    const expires = Date.parse(structured.resource.expires_at);
    expect(expires - before).toBeGreaterThanOrEqual(RESULT_TTL_MS - 5_000);
    expect(expires - before).toBeLessThanOrEqual(RESULT_TTL_MS + 60_000);

    // Sent upstream in batches of 256 (openai_compatible); the vectors come back in input order (read below).
    const sent = await fakes.openai.requests<{ input: string[] }>(up);
    expect(
      sent
        .slice(probes)
        .map((r) => r.body.input.length)
        .sort((a, b) => b - a),
    ).toEqual([256, 256, 256, 232]); // four at a time: any order

    const read = await client.readResource({ uri: structured.resource.uri });
    const whole = JSON.parse((read.contents[0] as { text: string }).text) as { embeddings: number[][]; count: number };
    expect(whole.count).toBe(1000);
    expect(whole.embeddings).toEqual(inputs.map(fakeVector8));
    expect((read.contents[0] as { text: string }).text.length).toBe(structured.resource.size_chars);
    await client.close();

    // Another tenant's key, and another key of the same tenant: not found.
    for (const key of [other.userKey, tenant.adminKey]) {
      const stranger = await connectClient(key);
      await expect(stranger.readResource({ uri: structured.resource.uri })).rejects.toThrow(/not found/i);
      await stranger.close();
    }

    // Expired: the object no longer answers it once its time is up.
    const id = structured.resource.uri.slice("result://".length);
    expect(await tenantObject(tenant.id).getResult(id, tenant.userKeyId, expires - 1)).not.toBeNull();
    expect(await tenantObject(tenant.id).getResult(id, tenant.userKeyId, expires)).toBeNull();
  });

  it("a tenant's results are bounded in total: the oldest go first, one over the single cap is refused, large ones come back whole", async () => {
    const stub = env.TENANTS.getByName(uniqueId("results"));
    await runInDurableObject(stub, (instance: { activate(id: string): unknown }, state: DurableObjectState) => {
      instance.activate("bounds");
      const sql = state.storage.sql;
      const limits = { maxResult: 60, maxTotal: 100 };
      const put = (id: string, size: number, now: number) =>
        putResult(sql, { id, key_id: "k", mime_type: "application/json", text: id[0]!.repeat(size) }, now, limits);
      expect(put("a", 40, 1)).toMatchObject({ ok: true });
      expect(put("b", 40, 2)).toMatchObject({ ok: true });
      expect(put("c", 40, 3)).toMatchObject({ ok: true }); // 120 > 100: a (the oldest) goes
      expect(getResult(sql, "a", "k", 4)).toBeNull();
      expect(getResult(sql, "b", "k", 4)?.text).toBe("b".repeat(40));
      expect(put("d", 61, 5)).toMatchObject({ ok: false, code: "invalid_request" });
      expect(getResult(sql, "d", "k", 6)).toBeNull();
      expect(sql.exec<{ total: number }>("SELECT SUM(size) AS total FROM results").one().total).toBe(80);
      // Expired ones go before any live one.
      expect(put("e", 40, 3 + RESULT_TTL_MS)).toMatchObject({ ok: true }); // b and c expired by now
      expect(sql.exec<{ n: number }>("SELECT count(*) AS n FROM results").one().n).toBe(1);
      // A result larger than a row holds is split and joined again.
      const big = "x".repeat(RESULT_CHUNK_CHARS * 2 + 5);
      expect(putResult(sql, { id: "big", key_id: "k", mime_type: "application/json", text: big }, 10)).toMatchObject({ ok: true });
      expect(sql.exec<{ n: number }>("SELECT count(*) AS n FROM result_chunks WHERE id = 'big'").one().n).toBe(3);
      expect(getResult(sql, "big", "k", 11)?.text).toBe(big);
      expect(getResult(sql, "big", "other-key", 11)).toBeNull();
    });
  });

  it("a small embed stays inline", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, { ...openaiModel("vec", "fake-embed"), capabilities: ["embedding"] });
    const client = await connectClient(tenant.userKey);
    const result = await client.callTool({ name: "embed", arguments: { model_id: "vec", input: ["a", "b"] } });
    expect(result.structuredContent).toMatchObject({ count: 2, embeddings: [fakeVector8("a"), fakeVector8("b")] });
    expect(result.structuredContent).not.toHaveProperty("resource");
    expect((result.content as { type: string }[]).map((c) => c.type)).toEqual(["text"]);
    await client.close();
  });

  it("a long generated text: its start inline, the whole result behind the link", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("talker"));
    const words = "lorem ipsum ".repeat(5_000); // 60,000 characters, echoed back
    const client = await connectClient(tenant.userKey);
    const result = await client.callTool({ name: "chat", arguments: { model_id: "talker", messages: [{ role: "user", content: words }] } });
    const structured = result.structuredContent as { text: string; text_truncated: boolean; resource: Linked };
    expect(structured.text_truncated).toBe(true);
    expect(structured.text).toHaveLength(2_000);
    expect((result.content as { type: string }[]).map((c) => c.type)).toEqual(["text", "resource_link"]);
    const read = await client.readResource({ uri: structured.resource.uri });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ text: `echo: ${words}`, finish_reason: "stop" });
    await client.close();
  });
});
