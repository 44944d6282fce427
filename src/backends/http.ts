/**
 * Every upstream HTTP call goes through here: the shared retry loop (timeouts,
 * backoff, Retry-After), retries only on 429 / 5xx / network errors, no
 * redirects followed, every answer read under a size cap while it is read,
 * and error answers turned into GatewayErrors a person can act on (refusals
 * classified by `./rejections.ts`).
 */
import { GatewayError } from "../errors";
import { rejectionError } from "./rejections";
import { retrying, type RetryPolicy } from "./retry";

/**
 * The most of a JSON answer the gateway reads. It is held whole while parsed
 * (the bytes, the text, the objects: about three times its size), in an
 * isolate of 128 MB that serves other requests too; 16 MiB fits a batch of 256
 * embeddings of 3,072 dimensions.
 */
export const MAX_JSON_BYTES = 16 * 1024 * 1024;
/** Error bodies are only shown as a short snippet: read no more than this of them. */
export const MAX_ERROR_BODY_BYTES = 16 * 1024;

export { forCall, timing } from "./retry";

export interface UpstreamPolicy extends RetryPolicy {
  fetch: typeof fetch;
  /**
   * A backend's own reading of an error answer (e.g. Hugging Face's 503 "model
   * loading" with `estimated_time`); return undefined for the generic mapping.
   * Whether it is retried still follows the status code.
   */
  interpretError?: (status: number, body: string, headers: Headers) => GatewayError | undefined;
}

/** A JSON POST: the request init every upstream call of a backend shares, with its headers after ours. */
export function jsonPost(body: unknown, headers: Record<string, string>, accept = "application/json"): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json", accept, ...headers }, body: JSON.stringify(body) };
}

/** A GET of a JSON resource (a model list, tags, an endpoint's info). */
export function jsonGet(headers: Record<string, string>): RequestInit {
  return { method: "GET", headers: { accept: "application/json", ...headers } };
}

/** POST/GET and parse a JSON answer; the timeout covers reading the whole body, at most MAX_JSON_BYTES of it. */
export async function upstreamJson(url: string, init: RequestInit, policy: UpstreamPolicy): Promise<unknown> {
  return retrying(policy, async (signal) => {
    const response = await send(url, init, policy, signal);
    const text = await readText(response, signal, policy);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new GatewayError("upstream_error", `${policy.label} sent a body that is not JSON: ${snippet(text)}`);
    }
  });
}

/**
 * One attempt at opening a streaming call (the stream's own loop in
 * `./generate.ts` retries it until the first token): the response headers,
 * checked, and the body to read. Aborted with `signal`.
 */
export async function openStream(url: string, init: RequestInit, policy: UpstreamPolicy, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const response = await send(url, init, policy, signal);
  if (!response.body) throw new GatewayError("upstream_error", `${policy.label} sent an empty stream.`, { retryable: true });
  return response.body;
}

/** One request; a non-2xx answer becomes its GatewayError, retryable on 429 / 5xx. */
async function send(url: string, init: RequestInit, policy: UpstreamPolicy, signal: AbortSignal): Promise<Response> {
  const response = await policy.fetch(url, { ...init, signal, redirect: "manual" });
  if (response.ok) return response;
  const error = await statusError(response, policy);
  if (!isRetryableStatus(response.status)) throw error;
  throw new GatewayError(error.code, error.message, { retryAfter: error.retryAfter, retryable: true });
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Retry-After as seconds: either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

async function statusError(response: Response, policy: UpstreamPolicy): Promise<GatewayError> {
  const { status } = response;
  const label = policy.label;
  if (status >= 300 && status < 400) {
    void response.body?.cancel();
    return new GatewayError("upstream_error", `${label} answered with a redirect (${status}); redirects are not followed. Check base_url.`);
  }
  const body = await readCapped(response.body, MAX_ERROR_BODY_BYTES).then(
    (read) => read.text,
    () => "",
  );
  const special = policy.interpretError?.(status, body, response.headers);
  if (special) return special;
  const detail = upstreamMessage(body);
  const suffix = detail ? `: ${detail}` : "";
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
  if (status === 429) {
    const wait = retryAfter !== undefined ? `, retry after ${Math.ceil(retryAfter)} s` : "";
    return new GatewayError("rate_limited", `Rate limited by ${label}${wait}${suffix}`, { retryAfter: retryAfter ?? 1 });
  }
  if (status === 401 || status === 403) {
    return new GatewayError("upstream_error", `${label} rejected the credentials (${status}); check the secret the model config references${suffix}`);
  }
  if (status === 404) return new GatewayError("upstream_error", `${label} does not know this model or path (404)${suffix}`);
  if (status === 400 || status === 413 || status === 422) return rejectionError(status, body, label, detail);
  if (status >= 500) {
    return new GatewayError("upstream_error", `${label} failed (${status})${suffix}`, { retryAfter });
  }
  return new GatewayError("upstream_error", `${label} answered ${status}${suffix}`);
}

/**
 * Up to `maxBytes` of a body, read chunk by chunk: never more is held, however
 * much the upstream sends. `over` says whether the body went on past the cap.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<{ text: string; over: boolean }> {
  if (!body) return { text: "", over: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let over = false;
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        break;
      }
      const value = next.value;
      const room = maxBytes - size;
      chunks.push(value.byteLength > room ? value.subarray(0, room) : value);
      size += Math.min(room, value.byteLength);
      if (value.byteLength > room) {
        over = true;
        break;
      }
    }
  } finally {
    // Stop the upstream only when the body was left unread (past the cap, or on an error).
    if (!done) void reader.cancel().catch(() => {});
  }
  // Most answers arrive in one chunk: decoded as it is, without a copy.
  return { text: decoder.decode(chunks.length === 1 ? chunks[0] : concat(chunks, size)), over };
}

const decoder = new TextDecoder();

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * The body's length when the upstream declared it and it is what arrives: a
 * `Content-Length` without a content coding (the runtime decodes gzip and
 * brotli bodies, whose declared length is the encoded one). HTTP framing ends
 * the body there, so a declared length is a cap the upstream cannot exceed.
 */
function declaredLength(response: Response): number | undefined {
  const encoding = response.headers.get("content-encoding");
  if (encoding && encoding !== "identity") return undefined;
  const length = Number(response.headers.get("content-length") ?? NaN);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/** A body within the cap whose length is declared is read in one native call; any other, chunk by chunk under the cap. */
async function readBody(response: Response, maxBytes: number): Promise<{ text: string; over: boolean }> {
  const length = declaredLength(response);
  if (length === undefined) return readCapped(response.body, maxBytes);
  if (length > maxBytes) {
    void response.body?.cancel().catch(() => {});
    return { text: "", over: true };
  }
  return { text: await response.text(), over: false };
}

async function readText(response: Response, signal: AbortSignal, policy: UpstreamPolicy): Promise<string> {
  let read: { text: string; over: boolean };
  try {
    read = await readBody(response, MAX_JSON_BYTES);
  } catch (error) {
    if (signal.aborted) {
      throw new GatewayError("upstream_timeout", `${policy.label} did not finish its answer within ${policy.timeoutMs / 1000} s.`, {
        retryable: true,
      });
    }
    throw new GatewayError("upstream_error", `${policy.label} broke off its answer: ${describe(error)}`, { retryable: true });
  }
  if (read.over) {
    throw new GatewayError(
      "upstream_error",
      `${policy.label} sent an answer larger than ${MAX_JSON_BYTES / 1024 / 1024} MiB; the gateway stops reading there.`,
    );
  }
  return read.text;
}

/** The human part of an upstream error body: OpenAI, HF and Ollama shapes, else the text. */
export function upstreamMessage(body: string): string {
  try {
    const json: unknown = JSON.parse(body);
    if (json && typeof json === "object") {
      const record = json as Record<string, unknown>;
      const error = record.error;
      if (typeof error === "string") return snippet(error);
      if (error && typeof error === "object" && typeof (error as Record<string, unknown>).message === "string") {
        return snippet((error as Record<string, unknown>).message as string);
      }
      for (const key of ["message", "detail"]) {
        if (typeof record[key] === "string") return snippet(record[key]);
      }
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return snippet(body);
}

export function snippet(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
