/** A backend's health check, timed and turned into a result the same way for every backend. */
import { toGatewayError } from "../errors";
import type { HealthResult } from "./types";

/**
 * Run `check`: it resolves with a note for people (null when there is
 * nothing to say) or throws what went wrong, which becomes the detail.
 */
export async function timedCheck(check: () => Promise<string | null>): Promise<HealthResult> {
  const started = Date.now();
  try {
    const detail = await check();
    return { ok: true, latency_ms: Date.now() - started, detail };
  } catch (error) {
    return { ok: false, latency_ms: Date.now() - started, detail: toGatewayError(error).message };
  }
}
