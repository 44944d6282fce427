/**
 * The SSRF guard for every upstream URL a tenant supplies. It runs at
 * registration, before every call and before every health probe, so a stored
 * model is re-checked under the operator settings in force now.
 *
 * - http(s) only, and https unless the host is in ALLOWED_PRIVATE_HOSTS (empty
 *   in production; localhost and 127.0.0.1 in development and tests).
 * - No credentials in URLs: they would be stored in the registry and shown
 *   back to every reader (secrets go in headers, as `${NAME}` references).
 * - No loopback, private, link-local, metadata, unspecified or other
 *   special-purpose address, in any spelling. The WHATWG URL parser
 *   canonicalizes the host (0x7f000001, 2130706433, 0177.0.0.1, 127.1 →
 *   127.0.0.1; IPv6 compressed; names lowercased and IDNA-mapped, so
 *   full-width "ｌｏｃａｌｈｏｓｔ" is "localhost"), then ip.ts classifies IP
 *   literals and the name rules below catch names that mean "this network".
 * - Redirects are never followed (src/backends/http.ts fetches with
 *   `redirect: "manual"`), so a public host cannot bounce a call inwards.
 *
 * Not covered here: a public-looking name whose DNS answer is private (DNS
 * rebinding). A Worker has no DNS API to check it with (and a check would race
 * the real lookup anyway); Cloudflare's edge does not route Worker fetches to
 * private networks, which is the backstop for that case.
 */
import { GatewayError } from "../errors";
import { ipRefusal, parseIpHost } from "./ip";

/** Name suffixes reserved for, or conventionally used by, local networks (RFC 6761, 6762, 8375; cloud metadata names). */
const LOCAL_SUFFIXES = ["localhost", "local", "localdomain", "internal", "home.arpa"];

/** The refusal's tail: what the rule is, and the one switch an operator has to exempt a host from it. */
const PRIVATE_NETWORKS =
  "the gateway never calls private networks unless the operator lists the host in ALLOWED_PRIVATE_HOSTS (a Worker var: comma-separated hosts, e.g. localhost,10.0.0.5)";

export function assertUpstreamUrl(raw: string, field: string, allowedPrivateHosts: ReadonlySet<string>): URL {
  const refuse = (why: string) => new GatewayError("invalid_request", `${field}: ${why}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse(`"${raw}" is not a valid URL.`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw refuse(`must use https (the scheme ${url.protocol} is not allowed).`);
  }
  if (url.username || url.password) {
    throw refuse("credentials in URLs are not allowed; use a header with a secret reference.");
  }
  // The exemption compares canonical hosts: "127.0.0.1" listed also covers
  // 0x7f000001 (the same address), while "localhost" does not cover
  // "localhost." or "foo.localhost" (different names).
  if (canonicalHosts(allowedPrivateHosts).has(url.hostname)) return url;
  const ip = parseIpHost(url.hostname);
  const why = ip ? ipRefusal(ip) : nameRefusal(url.hostname);
  if (why) throw refuse(`${url.hostname} is ${why}; ${PRIVATE_NETWORKS}.`);
  if (url.protocol !== "https:") {
    throw refuse("must use https (plain http is allowed only for hosts in ALLOWED_PRIVATE_HOSTS).");
  }
  return url;
}

/** Why a canonical hostname that is not an IP literal means a local network, or undefined. */
function nameRefusal(hostname: string): string | undefined {
  // "localhost." and "localhost" are the same name to DNS; so are any number of trailing dots here.
  const name = hostname.replace(/\.+$/, "");
  if (name === "localhost") return "a loopback name";
  // A dotless name (e.g. "metadata", "instance-data") resolves only through local search domains.
  if (!name.includes(".")) return "a single-label name, which only resolves on a local network";
  const suffix = LOCAL_SUFFIXES.find((s) => name.endsWith(`.${s}`));
  return suffix && `a name under .${suffix}, which is reserved for local networks`;
}

/** ALLOWED_PRIVATE_HOSTS as the URL parser spells hosts ("::1" → "[::1]", "0x7f000001" → "127.0.0.1"); bad entries are dropped. */
const canonicalCache = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>();
function canonicalHosts(hosts: ReadonlySet<string>): ReadonlySet<string> {
  let canonical = canonicalCache.get(hosts);
  if (!canonical) {
    const set = new Set<string>();
    for (const host of hosts) {
      const bracketed = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
      try {
        set.add(new URL(`http://${bracketed}/`).hostname);
      } catch {
        // not a host: exempts nothing
      }
    }
    canonical = set;
    canonicalCache.set(hosts, canonical);
  }
  return canonical;
}
