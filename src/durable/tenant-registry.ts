/**
 * One Durable Object per tenant: its model registry, API key hashes, secret
 * grants and its own secrets (ciphertexts only), its usage and budgets, in
 * SQLite. Kept thin: the class keeps the tenant's lifecycle (activate,
 * destroy, incarnations) and the one write check (`refuse`); each public
 * method is one tenant operation: that check, then one call into the store
 * beside it that holds the SQL (model-store.ts, key-store.ts, grant-store.ts,
 * secret-store.ts, health-store.ts, breaker-store.ts, usage-store.ts,
 * budget-store.ts) or into its health schedule; the synchronous ones are
 * atomic.
 *
 * It schedules its own health checks (health-scheduler.ts, over
 * schedule-store.ts): an alarm is armed for the next model due, runs the
 * checks that are due and arms the next one, and each time it tells the D1
 * directory when it counts as overdue, so the cron watchdog
 * (src/health/watchdog.ts) can find an object whose alarm went missing without
 * calling every tenant. `alarm()` is the object's alarm handler and hands over
 * to it; model writes that change what is due re-arm it.
 *
 * Probes reach outside: the alarm, `runChecks` and `probeModel` call the
 * tenant's upstreams from here, opening the secrets a probe needs in memory for
 * that probe only. Requests never wait on them: I/O does not block the object.
 * Inference calls are never made here; the Worker makes them.
 */
import { DurableObject } from "cloudflare:workers";
import type { ApiKeyInfo } from "../tenants/keys";
import type { SecretGrant } from "../config/secrets";
import type { SealedSecret } from "../secrets/crypto";
import type { Capability, ModelRecord, ModelStatus } from "../models/schema";
import type { Admission } from "../inference/breaker";
import type { HealthCheck, HealthOutcome } from "../health/status";
import type { Nudge } from "../health/watchdog";
import type { CheckResult, TenantSnapshot, WriteResult } from "../tenants/shapes";
import { grantTrial } from "./breaker-store";
import type { TelemetryExport } from "../telemetry/config";
import { budgetSet, budgetStatuses, reserveUsage, setBudget } from "./budget-store";
import { setTelemetryExport, telemetryExport } from "./telemetry-store";
import { deleteGrant, listGrants, putGrant } from "./grant-store";
import { SharedAverages } from "./shared-averages";
import { recentChecks, recentChecksByModel } from "./health-store";
import { HealthScheduler } from "./health-scheduler";
import { migrate } from "./migrations";
import { createKey, deleteKey, findKey, hasKey, listKeys } from "./key-store";
import { deleteModel, getModel, insertModel, listModels, replaceModel, setStatus } from "./model-store";
import { deleteResponse, getResponse, putResponse, type StoredResponse } from "./response-store";
import { getResult, putResult, type StoredResult } from "./result-store";
import { deleteSecret, listSecrets, putSecret, resealSecrets, sealedSecrets, type SecretInfo } from "./secret-store";
import type { Budget } from "../usage/budget";
import type { BudgetStatus, Reservation, UsageRecord, UsageReport, UsageSeries } from "../usage/record";
import { recordBatch, settleAbandoned, usageReport, usageSeries } from "./usage-store";

/**
 * The object's tenant, once the operator activated it: its id and the incarnation
 * of this incarnation (a new one each time a tenant by this id is created).
 * `null` while unopened: never created, or deleted.
 */
interface Opened {
  tenantId: string;
  incarnation: string;
}

/**
 * Who makes a write: `null` for the operator (whichever incarnation is open), or
 * a tenant key, with the incarnation of the tenant it belongs to. The object
 * checks both in the same call as the write: a key revoked since the caller's
 * cache was filled, or one of a deleted (or re-created) tenant, writes nothing.
 */
export type Actor = null | { incarnation: string; keyId: string };

/** What a write needs of its actor: an admin (or the operator), or any live key of the tenant. */
type Needs = "admin" | "key";

const UNKNOWN: WriteResult<never> = { ok: false, code: "not_found", message: "This tenant does not exist (it was never created, or was deleted)." };
const REVOKED: WriteResult<never> = { ok: false, code: "forbidden", message: "The key this request was made with was revoked." };
const NOT_ADMIN: WriteResult<never> = { ok: false, code: "forbidden", message: "This needs a tenant admin key; this key has role user." };

export class TenantRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly health: HealthScheduler;
  private opened: Opened | null = null;
  /** Each model's time to first token, as isolates report it, shared back to them (src/inference/load-balance.ts). */
  private readonly firstToken = new SharedAverages();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.health = new HealthScheduler({
      storage: ctx.storage,
      env,
      tenantId: () => this.opened?.tenantId ?? null,
      models: () => this.models(),
      model: (id) => this.getModel(id),
      references: () => this.references(),
    });
    // An object nobody opened has no tables and gets none here: a request naming an unknown
    // tenant reads one empty catalogue and leaves nothing behind.
    void ctx.blockConcurrencyWhile(async () => {
      if (this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray().length === 0) return;
      migrate(ctx.storage);
      const tenantId = this.meta("tenant_id");
      if (!tenantId) return;
      // Objects opened before incarnations existed get one now (stored under its old name, "generation").
      let incarnation = this.meta("generation");
      if (!incarnation) this.setMeta("generation", (incarnation = crypto.randomUUID()));
      this.opened = { tenantId, incarnation };
      // Whoever wakes an object with models (after a deploy, an eviction, a lost alarm) finds its alarm armed.
      await this.health.rearm(false);
    });
  }

  // --- tenant lifecycle ---------------------------------------------------

  /**
   * Called when the operator creates the tenant; idempotent while open. Opening
   * an object whose tenant was deleted starts a new incarnation: nothing said
   * or cached for the old one can write here.
   */
  activate(tenantId: string): { incarnation: string } {
    if (this.opened) return { incarnation: this.opened.incarnation };
    migrate(this.ctx.storage);
    const incarnation = crypto.randomUUID();
    this.ctx.storage.transactionSync(() => {
      this.setMeta("tenant_id", tenantId);
      this.setMeta("generation", incarnation);
    });
    this.opened = { tenantId, incarnation };
    return { incarnation };
  }

  /** Whether the operator has opened this tenant (and not deleted it since). */
  isActive(): boolean {
    return this.opened !== null;
  }

  /** Forget everything this tenant owns: the object is unopened again, with no tables, and refuses every write. */
  async destroy(): Promise<void> {
    this.opened = null;
    this.health.forget();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  /**
   * The registry, with the key whose hash is given (API keys) or whose id is
   * given (OAuth grants made with that key). A key that matches nothing loads
   * nothing else: bad credentials cost one indexed read.
   */
  snapshot(keyHash: string, by: "hash" | "id" = "hash"): TenantSnapshot {
    const none = { tenantId: this.opened?.tenantId ?? null, incarnation: null, key: null, models: [], grants: [] };
    if (!this.opened) return none;
    const key = findKey(this.sql, keyHash, by);
    if (!key) return none;
    return {
      tenantId: this.opened.tenantId,
      incarnation: this.opened.incarnation,
      key,
      models: this.models(),
      grants: this.references(),
      budgets: budgetSet(this.sql),
      telemetry: telemetryExport(this.sql),
    };
  }

  // --- models (see model-store.ts) -------------------------------------------

  models(): ModelRecord[] {
    return this.opened ? listModels(this.sql) : [];
  }

  getModel(id: string): ModelRecord | null {
    return this.opened ? getModel(this.sql, id) : null;
  }

  insertModel(actor: Actor, record: ModelRecord): WriteResult {
    return this.refuse(actor, "admin") ?? this.health.written(insertModel(this.sql, record, Date.now()));
  }

  /** Replace a model, only if nobody changed it since `expectedUpdatedAt`; `keepFeatures`: the stored declared features stand. */
  replaceModel(actor: Actor, record: ModelRecord, expectedUpdatedAt: string, keepFeatures = false): WriteResult {
    return this.refuse(actor, "admin") ?? this.health.written(replaceModel(this.sql, record, expectedUpdatedAt, keepFeatures, Date.now()));
  }

  deleteModel(actor: Actor, id: string): WriteResult<{ id: string }> {
    return this.refuse(actor, "admin") ?? this.health.written(deleteModel(this.sql, id));
  }

  /** Admin-set status: `maintenance` sticks until an admin clears it with `available`. */
  setStatus(actor: Actor, id: string, status: Extract<ModelStatus, "maintenance" | "available">, at: string): WriteResult {
    return this.refuse(actor, "admin") ?? this.health.written(setStatus(this.sql, id, status, at));
  }

  // --- health (see health-store.ts, breaker-store.ts, health-scheduler.ts) ---

  /** Passive health: a real call's outcome, reported by the Worker after the call; a failure names the capability it used. */
  async recordCall(
    actor: Actor,
    modelId: string,
    outcome: HealthOutcome,
    at: string,
    capability?: Capability,
    firstTokenMs?: number,
  ): Promise<{ check: HealthCheck | null; first_token_ms: Record<string, number> }> {
    if (this.refuse(actor, "key")) return { check: null, first_token_ms: {} };
    if (firstTokenMs !== undefined) this.firstToken.note(modelId, firstTokenMs);
    const check = await this.health.recordCall(modelId, outcome, at, capability, actor?.keyId ?? null);
    return { check, first_token_ms: this.firstToken.all() };
  }

  /** Circuit breaker: may a call go to this model in `error` now (one trial at a time)? See src/inference/breaker.ts. */
  breakerTrial(actor: Actor, modelId: string): Admission {
    if (this.refuse(actor, "key")) return { state: "open", until: Date.now() + 10_000 };
    return grantTrial(this.ctx.storage, modelId, Date.now());
  }

  checks(modelId: string, limit?: number): HealthCheck[] {
    if (!this.opened) return [];
    return recentChecks(this.sql, modelId, limit);
  }

  checksByModel(limit: number): Record<string, HealthCheck[]> {
    if (!this.opened) return {};
    return recentChecksByModel(this.sql, limit);
  }

  /** Probe models now, on request: the given ones, or every model not in maintenance (see health-scheduler.ts). */
  async runChecks(modelIds: string[] | null): Promise<CheckResult> {
    return this.health.runChecks(modelIds);
  }

  /** The check a registration or a config change runs before it answers; the model as it stands after it. */
  async probeModel(id: string): Promise<ModelRecord | null> {
    return this.health.probeModel(id);
  }

  /** The alarm: run the checks that are due, then arm the next one. */
  override async alarm(): Promise<void> {
    return this.health.alarm();
  }

  /** The cron watchdog's nudge, for a tenant the directory says is overdue: when it should look again. */
  async watchdog(): Promise<{ nudge: Nudge; overdueAt: number | null }> {
    return this.health.watchdog();
  }

  // --- API keys (see key-store.ts) ---------------------------------------------

  createKey(actor: Actor, key: ApiKeyInfo & { hash: string }): WriteResult<ApiKeyInfo> {
    return this.refuse(actor, "admin") ?? createKey(this.sql, key);
  }

  listKeys(): ApiKeyInfo[] {
    return this.opened ? listKeys(this.sql) : [];
  }

  deleteKey(actor: Actor, id: string): WriteResult<{ id: string }> {
    return this.refuse(actor, "admin") ?? deleteKey(this.sql, id, new Date().toISOString());
  }

  // --- usage and budgets (see usage-store.ts, budget-store.ts; times in ms) ---

  /** A batch of finished calls from one isolate; a batch id is applied once (a retried write counts nothing twice). */
  recordUsage(incarnation: string | null, batchId: string, records: UsageRecord[], now: number): boolean {
    // Only the incarnation: a call that ended after its key was revoked still spent what it spent.
    if (this.refuse(incarnation === null ? null : { incarnation, keyId: null })) return false;
    return recordBatch(this.ctx.storage, batchId, records, now);
  }

  /** Admit a call's worst case against the budgets that apply, holding it until the call is recorded. */
  reserveUsage(actor: Actor, ask: Reservation, now: number) {
    if (this.refuse(actor, "key")) return { ok: true as const, left: { tokens: null, cost_nano: null }, held: false };
    settleAbandoned(this.ctx.storage, now);
    return reserveUsage(this.ctx.storage, ask, now);
  }

  usage(query: { from: number; to: number; group_by: "model" | "key" | "day"; key_id: string | null }, now: number): UsageReport | null {
    if (!this.opened) return null;
    return { ...usageReport(this.sql, query, now), budgets: budgetStatuses(this.sql, query.key_id, now) };
  }

  /** The status page's view: requests and tokens per model over 24 hours and 30 days, and the budgets with their use. */
  usageOverview(keyId: string | null, now: number): (UsageSeries & { budgets: BudgetStatus[] }) | null {
    return this.opened ? { ...usageSeries(this.sql, keyId, now), budgets: budgetStatuses(this.sql, keyId, now) } : null;
  }

  /** The tenant's budget (`keyId` null) or a key's; `null` removes it. */
  setBudget(actor: Actor, keyId: string | null, budget: Budget | null, at: string): WriteResult<{ key_id: string | null; budget: Budget | null }> {
    const refused = this.refuse(actor, "admin");
    if (refused) return refused;
    if (keyId !== null && !hasKey(this.sql, keyId)) {
      return { ok: false, code: "not_found", message: `Key "${keyId}" not found.` };
    }
    setBudget(this.sql, keyId, budget, at);
    return { ok: true, value: { key_id: keyId, budget } };
  }

  // --- the OpenTelemetry export (see telemetry-store.ts) -----------------------

  /** The tenant's export config (checked by the Worker first); `null` turns export off. */
  setTelemetryExport(actor: Actor, config: TelemetryExport | null): WriteResult<TelemetryExport | null> {
    const refused = this.refuse(actor, "admin");
    if (refused) return refused;
    setTelemetryExport(this.sql, config);
    return { ok: true, value: config };
  }

  // --- grants of Worker secrets (see grant-store.ts) ----------------------------

  grants(): SecretGrant[] {
    return this.opened ? listGrants(this.sql) : [];
  }

  putGrant(grant: SecretGrant, at: string): WriteResult<SecretGrant> {
    return this.refuse(null) ?? putGrant(this.sql, grant, at);
  }

  deleteGrant(name: string): WriteResult<{ name: string }> {
    return this.refuse(null) ?? deleteGrant(this.sql, name);
  }

  // --- the tenant's own secrets (sealed by the Worker; see secret-store.ts) ---

  secrets(): SecretInfo[] {
    return this.opened ? listSecrets(this.sql) : [];
  }

  sealedSecrets(): SecretGrant[] {
    return this.opened ? sealedSecrets(this.sql, this.opened.tenantId) : [];
  }

  putSecret(actor: Actor, input: { name: string; hosts: string[]; sealed: SealedSecret }, at: string): WriteResult<SecretInfo> {
    return this.refuse(actor, "admin") ?? putSecret(this.sql, input, at);
  }

  deleteSecret(actor: Actor, name: string): WriteResult<{ name: string }> {
    return this.refuse(actor, "admin") ?? deleteSecret(this.sql, name, this.models());
  }

  resealSecrets(updates: { name: string; previous_iv: ArrayBuffer; sealed: SealedSecret }[]): number {
    return this.opened ? resealSecrets(this.sql, updates) : 0;
  }

  // --- internals ------------------------------------------------------------

  /** What references resolve to: the tenant's own secret when it has one by that name, else the operator's grant. */
  private references(): SecretGrant[] {
    const own = this.sealedSecrets();
    const names = new Set(own.map((s) => s.name));
    // A binding grant is no secret: a tenant secret of the same name never hides it.
    return [...own, ...this.grants().filter((g) => g.binding || !names.has(g.name))];
  }

  // --- stored Responses API answers (./response-store.ts) -------------------

  putResponse(actor: Actor, row: StoredResponse, now: number): WriteResult<{ id: string; stored: boolean }> {
    return this.refuse(actor, "key") ?? putResponse(this.sql, row, now);
  }

  getResponse(id: string, now: number): StoredResponse | null {
    return this.opened ? getResponse(this.sql, id, now) : null;
  }

  deleteResponse(actor: Actor, id: string): WriteResult<{ id: string }> {
    return this.refuse(actor, "key") ?? deleteResponse(this.sql, id);
  }

  // --- large MCP tool results behind resource links (./result-store.ts) -----

  /** Kept for the writing key only: `row.key_id` must be the actor's. */
  putResult(actor: Actor, row: StoredResult, now: number): WriteResult<{ id: string; expires_at: number }> {
    if (actor !== null && actor.keyId !== row.key_id) return { ok: false, code: "forbidden", message: "A result belongs to the key that made it." };
    return this.refuse(actor, "key") ?? putResult(this.sql, row, now);
  }

  getResult(id: string, keyId: string, now: number): StoredResult | null {
    return this.opened ? getResult(this.sql, id, keyId, now) : null;
  }

  /**
   * Why a write must not land, or null when it may (the one check every write
   * makes): the tenant is not open (never created, or deleted); the actor's key
   * belongs to an earlier incarnation of it (a cache that outlived a delete and
   * re-create); the key was revoked; or the write needs an admin and the key
   * is not one. The operator (`null`) may write to whichever incarnation is open.
   */
  private refuse(actor: Actor | { incarnation: string; keyId: null }, needs?: Needs): WriteResult<never> | null {
    if (!this.opened) return UNKNOWN;
    if (actor === null) return null;
    if (actor.incarnation !== this.opened.incarnation) return UNKNOWN;
    if (actor.keyId === null) return null;
    const key = findKey(this.sql, actor.keyId, "id");
    if (!key) return REVOKED;
    if (needs === "admin" && key.role !== "admin") return NOT_ADMIN;
    return null;
  }

  private meta(key: string): string | null {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }
}
