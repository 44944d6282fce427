/**
 * The status page's line about the tenant's trace export, when it has one:
 * where spans go (the host only: never the headers) and what the isolate that
 * drew the page did with them (each isolate counts its own).
 */
import { html } from "hono/html";
import { exportCounters } from "../telemetry/exporter";
import type { TenantScope } from "../tenants/scope";

export function telemetrySection(scope: TenantScope) {
  const config = scope.snapshot.telemetry;
  if (!config) return "";
  const counted = exportCounters(scope.tenantId);
  let host = config.endpoint;
  try {
    host = new URL(config.endpoint).host;
  } catch {
    // shown as stored
  }
  return html`<h2>Trace export</h2>
    <p class="telemetry">
      OpenTelemetry spans go to <code>${host}</code> (${config.protocol}, sampling ${config.sampling_ratio}). This isolate:
      <span class="exported">${counted.exported_spans} exported</span>,
      <span class="dropped">${counted.dropped_spans} dropped</span>${counted.last_error ? html` (last problem: ${counted.last_error})` : ""}.
    </p>`;
}
