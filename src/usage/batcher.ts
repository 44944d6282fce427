/**
 * The per-isolate batcher: usage records wait here, per tenant, and go to the
 * tenant's Durable Object together, one round trip per batch, never on the
 * response path.
 *
 * Workers forbid one request from waiting on I/O another request started, so
 * the queue holds plain data only, and every write runs in the context of the
 * request that makes it: the request that adds a record to a tenant's queue
 * when no other is waiting on it waits (in its own `waitUntil`) for the batch
 * delay, then writes whatever is queued for that tenant, its own records and
 * others' alike. Records added while it waits are written by it: their own
 * requests start no timer of their own (a timer per call cost more CPU than
 * the rest of the batching). A record is therefore always covered by a
 * `waitUntil` that is still pending until it is written: the runtime keeps the
 * isolate alive for it, so an isolate evicted after the response loses
 * nothing. A failed write is retried with the same batch id; the object
 * applies a batch id once, so a retry after a lost answer counts nothing twice.
 */

export interface BatcherOptions<R> {
  /** Write one batch; it must apply `batchId` at most once. */
  send(target: string, batchId: string, records: R[]): Promise<void>;
  /** How long a record may wait for others (ms). */
  delayMs: number;
  /** A batch this large is written at once. */
  maxRecords: number;
  /** Attempts per batch before it is given up (and logged). */
  attempts?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Batcher<R> {
  private readonly queued = new Map<string, R[]>();
  private readonly writing = new Map<string, number>();
  /** Targets a request is waiting to write (its batch delay running): what is queued meanwhile is its to write. */
  private readonly waiting = new Set<string>();

  constructor(private readonly options: BatcherOptions<R>) {}

  /**
   * Queue a record for `target`. The promise, for the caller's `waitUntil`,
   * settles once the record has been written by this request, or is covered
   * by another request's `waitUntil` that writes it (one waiting on this
   * queue, or one that took it into its write). `now` writes at once (a call
   * that holds a budget reservation releases it as soon as it can).
   */
  async add(target: string, record: R, now = false): Promise<void> {
    const queue = this.queued.get(target) ?? [];
    this.queued.set(target, queue);
    queue.push(record);
    if (!now && queue.length < this.options.maxRecords) {
      if (this.waiting.has(target)) return; // the request waiting on this queue writes it
      this.waiting.add(target);
      try {
        await sleep(this.options.delayMs);
      } finally {
        this.waiting.delete(target);
      }
    }
    // Whatever is queued now, this record or not: records added while this request waited are its to write.
    await this.writeQueued(target);
  }

  /**
   * Write what waits for the matching targets now, from this request, and wait
   * (polling, bounded by `maxWaitMs`) for writes other requests have in flight:
   * read-your-writes within this isolate.
   */
  async flush(matches: (target: string) => boolean, maxWaitMs = 3000): Promise<void> {
    await Promise.all([...this.queued.keys()].filter(matches).map((target) => this.writeQueued(target)));
    const deadline = Date.now() + maxWaitMs;
    while ([...this.writing.keys()].some(matches) && Date.now() < deadline) await sleep(5);
  }

  private async writeQueued(target: string): Promise<void> {
    const records = this.queued.get(target);
    if (!records || records.length === 0) return;
    this.queued.delete(target);
    this.writing.set(target, (this.writing.get(target) ?? 0) + 1);
    try {
      await this.write(target, crypto.randomUUID(), records);
    } finally {
      const left = (this.writing.get(target) ?? 1) - 1;
      if (left > 0) this.writing.set(target, left);
      else this.writing.delete(target);
    }
  }

  private async write(target: string, batchId: string, records: R[]): Promise<void> {
    const attempts = this.options.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.send(target, batchId, records);
        return;
      } catch (error) {
        if (attempt >= attempts) {
          console.error(`usage batch of ${records.length} record(s) not written`, error instanceof Error ? error.message : error);
          return;
        }
        await sleep(200 * 4 ** (attempt - 1));
      }
    }
  }
}
