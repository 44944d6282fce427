/**
 * A request's input tokens as the upstream counts them, for a model whose
 * backend speaks the request's wire format and can count (Anthropic's
 * `count_tokens`, which spends no tokens). The model's secrets are resolved
 * for its own hosts only and redacted from any error, as on a call. Undefined
 * when the model cannot count, or its upstream cannot now (down, rate
 * limited, timed out): the edge then gives the gateway's own estimate. A
 * request the upstream finds invalid is the caller's error.
 */
import { canonicalBackendType } from "../backends/registry";
import type { NativeRequest } from "../backends/types";
import { GatewayError, toGatewayError } from "../errors";
import type { ModelRecord } from "../models/schema";
import type { TenantScope } from "../tenants/scope";
import { instanceFor } from "./instances";

export async function upstreamTokenCount(
  scope: TenantScope,
  model: ModelRecord,
  request: NativeRequest,
  signal?: AbortSignal,
): Promise<number | undefined> {
  const { backend, redact } = await instanceFor(scope.env, scope.snapshot, model);
  const native = backend.native;
  if (native?.format !== request.format || !native.countTokens) return undefined;
  try {
    return await native.countTokens(request, { signal });
  } catch (error) {
    const failure = toGatewayError(error);
    if (failure.code === "invalid_request" || failure.code === "context_length_exceeded") {
      throw new GatewayError(failure.code, redact(failure.message));
    }
    return undefined;
  }
}

/** The wire format a model's upstream speaks as callers do (see `NativeInput` in ./call.ts), if any. */
export function nativeFormatOf(model: ModelRecord): NativeRequest["format"] | undefined {
  const type = canonicalBackendType(model.backend_type);
  if (type === "anthropic") return "anthropic";
  if (type === "openai_compatible" && model.config.responses_api === true) return "responses";
  return undefined;
}
