/**
 * Hugging Face task wire formats (huggingface.co/docs/inference-providers):
 * zod schemas of the task answers, and normalizers that turn every answer
 * shape HF has used into the gateway's. Chat and completions are OpenAI-style
 * and live in `openai-wire.ts`.
 */
import { z } from "zod";
import { GatewayError } from "../errors";
import { parseRetryAfter } from "./http";
import { ScoredLabel } from "./shapes";
import { parseAnswer } from "./wire";
import type { Classification } from "./types";

const Vector = z.array(z.number());
/** number[] (a batch of one, unwrapped), number[][] (one vector per input), number[][][] (token-level). */
const FeatureExtraction = z.union([Vector, z.array(Vector), z.array(z.array(Vector))]);

/** `[[{label, score}, ...]]` (one list per input) or `[{label, score}, ...]`. */
const TextClassification = z.union([z.array(z.array(ScoredLabel)).min(1), z.array(ScoredLabel)]);
/** Current `[{label, score}, ...]`, or the older `{sequence, labels, scores}`. */
const ZeroShot = z.union([
  z.array(ScoredLabel),
  z
    .object({ labels: z.array(z.string()), scores: z.array(z.number()) })
    .refine((o) => o.labels.length === o.scores.length, "labels and scores differ in length"),
]);

const Loading = z.object({ error: z.string(), estimated_time: z.number().nonnegative().optional() });

export function embeddingVectors(json: unknown, inputs: number, label: string): number[][] {
  const answer = parseAnswer(FeatureExtraction, json, label);
  const rows = isVector(answer) ? [answer] : (answer as (number[] | number[][])[]);
  const vectors = rows.map((row) => (isVector(row) ? row : meanPool(row, label)));
  if (vectors.length !== inputs) {
    throw new GatewayError("upstream_error", `${label} sent ${vectors.length} embedding(s) for ${inputs} input(s).`);
  }
  return vectors;
}

function isVector(value: readonly unknown[]): value is number[] {
  return value.length > 0 && typeof value[0] === "number";
}

/** Token-level output (one vector per token): average the tokens into one sentence vector. */
function meanPool(tokens: number[][], label: string): number[] {
  const width = tokens[0]?.length ?? 0;
  if (width === 0 || tokens.some((t) => t.length !== width)) {
    throw new GatewayError("upstream_error", `${label} sent token vectors that are empty or of different sizes.`);
  }
  const sum = new Array<number>(width).fill(0);
  for (const token of tokens) token.forEach((x, i) => (sum[i]! += x));
  return sum.map((x) => x / tokens.length);
}

export function textClassification(json: unknown, label: string): Classification {
  const answer = parseAnswer(TextClassification, json, label);
  const first = answer[0];
  const scored = first && Array.isArray(first) ? first : (answer as z.infer<typeof ScoredLabel>[]);
  return highestFirst(scored);
}

export function zeroShot(json: unknown, label: string): Classification {
  const answer = parseAnswer(ZeroShot, json, label);
  const scored = Array.isArray(answer) ? answer : answer.labels.map((l, i) => ({ label: l, score: answer.scores[i]! }));
  return highestFirst(scored);
}

function highestFirst(scored: { label: string; score: number }[]): Classification {
  return { labels: scored.map(({ label, score }) => ({ label, score })).sort((a, b) => b.score - a.score) };
}

/**
 * HF's 503 while a model loads, `{"error": "Model X is currently loading",
 * "estimated_time": 20.0}`, as a clear retryable error. The shared retry loop
 * waits the estimate out only if it fits its wait cap; otherwise the caller
 * gets this message and Retry-After.
 */
export function modelLoading(status: number, body: string, headers: Headers, model: string): GatewayError | undefined {
  if (status !== 503) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = Loading.safeParse(json);
  if (!parsed.success || (parsed.data.estimated_time === undefined && !/loading/i.test(parsed.data.error))) return undefined;
  const estimate = parsed.data.estimated_time;
  const wait = estimate ?? parseRetryAfter(headers.get("retry-after"));
  const seconds = wait !== undefined ? Math.max(1, Math.ceil(wait)) : undefined;
  const when = seconds !== undefined ? ` (about ${seconds} s); retry after ${seconds} s` : "; retry in a moment";
  return new GatewayError("model_unavailable", `Hugging Face model ${model} is loading${when}`, { retryAfter: seconds });
}
