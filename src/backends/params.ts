/**
 * Sampling parameters on the wire. Each backend says, as a table, what its
 * upstream calls each of the gateway's parameters; `wireParams` applies a
 * table. Tables must name every parameter, so adding one to `SamplingParams`
 * fails typecheck until every backend has decided how it is sent.
 */
import type { SamplingParams } from "./types";

export type WireParam =
  | string
  /** The upstream has no such parameter: it is not sent. */
  | null;

export type ParamMap = { readonly [Field in keyof Required<SamplingParams>]: WireParam };

/** OpenAI's own names, which OpenAI-style upstreams share. */
export const OPENAI_PARAMS: ParamMap = { max_tokens: "max_tokens", temperature: "temperature", top_p: "top_p", stop: "stop" };

export function wireParams(params: SamplingParams, map: ParamMap): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  for (const [field, target] of Object.entries(map) as [keyof SamplingParams, WireParam][]) {
    const value = params[field];
    // An empty stop list is no stop sequence: nothing to send.
    if (target === null || value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    wire[target] = value;
  }
  return wire;
}
