/**
 * `load_balance` on a model: the order in which a call tries the pool's
 * targets (each a registered model with its own health and breaker; the route,
 * ./route.ts, then goes on to the model's fallbacks).
 *
 *   weighted       a random order, each next target drawn in proportion to its weight
 *   least_latency  the lowest moving average of time to first token first (a target
 *                  not measured yet first, so it gets measured); one call in 20 tries
 *                  another target first, so a target that got faster is noticed
 *   sticky         a conversation (the request's `prompt_cache_key`, `user` or
 *                  `metadata.user_id`, else its leading messages) keeps to one
 *                  target while that target is usable: weighted rendezvous hashing,
 *                  so only the conversations of a target that fails move
 *
 * Targets that cannot take the call (in `error` with an open breaker, in
 * maintenance, lacking a feature) go last, where the route skips them.
 */
import type { LoadBalance, ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";
import type { CallInput } from "./call";

/** Weight of the newest sample in the moving average of time to first token. */
const EWMA_ALPHA = 0.3;
/** Share of least_latency calls that try another target first (so averages stay fresh). */
export const EXPLORE_SHARE = 0.05;
const MAX_TRACKED = 5_000;

// --- time to first token, per target -------------------------------------------

/** This isolate's moving averages, ms, seeded and refreshed from the tenant's object (`seedAverages`). */
const averages = new Map<string, number>();

const avgKey = (scope: TenantScope, modelId: string) => `${scope.tenantId}/${scope.incarnation}/${modelId}`;

/** A call's time to first token on `modelId` (the whole answer's time when not streamed). */
export function noteFirstToken(scope: TenantScope, modelId: string, ms: number): number {
  const key = avgKey(scope, modelId);
  const before = averages.get(key);
  const next = before === undefined ? ms : before + EWMA_ALPHA * (ms - before);
  averages.delete(key);
  if (averages.size >= MAX_TRACKED) averages.delete(averages.keys().next().value!);
  averages.set(key, next);
  return next;
}

export function averageFirstToken(scope: TenantScope, modelId: string): number | undefined {
  return averages.get(avgKey(scope, modelId));
}

/** Averages the tenant's object holds (from every isolate's reports): taken where this isolate has none. */
export function seedAverages(scope: TenantScope, shared: Record<string, number>): void {
  for (const [modelId, ms] of Object.entries(shared)) {
    const key = avgKey(scope, modelId);
    if (!averages.has(key)) averages.set(key, ms);
  }
}

// --- the order of targets ------------------------------------------------------

export interface PoolOrder<T> {
  ordered: T[];
  /** Why the first one, in words (explain_route). */
  why: string;
}

/** What keeps a conversation on one target: the client's key, else a hash of its leading messages; null when there is none. */
export function stickyKey(input: CallInput | undefined): string | null {
  if (!input) return null;
  if (input.capability === "chat" || input.capability === "completion") {
    const { user, extra } = input.request;
    const cacheKey = extra?.prompt_cache_key;
    if (typeof cacheKey === "string" && cacheKey) return `prompt_cache_key:${cacheKey}`;
    if (user) return `user:${user}`;
    const metadata = extra?.metadata as { user_id?: unknown } | undefined;
    if (typeof metadata?.user_id === "string" && metadata.user_id) return `metadata.user_id:${metadata.user_id}`;
    if (input.capability === "completion") return `prompt:${input.request.prompt.slice(0, 2_000)}`;
    // The leading messages: the system prompt(s) and the first user message, which a conversation keeps.
    const messages = input.request.messages;
    const firstUser = messages.findIndex((m) => m.role === "user");
    return `messages:${JSON.stringify(messages.slice(0, firstUser + 1))}`;
  }
  return null;
}

/** FNV-1a, 32 bits, as a number in (0, 1): deterministic, fast, enough to spread keys. */
function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Mix the bits once more (FNV's low bits spread poorly on short inputs).
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return ((h >>> 0) + 0.5) / 4294967296;
}

/**
 * The pool's targets in the order a call tries them. `usable` says which can
 * take the call now; `random` is injectable for explain_route's wording.
 */
export function orderPool<T extends { model: ModelRecord }>(
  scope: TenantScope,
  balance: LoadBalance,
  targets: readonly T[],
  usable: (target: T) => boolean,
  input: CallInput | undefined,
  random: () => number = Math.random,
): PoolOrder<T> {
  const weight = (t: T) => balance.targets.find((x) => x.model_id === t.model.id)?.weight ?? 1;
  const open = targets.filter(usable);
  const closed = targets.filter((t) => !usable(t));
  if (open.length === 0) return { ordered: [...closed], why: "no target can take the call now" };
  const key = balance.sticky ? stickyKey(input) : null;
  if (key !== null) {
    // Weighted rendezvous hashing: each target scores -ln(u)/w for the key; the lowest wins while it is usable.
    const score = (t: T) => -Math.log(unitHash(`${key}\u0000${t.model.id}`)) / weight(t);
    const ordered = [...open].sort((a, b) => score(a) - score(b));
    return { ordered: [...ordered, ...closed], why: `sticky: this conversation (${key.split(":")[0]}) keeps to ${ordered[0]!.model.id}` };
  }
  if (balance.strategy === "least_latency") {
    const avg = (t: T) => averageFirstToken(scope, t.model.id) ?? -1;
    const ordered = [...open].sort((a, b) => avg(a) - avg(b));
    if (ordered.length > 1 && random() < EXPLORE_SHARE) {
      const [picked] = ordered.splice(1 + Math.floor(random() * (ordered.length - 1)), 1);
      ordered.unshift(picked!);
      return { ordered: [...ordered, ...closed], why: `least_latency: ${picked!.model.id}, tried to refresh its average (1 call in 20)` };
    }
    const first = ordered[0]!;
    const ms = averageFirstToken(scope, first.model.id);
    return {
      ordered: [...ordered, ...closed],
      why:
        ms === undefined
          ? `least_latency: ${first.model.id} has no average yet (it gets measured)`
          : `least_latency: ${first.model.id} has the lowest average time to first token (${Math.round(ms)} ms)`,
    };
  }
  // Weighted: draw without replacement, each in proportion to its weight.
  const left = [...open];
  const ordered: T[] = [];
  while (left.length > 0) {
    const total = left.reduce((n, t) => n + weight(t), 0);
    let r = random() * total;
    let i = 0;
    while (i < left.length - 1 && (r -= weight(left[i]!)) >= 0) i++;
    ordered.push(...left.splice(i, 1));
  }
  const total = open.reduce((n, t) => n + weight(t), 0);
  const first = ordered[0]!;
  return {
    ordered: [...ordered, ...closed],
    why: `weighted: drawn at random in proportion to weight (${first.model.id} has ${Math.round((weight(first) / total) * 100)} % of the calls among usable targets)`,
  };
}
