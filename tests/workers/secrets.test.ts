/**
 * The tenant secret store: PUT/GET/DELETE /api/v1/secrets, encryption at rest
 * (AES-GCM bound to tenant and name), resolution at call time with host
 * binding and redaction, tenant isolation, and key rotation.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TenantRegistry } from "../../src/durable/tenant-registry";
import { additionalData, HKDF_INFO, HKDF_SALT, importSecretsKey, seal, unseal } from "../../src/secrets/crypto";
import { keyring } from "../../src/secrets/keyring";
import { api, callTool, CANARY, createTenant, fakes, openaiModel, OPERATOR, registerModel, type Tenant, uniqueId } from "./helpers";

const utf8 = new TextEncoder();

/** A distinct, recognisable value per test, so a leak is attributable. */
function secretValue(): string {
  return `sk-tenant-${crypto.randomUUID()}`;
}

function putSecret(tenant: Tenant, name: string, value: string, hosts: string[] = ["127.0.0.1"]) {
  return api<{ name: string; hosts: string[]; updated_at: string }>("PUT", `/api/v1/secrets/${name}`, {
    token: tenant.adminKey,
    body: { value, hosts },
  });
}

/** A model on the fake upstream whose api_key is `${name}`; returns the upstream model name (its request log key). */
async function modelUsing(tenant: Tenant, id: string, name: string, config: Record<string, unknown> = {}) {
  const upstream = uniqueId(id);
  await registerModel(tenant, openaiModel(id, upstream, { api_key: `\${${name}}`, max_retries: 0, ...config }));
  return upstream;
}

function chat(tenant: Tenant, model: string) {
  return callTool(tenant.userKey, "chat", { model_id: model, messages: [{ role: "user", content: "hi" }] });
}

async function authorizations(upstream: string): Promise<string[]> {
  return (await fakes.openai.requests(upstream)).map((r) => r.headers.authorization ?? "");
}

function stub(tenant: Tenant) {
  return env.TENANTS.getByName(tenant.id);
}

/** Every value in every table of the tenant's Durable Object, as bytes. */
async function storedBytes(tenant: Tenant): Promise<Uint8Array[]> {
  return runInDurableObject(stub(tenant), (_: TenantRegistry, state) => {
    const sql = state.storage.sql;
    const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").toArray();
    return tables.flatMap(({ name }) =>
      sql
        .exec(`SELECT * FROM "${name}"`)
        .toArray()
        .flatMap((row) => Object.values(row))
        .map((v) => (v instanceof ArrayBuffer ? new Uint8Array(v) : utf8.encode(String(v)))),
    );
  });
}

function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

async function auditRows(tenant: Tenant) {
  await new Promise((r) => setTimeout(r, 50)); // audit writes are waitUntil'd
  const { results } = await env.DB.prepare("SELECT actor, action, target, detail FROM audit_log WHERE tenant_id = ? ORDER BY id")
    .bind(tenant.id)
    .all<{ actor: string; action: string; target: string; detail: string | null }>();
  return results;
}

describe("PUT/GET/DELETE /api/v1/secrets", () => {
  it("stores, lists (names and hosts only) and deletes; the value never comes back", async () => {
    const tenant = await createTenant();
    const value = secretValue();
    const put = await putSecret(tenant, "MY_KEY", value, ["API.example.com", "127.0.0.1", "api.example.com"]);
    expect(put.status).toBe(200);
    expect(Object.keys(put.body).sort()).toEqual(["hosts", "name", "updated_at"]);
    expect(put.body).toMatchObject({ name: "MY_KEY", hosts: ["api.example.com", "127.0.0.1"] });
    expect(put.text).not.toContain(value);

    const list = await api<{ secrets: unknown[] }>("GET", "/api/v1/secrets", { token: tenant.adminKey });
    expect(list.body).toEqual({ secrets: [{ name: "MY_KEY", hosts: ["api.example.com", "127.0.0.1"], updated_at: put.body.updated_at }] });
    expect(list.text).not.toContain(value);

    // A new PUT replaces value and hosts.
    const again = await putSecret(tenant, "MY_KEY", secretValue(), ["api.example.com"]);
    expect(again.body.hosts).toEqual(["api.example.com"]);
    expect((await api<{ secrets: { hosts: string[] }[] }>("GET", "/api/v1/secrets", { token: tenant.adminKey })).body.secrets).toEqual([
      { name: "MY_KEY", hosts: ["api.example.com"], updated_at: again.body.updated_at },
    ]);

    const deleted = await api("DELETE", "/api/v1/secrets/MY_KEY", { token: tenant.adminKey });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ name: "MY_KEY", deleted: true });
    expect((await api("DELETE", "/api/v1/secrets/MY_KEY", { token: tenant.adminKey })).status).toBe(404);
    expect((await api("GET", "/api/v1/secrets", { token: tenant.adminKey })).body).toEqual({ secrets: [] });
  });

  it("needs an admin key for every secret route", async () => {
    const tenant = await createTenant();
    expect((await putSecret(tenant, "MY_KEY", secretValue())).status).toBe(200);
    const asUser = { token: tenant.userKey };
    expect((await api("PUT", "/api/v1/secrets/MY_KEY", { ...asUser, body: { value: "x".repeat(10), hosts: ["a.com"] } })).status).toBe(403);
    expect((await api("GET", "/api/v1/secrets", asUser)).status).toBe(403);
    expect((await api("DELETE", "/api/v1/secrets/MY_KEY", asUser)).status).toBe(403);
    expect((await api("GET", "/api/v1/secrets", { token: OPERATOR })).status).toBe(401);
    expect((await api<{ secrets: unknown[] }>("GET", "/api/v1/secrets", { token: tenant.adminKey })).body.secrets).toHaveLength(1);
  });

  it("refuses bad names, values and hosts, naming the field and never echoing the value", async () => {
    const tenant = await createTenant();
    const value = secretValue();
    const cases: [string, unknown, RegExp][] = [
      ["my_key", { value, hosts: ["a.com"] }, /name: must be an upper-case secret name/],
      ["SECRETS_KEY", { value, hosts: ["a.com"] }, /name: SECRETS_KEY is reserved/],
      ["SECRETS_KEY_PREVIOUS", { value, hosts: ["a.com"] }, /reserved/],
      ["MY_KEY", { value: "", hosts: ["a.com"] }, /value: must be at least 8 characters/],
      ["MY_KEY", { value: "abc", hosts: ["a.com"] }, /value: must be at least 8 characters/],
      ["MY_KEY", { value: "v".repeat(8193), hosts: ["a.com"] }, /value: must be at most 8192 characters/],
      ["MY_KEY", { value, hosts: [] }, /hosts: name at least one host/],
      ["MY_KEY", { value, hosts: ["https://a.com/"] }, /hosts\.0: must be a host name, without scheme or port/],
      ["MY_KEY", { value, hosts: ["a.com", "0x7f.1"] }, /hosts\.1: must be a host name as a URL writes it/],
      ["MY_KEY", { value, hosts: ["127.1"] }, /hosts\.0: must be a host name as a URL writes it/],
      ["MY_KEY", { value }, /hosts: /],
      ["MY_KEY", { value, hosts: ["a.com"], extra: value }, /unknown field\(s\) "extra"/],
    ];
    for (const [name, body, message] of cases) {
      const res = await api<{ error: { message: string } }>("PUT", `/api/v1/secrets/${name}`, { token: tenant.adminKey, body });
      expect(res.status, `${name} ${JSON.stringify(body).slice(0, 80)}`).toBe(400);
      expect(res.body.error.message).toMatch(message);
      expect(res.text).not.toContain(value);
    }
    // Broken JSON: the parser's message quotes the input, so it is not passed on.
    const broken = await api("PUT", "/api/v1/secrets/MY_KEY", { token: tenant.adminKey, raw: `{"value": "${value}", hosts: ["a.com"]}` });
    expect(broken.status).toBe(400);
    expect(broken.text).toMatch(/not valid JSON/);
    expect(broken.text).not.toContain(value);
    expect(broken.text).not.toContain(value.slice(0, 12));
    expect((await api("GET", "/api/v1/secrets", { token: tenant.adminKey })).body).toEqual({ secrets: [] });
  });

  it("refuses to delete a secret a model uses, naming the models", async () => {
    const tenant = await createTenant();
    await putSecret(tenant, "MY_KEY", secretValue());
    await modelUsing(tenant, "uses-a", "MY_KEY");
    await modelUsing(tenant, "uses-b", "MY_KEY", { api_key: undefined, headers: { "x-api-key": "pre ${MY_KEY}" } });
    const refused = await api("DELETE", "/api/v1/secrets/MY_KEY", { token: tenant.adminKey });
    expect(refused.status).toBe(409);
    expect(refused.text).toMatch(/used by model\(s\) uses-a, uses-b/);
    await api("DELETE", "/api/v1/models/uses-a", { token: tenant.adminKey });
    await api("DELETE", "/api/v1/models/uses-b", { token: tenant.adminKey });
    expect((await api("DELETE", "/api/v1/secrets/MY_KEY", { token: tenant.adminKey })).status).toBe(200);
  });

  it("tells a tenant with a literal key how to store it", async () => {
    const tenant = await createTenant();
    const res = await api("POST", "/api/v1/models", {
      token: tenant.adminKey,
      body: openaiModel("lit", "gpt-fake", { api_key: "sk-literal-123456" }),
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain("config.api_key holds a literal secret");
    expect(res.text).toContain('PUT /api/v1/secrets/NAME {\\"value\\": \\"...\\", \\"hosts\\": [\\"<host>\\"]}');
    expect(res.text).toContain('write \\"${NAME}\\" here');
    expect(res.text).not.toContain("sk-literal-123456");
  });
});

describe("literal credentials in model config", () => {
  const LITERALS: [string, Record<string, unknown>][] = [
    ["X-Goog-Api-Key header", { headers: { "X-Goog-Api-Key": "AIzaSyLiteralGoogleKey0123456789" } }],
    ["Api-Key header", { headers: { "Api-Key": "literal-azure-key-0123456789" } }],
    ["Cookie header", { headers: { Cookie: "session=literal-session-0123456789" } }],
    ["X-Auth header", { headers: { "X-Auth": "literal-auth-0123456789" } }],
    ["unclosed reference", { headers: { Authorization: "Bearer ${UPSTREAM_KEY" } }],
    ["literal before a reference", { api_key: "sk-123literal${UPSTREAM_KEY}" }],
    ["literal after the scheme", { headers: { Authorization: "Bearer sk-live-literal${UPSTREAM_KEY}" } }],
    ["literal after a reference", { headers: { Authorization: "Bearer ${UPSTREAM_KEY}sk-literal" } }],
  ];

  it.each(LITERALS)("refuses a literal in a %s, stores nothing, and does not echo it", async (_what, config) => {
    const tenant = await createTenant({ grantCanary: true });
    const res = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("lit", "gpt-fake", config) });
    expect(res.status, res.text).toBe(400);
    expect(res.text).toContain("literal secret");
    for (const literal of JSON.stringify(config).match(/[A-Za-z0-9-]*iteral[A-Za-z0-9-]*/g) ?? []) expect(res.text).not.toContain(literal);
    const listed = await api<{ models: unknown[] }>("GET", "/api/v1/models", { token: tenant.userKey });
    expect(listed.body.models).toEqual([]);
  });

  it("accepts references, alone or after an auth scheme, in any credential header", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const config = {
      api_key: "${UPSTREAM_KEY}",
      headers: {
        Authorization: "Bearer ${UPSTREAM_KEY}",
        "X-Goog-Api-Key": "${UPSTREAM_KEY}",
        Cookie: "session=${UPSTREAM_KEY}",
        "X-Trace": "plain",
      },
    };
    const res = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("refs", "gpt-fake", config) });
    expect(res.status, res.text).toBe(201);
  });
});

describe("tenant secrets at rest", () => {
  it("are stored only as AES-GCM ciphertext under the current key, and audited by name and hosts", async () => {
    const tenant = await createTenant();
    const value = secretValue();
    await putSecret(tenant, "MY_KEY", value);
    await modelUsing(tenant, "rest", "MY_KEY");

    const needle = utf8.encode(value);
    const bytes = await storedBytes(tenant);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.some((b) => containsBytes(b, needle))).toBe(false);
    expect(bytes.some((b) => containsBytes(b, utf8.encode(value.slice(10))))).toBe(false);

    const current = await importSecretsKey(env.SECRETS_KEY);
    const row = await runInDurableObject(stub(tenant), (_: TenantRegistry, state) =>
      state.storage.sql.exec<{ ciphertext: ArrayBuffer; iv: ArrayBuffer; key_id: string }>("SELECT ciphertext, iv, key_id FROM secrets").one(),
    );
    expect(row.iv.byteLength).toBe(12);
    expect(row.ciphertext.byteLength).toBe(needle.length + 16); // GCM appends a 16-byte tag
    expect(row.key_id).toBe(current.id);
    expect(await unseal([current], tenant.id, "MY_KEY", row)).toBe(value);

    const audit = await auditRows(tenant);
    const put = audit.find((r) => r.action === "secret.put");
    expect(put).toMatchObject({ actor: expect.stringMatching(/^key:/), target: "MY_KEY" });
    expect(JSON.parse(put!.detail!)).toEqual({ hosts: ["127.0.0.1"] });
    expect(JSON.stringify(audit)).not.toContain(value);
  });

  it("a ciphertext copied to another tenant, or to another name, does not decrypt: a clear error, no leak", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const valueA = secretValue();
    const valueB = secretValue();
    await putSecret(a, "MY_KEY", valueA);
    await putSecret(a, "OTHER_KEY", secretValue());
    await putSecret(b, "MY_KEY", valueB);
    const upA = await modelUsing(a, "renamed", "OTHER_KEY");
    const upB = await modelUsing(b, "moved", "MY_KEY");

    const rowA = await runInDurableObject(stub(a), (_: TenantRegistry, state) =>
      state.storage.sql
        .exec<{ ciphertext: ArrayBuffer; iv: ArrayBuffer; key_id: string }>("SELECT ciphertext, iv, key_id FROM secrets WHERE name = 'MY_KEY'")
        .one(),
    );
    const copy = (name: string) => (_: TenantRegistry, state: DurableObjectState) => {
      state.storage.sql.exec("UPDATE secrets SET ciphertext = ?, iv = ?, key_id = ? WHERE name = ?", rowA.ciphertext, rowA.iv, rowA.key_id, name);
    };
    await runInDurableObject(stub(b), copy("MY_KEY")); // A's MY_KEY into B's MY_KEY: same name, other tenant
    await runInDurableObject(stub(a), copy("OTHER_KEY")); // A's MY_KEY into A's OTHER_KEY: same tenant, other name
    // Drop each tenant's cached snapshot (any secret write does).
    await putSecret(a, "UNRELATED", secretValue());
    await putSecret(b, "UNRELATED", secretValue());

    for (const [tenant, model, name, upstream] of [
      [b, "moved", "MY_KEY", upB],
      [a, "renamed", "OTHER_KEY", upA],
    ] as const) {
      const res = await chat(tenant, model);
      expect(res.tool.isError).toBe(true);
      expect(res.tool.content[0]!.text).toContain(`Secret ${name} could not be decrypted: it was not stored for this tenant under this name`);
      const shown = JSON.stringify(res.messages);
      expect(shown).not.toContain(valueA);
      expect(shown).not.toContain(valueB);
      expect(await fakes.openai.requests(upstream)).toEqual([]);
    }
  });
});

describe("resolving tenant secrets at call time", () => {
  it("sends the decrypted value upstream; the registry keeps the reference", async () => {
    const tenant = await createTenant();
    const value = secretValue();
    await putSecret(tenant, "MY_KEY", value);
    const upstream = await modelUsing(tenant, "own-key", "MY_KEY", { headers: { "x-extra": "id=${MY_KEY};" } });

    const res = await chat(tenant, "own-key");
    expect(res.tool.isError).toBeUndefined();
    expect(res.tool.structuredContent).toMatchObject({ text: "echo: hi", model_id: "own-key" });
    const [request] = await fakes.openai.requests(upstream);
    expect(request?.headers.authorization).toBe(`Bearer ${value}`);
    expect(request?.headers["x-extra"]).toBe(`id=${value};`);
    expect(JSON.stringify(res.messages)).not.toContain(value);

    const got = await api("GET", "/api/v1/models/own-key", { token: tenant.adminKey });
    expect(got.body).toMatchObject({ config: { api_key: "${MY_KEY}" } });
    expect(got.text).not.toContain(value);
  });

  it("needs one storage round trip when cold and none when warm", async () => {
    const tenant = await createTenant();
    const value = secretValue();
    await putSecret(tenant, "MY_KEY", value);
    const upstream = await modelUsing(tenant, "warm", "MY_KEY");
    const cold = await chat(tenant, "warm"); // registering the model dropped the cached snapshot
    const warm = await chat(tenant, "warm");
    expect([cold.tool.isError, warm.tool.isError]).toEqual([undefined, undefined]);
    expect(cold.headers.get("server-timing")).toContain("dur=1");
    expect(warm.headers.get("server-timing")).toContain("dur=0");
    expect(await authorizations(upstream)).toEqual([`Bearer ${value}`, `Bearer ${value}`]);
  });

  it("health checks (run in the Durable Object) resolve tenant secrets too", async () => {
    const tenant = await createTenant();
    const value = secretValue();
    await putSecret(tenant, "MY_KEY", value);
    const upstream = await modelUsing(tenant, "probed", "MY_KEY", { health_check: { probe: "generation" } });
    const res = await api<{ checks: { ok: boolean }[] }>("POST", "/api/v1/models/probed/health-check", { token: tenant.adminKey });
    expect(res.body.checks[0]).toMatchObject({ ok: true });
    // Probed at registration, then on demand.
    expect(await authorizations(upstream)).toEqual([`Bearer ${value}`, `Bearer ${value}`]);
  });

  it("a tenant secret wins over a granted Worker secret of the same name", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const value = secretValue();
    await putSecret(tenant, "UPSTREAM_KEY", value);
    const upstream = await modelUsing(tenant, "shadow", "UPSTREAM_KEY");
    expect((await chat(tenant, "shadow")).tool.isError).toBeUndefined();
    expect(await authorizations(upstream)).toEqual([`Bearer ${value}`]);
    // Once it is deleted, the operator's grant applies again.
    await api("DELETE", "/api/v1/models/shadow", { token: tenant.adminKey });
    expect((await api("DELETE", "/api/v1/secrets/UPSTREAM_KEY", { token: tenant.adminKey })).status).toBe(200);
    const granted = await modelUsing(tenant, "granted", "UPSTREAM_KEY");
    expect((await chat(tenant, "granted")).tool.isError).toBeUndefined();
    expect(await authorizations(granted)).toEqual([`Bearer ${CANARY}`]);
  });

  it("is bound to the secret's hosts: refused at registration, and at call time after the hosts change", async () => {
    const tenant = await createTenant();
    const value = secretValue();
    await putSecret(tenant, "MY_KEY", value, ["api.example.com"]);
    const refused = await api("POST", "/api/v1/models", { token: tenant.adminKey, body: openaiModel("bound", "gpt-fake", { api_key: "${MY_KEY}" }) });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain(
      "config.api_key: secret MY_KEY may not be sent to 127.0.0.1; it is bound to api.example.com. config.base_url points at 127.0.0.1; to allow that, add the host with PUT /api/v1/secrets/MY_KEY.",
    );
    expect((await api<{ models: unknown[] }>("GET", "/api/v1/models", { token: tenant.adminKey })).body.models).toEqual([]);

    await putSecret(tenant, "MY_KEY", value, ["127.0.0.1"]);
    const upstream = await modelUsing(tenant, "bound", "MY_KEY");
    expect((await chat(tenant, "bound")).tool.isError).toBeUndefined();
    expect(await authorizations(upstream)).toHaveLength(1);

    await putSecret(tenant, "MY_KEY", value, ["api.example.com"]);
    const later = await chat(tenant, "bound");
    expect(later.tool.isError).toBe(true);
    expect(later.tool.content[0]!.text).toContain("secret MY_KEY may not be sent to 127.0.0.1");
    expect(await authorizations(upstream)).toHaveLength(1); // nothing more was sent
    expect(JSON.stringify(later.messages)).not.toContain(value);
  });

  it("redacts the value when the upstream echoes it", async () => {
    const tenant = await createTenant();
    const value = secretValue();
    await putSecret(tenant, "MY_KEY", value);
    const upstream = await modelUsing(tenant, "echo", "MY_KEY");
    await fakes.openai.script(upstream, [{ kind: "echo_auth", status: 401 }]);
    const res = await chat(tenant, "echo");
    expect(res.tool.isError).toBe(true);
    expect(res.tool.content[0]!.text).toContain("Bearer [redacted]");
    expect(JSON.stringify(res.messages)).not.toContain(value);
    expect(await authorizations(upstream)).toEqual([`Bearer ${value}`]); // it was sent, then hidden
  });

  it("keeps tenants apart: another tenant can neither see nor use a secret name", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const valueA = secretValue();
    await putSecret(a, "SHARED_NAME", valueA);
    expect((await api("GET", "/api/v1/secrets", { token: b.adminKey })).body).toEqual({ secrets: [] });
    expect((await api("DELETE", "/api/v1/secrets/SHARED_NAME", { token: b.adminKey })).status).toBe(404);
    const refused = await api("POST", "/api/v1/models", { token: b.adminKey, body: openaiModel("steal", "gpt-fake", { api_key: "${SHARED_NAME}" }) });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain("secret SHARED_NAME is unknown or not granted to this tenant. Store it with PUT /api/v1/secrets/SHARED_NAME");

    // B's own secret of the same name is B's: each tenant's model sends its own value.
    const valueB = secretValue();
    await putSecret(b, "SHARED_NAME", valueB);
    const upA = await modelUsing(a, "mine", "SHARED_NAME");
    const upB = await modelUsing(b, "mine", "SHARED_NAME");
    await chat(a, "mine");
    await chat(b, "mine");
    expect(await authorizations(upA)).toEqual([`Bearer ${valueA}`]);
    expect(await authorizations(upB)).toEqual([`Bearer ${valueB}`]);
    expect((await api<{ secrets: { name: string }[] }>("GET", "/api/v1/secrets", { token: a.adminKey })).body.secrets.map((s) => s.name)).toEqual([
      "SHARED_NAME",
    ]);
  });
});

describe("the encryption key", () => {
  const passphrase = "a passphrase that is not base64 of 32 bytes";

  it("uses base64 of 32 bytes as the AES key itself, binding tenant and name as AAD", async () => {
    const key = await importSecretsKey(env.SECRETS_KEY);
    const sealed = await seal(key, "t1", "NAME", "hello secret");
    const raw = Uint8Array.from(atob(env.SECRETS_KEY), (c) => c.charCodeAt(0));
    const direct = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: sealed.iv, additionalData: additionalData("t1", "NAME") },
      direct,
      sealed.ciphertext,
    );
    expect(new TextDecoder().decode(plain)).toBe("hello secret");
    await expect(crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed.iv }, direct, sealed.ciphertext)).rejects.toThrow();
    // A fresh IV every time.
    const again = await seal(key, "t1", "NAME", "hello secret");
    expect(new Uint8Array(again.iv)).not.toEqual(new Uint8Array(sealed.iv));
  });

  it("derives the AES key with HKDF-SHA-256 from anything else, and refuses short keys", async () => {
    const key = await importSecretsKey(passphrase);
    const sealed = await seal(key, "t1", "NAME", "hello secret");
    const base = await crypto.subtle.importKey("raw", utf8.encode(passphrase), "HKDF", false, ["deriveBits"]);
    const bits = await crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: utf8.encode(HKDF_SALT), info: utf8.encode(HKDF_INFO) },
      base,
      256,
    );
    const derived = await crypto.subtle.importKey("raw", bits, "AES-GCM", false, ["decrypt"]);
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: sealed.iv, additionalData: additionalData("t1", "NAME") },
      derived,
      sealed.ciphertext,
    );
    expect(new TextDecoder().decode(plain)).toBe("hello secret");

    // base64 of 31 bytes is not a raw key: it is derived, hence a different key.
    const short = btoa("x".repeat(31));
    expect((await importSecretsKey(short)).id).not.toBe((await importSecretsKey(btoa("x".repeat(32)))).id);
    await expect(importSecretsKey("change-me")).rejects.toThrow(/SECRETS_KEY is too short/);
    await expect(importSecretsKey("")).rejects.toThrow(/SECRETS_KEY is not set/);
  });

  it("gives each key a short stable id, and opens only with the key of that id", async () => {
    const current = await importSecretsKey(env.SECRETS_KEY);
    const previous = await importSecretsKey(passphrase);
    expect(current.id).toMatch(/^[0-9a-f]{12}$/);
    expect(current.id).not.toBe(previous.id);
    expect((await importSecretsKey(passphrase)).id).toBe(previous.id);

    const sealed = await seal(previous, "t1", "NAME", "old value");
    expect(sealed.key_id).toBe(previous.id);
    expect(await unseal([current, previous], "t1", "NAME", sealed)).toBe("old value");
    await expect(unseal([current], "t1", "NAME", sealed)).rejects.toThrow(
      new RegExp(`Secret NAME was encrypted with key ${previous.id}, which this gateway no longer has .*SECRETS_KEY_PREVIOUS`),
    );
    await expect(unseal([current, previous], "t2", "NAME", sealed)).rejects.toThrow(/could not be decrypted/);
    await expect(unseal([current, previous], "t1", "OTHER", sealed)).rejects.toThrow(/could not be decrypted/);
    const tampered = new Uint8Array(sealed.ciphertext.slice(0));
    tampered[0]! ^= 1;
    await expect(unseal([current, previous], "t1", "NAME", { ...sealed, ciphertext: tampered.buffer })).rejects.toThrow(/could not be decrypted/);
  });

  it("reads SECRETS_KEY_PREVIOUS when it is configured", async () => {
    const ring = await keyring(env);
    expect(ring.current.id).toBe((await importSecretsKey(env.SECRETS_KEY)).id);
    expect(ring.previous?.id).toBe((await importSecretsKey(env.SECRETS_KEY_PREVIOUS!)).id);
    expect(ring.all.map((k) => k.id)).toEqual([ring.current.id, ring.previous!.id]);

    // Without it, only the current key opens anything; an unusable one is left out; no current key is an error.
    const only = (bindings: Record<string, string>) => keyring(bindings as unknown as Env);
    expect((await only({ SECRETS_KEY: env.SECRETS_KEY })).all.map((k) => k.id)).toEqual([ring.current.id]);
    expect((await only({ SECRETS_KEY: env.SECRETS_KEY, SECRETS_KEY_PREVIOUS: "short" })).previous).toBeNull();
    expect((await only({ SECRETS_KEY: env.SECRETS_KEY, SECRETS_KEY_PREVIOUS: env.SECRETS_KEY })).all).toHaveLength(1);
    await expect(only({})).rejects.toThrow(/SECRETS_KEY is not set/);
    const sealed = await seal(ring.previous!, "t1", "NAME", "old value");
    await expect(unseal((await only({ SECRETS_KEY: env.SECRETS_KEY })).all, "t1", "NAME", sealed)).rejects.toThrow(/no longer has/);
  });
});

describe("key rotation", () => {
  /** Store a secret as it was stored before the rotation: sealed under SECRETS_KEY_PREVIOUS (or `material`). */
  async function storeUnder(tenant: Tenant, name: string, value: string, material = env.SECRETS_KEY_PREVIOUS!) {
    const sealed = await seal(await importSecretsKey(material), tenant.id, name, value);
    await runInDurableObject(stub(tenant), (instance: TenantRegistry) => {
      instance.putSecret(null, { name, hosts: ["127.0.0.1"], sealed }, new Date().toISOString());
    });
  }

  async function keyIds(tenant: Tenant): Promise<Record<string, string>> {
    const rows = await runInDurableObject(stub(tenant), (_: TenantRegistry, state) =>
      state.storage.sql.exec<{ name: string; key_id: string }>("SELECT name, key_id FROM secrets").toArray(),
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.key_id]));
  }

  it("old values resolve through SECRETS_KEY_PREVIOUS, and POST …/secrets/rotate moves them to SECRETS_KEY", async () => {
    const tenant = await createTenant();
    const current = await importSecretsKey(env.SECRETS_KEY);
    const previous = await importSecretsKey(env.SECRETS_KEY_PREVIOUS!);
    const oldValue = secretValue();
    const lostValue = secretValue();
    await storeUnder(tenant, "OLD_KEY", oldValue);
    await storeUnder(tenant, "LOST_KEY", lostValue, "a key nobody has configured any more");
    await putSecret(tenant, "NEW_KEY", secretValue());
    const upstream = await modelUsing(tenant, "rotated", "OLD_KEY");
    await modelUsing(tenant, "lost", "LOST_KEY");

    expect((await chat(tenant, "rotated")).tool.isError).toBeUndefined();
    expect(await authorizations(upstream)).toEqual([`Bearer ${oldValue}`]);
    const lost = await chat(tenant, "lost");
    expect(lost.tool.content[0]!.text).toMatch(/Secret LOST_KEY was encrypted with key [0-9a-f]{12}, which this gateway no longer has/);
    expect(await keyIds(tenant)).toMatchObject({ OLD_KEY: previous.id, NEW_KEY: current.id });

    expect((await api("POST", `/api/v1/tenants/${tenant.id}/secrets/rotate`, { token: tenant.adminKey })).status).toBe(401);
    expect((await api("POST", "/api/v1/tenants/no-such-tenant/secrets/rotate", { token: OPERATOR })).status).toBe(404);
    const rotated = await api("POST", `/api/v1/tenants/${tenant.id}/secrets/rotate`, { token: OPERATOR });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({ tenant_id: tenant.id, key_id: current.id, reencrypted: 1, already_current: 1, failed: ["LOST_KEY"] });
    expect(rotated.text).not.toContain(oldValue);
    const ids = await keyIds(tenant);
    expect(ids.OLD_KEY).toBe(current.id);
    expect(ids.LOST_KEY).not.toBe(current.id);

    // Under the new key now: it opens without the previous key, and still reaches the upstream.
    const row = await runInDurableObject(stub(tenant), (_: TenantRegistry, state) =>
      state.storage.sql
        .exec<{ ciphertext: ArrayBuffer; iv: ArrayBuffer; key_id: string }>("SELECT ciphertext, iv, key_id FROM secrets WHERE name = 'OLD_KEY'")
        .one(),
    );
    expect(await unseal([current], tenant.id, "OLD_KEY", row)).toBe(oldValue);
    expect((await chat(tenant, "rotated")).tool.isError).toBeUndefined();
    expect(await authorizations(upstream)).toEqual([`Bearer ${oldValue}`, `Bearer ${oldValue}`]);

    const again = await api("POST", `/api/v1/tenants/${tenant.id}/secrets/rotate`, { token: OPERATOR });
    expect(again.body).toMatchObject({ reencrypted: 0, already_current: 2, failed: ["LOST_KEY"] });
    const audit = await auditRows(tenant);
    expect(audit.filter((r) => r.action === "secret.rotate").map((r) => r.actor)).toEqual(["operator", "operator"]);
    expect(JSON.stringify(audit)).not.toContain(oldValue);
  });

  it("never overwrites a secret stored again while it was being re-encrypted", async () => {
    const tenant = await createTenant();
    await storeUnder(tenant, "RACE_KEY", secretValue());
    const previous = await importSecretsKey(env.SECRETS_KEY_PREVIOUS!);
    const current = await importSecretsKey(env.SECRETS_KEY);
    const newer = await seal(current, tenant.id, "RACE_KEY", "the newer value");
    const reencrypted = await seal(current, tenant.id, "RACE_KEY", "the older value, re-encrypted");
    const written = await runInDurableObject(stub(tenant), (instance: TenantRegistry) => {
      const before = instance.sealedSecrets()[0]!.sealed!;
      expect(before.key_id).toBe(previous.id);
      instance.putSecret(null, { name: "RACE_KEY", hosts: ["127.0.0.1"], sealed: newer }, new Date().toISOString()); // stored again meanwhile
      const stale = instance.resealSecrets([{ name: "RACE_KEY", previous_iv: before.iv, sealed: reencrypted }]);
      const matching = instance.resealSecrets([{ name: "RACE_KEY", previous_iv: newer.iv, sealed: newer }]);
      return [stale, matching];
    });
    expect(written).toEqual([0, 1]);
    const row = (await runInDurableObject(stub(tenant), (instance: TenantRegistry) => instance.sealedSecrets()))[0]!;
    expect(row.sealed?.tenant_id).toBe(tenant.id);
    expect(await unseal([current], tenant.id, "RACE_KEY", row.sealed!)).toBe("the newer value");
  });
});
