/**
 * The model part of a tenant's registry: the `models` table read back and
 * written, with the rules a write must keep (a bounded registry, fallbacks and
 * pool targets that name models of this tenant, optimistic concurrency on updates).
 * Plain functions over the Durable Object's SQL storage, each synchronous,
 * hence atomic in the object. A write that changes what is due says so; the
 * object re-arms its alarm (its health schedule, health-scheduler.ts).
 */
import { upstreamModelChanged } from "../models/feature-checks";
import type { ModelRecord, ModelStatus } from "../models/schema";
import type { WriteResult } from "../tenants/shapes";
import { resetBreaker } from "./breaker-store";
import { all, first, ModelRow } from "./rows";
import { awaitFirstCheck } from "./schedule-store";

/** Most models one tenant may register: the whole registry travels with every cold request. */
export const MAX_MODELS = 200;
/** Most bytes of the models' configs, pools, names and descriptions of one tenant, for the same reason. */
export const MAX_REGISTRY_BYTES = 1024 * 1024;

/** What a record adds to the registry's size (as `tooBig` counts it). */
function recordBytes(record: ModelRecord): number {
  const encoder = new TextEncoder();
  return (
    encoder.encode(JSON.stringify(record.config)).byteLength +
    (record.load_balance ? encoder.encode(JSON.stringify(record.load_balance)).byteLength : 0) +
    encoder.encode(record.name).byteLength +
    encoder.encode(record.description ?? "").byteLength
  );
}

/** A conflict when writing `record` (new, or replacing its namesake) would take the registry past MAX_REGISTRY_BYTES. */
function tooBig(sql: SqlStorage, record: ModelRecord): WriteResult<never> | null {
  const others =
    sql
      .exec<{ n: number | null }>(
        `SELECT sum(length(CAST(config AS BLOB)) + length(CAST(coalesce(load_balance, '') AS BLOB)) + length(CAST(name AS BLOB))
                  + length(CAST(coalesce(description, '') AS BLOB))) AS n FROM models WHERE id != ?`,
        record.id,
      )
      .one().n ?? 0;
  const bytes = recordBytes(record);
  if (others + bytes <= MAX_REGISTRY_BYTES) return null;
  return {
    ok: false,
    code: "conflict",
    message: `A tenant's models may hold at most ${MAX_REGISTRY_BYTES} bytes of config, pools, names and descriptions in all; the others hold ${others} and this one ${bytes}. Remove a model or shorten configs.`,
  };
}

/** A model write's result, and whether it changed when checks are due (the object then re-arms its alarm). */
export interface ModelWrite<T = ModelRecord> {
  result: WriteResult<T>;
  rescheduled: boolean;
}

/** A write that changed nothing: nothing to re-arm. */
const unchanged = <T>(result: WriteResult<T>): ModelWrite<T> => ({ result, rescheduled: false });

const notFound = (id: string): ModelWrite<never> => unchanged({ ok: false, code: "not_found", message: `Model "${id}" not found.` });

export function listModels(sql: SqlStorage): ModelRecord[] {
  return all(sql.exec("SELECT * FROM models ORDER BY id"), ModelRow);
}

export function getModel(sql: SqlStorage, id: string): ModelRecord | null {
  return first(sql.exec("SELECT * FROM models WHERE id = ?", id), ModelRow);
}

/** Register a new model; its first check is the probe the caller runs next (the alarm checks it later if that never happens). */
export function insertModel(sql: SqlStorage, record: ModelRecord, now: number): ModelWrite {
  if (getModel(sql, record.id)) {
    return unchanged({ ok: false, code: "conflict", message: `A model with id "${record.id}" already exists.` });
  }
  const clash = checkNames(sql, record);
  if (clash) return unchanged(clash);
  if (sql.exec<{ n: number }>("SELECT count(*) AS n FROM models").one().n >= MAX_MODELS) {
    return unchanged({ ok: false, code: "conflict", message: `A tenant holds at most ${MAX_MODELS} models; remove one first.` });
  }
  const problem = checkFallbacks(sql, record) ?? checkPoolTargets(sql, record) ?? tooBig(sql, record);
  if (problem) return unchanged(problem);
  sql.exec(
    `INSERT INTO models (id, name, description, backend_type, config, capabilities, fallbacks, aliases, load_balance,
       status, status_detail, last_checked_at, latency_ms, created_at, updated_at, features)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ...toRow(record),
  );
  awaitFirstCheck(sql, record.id, now);
  return { result: { ok: true, value: record }, rescheduled: true };
}

/**
 * Replace a model, only if nobody changed it since `expectedUpdatedAt` (the version the caller merged into).
 * `keepFeatures`: the caller did not set features, so the stored declared ones stand (the record carries effective ones).
 */
export function replaceModel(sql: SqlStorage, record: ModelRecord, expectedUpdatedAt: string, keepFeatures: boolean, now: number): ModelWrite {
  const current = getModel(sql, record.id);
  if (!current) return notFound(record.id);
  if (current.updated_at !== expectedUpdatedAt) {
    return unchanged({ ok: false, code: "conflict", message: `Model "${record.id}" was changed by another request; read it again and retry.` });
  }
  const clash = checkNames(sql, record);
  if (clash) return unchanged(clash);
  const problem = checkFallbacks(sql, record) ?? checkPoolTargets(sql, record) ?? tooBig(sql, record);
  if (problem) return unchanged(problem);
  // Maintenance sticks; otherwise a changed config or backend starts afresh (the old results were about the old config).
  const reset =
    current.status !== "maintenance" &&
    (record.backend_type !== current.backend_type || JSON.stringify(record.config) !== JSON.stringify(current.config));
  if (reset) {
    sql.exec("UPDATE models SET status = 'initializing', status_detail = NULL, consecutive_failures = 0 WHERE id = ?", record.id);
    resetBreaker(sql, record.id);
    awaitFirstCheck(sql, record.id, now);
  }
  // What the capability probe found was about the model that answered then; another model must be probed afresh.
  if (upstreamModelChanged(current, record)) sql.exec("UPDATE models SET feature_checks = '{}' WHERE id = ?", record.id);
  sql.exec(
    `UPDATE models SET name = ?, description = ?, backend_type = ?, config = ?, capabilities = ?, fallbacks = ?, aliases = ?,
       load_balance = ?, updated_at = ?, features = COALESCE(?, features) WHERE id = ?`,
    ...described(record),
    record.updated_at,
    keepFeatures ? null : JSON.stringify(record.features),
    record.id,
  );
  return { result: { ok: true, value: getModel(sql, record.id)! }, rescheduled: reset };
}

/** Remove a model, unless another model names it as a fallback or as a target of its load_balance. */
export function deleteModel(sql: SqlStorage, id: string): ModelWrite<{ id: string }> {
  if (!getModel(sql, id)) return notFound(id);
  const others = listModels(sql).filter((m) => m.id !== id);
  const referrers = others.filter((m) => m.fallbacks.includes(id)).map((m) => m.id);
  if (referrers.length > 0) {
    return unchanged({
      ok: false,
      code: "conflict",
      message: `Model "${id}" is a fallback of ${referrers.join(", ")}; remove it from their fallbacks first.`,
    });
  }
  const pools = others.filter((m) => m.load_balance?.targets.some((t) => t.model_id === id)).map((m) => m.id);
  if (pools.length > 0) {
    return unchanged({
      ok: false,
      code: "conflict",
      message: `Model "${id}" is a target of the load_balance of ${pools.join(", ")}; remove it from their load_balance.targets first.`,
    });
  }
  sql.exec("DELETE FROM models WHERE id = ?", id);
  resetBreaker(sql, id);
  return { result: { ok: true, value: { id } }, rescheduled: true };
}

/**
 * Admin-set status: `maintenance` sticks until an admin clears it with
 * `available`; from then on checks and calls move the status again.
 */
export function setStatus(sql: SqlStorage, id: string, status: Extract<ModelStatus, "maintenance" | "available">, at: string): ModelWrite {
  const current = getModel(sql, id);
  if (!current) return notFound(id);
  const [next, detail] = status === "maintenance" ? (["maintenance", "set by an admin"] as const) : (["available", null] as const);
  if (status === "available" && current.status !== "maintenance") return unchanged({ ok: true, value: current });
  sql.exec("UPDATE models SET status = ?, status_detail = ?, consecutive_failures = 0, updated_at = ? WHERE id = ?", next, detail, at, id);
  resetBreaker(sql, id);
  return { result: { ok: true, value: { ...current, status: next, status_detail: detail, updated_at: at } }, rescheduled: true };
}

/**
 * Why a model's names cannot stand, or null: its id and each alias must be no
 * other model's id or alias (read and written in one synchronous step, so two
 * writes cannot both take a name), and an alias is not the model's own id.
 */
function checkNames(sql: SqlStorage, record: ModelRecord): WriteResult<never> | null {
  if (record.aliases.includes(record.id)) {
    return { ok: false, code: "invalid_request", message: `aliases: "${record.id}" is the model's own id.` };
  }
  // Queries, not every row parsed: a registry of MAX_MODELS is written to model by model. Ids by their index;
  // aliases only in the rows that have any.
  const names = JSON.stringify([record.id, ...record.aliases]);
  const holder =
    sql
      .exec<{ id: string; name: string }>(
        "SELECT id, id AS name FROM models WHERE id IN (SELECT value FROM json_each(?)) AND id != ? LIMIT 1",
        names,
        record.id,
      )
      .toArray()[0] ??
    sql
      .exec<{ id: string; name: string }>(
        `SELECT m.id AS id, a.value AS name FROM models m, json_each(m.aliases) a
         WHERE m.aliases != '[]' AND m.id != ? AND a.value IN (SELECT value FROM json_each(?)) LIMIT 1`,
        record.id,
        names,
      )
      .toArray()[0];
  if (!holder) return null;
  const as = holder.id === holder.name ? "id" : "an alias";
  return { ok: false, code: "conflict", message: `"${holder.name}" is already ${as} of model "${holder.id}"; a name is unique in the tenant.` };
}

/** Why a model's fallbacks cannot stand, or null: each must be another model of this tenant. */
function checkFallbacks(sql: SqlStorage, record: ModelRecord): WriteResult<never> | null {
  if (record.fallbacks.includes(record.id)) {
    return { ok: false, code: "invalid_request", message: "fallbacks: a model cannot be its own fallback." };
  }
  const missing = record.fallbacks.filter((id) => !getModel(sql, id));
  if (missing.length > 0) {
    return {
      ok: false,
      code: "invalid_request",
      message: `fallbacks: no model with id ${missing.map((m) => `"${m}"`).join(", ")} in this tenant.`,
    };
  }
  return null;
}

/**
 * Why a model's load_balance cannot stand, or null: each target must be a model of this tenant (or the model
 * itself). Checked here, in the same synchronous write, so a target removed since the Worker read the registry
 * is not written into a pool; whether pools nest is the Worker's check (src/models/service.ts).
 */
function checkPoolTargets(sql: SqlStorage, record: ModelRecord): WriteResult<never> | null {
  for (const [i, target] of (record.load_balance?.targets ?? []).entries()) {
    if (target.model_id !== record.id && !getModel(sql, target.model_id)) {
      return {
        ok: false,
        code: "invalid_request",
        message: `load_balance.targets[${i}].model_id: no model with id "${target.model_id}" in this tenant.`,
      };
    }
  }
  return null;
}

/** The columns an admin writes, in the order both the insert and the update name them. */
function described(r: ModelRecord): SqlStorageValue[] {
  return [
    r.name,
    r.description,
    r.backend_type,
    JSON.stringify(r.config),
    JSON.stringify(r.capabilities),
    JSON.stringify(r.fallbacks),
    JSON.stringify(r.aliases),
    r.load_balance ? JSON.stringify(r.load_balance) : null,
  ];
}

function toRow(r: ModelRecord): SqlStorageValue[] {
  return [r.id, ...described(r), r.status, r.status_detail, r.last_checked_at, r.latency_ms, r.created_at, r.updated_at, JSON.stringify(r.features)];
}
