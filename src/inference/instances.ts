/**
 * Built backends, kept per isolate so that a warm call does not check the
 * model's config again, decrypt its secrets, or build its redactor and backend.
 *
 * Entries hang off the tenant snapshot object they were built from (a WeakMap),
 * and that object is replaced whenever the isolate reloads the tenant: after
 * any write through this isolate (a changed model, grant or secret) and at the
 * latest every `TTL_MS` (tenants/cache.ts). So an entry can never outlive the
 * model record, grants and sealed secrets it was built from, one tenant's entry
 * is reachable only through that tenant's snapshot, and the resolved secret
 * values live only in this isolate's memory: nothing here is serialized,
 * logged or shared between tenants.
 *
 * A finished instance is cached, not the pending build: workerd does not let
 * one request wait on a promise that another request's I/O settles. Two cold
 * calls at once may each build one; the second one built wins.
 */
import type { ModelRecord } from "../models/schema";
import type { TenantSnapshot } from "../tenants/shapes";
import { type Instance, instantiate } from "./instantiate";

const built = new WeakMap<TenantSnapshot, Map<string, { model: ModelRecord; instance: Instance }>>();

/** The model's backend with its secrets resolved, built once per snapshot of its tenant. */
export async function instanceFor(env: Env, snapshot: TenantSnapshot, model: ModelRecord): Promise<Instance> {
  const found = built.get(snapshot)?.get(model.id);
  if (found?.model === model) return found.instance;
  // Failures (a config no longer valid, a secret that no longer opens) are not kept: the next call says why again.
  const instance = await instantiate(env, snapshot.grants, model);
  let models = built.get(snapshot);
  if (!models) built.set(snapshot, (models = new Map()));
  models.set(model.id, { model, instance });
  return instance;
}
