/**
 * The bound on credentials that match nothing, before any storage round trip.
 * A key names its tenant, so a stranger can make up keys of a real tenant by
 * the million; each new one would cost that tenant's Durable Object a lookup
 * (the rejected-key cache only helps with repeats). Each isolate keeps, per
 * tenant id, a bucket of failed authentications: once it is empty, further
 * unknown credentials of that tenant are refused with 429 without asking the
 * object, until it refills. Keys that authenticated in this isolate lately are
 * checked from the cache first and never wait on the bucket.
 */
import { GatewayError } from "../errors";
import { takeToken, tokensLeft } from "../util/token-bucket";

/** Failed authentications one isolate lets through per tenant id at once… */
export const FAILED_AUTH_BURST = 20;
/** …and per minute after that. */
export const FAILED_AUTH_PER_MINUTE = 30;

const bucket = (tenantId: string) => `auth-failed:${tenantId}`;

/** Throw 429 when this isolate has seen too many failed authentications for the tenant lately. */
export function checkFailedAuthBudget(tenantId: string, now = Date.now()): void {
  if (tokensLeft(bucket(tenantId), FAILED_AUTH_PER_MINUTE, now, FAILED_AUTH_BURST) >= 1) return;
  throw new GatewayError(
    "rate_limited",
    `Too many requests with API keys or tokens of this tenant that are not valid; try again in ${Math.ceil(60 / FAILED_AUTH_PER_MINUTE)} s.`,
    { retryAfter: Math.ceil(60 / FAILED_AUTH_PER_MINUTE) },
  );
}

/** Count one credential of the tenant that matched nothing. */
export function recordFailedAuth(tenantId: string, now = Date.now()): void {
  takeToken(bucket(tenantId), FAILED_AUTH_PER_MINUTE, now, { burst: FAILED_AUTH_BURST });
}
