/**
 * `rate_limit` from a model's config: requests per minute this gateway sends to
 * that upstream, as a token bucket (bursts up to the per-minute figure, refilled
 * evenly). Buckets live in the isolate, so the limit holds per isolate: a busy
 * deployment with several isolates may send a small multiple of it. Counting
 * every call in the tenant's Durable Object would cost the round trip that the
 * warm path avoids.
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
export function tokensLeft(key: string, perMinute: number, now = Date.now()): number {
  return Math.floor(refill(key, perMinute, now).tokens);
}
