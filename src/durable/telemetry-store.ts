/**
 * The tenant's OpenTelemetry export config (src/telemetry/config.ts), one JSON
 * value in the `meta` table: no table of its own, so no migration. Only
 * references to secrets are stored, never a value.
 */
import type { TelemetryExport } from "../telemetry/config";

const KEY = "telemetry_export";

export function telemetryExport(sql: SqlStorage): TelemetryExport | null {
  const value = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", KEY).toArray()[0]?.value;
  return value ? (JSON.parse(value) as TelemetryExport) : null;
}

export function setTelemetryExport(sql: SqlStorage, config: TelemetryExport | null): void {
  if (config === null) sql.exec("DELETE FROM meta WHERE key = ?", KEY);
  else sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", KEY, JSON.stringify(config));
}
