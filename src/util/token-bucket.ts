/**
 * Token buckets in the isolate (bursts up to a figure, refilled evenly per
 * minute), for limits that must not cost a storage round trip: a model's
 * `rate_limit` (requests per minute to its upstream), failed authentications
 * per tenant, on-demand checks. A limit kept here holds per isolate: a busy
 * deployment with several isolates may let through a small multiple of it.
 */
const buckets = new Map<string, { tokens: number; at: number }>();
const MAX_BUCKETS = 10_000;

/** `burst`: most tokens the bucket holds (default: the per-minute figure). */
function refill(key: string, perMinute: number, now: number, burst = perMinute) {
  const bucket = buckets.get(key) ?? { tokens: burst, at: now };
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
  bucket.at = now;
  if (!buckets.has(key) && buckets.size >= MAX_BUCKETS) buckets.delete(buckets.keys().next().value!);
  buckets.set(key, bucket);
  return bucket;
}

/**
 * Take `count` tokens (one request each) from the budget, all or none, or say
 * how many seconds until that many are free. `count` must not exceed `burst`.
 */
export function takeToken(
  key: string,
  perMinute: number,
  now = Date.now(),
  { count = 1, burst = perMinute }: { count?: number; burst?: number } = {},
): { ok: true } | { ok: false; retryAfter: number } {
  const bucket = refill(key, perMinute, now, burst);
  if (bucket.tokens >= count) {
    bucket.tokens -= count;
    return { ok: true };
  }
  return { ok: false, retryAfter: Math.ceil(((count - bucket.tokens) * 60) / perMinute) };
}

/** Whole requests left in the budget right now, without taking any. */
export function tokensLeft(key: string, perMinute: number, now = Date.now(), burst = perMinute): number {
  return Math.floor(refill(key, perMinute, now, burst).tokens);
}
