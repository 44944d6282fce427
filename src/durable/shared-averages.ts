/**
 * The moving averages of time to first token that isolates report with their
 * (rate-limited) success reports, kept in the tenant's object's memory and
 * handed back with each answer, so every isolate routes `least_latency` pools
 * on what all of them saw. Memory only: after an eviction the next reports
 * fill it again within seconds.
 */

const MAX_MODELS = 500;
/** Weight of one isolate's report in the shared average. */
const ALPHA = 0.5;

export class SharedAverages {
  private readonly averages = new Map<string, number>();

  note(modelId: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const before = this.averages.get(modelId);
    this.averages.delete(modelId);
    if (this.averages.size >= MAX_MODELS) this.averages.delete(this.averages.keys().next().value!);
    this.averages.set(modelId, before === undefined ? ms : before + ALPHA * (ms - before));
  }

  all(): Record<string, number> {
    return Object.fromEntries(this.averages);
  }
}
