/**
 * Build a model's backend for one use: check its config as at registration,
 * resolve its `${SECRET}` references from the Worker's bindings (only secrets
 * granted to the tenant, only for the model's hosts), and hand back the
 * resolved values so whatever the backend says can be redacted.
 */
import type { ModelBackend } from "../backends/types";
import { checkModelConfig } from "../config/model-config";
import { findReferences, redact, resolveReferences, type SecretGrant } from "../config/secrets";
import type { ModelRecord } from "../models/schema";

export interface Instance {
  backend: ModelBackend;
  /** Remove every resolved secret value from text before anyone sees it. */
  redact(text: string): string;
}

export function instantiate(env: Env, grants: readonly SecretGrant[], model: ModelRecord): Instance {
  const { factory, config } = checkModelConfig(env, grants, model.backend_type, model.config);
  const bindings = env as unknown as Record<string, unknown>;
  const lookup = (name: string) => (typeof bindings[name] === "string" ? (bindings[name] as string) : undefined);
  const resolved = resolveReferences(config, lookup);
  const secrets = findReferences(config).flatMap(({ name }) => lookup(name) ?? []);
  return {
    backend: factory.create(resolved, { fetch: (input, init) => fetch(input, init), env }),
    redact: (text) => redact(text, secrets),
  };
}
