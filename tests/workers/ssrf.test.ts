/**
 * The SSRF guard (src/config/urls.ts, src/config/ip.ts): every rule with at
 * least one attack case, first against assertUpstreamUrl directly, then end to
 * end through the admin API, under both the production setting (no
 * ALLOWED_PRIVATE_HOSTS) and the one in vitest.config.ts (localhost,127.0.0.1).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { upstreamJson } from "../../src/backends/http";
import { assertUpstreamUrl } from "../../src/config/urls";
import { GatewayError } from "../../src/errors";
import worker from "../../src/worker";
import { api, createTenant, env, fakes, openaiModel, registerModel, type Tenant, upstreamUrl } from "./helpers";

const FIELD = "config.base_url";
const PRODUCTION: ReadonlySet<string> = new Set();
const DEV: ReadonlySet<string> = new Set(["localhost", "127.0.0.1"]);

/** The refusal assertUpstreamUrl throws for `url`, checked to be a 400 naming the field. */
function refusal(url: string, allowed: ReadonlySet<string> = PRODUCTION): string {
  try {
    assertUpstreamUrl(url, FIELD, allowed);
  } catch (error) {
    expect(error, url).toBeInstanceOf(GatewayError);
    const failure = error as GatewayError;
    expect(failure.code, url).toBe("invalid_request");
    expect(failure.message, url).toMatch(/^config\.base_url: /);
    return failure.message;
  }
  throw new Error(`${url} was accepted`);
}

const NEVER =
  /; the gateway never calls private networks unless the operator lists the host in ALLOWED_PRIVATE_HOSTS \(a Worker var: comma-separated hosts, e\.g\. localhost,10\.0\.0\.5\)\.$/;

describe("assertUpstreamUrl: private, loopback and metadata addresses in every spelling", () => {
  // [url, why it must be refused] — all over https, so only the host can be the reason.
  const cases: [string, RegExp][] = [
    // IPv4 loopback, spelled every way the URL parser accepts
    ["https://127.0.0.1/v1", /127\.0\.0\.1 is a loopback address/],
    ["https://0x7f000001:11434", /127\.0\.0\.1 is a loopback address/],
    ["https://2130706433/", /127\.0\.0\.1 is a loopback address/],
    ["https://0177.0.0.1/", /127\.0\.0\.1 is a loopback address/],
    ["https://0x7f.1/", /127\.0\.0\.1 is a loopback address/],
    ["https://127.1/", /127\.0\.0\.1 is a loopback address/],
    ["https://127.000.000.001/", /127\.0\.0\.1 is a loopback address/],
    ["https://127.0.0.1./", /127\.0\.0\.1 is a loopback address/],
    ["https://%31%32%37.0.0.1/", /127\.0\.0\.1 is a loopback address/],
    ["https://１２７.０.０.１/", /127\.0\.0\.1 is a loopback address/],
    ["https://127.255.255.254/", /loopback/],
    // IPv6 loopback and unspecified
    ["https://[::1]/", /\[::1\] is a loopback address/],
    ["https://[0:0:0:0:0:0:0:1]/", /\[::1\] is a loopback address/],
    ["https://[::]/", /\[::\] is an unspecified address/],
    // IPv4 embedded in IPv6: mapped, translated, compatible, NAT64, 6to4, Teredo
    ["https://[::ffff:127.0.0.1]/v1", /\[::ffff:7f00:1\] is an IPv6 address embedding 127\.0\.0\.1, a loopback address/],
    ["https://[::ffff:7f00:1]/", /embedding 127\.0\.0\.1, a loopback/],
    ["https://[::ffff:169.254.169.254]/", /embedding 169\.254\.169\.254, a link-local \/ metadata/],
    ["https://[::ffff:0:10.0.0.1]/", /embedding 10\.0\.0\.1, a private/],
    ["https://[::127.0.0.1]/", /embedding 127\.0\.0\.1, a loopback/],
    ["https://[64:ff9b::169.254.169.254]/", /embedding 169\.254\.169\.254, a link-local/],
    ["https://[64:ff9b:1::a00:1]/", /a local-use NAT64 address/],
    ["https://[2002:a9fe:a9fe::1]/", /embedding 169\.254\.169\.254, a link-local/],
    ["https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", /embedding 127\.0\.0\.1, a loopback/], // Teredo client 127.0.0.1
    ["https://[2001:0:a00:1::1]/", /embedding 10\.0\.0\.1, a private/], // Teredo server 10.0.0.1
    // cloud metadata endpoints
    ["https://169.254.169.254/latest", /169\.254\.169\.254 is a link-local \/ metadata address/],
    ["https://169.254.170.2/v2/credentials", /link-local \/ metadata/], // ECS task credentials
    ["https://[fd00:ec2::254]/", /unique-local/], // AWS IMDS over IPv6
    ["https://100.100.100.200/", /carrier-grade NAT/], // Alibaba Cloud metadata
    // the IPv4 ranges
    ["https://0.0.0.0/", /0\.0\.0\.0 is an unspecified address/],
    ["https://0/", /0\.0\.0\.0 is an unspecified address/],
    ["https://0.1.2.3/", /unspecified/],
    ["https://10.0.0.1/", /a private \(RFC 1918\) address/],
    ["https://10.255.255.255/", /private/],
    ["https://100.64.0.1/", /carrier-grade NAT/],
    ["https://100.127.255.254/", /carrier-grade NAT/],
    ["https://172.16.0.1/", /private/],
    ["https://172.31.255.255/", /private/],
    ["https://192.0.0.1/", /reserved/],
    ["https://192.168.1.1/", /private/],
    ["https://198.18.0.1/", /reserved/],
    ["https://198.19.255.255/", /reserved/],
    ["https://224.0.0.1/", /multicast/],
    ["https://239.255.255.250/", /multicast/],
    ["https://240.0.0.1/", /reserved/],
    ["https://255.255.255.255/", /the broadcast address/],
    // the IPv6 ranges
    ["https://[fc00::1]/", /unique-local/],
    ["https://[fdff:ffff::1]/", /unique-local/],
    ["https://[fe80::1]/", /link-local/],
    ["https://[febf::1]/", /link-local/],
    ["https://[fec0::1]/", /site-local/],
    ["https://[ff02::1]/", /multicast/],
    // names that mean "this machine" or "this network"
    ["https://localhost/v1", /localhost is a loopback name/],
    ["https://localhost./v1", /localhost\. is a loopback name/],
    ["https://localhost../v1", /loopback name/],
    ["https://LOCALHOST/", /localhost is a loopback name/],
    ["https://ｌｏｃａｌｈｏｓｔ/", /localhost is a loopback name/],
    ["https://foo.localhost/", /under \.localhost/],
    ["https://foo.localhost./", /under \.localhost/],
    ["https://printer.local/", /under \.local,/],
    ["https://metadata.google.internal/computeMetadata/v1/", /metadata\.google\.internal is a name under \.internal/],
    ["https://metadata.google.internal./", /under \.internal/],
    ["https://metadata/", /metadata is a single-label name/],
    ["https://metadata./", /single-label name/],
    ["https://instance-data/latest", /single-label name/],
    ["https://router.home.arpa/", /under \.home\.arpa/],
    ["https://host.localdomain/", /under \.localdomain/],
  ];

  it.each(cases)("refuses %s", (url, why) => {
    const message = refusal(url);
    expect(message).toMatch(why);
    expect(message).toMatch(NEVER);
  });

  it("refuses them with the development exemptions in force too, except the listed hosts themselves", () => {
    const exempt = cases.filter(([url]) => DEV.has(new URL(url).hostname)).map(([url]) => url);
    expect(exempt).toHaveLength(13); // the spellings of 127.0.0.1 and of localhost without a trailing dot
    for (const [url, why] of cases) if (!exempt.includes(url)) expect(refusal(url, DEV), url).toMatch(why);
  });

  it("writes the message the operator docs promise", () => {
    expect(refusal("https://169.254.169.254/latest")).toBe(
      "config.base_url: 169.254.169.254 is a link-local / metadata address; the gateway never calls private networks " +
        "unless the operator lists the host in ALLOWED_PRIVATE_HOSTS (a Worker var: comma-separated hosts, e.g. localhost,10.0.0.5).",
    );
  });
});

describe("assertUpstreamUrl: scheme, credentials, https and parse rules", () => {
  const cases: [string, string, RegExp][] = [
    ["not a URL", "not a url", /"not a url" is not a valid URL\./],
    ["empty", "", /is not a valid URL/],
    ["no host", "https://", /is not a valid URL/],
    ["unclosed IPv6", "https://[::1/", /is not a valid URL/],
    ["IPv6 zone id", "https://[fe80::1%25eth0]/", /is not a valid URL/],
    ["IPv4 out of range", "https://4294967296/", /is not a valid URL/],
    ["five-part IPv4", "https://0.0.0.0.5/", /is not a valid URL/],
    ["NUL in host", "https://127.0.0.1%00.evil.com/", /is not a valid URL/],
    ["file scheme", "file:///etc/passwd", /must use https \(the scheme file: is not allowed\)/],
    ["ftp scheme", "ftp://api.example.com/", /the scheme ftp: is not allowed/],
    ["gopher scheme", "gopher://127.0.0.1:6379/_INFO", /the scheme gopher: is not allowed/],
    ["data scheme", "data:text/plain,hi", /the scheme data: is not allowed/],
    ["ws scheme", "ws://api.example.com/", /the scheme ws: is not allowed/],
    ["user and password", "https://user:pass@api.openai.com/v1", /credentials in URLs are not allowed/],
    ["user only", "https://user@api.openai.com/v1", /credentials in URLs are not allowed/],
    ["host-confusion userinfo", "https://api.openai.com:443@evil.example/", /credentials in URLs are not allowed/],
    ["double @", "https://a@b@127.0.0.1/", /credentials in URLs are not allowed/],
    ["plain http to a public name", "http://api.example.com/v1", /must use https \(plain http is allowed only for hosts in ALLOWED_PRIVATE_HOSTS\)/],
    ["plain http to a public IPv4", "http://8.8.8.8/", /must use https/],
    ["plain http to a public IPv6", "http://[2606:4700:4700::1111]/", /must use https/],
  ];

  it.each(cases)("refuses %s", (_label, url, why) => {
    expect(refusal(url)).toMatch(why);
  });

  it("applies the scheme, credential and https rules to development settings too", () => {
    expect(refusal("ftp://127.0.0.1/", DEV)).toMatch(/scheme ftp:/);
    expect(refusal("http://u:p@127.0.0.1:11434/", DEV)).toMatch(/credentials in URLs/);
    expect(refusal("http://user@localhost/", DEV)).toMatch(/credentials in URLs/);
    expect(refusal("http://api.example.com/v1", DEV)).toMatch(/must use https/);
  });
});

describe("assertUpstreamUrl: public hosts", () => {
  it.each([
    ["https://api.openai.com/v1", "api.openai.com"],
    ["https://router.huggingface.co", "router.huggingface.co"],
    ["https://API.OpenAI.com:8443/v1", "api.openai.com"],
    ["https://api.openai.com./v1", "api.openai.com."],
    ["https://8.8.8.8/v1", "8.8.8.8"],
    ["https://134744072/", "8.8.8.8"], // 8.8.8.8 in decimal: the same public address
    ["https://[2606:4700:4700::1111]/v1", "[2606:4700:4700::1111]"],
    ["https://[::ffff:8.8.8.8]/", "[::ffff:808:808]"],
    ["https://[64:ff9b::8.8.8.8]/", "[64:ff9b::808:808]"],
    ["https://[2002:808:808::1]/", "[2002:808:808::1]"],
  ])("accepts %s", (url, hostname) => {
    expect(assertUpstreamUrl(url, FIELD, PRODUCTION).hostname).toBe(hostname);
  });
});

describe("assertUpstreamUrl: the ALLOWED_PRIVATE_HOSTS exemption", () => {
  it("lets listed hosts through, over http too", () => {
    for (const url of ["http://127.0.0.1:11434", "https://127.0.0.1/", "http://localhost:8080/v1", "https://localhost/"]) {
      expect(() => assertUpstreamUrl(url, FIELD, DEV), url).not.toThrow();
    }
  });

  it("compares canonical hosts: another spelling of a listed address is that address", () => {
    // Decision: 0x7f000001, 2130706433 and 127.1 ARE 127.0.0.1 once parsed, so
    // listing 127.0.0.1 exempts them; nothing is reachable that 127.0.0.1 does not reach.
    for (const url of ["http://0x7f000001:11434", "http://2130706433/", "http://127.1/", "http://LOCALHOST/"]) {
      expect(() => assertUpstreamUrl(url, FIELD, DEV), url).not.toThrow();
    }
    // The list is canonicalized the same way.
    expect(() => assertUpstreamUrl("http://127.0.0.1/", FIELD, new Set(["0x7f000001"]))).not.toThrow();
    expect(() => assertUpstreamUrl("http://[::1]/", FIELD, new Set(["::1"]))).not.toThrow();
    expect(() => assertUpstreamUrl("http://[0:0::1]/", FIELD, new Set(["[::1]"]))).not.toThrow();
    expect(() => assertUpstreamUrl("http://localhost./", FIELD, new Set(["localhost."]))).not.toThrow();
  });

  it("exempts nothing else: not neighbours, not other names, not the IPv6 forms", () => {
    const cases: [string, RegExp][] = [
      ["http://127.0.0.2/", /127\.0\.0\.2 is a loopback address/],
      ["http://[::1]/", /\[::1\] is a loopback address/],
      ["http://[::ffff:127.0.0.1]/", /embedding 127\.0\.0\.1/],
      ["http://localhost./", /localhost\. is a loopback name/],
      ["http://foo.localhost/", /under \.localhost/],
      ["http://localhost.example.com/", /must use https/],
      ["http://127.0.0.1.nip.io/", /must use https/],
      ["http://0.0.0.0/", /unspecified/],
    ];
    for (const [url, why] of cases) expect(refusal(url, DEV), url).toMatch(why);
    expect(refusal("http://localhost/", new Set(["localhost."]))).toMatch(/loopback name/);
    expect(refusal("http://127.0.0.1/", new Set(["127.0.0.1:80", "not a host/"]))).toMatch(/loopback address/);
  });
});

describe("SSRF guard end to end, through the admin API", () => {
  const ATTACKS = ["http://0x7f000001:11434", "https://[::ffff:127.0.0.1]/v1", "https://169.254.169.254/latest", "https://localhost./v1"];

  async function modelIds(tenant: Tenant): Promise<string[]> {
    const res = await api<{ models: { id: string }[] }>("GET", "/api/v1/models", { token: tenant.adminKey });
    return res.body.models.map((m) => m.id);
  }

  /** A request to the Worker as production would run it: ALLOWED_PRIVATE_HOSTS empty. */
  async function production(method: string, path: string, token: string, body: unknown) {
    const ctx = createExecutionContext();
    const request = new Request(`http://gateway.test${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const response = await worker.fetch(request, { ...env, ALLOWED_PRIVATE_HOSTS: "" }, ctx);
    await waitOnExecutionContext(ctx);
    return { status: response.status, body: (await response.json()) as { error?: { message: string } } };
  }

  it("refuses each attack URL in production with 400 naming config.base_url, and stores nothing", async () => {
    const tenant = await createTenant({ grantCanary: true });
    for (const [n, base_url] of [...ATTACKS, upstreamUrl()].entries()) {
      const res = await production("POST", "/api/v1/models", tenant.adminKey, openaiModel(`prod-${n}`, "gpt-fake", { base_url }));
      expect(res.status, base_url).toBe(400);
      expect(res.body.error?.message, base_url).toMatch(
        /^config\.base_url: .*the gateway never calls private networks unless the operator lists the host in ALLOWED_PRIVATE_HOSTS \(.*\)\.$/,
      );
    }
    expect(await modelIds(tenant)).toEqual([]);
  });

  it("with the development setting, allows the fakes' 127.0.0.1 and nothing else private", async () => {
    const tenant = await createTenant({ grantCanary: true });
    const refused = ATTACKS.filter((u) => !u.includes("0x7f000001")).concat(["http://127.0.0.2:11434/v1", "http://[::1]:11434/v1"]);
    for (const [n, base_url] of refused.entries()) {
      const res = await api<{ error: { message: string } }>("POST", "/api/v1/models", {
        token: tenant.adminKey,
        body: openaiModel(`dev-${n}`, "gpt-fake", { base_url }),
      });
      expect(res.status, base_url).toBe(400);
      expect(res.body.error.message, base_url).toMatch(
        /^config\.base_url: .*the gateway never calls private networks unless the operator lists the host in ALLOWED_PRIVATE_HOSTS \(.*\)\.$/,
      );
    }
    expect(await modelIds(tenant)).toEqual([]);

    await registerModel(tenant, openaiModel("fake-upstream"));
    // 0x7f000001 is 127.0.0.1 once parsed, so the listed 127.0.0.1 exempts it (see the unit test).
    const port = new URL(upstreamUrl()).port;
    await registerModel(tenant, openaiModel("hex-loopback", "gpt-fake", { base_url: `http://0x7f000001:${port}/v1` }));
    expect((await modelIds(tenant)).sort()).toEqual(["fake-upstream", "hex-loopback"]);
  });

  it("re-checks at call time: a model stored while its host was exempt is refused once it is not, before any upstream call", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("was-exempt", "ssrf-call-time"));
    const res = await production("POST", "/v1/chat/completions", tenant.userKey, {
      model: "was-exempt",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toMatch(/config\.base_url: 127\.0\.0\.1 is a loopback address/);
    expect(await fakes.openai.requests("ssrf-call-time")).toEqual([]);
  });
});

describe("redirects are not followed", () => {
  it.each([301, 302, 303, 307, 308])("a %i to a metadata address ends the call after one request", async (status) => {
    const calls: (RequestInit | undefined)[] = [];
    const stub: typeof fetch = async (_input, init) => {
      calls.push(init);
      return new Response(null, { status, headers: { location: "http://169.254.169.254/latest/meta-data/" } });
    };
    const call = upstreamJson(
      "https://api.example.com/v1/chat/completions",
      { method: "POST", body: "{}" },
      { label: "test upstream", timeoutMs: 1_000, maxRetries: 3, fetch: stub, sleep: async () => {} },
    );
    await expect(call).rejects.toThrow(`test upstream answered with a redirect (${status}); redirects are not followed.`);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.redirect).toBe("manual");
  });
});
