/**
 * May the gateway call this IP literal? Only public unicast addresses pass.
 *
 * Classification is ipaddr.js's tested range table, never string matching;
 * the caller hands in a host the WHATWG URL parser has already canonicalized
 * (so 0x7f000001, 2130706433, 0177.0.0.1 and 127.1 all arrive as 127.0.0.1).
 * IPv6 forms that carry an IPv4 address (mapped, translated, NAT64, 6to4,
 * Teredo, the old "compatible" ::a.b.c.d) are unwrapped and the IPv4 inside
 * is checked as well: a relay or the host's own stack may deliver to it.
 */
import ipaddr from "ipaddr.js";

/** Why a range is refused, for messages; ranges not listed get a generic reason. */
const REASONS: Record<string, string> = {
  unspecified: "an unspecified address",
  loopback: "a loopback address",
  private: "a private (RFC 1918) address",
  linkLocal: "a link-local / metadata address",
  carrierGradeNat: "a carrier-grade NAT (shared, 100.64.0.0/10) address",
  broadcast: "the broadcast address",
  multicast: "a multicast address",
  reserved: "a reserved address",
  uniqueLocal: "a unique-local (private) address",
  deprecatedSiteLocal: "a site-local (private) address",
};

/** IPv6 ranges that are only as safe as the IPv4 address they embed ("unicast" includes the old ::a.b.c.d form). */
const EMBEDDING = new Set(["ipv4Mapped", "rfc6145", "rfc6052", "6to4", "teredo", "unicast"]);

/** RFC 8215 local-use NAT64: translates into the operator's own network, and the v4 position varies; refused whole. */
const LOCAL_NAT64 = ipaddr.parseCIDR("64:ff9b:1::/48");

/** The IP address a URL hostname (IPv6 in brackets) spells, or undefined when it is a name. */
export function parseIpHost(host: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const literal = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return ipaddr.isValid(literal) ? ipaddr.parse(literal) : undefined;
}

/** Why the gateway must not call `address`, or undefined when it is a public unicast address. */
export function ipRefusal(address: ipaddr.IPv4 | ipaddr.IPv6): string | undefined {
  if (address instanceof ipaddr.IPv4) return ipv4Refusal(address);
  const range = address.range();
  if (!EMBEDDING.has(range)) return reason(range);
  if (address.match(LOCAL_NAT64)) return "a local-use NAT64 address";
  for (const inner of embeddedIPv4(address)) {
    const why = ipv4Refusal(inner);
    if (why) return `an IPv6 address embedding ${inner.toString()}, ${why}`;
  }
  return undefined;
}

function ipv4Refusal(address: ipaddr.IPv4): string | undefined {
  const range = address.range();
  return range === "unicast" ? undefined : reason(range);
}

function reason(range: string): string {
  return REASONS[range] ?? `a special-purpose address (${range})`;
}

/** The IPv4 addresses an IPv6 address carries, by the layout of its range (RFC 4291, 6052, 6145, 3056, 4380). */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4[] {
  const bytes = address.toByteArray();
  const v4 = (octets: number[]) => new ipaddr.IPv4(octets);
  switch (address.range()) {
    case "ipv4Mapped": // ::ffff:a.b.c.d
    case "rfc6145": // ::ffff:0:a.b.c.d
    case "rfc6052": // 64:ff9b::a.b.c.d (well-known NAT64 prefix, /96)
      return [v4(bytes.slice(12))];
    case "6to4": // 2002:AABB:CCDD::/48
      return [v4(bytes.slice(2, 6))];
    case "teredo": // 2001:0:server(32):flags:port:~client(32)
      return [v4(bytes.slice(4, 8)), v4(bytes.slice(12).map((b) => b ^ 0xff))];
    default: // "unicast": only the deprecated IPv4-compatible ::a.b.c.d embeds anything
      return bytes.slice(0, 12).every((b) => b === 0) ? [v4(bytes.slice(12))] : [];
  }
}
