/**
 * The capability probe (`health_check.probe: "capabilities"`): one tiny chat
 * per feature a request can show (tools, json_schema, prefill), sent through the
 * model's own backend so each upstream gets its real wire format. It spends a
 * few tokens, which is why it is opt-in.
 *
 * The same requests are the health check: an answer, or a refusal of the
 * request (a 4xx), shows the upstream alive; anything else (a 5xx, a timeout,
 * refused credentials, an unknown model) fails the check as any probe does.
 */
import type { ChatRequest, Generation, ModelBackend } from "../backends/types";
import { GatewayError, type ErrorCode } from "../errors";
import type { FeatureCheck, FeatureChecks, VerifiableFeature } from "../models/schema";
import { z } from "zod";

/** Enough for a tool call or `{"ok": true}`, and no more: the probe pays for what it generates. */
const PROBE_MAX_TOKENS = 32;

const ProbeAnswer = z.object({ ok: z.boolean() });

interface FeatureProbe {
  feature: VerifiableFeature;
  request: ChatRequest;
  /** What shows the feature at work in an answer, in words; null when the answer does not show it. */
  verify(answer: Generation): string | null;
  /** A refusal whose message says this names the probed parameter (the upstream refuses the feature, not something else). */
  names: RegExp;
  /** What the model did instead, when it answered without the feature. */
  instead: string;
  /** An answer that shows the model lacks the feature (`unsupported`, not just `unconfirmed`), when one can. */
  refutes?(answer: Generation): boolean;
}

const PROBES: readonly FeatureProbe[] = [
  {
    feature: "tools",
    request: {
      messages: [{ role: "user", content: "Call the ping tool now." }],
      tools: [{ type: "function", function: { name: "ping", description: "Answers pong.", parameters: { type: "object", properties: {} } } }],
      // `auto`: Ollama and Workers AI refuse `required` and named functions.
      tool_choice: "auto",
      max_tokens: PROBE_MAX_TOKENS,
    },
    verify: (answer) => (answer.tool_calls?.length ? `called ${answer.tool_calls[0]!.name}` : null),
    names: /tool|function/i,
    instead: "answered with text, not a tool call",
  },
  {
    feature: "json_schema",
    request: {
      messages: [{ role: "user", content: 'Answer with the JSON object {"ok": true}.' }],
      response_format: {
        type: "json_schema",
        json_schema: { name: "probe", schema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] } },
      },
      max_tokens: PROBE_MAX_TOKENS,
    },
    verify: (answer) => (ProbeAnswer.safeParse(parseJson(answer.text)).success ? "answered JSON matching the schema" : null),
    names: /response_format|json|schema/i,
    instead: "answered text that is not JSON matching the schema",
  },
  {
    feature: "prefill",
    request: {
      messages: [
        { role: "user", content: "Count from 1 to 12, the numbers separated by spaces, nothing else." },
        { role: "assistant", content: "1 2 3 4 5 6" },
      ],
      max_tokens: PROBE_MAX_TOKENS,
    },
    verify: (answer) => (/^\s*7\b/.test(answer.text) ? "continued the assistant's unfinished message" : null),
    // Starting over would make a rescued stream say its beginning twice: the model must not be used for one.
    refutes: (answer) => /^\s*1\b/.test(answer.text),
    names: /assistant|prefill|final message|last message/i,
    instead: "answered, but not by continuing the assistant's unfinished message",
  },
];

/** Codes that mean the upstream (or the backend, for its wire format) refused the request itself: it is there. */
const REFUSALS = new Set<ErrorCode>(["invalid_request", "unsupported_feature", "context_length_exceeded", "content_filtered"]);

export interface CapabilityResult {
  ok: true;
  /** The slowest of the requests: each is one answer, as a generation probe's is. */
  latency_ms: number;
  detail: string;
  feature_checks: FeatureChecks;
}

/**
 * Probe each feature in turn (one connection at a time: checks already run
 * several at once). Throws what fails the check; `signal` aborts at the probe's limit.
 */
export async function probeCapabilities(backend: Required<Pick<ModelBackend, "chat">>, signal: AbortSignal): Promise<CapabilityResult> {
  const checks: FeatureChecks = {};
  let latency = 0;
  for (const probe of PROBES) {
    const started = Date.now();
    checks[probe.feature] = await probeFeature(backend, probe, signal);
    latency = Math.max(latency, Date.now() - started);
  }
  const detail = PROBES.map(({ feature }) => `${feature} ${checks[feature]!.result} (${checks[feature]!.detail})`).join("; ");
  return { ok: true, latency_ms: latency, detail: `capabilities: ${detail}`, feature_checks: checks };
}

async function probeFeature(backend: Required<Pick<ModelBackend, "chat">>, probe: FeatureProbe, signal: AbortSignal): Promise<FeatureCheck> {
  const checked_at = new Date().toISOString();
  let answer: Generation;
  try {
    answer = await backend.chat(probe.request, { signal });
  } catch (error) {
    if (!(error instanceof GatewayError) || !REFUSALS.has(error.code)) throw error;
    if (probe.names.test(error.message)) return { result: "unsupported", checked_at, detail: `refused: ${error.message}` };
    return { result: "unconfirmed", checked_at, detail: `refused for another reason: ${error.message}` };
  }
  const shown = probe.verify(answer);
  if (shown) return { result: "verified", checked_at, detail: shown };
  if (probe.refutes?.(answer))
    return { result: "unsupported", checked_at, detail: "started a new answer instead of continuing the assistant's message" };
  return { result: "unconfirmed", checked_at, detail: probe.instead };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.trim()) as unknown;
  } catch {
    return undefined;
  }
}
