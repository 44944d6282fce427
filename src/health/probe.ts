/**
 * Probing models: one check per model, one attempt each under a hard time
 * limit, several at a time but never more than a Worker's six simultaneous
 * connections allow.
 * What a probe does depends on the model (see `probeOnce`); its text is
 * redacted of the model's secrets before it is stored or shown.
 */
import type { ModelBackend } from "../backends/types";
import { commonConfig } from "../config/common";
import type { SecretGrant } from "../config/secrets";
import { GatewayError, toGatewayError } from "../errors";
import { instantiate } from "../inference/instantiate";
import type { Capability, FeatureChecks, ModelRecord } from "../models/schema";
import { pool } from "../util/pool";
import { probeCapabilities } from "./capabilities";
import type { HealthOutcome } from "./status";

/** Checks in flight at once inside one tenant's Durable Object (a Worker may hold 6 connections). */
export const PROBE_CONCURRENCY = 4;
/** No check waits longer than this, whatever the model's own timeout. */
export const MAX_PROBE_MS = 15_000;
/** The probe a registration or a config change waits for, before it answers. */
export const FIRST_PROBE_MS = 10_000;

/** `failed`: models whose real calls failed, with the capability they used (each is checked with one tiny call of it). */
export async function probeModels<M extends ModelRecord>(
  env: Env,
  grants: readonly SecretGrant[],
  models: readonly M[],
  maxMs = MAX_PROBE_MS,
  failed?: ReadonlyMap<string, Capability>,
) {
  return pool(models, PROBE_CONCURRENCY, async (model) => ({ model, outcome: await probe(env, grants, model, maxMs, failed?.get(model.id)) }));
}

/** One check of one model, within its `timeout` and at most `maxMs`; never throws. After failed real calls, a tiny call of `failedCapability`. */
export async function probe(
  env: Env,
  grants: readonly SecretGrant[],
  model: ModelRecord,
  maxMs = MAX_PROBE_MS,
  failedCapability?: Capability,
): Promise<HealthOutcome> {
  const started = Date.now();
  let redact = (text: string) => text;
  try {
    const timeoutMs = Math.min(maxMs, commonConfig(model.config).timeout * 1000);
    const instance = await instantiate(env, grants, probeConfig(model, timeoutMs));
    redact = instance.redact;
    const deadline = new AbortController();
    const result = await withTimeout(probeOnce(instance.backend, model, failedCapability, deadline.signal), timeoutMs, deadline);
    return {
      ok: result.ok,
      latency_ms: result.latency_ms || Date.now() - started,
      detail: result.detail === null ? null : redact(result.detail),
      probe: result.probe,
      ...(result.feature_checks && { feature_checks: redactChecks(result.feature_checks, redact) }),
    };
  } catch (error) {
    return { ok: false, latency_ms: Date.now() - started, detail: redact(toGatewayError(error).message) };
  }
}

/**
 * The model as a probe calls it: one attempt, no retries (a check asks whether
 * the upstream answers now; retrying would multiply what one check sends to a
 * host the tenant chose), and the probe's time limit as the call's own
 * `timeout`, so the backend aborts the request itself when the limit passes
 * instead of leaving it running behind an answered check.
 */
function probeConfig(model: ModelRecord, timeoutMs: number): ModelRecord {
  return { ...model, config: { ...model.config, timeout: timeoutMs / 1000, max_retries: 0 } };
}

/** Redact what a capability probe saw, as the check's own detail is. */
function redactChecks(checks: FeatureChecks, redact: (text: string) => string): FeatureChecks {
  return Object.fromEntries(
    Object.entries(checks).map(([feature, check]) => [feature, check.detail === undefined ? check : { ...check, detail: redact(check.detail) }]),
  );
}

interface ProbeResult {
  ok: boolean;
  latency_ms: number;
  detail: string | null;
  probe: "metadata" | "generation";
  feature_checks?: FeatureChecks;
}

/**
 * `generation`: the cheapest real call the model serves (one token, or one
 * short embedding). `auto`: the backend's own free check, except that an
 * embedding-only model embeds one short string (its list or tag check would
 * not show whether embedding works). `capabilities`: for a chat model, one tiny
 * chat per verifiable feature (./capabilities.ts); for any other, as
 * `generation`. After failed real calls, whatever the mode: the cheapest call
 * of the capability that failed (a model list that answers says nothing about
 * a chat endpoint that does not); a capability probe is such a call for chat.
 */
async function probeOnce(
  backend: ModelBackend,
  model: ModelRecord,
  failedCapability: Capability | undefined,
  signal: AbortSignal,
): Promise<ProbeResult> {
  const mode = commonConfig(model.config).health_check?.probe ?? "auto";
  const embeddingOnly = model.capabilities.length === 1 && model.capabilities[0] === "embedding";
  if (mode === "auto" && !embeddingOnly && !failedCapability) return { ...(await backend.healthCheck()), probe: "metadata" };
  const chat = backend.chat?.bind(backend);
  if (mode === "capabilities" && chat && model.capabilities.includes("chat") && (failedCapability ?? "chat") === "chat") {
    return { ...(await probeCapabilities({ chat }, signal)), probe: "generation" };
  }
  const started = Date.now();
  const caps = failedCapability ? [failedCapability] : model.capabilities;
  if (caps.includes("chat") && chat) await chat({ messages: [{ role: "user", content: "ping" }], max_tokens: 1 }, { signal });
  else if (caps.includes("completion") && backend.complete) await backend.complete({ prompt: "ping", max_tokens: 1 }, { signal });
  else if (caps.includes("embedding") && backend.embed) await backend.embed({ input: ["health check"] }, { signal });
  else if (caps.includes("classification") && backend.classify) await backend.classify({ text: "health check" }, { signal });
  else return { ...(await backend.healthCheck()), probe: "metadata" };
  return { ok: true, latency_ms: Date.now() - started, detail: null, probe: "generation" };
}

/**
 * The backend aborts each request at the probe's limit; this backstop, a little
 * later, bounds the whole check (a capability probe sends several requests)
 * and aborts whatever request is still running, through `deadline`.
 */
const BACKSTOP_SLACK_MS = 250;

function withTimeout<T>(promise: Promise<T>, ms: number, deadline: AbortController): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new GatewayError("upstream_timeout", `health check did not finish within ${ms / 1000} s`));
      deadline.abort();
    }, ms + BACKSTOP_SLACK_MS);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
