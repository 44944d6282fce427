/**
 * The Worker's one door to a tenant's Durable Object: no other module holds
 * the object's stub. A client acts for one actor, a tenant key of one
 * incarnation of the tenant or the operator, and
 * - every write carries that actor (the object checks, in the same call, that
 *   the incarnation is the open one and the key still exists with the role);
 * - a refused write becomes a GatewayError here, in one place;
 * - a write that changes what requests read drops this isolate's cached copy
 *   of the tenant (./cache.ts) before it returns, so the next request through
 *   this isolate sees it; other isolates see it within the cache's TTL.
 *
 * A client belongs to the request that made it (its stub is an I/O object of
 * that request): work that outlives a request makes its own client.
 */
import type { StoredResponse } from "../durable/response-store";
import type { StoredResult } from "../durable/result-store";
import type { Actor, TenantRegistry } from "../durable/tenant-registry";
import { GatewayError } from "../errors";
import type { HealthOutcome } from "../health/status";
import type { Capability, ModelRecord, ModelStatus } from "../models/schema";
import type { SealedSecret } from "../secrets/crypto";
import type { SecretGrant } from "../config/secrets";
import type { TelemetryExport } from "../telemetry/config";
import type { Budget } from "../usage/budget";
import type { Reservation, UsageRecord } from "../usage/record";
import { invalidateTenant } from "./cache";
import type { ApiKeyInfo } from "./keys";
import type { WriteResult } from "./shapes";

/**
 * The object's public methods as RPC calls: derived from the class, so a new
 * method needs no second list. RPC carries their plain arguments and answers
 * by structured clone, but the generated stub type cannot express
 * `Record<string, unknown>` (model config), hence this mapping.
 */
type Remote<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never };
export type TenantStub = Remote<Omit<TenantRegistry, keyof DurableObject>>;

export type { Actor };

export class TenantClient {
  private remote: TenantStub | undefined;

  constructor(
    private readonly env: Env,
    readonly tenantId: string,
    /** Who this client writes as (`null`: the operator). */
    readonly actor: Actor,
  ) {}

  /** A client for the operator, who acts on whichever incarnation of the tenant is open. */
  static operator(env: Env, tenantId: string): TenantClient {
    return new TenantClient(env, tenantId, null);
  }

  /** The stub, made on first use: a warm request that never calls the object makes none. */
  private get stub(): TenantStub {
    return (this.remote ??= this.env.TENANTS.getByName(this.tenantId) as unknown as TenantStub);
  }

  /**
   * A write's value, or its refusal as the gateway's error. On success this
   * isolate's copy of the tenant is dropped, unless the write changes nothing
   * requests read (`cached: "unchanged"`).
   */
  private async write<T>(result: Promise<WriteResult<T>>, cached: "changed" | "unchanged" = "changed"): Promise<T> {
    const written = await result;
    if (!written.ok) throw new GatewayError(written.code, written.message);
    if (cached === "changed") invalidateTenant(this.tenantId);
    return written.value;
  }

  /** Drop this isolate's copy of the tenant (after a write the object made on its own, such as a probe's status). */
  private forget(): void {
    invalidateTenant(this.tenantId);
  }

  // --- lifecycle (the operator) ---------------------------------------------

  async activate(): Promise<{ incarnation: string }> {
    const activated = await this.stub.activate(this.tenantId);
    this.forget();
    return activated;
  }

  isActive(): Promise<boolean> {
    return this.stub.isActive();
  }

  async destroy(): Promise<void> {
    await this.stub.destroy();
    this.forget();
  }

  // --- reads -----------------------------------------------------------------

  /**
   * The registry with the key found by hash (API keys) or id (OAuth grants,
   * status sessions): the one round trip of a cold request (./cache.ts), made
   * before anyone is known, so it acts for nobody.
   */
  static snapshot(env: Env, tenantId: string, credential: { hash: string } | { keyId: string }) {
    const stub = new TenantClient(env, tenantId, null).stub;
    return "hash" in credential ? stub.snapshot(credential.hash, "hash") : stub.snapshot(credential.keyId, "id");
  }

  getModel(id: string) {
    return this.stub.getModel(id);
  }

  listKeys() {
    return this.stub.listKeys();
  }

  grants() {
    return this.stub.grants();
  }

  secrets() {
    return this.stub.secrets();
  }

  sealedSecrets() {
    return this.stub.sealedSecrets();
  }

  checks(modelId: string, limit?: number) {
    return this.stub.checks(modelId, limit);
  }

  checksByModel(limit: number) {
    return this.stub.checksByModel(limit);
  }

  usage(query: { from: number; to: number; group_by: "model" | "key" | "day"; key_id: string | null }, now: number) {
    return this.stub.usage(query, now);
  }

  usageOverview(keyId: string | null, now: number) {
    return this.stub.usageOverview(keyId, now);
  }

  // --- registry writes -------------------------------------------------------

  insertModel(record: ModelRecord) {
    return this.write(this.stub.insertModel(this.actor, record));
  }

  replaceModel(record: ModelRecord, expectedUpdatedAt: string, keepFeatures: boolean) {
    return this.write(this.stub.replaceModel(this.actor, record, expectedUpdatedAt, keepFeatures));
  }

  deleteModel(id: string) {
    return this.write(this.stub.deleteModel(this.actor, id));
  }

  setStatus(id: string, status: Extract<ModelStatus, "maintenance" | "available">) {
    return this.write(this.stub.setStatus(this.actor, id, status, new Date().toISOString()));
  }

  createKey(key: ApiKeyInfo & { hash: string }) {
    return this.write(this.stub.createKey(this.actor, key));
  }

  deleteKey(id: string) {
    return this.write(this.stub.deleteKey(this.actor, id));
  }

  /** The tenant's budget (`keyId` null) or a key's; `null` removes it. */
  setBudget(keyId: string | null, budget: Budget | null) {
    return this.write(this.stub.setBudget(this.actor, keyId, budget, new Date().toISOString()));
  }

  /** The tenant's OpenTelemetry export; `null` turns it off. */
  setTelemetryExport(config: TelemetryExport | null) {
    return this.write(this.stub.setTelemetryExport(this.actor, config));
  }

  putSecret(input: { name: string; hosts: string[]; sealed: SealedSecret }) {
    return this.write(this.stub.putSecret(this.actor, input, new Date().toISOString()));
  }

  deleteSecret(name: string) {
    return this.write(this.stub.deleteSecret(this.actor, name));
  }

  /** Operator only (the object refuses it from anyone else's client by its signature: it takes no actor). */
  putGrant(grant: SecretGrant) {
    return this.write(this.stub.putGrant(grant, new Date().toISOString()));
  }

  deleteGrant(name: string) {
    return this.write(this.stub.deleteGrant(name));
  }

  async resealSecrets(updates: { name: string; previous_iv: ArrayBuffer; sealed: SealedSecret }[]): Promise<number> {
    const count = await this.stub.resealSecrets(updates);
    this.forget();
    return count;
  }

  // --- health ----------------------------------------------------------------

  /** Probe models now (the given ones, or all), within the tenant's on-demand bound; statuses change, so the cache is dropped. */
  async runChecks(modelIds: string[] | null) {
    const result = await this.stub.runChecks(modelIds);
    if (!result.ok) throw new GatewayError("rate_limited", result.message, { retryAfter: result.retryAfter });
    this.forget();
    return result.value;
  }

  /** A new or changed model's first probe; the model as it stands after it. */
  async probeModel(id: string): Promise<ModelRecord | null> {
    const model = await this.stub.probeModel(id);
    this.forget();
    return model;
  }

  /** The cron watchdog's nudge (src/health/watchdog.ts). */
  watchdog() {
    return this.stub.watchdog();
  }

  /**
   * Passive health: a real call's outcome. When it moved the model's status
   * (`was`: the status the caller saw), this isolate's copy is dropped, so
   * the next call from here sees it (a model now in `error` is skipped at once).
   * `firstTokenMs`: this isolate's average time to first token for the model;
   * the answer carries the tenant's shared averages (src/inference/load-balance.ts).
   */
  async recordCall(modelId: string, was: ModelStatus, outcome: HealthOutcome, capability?: Capability, firstTokenMs?: number) {
    const answer = await this.stub.recordCall(this.actor, modelId, outcome, new Date().toISOString(), capability, firstTokenMs);
    if (answer.check && answer.check.status !== was) this.forget();
    return answer;
  }

  /** May a call go to this model in `error` now? A breaker found closed means the cached status is stale: dropped. */
  async breakerTrial(modelId: string) {
    const answer = await this.stub.breakerTrial(this.actor, modelId);
    if (answer.state === "closed") this.forget();
    return answer;
  }

  // --- usage -----------------------------------------------------------------

  /** Hold a call's worst case against the budgets that apply (src/usage/meter.ts). */
  reserveUsage(ask: Reservation, now: number) {
    return this.stub.reserveUsage(this.actor, ask, now);
  }

  /** A batch of finished calls; the object applies a batch id once. Checked against the incarnation only: a revoked key's calls still spent. */
  recordUsage(batchId: string, records: UsageRecord[], now: number) {
    return this.stub.recordUsage(this.actor?.incarnation ?? null, batchId, records, now);
  }

  // --- stored Responses API answers -------------------------------------------

  /** Keep an answer (a write that changes nothing requests read: the tenant's cached copy stays). */
  putResponse(row: StoredResponse): Promise<{ id: string; stored: boolean }> {
    return this.write(this.stub.putResponse(this.actor, row, Date.now()), "unchanged");
  }

  getResponse(id: string): Promise<StoredResponse | null> {
    return this.stub.getResponse(id, Date.now());
  }

  deleteResponse(id: string): Promise<{ id: string }> {
    return this.write(this.stub.deleteResponse(this.actor, id), "unchanged");
  }

  // --- large MCP tool results behind resource links ---------------------------

  putResult(row: StoredResult): Promise<{ id: string; expires_at: number }> {
    return this.write(this.stub.putResult(this.actor, row, Date.now()), "unchanged");
  }

  getResult(id: string, keyId: string): Promise<StoredResult | null> {
    return this.stub.getResult(id, keyId, Date.now());
  }
}
