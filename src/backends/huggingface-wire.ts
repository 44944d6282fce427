/**
 * Hugging Face task wire formats (huggingface.co/docs/inference-providers):
 * the text-generation request body, zod schemas of the task answers, and
 * normalizers that turn every answer shape HF has used into the gateway's.
 * The router's chat is OpenAI-style and lives in `openai-wire.ts`.
 */
import { z } from "zod";
import { GatewayError } from "../errors";
import { parseRetryAfter, upstreamMessage } from "./http";
import { type ParamMap, refuseExtras, wireParams } from "./params";
import { ScoredLabel } from "./shapes";
import { parseAnswer } from "./wire";
import type { StreamPiece } from "./stream";
import type { Classification, CompletionRequest, FinishReason, Generation } from "./types";

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

const Details = z.object({ finish_reason: z.string(), generated_tokens: z.number().nullish() });
const Generated = z.object({ generated_text: z.string(), details: Details.nullish() });
/** hf-inference answers a list; a TGI endpoint's own `/generate` answers one object. */
const TextGeneration = z.union([z.array(Generated).min(1), Generated]);

/** One TGI stream event; the last one carries `generated_text` and `details`. */
const TgiEvent = z.object({
  token: z.object({ text: z.string(), special: z.boolean().optional() }),
  generated_text: z.string().nullish(),
  details: Details.nullish(),
});

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
 * The text-generation task's names for the sampling parameters. TGI refuses
 * temperature 0 and top_p 1; both mean "no sampling there", which is what
 * leaving them out gives.
 */
const TEXT_GENERATION_PARAMS: ParamMap = {
  max_tokens: "max_new_tokens",
  temperature: { name: "temperature", omit: 0 },
  top_p: { name: "top_p", omit: 1 },
  stop: "stop",
  seed: "seed",
  presence_penalty: null,
  frequency_penalty: "frequency_penalty",
  logit_bias: null,
  user: null,
};

/** The text-generation body. `details: true` makes HF say why generation stopped and how many tokens it made. */
export function textGenerationBody(request: CompletionRequest, stream: boolean, label: string) {
  refuseExtras(request.extra, label);
  return {
    inputs: request.prompt,
    parameters: { ...wireParams(request, TEXT_GENERATION_PARAMS, label), return_full_text: false, details: true },
    ...(stream && { stream: true }),
  };
}

export function textGeneration(json: unknown, label: string): Generation {
  const answer = parseAnswer(TextGeneration, json, label);
  const first = Array.isArray(answer) ? answer[0]! : answer;
  return {
    text: first.generated_text,
    finish_reason: first.details ? tgiFinish(first.details.finish_reason) : "unknown",
    usage: { prompt_tokens: null, completion_tokens: first.details?.generated_tokens ?? null },
  };
}

/** One TGI SSE event as a stream piece; special tokens (e.g. `</s>`) carry no text. */
export function tgiStreamPiece(event: unknown): StreamPiece {
  if (event && typeof event === "object" && "error" in event) return { error: upstreamMessage(JSON.stringify(event)) };
  const parsed = TgiEvent.safeParse(event);
  if (!parsed.success) return { error: "a stream event in an unexpected shape" };
  const { token, generated_text, details } = parsed.data;
  const last = generated_text != null;
  return {
    text: token.special ? undefined : token.text,
    finish: details ? tgiFinish(details.finish_reason) : undefined,
    usage: details?.generated_tokens != null ? { completion_tokens: details.generated_tokens } : undefined,
    // TGI sends no [DONE]: the event with generated_text is the last one.
    done: last,
  };
}

function tgiFinish(reason: string): FinishReason {
  if (reason === "eos_token" || reason === "stop_sequence") return "stop";
  return reason === "length" ? "length" : "unknown";
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
