/**
 * Build a model's backend for one use: check its config as at registration
 * (including that each secret is bound to the model's hosts: a secret's hosts
 * may have changed since), resolve its `${SECRET}` references, and hand back
 * the resolved values so whatever the backend says can be redacted.
 *
 * A reference resolves to the tenant's own secret (decrypted here from the
 * ciphertext in the tenant snapshot, in memory for this use only) or else to a
 * Worker secret binding granted to the tenant. This runs in the Worker for
 * inference calls, and in the tenant's Durable Object for its health probes.
 */
import type { ModelBackend } from "../backends/types";
import { imageLoader } from "../backends/images";
import { checkModelConfig } from "../backends/model-config";
import { findReferences, resolveReferences, type SecretGrant } from "../config/secrets";
import type { ModelRecord } from "../models/schema";
import { type Redactor, redactor } from "./redaction";
import { unseal } from "../secrets/crypto";
import { keyring } from "../secrets/keyring";
import { settings } from "../settings";

export interface Instance {
  backend: ModelBackend;
  /** Removes every resolved secret value from what the upstream says (see redaction.ts). */
  redact: Redactor;
}

export async function instantiate(env: Env, grants: readonly SecretGrant[], model: ModelRecord): Promise<Instance> {
  const { factory, config, service } = checkModelConfig(env, grants, model.backend_type, model.config);
  const byName = new Map(grants.filter((g) => !g.binding).map((g) => [g.name, g]));
  const names = [...new Set(findReferences(config).map((r) => r.name))];
  // A Worker binding only for names granted by the operator; never for a tenant secret's name.
  const fromBinding = (name: string) => (byName.get(name)?.sealed ? undefined : settings(env).workerSecret(name));

  const opened = new Map<string, string>();
  const sealed = names.flatMap((name) => {
    const grant = byName.get(name);
    return grant?.sealed ? [{ name, sealed: grant.sealed }] : [];
  });
  if (sealed.length > 0) {
    const keys = (await keyring(env)).all;
    for (const { name, sealed: s } of sealed) opened.set(name, await unseal(keys, s.tenant_id, name, s));
  }
  const lookup = (name: string) => opened.get(name) ?? fromBinding(name);
  const redact = redactor(names.flatMap((name) => lookup(name) ?? []));
  const { allowedPrivateHosts } = settings(env);
  const newLoader = () => imageLoader(redact.fetch, allowedPrivateHosts);
  return { backend: factory.create(resolveReferences(config, lookup), { fetch: redact.fetch, ai: env.AI, imageLoader: newLoader, service }), redact };
}
