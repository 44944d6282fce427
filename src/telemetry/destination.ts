/**
 * Where a tenant's spans go, ready to send: its export config checked again
 * (the URL policy, and each secret reference against the collector's host: a
 * secret's hosts may have changed since the config was set) and its header
 * references resolved, as a model's are (the tenant's own secret, opened here,
 * or a Worker secret the operator granted). Built once per tenant snapshot, so
 * a changed config or secret is used at the next request; the values live
 * only in this isolate's memory.
 */
import { findReferences, resolveReferences } from "../config/secrets";
import { unseal } from "../secrets/crypto";
import { keyring } from "../secrets/keyring";
import { settings } from "../settings";
import type { TenantSnapshot } from "../tenants/shapes";
import { checkTelemetryExport, type TelemetryExport } from "./config";

export interface Destination {
  url: string;
  protocol: TelemetryExport["protocol"];
  headers: Record<string, string>;
  /** Removes every resolved header value from text that is exported. */
  redact(text: string): string;
}

const built = new WeakMap<TenantSnapshot, { config: TelemetryExport; destination: Destination }>();

export async function destinationFor(env: Env, snapshot: TenantSnapshot, config: TelemetryExport): Promise<Destination> {
  const found = built.get(snapshot);
  if (found?.config === config) return found.destination;
  const { allowedPrivateHosts } = settings(env);
  const url = checkTelemetryExport(config, snapshot.grants, allowedPrivateHosts);
  const byName = new Map(snapshot.grants.map((g) => [g.name, g]));
  const opened = new Map<string, string>();
  for (const name of new Set(findReferences(config.headers).map((r) => r.name))) {
    const grant = byName.get(name);
    if (grant?.sealed) opened.set(name, await unseal((await keyring(env)).all, grant.sealed.tenant_id, name, grant.sealed));
    else {
      const value = settings(env).workerSecret(name);
      if (value !== undefined) opened.set(name, value);
    }
  }
  const headers = resolveReferences(config.headers, (name) => opened.get(name));
  const values = [...opened.values()].filter((v) => v.length > 0);
  const destination: Destination = {
    url: url.href,
    protocol: config.protocol,
    headers,
    redact: (text) => values.reduce((out, value) => out.split(value).join("[redacted]"), text),
  };
  built.set(snapshot, { config, destination });
  return destination;
}
