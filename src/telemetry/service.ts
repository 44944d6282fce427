/**
 * The tenant admin's side of the export, shared by the admin API
 * (/api/v1/telemetry) and the MCP tool (`set_telemetry_export`): set, remove,
 * read (with what this isolate did with the tenant's spans).
 */
import { z } from "zod";
import { parseOrThrow } from "../http/validation";
import { settings } from "../settings";
import type { TenantScope } from "../tenants/scope";
import { checkTelemetryExport, TelemetryExport } from "./config";
import { type ExportCounters, exportCounters } from "./exporter";

export const TelemetryView = z.object({
  export: TelemetryExport.nullable().describe("The export config (secret references, never values); null: export is off"),
  this_isolate: z
    .object({ exported_spans: z.number(), dropped_spans: z.number(), failed_exports: z.number(), last_error: z.string().nullable() })
    .describe("What the isolate that answered did with this tenant's spans since it started (each isolate counts its own)"),
});
export type TelemetryView = { export: TelemetryExport | null; this_isolate: ExportCounters };

export function readTelemetry(scope: TenantScope): TelemetryView {
  return { export: scope.snapshot.telemetry ?? null, this_isolate: { ...exportCounters(scope.tenantId) } };
}

/** Set the export (admin): checked as model config is (URL policy, secret references bound to the endpoint's host). */
export async function setTelemetry(scope: TenantScope, body: unknown): Promise<TelemetryView> {
  scope.requireAdmin();
  const config = parseOrThrow(TelemetryExport, body);
  checkTelemetryExport(config, scope.snapshot.grants, settings(scope.env).allowedPrivateHosts);
  const saved = await scope.audited("telemetry.set", undefined, { endpoint: config.endpoint, protocol: config.protocol }, () =>
    scope.tenant.setTelemetryExport(config),
  );
  return { export: saved, this_isolate: { ...exportCounters(scope.tenantId) } };
}

/** Turn export off (admin). */
export async function removeTelemetry(scope: TenantScope): Promise<TelemetryView> {
  scope.requireAdmin();
  await scope.audited("telemetry.remove", undefined, undefined, () => scope.tenant.setTelemetryExport(null));
  return { export: null, this_isolate: { ...exportCounters(scope.tenantId) } };
}
