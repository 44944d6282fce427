/**
 * Keeping a model's secret values out of everything that comes back from its
 * upstream. Applied where the gateway builds the backend, so every backend gets
 * it without doing anything:
 * - error bodies are redacted as they arrive, before anything parses or
 *   shortens them (shortening first could cut a secret and show half of it);
 *   at most MAX_ERROR_BODY bytes of one are read, while reading;
 * - generated text, whole or streamed, is redacted too. When streamed text ends
 *   with what could be the start of a secret, only that tail waits for the next
 *   piece (a secret split across pieces is still caught); the rest goes at once.
 */
import { readCapped } from "../backends/http";
import type { CallOptions } from "../backends/types";
import { redact, secretForms } from "../config/secrets";

export interface Redactor {
  (text: string): string;
  /** A fetch whose error answers (non-2xx) carry redacted bodies. */
  fetch: typeof fetch;
  /** Call options whose streamed text is redacted; `flush` emits what was held back. */
  stream(options: CallOptions | undefined): { options: CallOptions | undefined; flush(): Promise<void> };
}

const MAX_ERROR_BODY = 64 * 1024;

export function redactor(secrets: readonly string[], upstreamFetch: typeof fetch = (input, init) => fetch(input, init)): Redactor {
  const forms = secretForms(secrets);
  const clean = (text: string) => (forms.length === 0 ? text : redact(text, secrets));
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
    return new Response(clean(body), { status: response.status, statusText: response.statusText, headers: response.headers });
  };

  const stream = (options: CallOptions | undefined) => {
    const onText = options?.onText;
    if (!onText || forms.length === 0) return { options, flush: async () => {} };
    let pending = "";
    return {
      options: {
        ...options,
        onText: async (delta: string) => {
          pending = clean(pending + delta);
          const ready = pending.length - unsafeTail(pending);
          if (ready <= 0) return;
          const out = pending.slice(0, ready);
          pending = pending.slice(ready);
          await onText(out);
        },
      },
      flush: async () => {
        const rest = clean(pending);
        pending = "";
        if (rest) await onText(rest);
      },
    };
  };

  return Object.assign(clean, { fetch: guardedFetch, stream });
}
