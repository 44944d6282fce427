/**
 * Mid-stream rescue: a stream that broke or stalled after text reached the
 * caller is finished by another model only where the answer is provably
 * whole (DESIGN "Reliability rules"):
 *   - `prefill`: a model with the `prefill` feature continues the answer
 *     from what the caller has, sent as the assistant's unfinished message
 *     (a completion simply continues the prompt plus that text: every
 *     completion endpoint takes a prefix);
 *   - `regenerated`: another deployment of the same upstream model (the same
 *     `model_name`) answers again, and its text is used only if it starts with
 *     exactly what the caller has (./stream.ts `Join`);
 *   - otherwise the stream ends with its format's error, every byte kept.
 * Only text can be joined: once a tool call's piece, or a native event other
 * than text and its frame (src/inference/native-events.ts), reached the
 * caller, nothing is rescued. A rescue is a typed call (a native request's
 * translation): its text continues the caller's open text block, and the edge
 * ends the message in its format.
 */
import type { ModelRecord } from "../models/schema";
import { estimateTokens } from "../usage/cost";
import type { CallInput, InferenceCall } from "./call";
import type { RouteStep } from "./route";
import { Join } from "./stream";

export type RescueHow = "prefill" | "regenerated";

export interface RescuePlan {
  model: ModelRecord;
  how: RescueHow;
  input: CallInput;
  join: Join;
}

/** The rescues to try, in route order, for a call whose stream broke after `sent` reached the caller. */
export function rescuePlans(call: InferenceCall, broken: ModelRecord, sent: string, later: readonly RouteStep[]): RescuePlan[] {
  const { input } = call;
  if (sent === "" || (input.capability !== "chat" && input.capability !== "completion")) return [];
  // A native request that does not translate has no typed request to continue (the rescue goes typed: see below).
  if (input.capability === "chat" && input.native?.untranslated) return [];
  const plans: RescuePlan[] = [];
  for (const { model, blocked } of later) {
    if (blocked) continue;
    const continued = continuation(input, model, sent);
    if (continued) plans.push({ model, how: "prefill", ...continued });
    else if (sameUpstreamModel(broken, model)) {
      // The same request again: its answer is used only from where it has matched all the caller has.
      const again: CallInput = input.capability === "chat" ? { capability: "chat", request: input.request } : input;
      plans.push({ model, how: "regenerated", input: again, join: new Join(sent, "regenerate") });
    }
  }
  return plans;
}

/**
 * The request that continues `sent` on `model`, when it can: a chat on a model
 * with the `prefill` feature (and no JSON output asked for: a schema-bound
 * answer cannot be resumed mid-way), any completion. The prefill leaves out
 * trailing whitespace (Anthropic refuses a prefill ending in it), which the
 * continuation usually repeats: the join skips it once. A completion's prompt
 * takes the text as it is. `max_tokens` is what
 * is left of the caller's after the text it has.
 */
function continuation(input: CallInput, model: ModelRecord, sent: string): { input: CallInput; join: Join } | undefined {
  if (input.capability === "completion") {
    const request = { ...input.request, prompt: input.request.prompt + sent, ...left(input.request.max_tokens, sent) };
    return { input: { capability: "completion", request }, join: new Join("", "continue") };
  }
  const prefill = sent.trimEnd();
  const join = new Join(sent.slice(prefill.length), "continue");
  if (input.capability !== "chat" || !model.features.includes("prefill") || prefill === "") return undefined;
  const { request } = input;
  if (request.response_format && request.response_format.type !== "text") return undefined;
  const messages = [...request.messages, { role: "assistant" as const, content: prefill }];
  return { input: { capability: "chat", request: { ...request, messages, ...left(request.max_tokens, sent) } }, join };
}

function left(maxTokens: number | undefined, sent: string): { max_tokens?: number } {
  return maxTokens === undefined ? {} : { max_tokens: Math.max(1, maxTokens - estimateTokens(sent)) };
}

/** Two deployments of one upstream model: the same `model_name` (two Ollama hosts, two providers of one open model). */
function sameUpstreamModel(a: ModelRecord, b: ModelRecord): boolean {
  const name = (m: ModelRecord) => (typeof m.config.model_name === "string" ? m.config.model_name : undefined);
  return name(a) !== undefined && name(a) === name(b);
}
