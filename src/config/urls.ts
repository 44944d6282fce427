/**
 * Which upstream URLs a model may point at. Production accepts https only;
 * hosts listed in ALLOWED_PRIVATE_HOSTS (localhost in development and tests)
 * may also use plain http. Credentials in URLs are refused: they would be
 * stored in the registry and shown back to every reader.
 */
import { GatewayError } from "../errors";

export function assertUpstreamUrl(raw: string, field: string, allowedPrivateHosts: ReadonlySet<string>): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GatewayError("invalid_request", `${field}: "${raw}" is not a valid URL.`);
  }
  if (url.username || url.password) {
    throw new GatewayError("invalid_request", `${field}: credentials in URLs are not allowed; use a header with a secret reference.`);
  }
  const exempt = allowedPrivateHosts.has(url.hostname.replace(/^\[|\]$/g, ""));
  if (url.protocol !== "https:" && !(url.protocol === "http:" && exempt)) {
    throw new GatewayError("invalid_request", `${field}: must use https (plain http is allowed only for hosts in ALLOWED_PRIVATE_HOSTS).`);
  }
  return url;
}
