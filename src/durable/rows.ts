/**
 * Reading SQLite rows back as typed values: every row the object returns is
 * parsed with a zod schema, never cast, so a row written by an older version
 * (or damaged) fails loudly here instead of travelling on with the wrong type.
 */
import { z } from "zod";
import { ApiKeyInfo } from "../tenants/keys";
import { HealthCheck } from "../health/status";
import { effectiveFeatures } from "../models/feature-checks";
import { Capability, Feature, FeatureChecks, LoadBalance, ModelAlias, ModelId, ModelRecord, ModelStatus } from "../models/schema";

/** A TEXT column holding JSON, checked against `schema` once decoded. */
function json<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "is not valid JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const Hosts = json(z.array(z.string()));

/** A model as stored: `features` holds the declared ones; the record read back carries the effective ones (src/models/feature-checks.ts). */
export const ModelRow = ModelRecord.extend({
  config: json(z.record(z.string(), z.unknown())),
  capabilities: json(z.array(Capability)),
  features: json(z.array(Feature)),
  feature_checks: json(FeatureChecks),
  fallbacks: json(z.array(ModelId)),
  aliases: json(z.array(ModelAlias)),
  load_balance: json(LoadBalance).nullable(),
}).transform((row): ModelRecord => ({ ...row, features: effectiveFeatures(row.features, row.feature_checks) }));

export const KeyRow = ApiKeyInfo;

export const GrantRow = z
  .object({ name: z.string(), hosts: Hosts, kind: z.enum(["secret", "binding"]) })
  .transform(({ name, hosts, kind }) => (kind === "binding" ? { name, hosts, binding: true } : { name, hosts }));

export const SecretInfoRow = z.object({ name: z.string(), hosts: Hosts, updated_at: z.string() });

export const SealedRow = z.object({
  name: z.string(),
  hosts: Hosts,
  ciphertext: z.instanceof(ArrayBuffer),
  iv: z.instanceof(ArrayBuffer),
  key_id: z.string(),
});

export const CheckRow = HealthCheck.extend({ ok: z.union([z.literal(0), z.literal(1)]).transform((n) => n === 1) });

export const StatusRow = z.object({
  status: ModelStatus,
  status_detail: z.string().nullable(),
  consecutive_failures: z.number(),
  feature_checks: json(FeatureChecks),
  // Loose: the rest of the config is read by the circuit breaker (src/durable/breaker-store.ts).
  config: json(z.looseObject({ health_check: z.object({ slow_ms: z.number().optional() }).optional() })),
});

/** A model as its schedule sees it (src/health/schedule.ts). */
export const ScheduleRow = z.object({
  id: ModelId,
  status: ModelStatus,
  config: json(z.record(z.string(), z.unknown())),
  next_check_at: z.number().nullable(),
});

/** Every row of a query, parsed. */
export function all<T extends z.ZodType>(cursor: SqlStorageCursor<Record<string, SqlStorageValue>>, schema: T): z.output<T>[] {
  return cursor.toArray().map((row) => schema.parse(row));
}

/** The first row of a query, parsed, or null. */
export function first<T extends z.ZodType>(cursor: SqlStorageCursor<Record<string, SqlStorageValue>>, schema: T): z.output<T> | null {
  const row = cursor.toArray()[0];
  return row === undefined ? null : schema.parse(row);
}
