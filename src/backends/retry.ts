/**
 * The one retry loop for upstream calls, HTTP or binding: a timeout on each
 * attempt, retries of retryable failures (429, 5xx, network errors, timeouts)
 * with exponential backoff and full jitter, honouring Retry-After, within a
 * total wait cap. A failure that is not retryable is thrown at once.
 *
 * (p-retry was considered; it cannot take its delay from a Retry-After header.)
 */
import { GatewayError } from "../errors";

export interface RetryPolicy {
  /** Who is being called, for messages: "OpenAI-compatible upstream api.openai.com". */
  label: string;
  timeoutMs: number;
  maxRetries: number;
  signal?: AbortSignal;
  /** Longest total time spent waiting between attempts. */
  maxWaitMs?: number;
  /** Injectable for tests of the backoff. */
  sleep?: (ms: number) => Promise<void>;
}

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 8_000;
const DEFAULT_MAX_WAIT_MS = 30_000;

/**
 * Run `attempt` until it succeeds or may not be retried. It gets a signal that
 * aborts on the timeout (or when the caller goes away) and `disarm()`, which a
 * streaming attempt calls once the stream has started: from then on the
 * stream reader's idle timeout applies instead.
 */
export async function retrying<T>(policy: RetryPolicy, attempt: (signal: AbortSignal, disarm: () => void) => Promise<T>): Promise<T> {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let waited = 0;
  let lastError: GatewayError | undefined;
  for (let n = 0; n <= policy.maxRetries; n++) {
    if (n > 0 && lastError) {
      const delay = lastError.retryAfter !== undefined ? lastError.retryAfter * 1000 : backoff(n);
      if (waited + delay > (policy.maxWaitMs ?? DEFAULT_MAX_WAIT_MS)) break;
      waited += delay;
      await sleep(delay);
    }
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), policy.timeoutMs);
    const signal = policy.signal ? AbortSignal.any([policy.signal, timer.signal]) : timer.signal;
    try {
      return await attempt(signal, () => clearTimeout(timeout));
    } catch (error) {
      if (policy.signal?.aborted) throw new GatewayError("upstream_error", `${policy.label}: the call was cancelled.`);
      if (error instanceof GatewayError && !error.retryable) throw error;
      lastError =
        error instanceof GatewayError
          ? error
          : timer.signal.aborted
            ? new GatewayError(
                "upstream_timeout",
                `${policy.label} did not answer within ${policy.timeoutMs / 1000} s (timeout in the model config).`,
                {
                  retryable: true,
                },
              )
            : new GatewayError("upstream_error", `${policy.label} is unreachable: ${error instanceof Error ? error.message : String(error)}`, {
                retryable: true,
              });
    } finally {
      clearTimeout(timeout);
    }
  }
  throw lastError ?? new GatewayError("upstream_error", `${policy.label} failed.`);
}

function backoff(attempt: number): number {
  return Math.random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
}
