/**
 * Every backend type, in one typed record. Adding a backend is one file in this
 * folder plus one line here.
 */
import { GatewayError } from "../errors";
import { anthropic } from "./anthropic";
import { huggingface } from "./huggingface";
import { ollama } from "./ollama";
import { openaiCompatible } from "./openai-compatible";
import { worker } from "./worker";
import { workersAi } from "./workers-ai";
import type { BackendFactory } from "./types";

export const backends = {
  ollama,
  huggingface,
  workers_ai: workersAi,
  openai_compatible: openaiCompatible,
  anthropic,
  worker,
} satisfies Record<string, BackendFactory>;

export type BackendType = keyof typeof backends;

/** Other names accepted at registration; the record stores the canonical type. */
const aliases: Record<string, BackendType> = {
  external_api: "openai_compatible",
};

export function canonicalBackendType(name: string): BackendType {
  if (Object.hasOwn(backends, name)) return name as BackendType;
  const alias = aliases[name];
  if (alias) return alias;
  throw new GatewayError(
    "invalid_request",
    `backend_type: unknown backend type "${name}"; known types are ${[...Object.keys(backends), ...Object.keys(aliases)].join(", ")}.`,
  );
}

/** Every backend type for people, read off the record: "ollama, …, openai_compatible (alias external_api)". */
export function describeBackendTypes(): string {
  return Object.keys(backends)
    .map((type) => {
      const names = Object.keys(aliases).filter((alias) => aliases[alias] === type);
      return names.length > 0 ? `${type} (alias ${names.join(", ")})` : type;
    })
    .join(", ");
}
