/**
 * Embedding calls with more inputs than an upstream takes in one request are
 * sent in batches, in order, a few at a time, and answered as one: the
 * vectors in input order, the usage summed. Each backend type's batch size is
 * what its API documents (or, where it documents none, what the gateway sent
 * in one request before it batched).
 */
import type { Embeddings, EmbeddingRequest } from "../backends/types";
import { type BackendType, canonicalBackendType } from "../backends/registry";

const EMBED_BATCH: Partial<Record<BackendType, number>> = {
  /** Workers AI text embedding models take at most 100 texts a request. */
  workers_ai: 100,
  /** Text Embeddings Inference (behind Hugging Face endpoints) refuses more than 32 by default (`--max-client-batch-size`). */
  huggingface: 32,
  /** No documented cap (OpenAI's own is 2048; servers that speak its format often take fewer): the gateway's former per-call cap. */
  openai_compatible: 256,
  /** /api/embed documents none: the gateway's former per-call cap. */
  ollama: 256,
};
const DEFAULT_BATCH = 32;
/** Batches in flight at once: gentle on the upstream, and under the Worker's limit of six open connections. */
const PARALLEL = 4;

/** How many inputs one upstream embedding request of this backend type carries. */
export function embedBatchSize(backendType: string): number {
  try {
    return EMBED_BATCH[canonicalBackendType(backendType)] ?? DEFAULT_BATCH;
  } catch {
    return DEFAULT_BATCH;
  }
}

/** How many upstream requests `inputs` make at this batch size. */
export function batchCount(inputs: number, batch: number): number {
  return Math.max(1, Math.ceil(inputs / batch));
}

/** Embed `request.input` in batches of `batch` with `embed`; one batch is one plain call. */
export async function embedInBatches(
  request: EmbeddingRequest,
  batch: number,
  embed: (request: EmbeddingRequest) => Promise<Embeddings>,
): Promise<Embeddings> {
  if (request.input.length <= batch) return embed(request);
  const slices: string[][] = [];
  for (let i = 0; i < request.input.length; i += batch) slices.push(request.input.slice(i, i + batch));
  const answers: Embeddings[] = new Array(slices.length);
  let next = 0;
  const worker = async () => {
    while (next < slices.length) {
      const index = next++;
      answers[index] = await embed({ ...request, input: slices[index]! });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, slices.length) }, worker));
  const embeddings = answers.flatMap((a) => a.embeddings);
  if (answers.every((a) => a.usage === undefined)) return { embeddings };
  // A count is only as good as every batch's: one batch without one makes the total unknown.
  const counted = answers.map((a) => a.usage?.prompt_tokens);
  const total = counted.every((n) => typeof n === "number") ? (counted as number[]).reduce((a, b) => a + b, 0) : null;
  return { embeddings, usage: { prompt_tokens: total } };
}
