/**
 * Every upstream HTTP call goes through here: the shared retry loop (timeouts,
 * backoff, Retry-After), retries only on 429 / 5xx / network errors, no
 * redirects followed, and error answers turned into GatewayErrors a person can
 * act on.
 */
import { GatewayError } from "../errors";
import { retrying, type RetryPolicy } from "./retry";

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

/** POST/GET and parse a JSON answer; the timeout covers reading the whole body. */
export async function upstreamJson(url: string, init: RequestInit, policy: UpstreamPolicy): Promise<unknown> {
  return withRetries(url, init, policy, async (response, signal) => {
    const text = await readText(response, signal, policy);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new GatewayError("upstream_error", `${policy.label} sent a body that is not JSON: ${snippet(text)}`);
    }
  });
}

/**
 * Start a streaming call: the timeout covers the wait for response headers;
 * the stream reader applies its own idle timeout. Once this returns, the
 * caller must never retry (text may already have reached the client).
 */
export async function upstreamStream(url: string, init: RequestInit, policy: UpstreamPolicy): Promise<ReadableStream<Uint8Array>> {
  return withRetries(
    url,
    init,
    policy,
    async (response) => {
      if (!response.body) throw new GatewayError("upstream_error", `${policy.label} sent an empty stream.`);
      return response.body;
    },
    { clearTimerOnHeaders: true },
  );
}

function withRetries<T>(
  url: string,
  init: RequestInit,
  policy: UpstreamPolicy,
  onOk: (response: Response, signal: AbortSignal) => Promise<T>,
  options: { clearTimerOnHeaders?: boolean } = {},
): Promise<T> {
  return retrying(policy, async (signal, disarm) => {
    const response = await policy.fetch(url, { ...init, signal, redirect: "manual" });
    if (options.clearTimerOnHeaders) disarm();
    if (response.ok) return onOk(response, signal);
    const error = await statusError(response, policy);
    if (!isRetryableStatus(response.status)) throw error;
    throw new GatewayError(error.code, error.message, { retryAfter: error.retryAfter, retryable: true });
  });
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
  const body = await readCapped(response, MAX_ERROR_BODY_BYTES).catch(() => "");
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
  if (status === 400 || status === 413 || status === 422) {
    return new GatewayError("invalid_request", `${label} rejected the request (${status})${suffix}`);
  }
  if (status >= 500) {
    return new GatewayError("upstream_error", `${label} failed (${status})${suffix}`, { retryAfter });
  }
  return new GatewayError("upstream_error", `${label} answered ${status}${suffix}`);
}

/** Error bodies are only shown as a short snippet: read no more than this of them. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < maxBytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  void reader.cancel().catch(() => {});
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes.subarray(0, maxBytes));
}

async function readText(response: Response, signal: AbortSignal, policy?: UpstreamPolicy): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    if (signal.aborted && policy) {
      throw new GatewayError("upstream_timeout", `${policy.label} did not finish its answer within ${policy.timeoutMs / 1000} s.`, {
        retryable: true,
      });
    }
    throw new GatewayError("upstream_error", `${policy?.label ?? "upstream"} broke off its answer: ${describe(error)}`, { retryable: true });
  }
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
