/**
 * The one retry loop for upstream calls, HTTP or binding: a timeout on each
 * attempt, retries of retryable failures (429, 5xx, network errors, timeouts)
 * with exponential backoff and full jitter, honouring Retry-After, within a
 * total wait cap. A failure that is not retryable is thrown at once, and so is
 * a timeout when the policy says a fallback should have the next turn.
 *
 * (p-retry was considered; it cannot take its delay from a Retry-After header.)
 */
import { firstTokenSeconds, stallSeconds } from "../config/common";
import { GatewayError } from "../errors";
import type { CallOptions } from "./types";

export interface RetryPolicy {
  /** Who is being called, for messages: "OpenAI-compatible upstream api.openai.com". */
  label: string;
  timeoutMs: number;
  /** A stream's time to its first token (response headers included); `timeoutMs` when unset. */
  firstTokenMs?: number;
  /** The longest silence between a started stream's pieces (`stall_timeout`); `timeoutMs` when unset. */
  stallMs?: number;
  maxRetries: number;
  signal?: AbortSignal;
  /** Longest total time spent waiting between attempts. */
  maxWaitMs?: number;
  /**
   * Whether a timed-out attempt is tried again on the same upstream. False when
   * a fallback can take the call: a silent upstream is left at once.
   */
  retryTimeouts?: boolean;
  /** What the timeout was, for its message; default: the model's `timeout`. */
  timeoutName?: string;
  /**
   * Told of each attempt whose timer fired, with how long it ran: the upstream
   * may have worked (and billed) all that time, so the call is charged for it.
   */
  onTimedOut?: (elapsedMs: number) => void;
  /** Injectable for tests of the backoff. */
  sleep?: (ms: number) => Promise<void>;
}

/** A model's timing, from its config: what each backend's policy starts from. */
export function timing(config: { timeout: number; first_token_timeout?: number; stall_timeout?: number; max_retries: number }) {
  return {
    timeoutMs: config.timeout * 1000,
    firstTokenMs: firstTokenSeconds(config) * 1000,
    stallMs: stallSeconds(config) * 1000,
    maxRetries: config.max_retries,
  };
}

/**
 * A policy for one call: the caller's cancellation, no retry of a timed-out
 * attempt when a fallback can take the call instead, and none at all for a
 * circuit breaker's trial.
 */
export function forCall<P extends RetryPolicy>(policy: P, options: CallOptions | undefined): P {
  const onTimedOut = options?.onTimedOut && ((elapsedMs: number) => options.onTimedOut!({ elapsedMs, streamed: false }));
  return {
    ...policy,
    signal: options?.signal,
    retryTimeouts: !options?.fallbackAvailable,
    ...(options?.oneAttempt && { maxRetries: 0 }),
    ...(onTimedOut && { onTimedOut }),
  };
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
    const began = Date.now();
    const timeout = setTimeout(() => timer.abort(), policy.timeoutMs);
    const signal = policy.signal ? AbortSignal.any([policy.signal, timer.signal]) : timer.signal;
    try {
      return await attempt(signal, () => clearTimeout(timeout));
    } catch (error) {
      const timedOut = timer.signal.aborted;
      if (timedOut) policy.onTimedOut?.(Date.now() - began);
      timer.abort(); // the attempt is over: drop its connection, and whatever the upstream was still sending
      if (policy.signal?.aborted) throw new GatewayError("upstream_error", `${policy.label}: the call was cancelled.`);
      if (error instanceof GatewayError && !error.retryable) throw error;
      lastError =
        error instanceof GatewayError
          ? error
          : timedOut
            ? timeoutError(policy)
            : new GatewayError("upstream_error", `${policy.label} is unreachable: ${networkFailure(error)}`, { retryable: true });
      if (lastError.code === "upstream_timeout" && policy.retryTimeouts === false) throw lastError;
    } finally {
      clearTimeout(timeout);
    }
  }
  throw lastError ?? new GatewayError("upstream_error", `${policy.label} failed.`);
}

/**
 * workerd's fetch throws the one message "Network connection lost." both for a
 * refused connection (nothing listening on that port) and for one closed before
 * any answer; its log has the difference, the thrown error does not. Say both
 * in words a person can act on; any other fetch error keeps its own message.
 */
export const CONNECTION_FAILED =
  "the connection was refused or closed before any answer (is the server running and listening on that host and port?)";

function networkFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /^Network connection lost\.?$/.test(message) ? CONNECTION_FAILED : message;
}

/** The error of an attempt whose timer fired. */
export function timeoutError(policy: Pick<RetryPolicy, "label" | "timeoutMs" | "timeoutName">): GatewayError {
  const name = policy.timeoutName ?? "timeout in the model config";
  return new GatewayError("upstream_timeout", `${policy.label} did not answer within ${policy.timeoutMs / 1000} s (${name}).`, {
    retryable: true,
  });
}

function backoff(attempt: number): number {
  return Math.random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
}
