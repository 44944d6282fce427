/**
 * Who failed a model's real calls in its current failure streak, so that one
 * API key cannot put a shared model in `error` on its own: the third failure
 * in a row moves the model to `error` only when the streak holds failures
 * reported by two or more keys, or a failed check (a probe confirms it). With
 * one key's failures alone the model stays `degraded` and the object runs one
 * confirming check (src/durable/health-scheduler.ts).
 *
 * Kept in the object's memory, not in storage: an object evicted mid-streak
 * forgets the keys, and then a confirming check decides, which is the safe side.
 */

/** The key id recorded for the operator's own calls (no tenant key). */
const OPERATOR = "(operator)";
/** Most models tracked at once (a tenant's registry is far smaller; this only bounds memory). */
const MAX_MODELS = 2_000;

interface Streak {
  keys: Set<string>;
  /** A check failed during this streak: its failures are the upstream's, whoever called. */
  confirmed: boolean;
}

export class FailureStreaks {
  private readonly streaks = new Map<string, Streak>();
  /** Models whose confirming check is due or running (one at a time per model). */
  private readonly confirming = new Set<string>();
  /** Models whose streak reached `error` unconfirmed since the last `takeDue`. */
  private readonly due = new Set<string>();

  /** A result was recorded for `modelId`: `keyId` undefined for a check, null for the operator. */
  note(modelId: string, ok: boolean, keyId: string | null | undefined): void {
    if (ok) {
      this.streaks.delete(modelId);
      return;
    }
    let streak = this.streaks.get(modelId);
    if (!streak) {
      if (this.streaks.size >= MAX_MODELS) this.streaks.delete(this.streaks.keys().next().value!);
      this.streaks.set(modelId, (streak = { keys: new Set(), confirmed: false }));
    }
    if (keyId === undefined) streak.confirmed = true;
    else streak.keys.add(keyId ?? OPERATOR);
  }

  /** Whether the current streak may move the model to `error`: a failed check in it, or failures from two keys or more. */
  confirmed(modelId: string): boolean {
    const streak = this.streaks.get(modelId);
    return streak !== undefined && (streak.confirmed || streak.keys.size >= 2);
  }

  /** The streak would make the model `error` but is not confirmed: a check should confirm it (once at a time). */
  askConfirmation(modelId: string): void {
    if (!this.confirming.has(modelId)) this.due.add(modelId);
  }

  /** The models whose confirming check should start now; they count as running until `confirmed`. */
  takeDue(): string[] {
    const ids = [...this.due];
    this.due.clear();
    for (const id of ids) this.confirming.add(id);
    return ids;
  }

  confirmationDone(modelId: string): void {
    this.confirming.delete(modelId);
  }
}
