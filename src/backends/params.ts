/**
 * Generation parameters on the wire. Each backend says, as a table, what its
 * upstream calls each of the gateway's parameters; `wireParams` applies a
 * table. Tables must name every parameter, so adding one to `SamplingParams`
 * fails typecheck until every backend has decided how it is sent. A parameter
 * the upstream cannot take is refused by name, never dropped.
 */
import { GatewayError } from "../errors";
import type { SamplingParams } from "./types";

export type WireParam =
  | string
  /** The upstream has no such parameter: a request that sets it is refused, naming it. */
  | null;

export type ParamMap = { readonly [Field in keyof Required<SamplingParams>]: WireParam };

/** OpenAI's own names, which OpenAI-style upstreams share. */
export const OPENAI_PARAMS: ParamMap = {
  max_tokens: "max_tokens",
  temperature: "temperature",
  top_p: "top_p",
  stop: "stop",
  seed: "seed",
  presence_penalty: "presence_penalty",
  frequency_penalty: "frequency_penalty",
  logit_bias: "logit_bias",
  user: "user",
};

export function wireParams(params: SamplingParams, map: ParamMap, label: string): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  for (const [field, target] of Object.entries(map) as [keyof SamplingParams, WireParam][]) {
    const value = params[field];
    // An empty stop list is no stop sequence: nothing to send.
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    if (target === null) throw unsupportedParam(field, label);
    wire[target] = value;
  }
  return wire;
}

/** The error for a parameter this upstream cannot honour: 400, naming it and the upstream. */
export function unsupportedParam(param: string, label: string, why = "has no such parameter"): GatewayError {
  return new GatewayError(
    "unsupported_feature",
    `${param}: ${label} ${why}, so the gateway refuses the request rather than drop it. Leave ${param} out, or use a model that takes it.`,
  );
}

/** For upstreams that are not OpenAI-style: any parameter the gateway does not know is refused, naming the first. */
export function refuseExtras(extra: Record<string, unknown> | undefined, label: string): void {
  const first = extra && Object.keys(extra)[0];
  if (first !== undefined)
    throw unsupportedParam(first, label, "does not take this parameter (the gateway passes unknown parameters only to OpenAI-compatible upstreams)");
}
