/**
 * Keeping a model's secret values out of everything that comes back from its
 * upstream. Applied where the gateway builds the backend, so every backend gets
 * it without doing anything:
 * - error bodies are redacted as they arrive, before anything parses or
 *   shortens them (shortening first could cut a secret and show half of it);
 *   at most MAX_ERROR_BODY bytes of one are read, while reading. JSON escapes
 *   are undone first (`\u0073k-…`, `\/`), since whoever parses the
 *   body later would undo them and see the secret: a JSON body is parsed and
 *   written back plainly, anything else has its `\uXXXX` escapes decoded;
 * - generated text, whole or streamed, is redacted too. When streamed text ends
 *   with what could be the start of a secret, only that tail waits for the next
 *   piece (a secret split across pieces is still caught); the rest goes at once
 *   (the stream pipeline, ./stream.ts, holds the tail back with `unsafeTail`);
 * - `result()` redacts every string of a finished result, keys included: text,
 *   classification labels, tool calls and their arguments, parsed JSON.
 */
import { readCapped } from "../backends/http";
import { REDACTED, secretForms } from "../config/secrets";

export interface Redactor {
  (text: string): string;
  /** A fetch whose error answers (non-2xx) carry redacted bodies. */
  fetch: typeof fetch;
  /** A copy of a result with every string in it (object keys too) redacted; numbers and the rest untouched. */
  result<T>(value: T): T;
  /** How much of the end of `text` could be the beginning of a secret, to hold back until the next piece (0 nearly always). */
  unsafeTail(text: string): number;
  /** Whether there is anything to redact at all (the model resolved no secret). */
  readonly idle: boolean;
}

const MAX_ERROR_BODY = 64 * 1024;

export function redactor(secrets: readonly string[], upstreamFetch: typeof fetch = (input, init) => fetch(input, init)): Redactor {
  // Computed once per redactor (a cached backend keeps its redactor), not on every piece of text.
  const forms = secretForms(secrets);
  const clean = (text: string) => {
    let out = text;
    for (const form of forms) if (out.includes(form)) out = out.split(form).join(REDACTED);
    return out;
  };
  /** How much of the end of `text` could be the beginning of a secret (0 nearly always). */
  const unsafeTail = (text: string) => {
    let longest = 0;
    for (const form of forms) {
      for (let n = Math.min(form.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(form.slice(0, n))) longest = n;
      }
    }
    return longest;
  };

  const guardedFetch: typeof fetch = async (input, init) => {
    const response = await upstreamFetch(input, init);
    if (response.ok || forms.length === 0 || !response.body) return response;
    const { text: body } = await readCapped(response.body, MAX_ERROR_BODY);
    return new Response(clean(unescapeJson(body)), { status: response.status, statusText: response.statusText, headers: response.headers });
  };

  const result = <T>(value: T): T => (forms.length === 0 ? value : deepRedact(value, clean));

  return Object.assign(clean, { fetch: guardedFetch, result, unsafeTail, idle: forms.length === 0 });
}

function deepRedact<T>(value: T, clean: (text: string) => string): T {
  if (typeof value === "string") return clean(value) as T;
  if (Array.isArray(value)) {
    // Embeddings are long arrays of numbers: nothing to redact in them.
    if (value.every((v) => typeof v === "number")) return value;
    return value.map((v: unknown) => deepRedact(v, clean)) as T;
  }
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [clean(k), deepRedact(v, clean)])) as T;
  }
  return value;
}

/**
 * The text as a JSON parser would read it: a JSON document written back without
 * escapes beyond `"`, `\` and control characters (which secretForms covers);
 * any other text with its `\uXXXX` and `\/` escapes decoded.
 */
function unescapeJson(text: string): string {
  if (!text.includes("\\")) return text;
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text.replace(/\\u([0-9a-fA-F]{4})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))).replace(/\\\//g, "/");
  }
}
