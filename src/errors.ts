/**
 * The one error type of the gateway, and the one place it is turned into what a
 * caller sees: an HTTP JSON error (the gateway's own, OpenAI's or Anthropic's shape),
 * or an MCP tool result with `isError: true`.
 *
 * Messages are written for people and never carry secret values: anything that
 * may have come from an upstream goes through `redact()` before it gets here.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

export const ERROR_STATUS = {
  invalid_request: 400,
  /** An upstream said the request is too long for the model: another model may take it (see src/backends/rejections.ts). */
  context_length_exceeded: 400,
  /** An upstream refused the request under its content policy: final, no fallback is tried. */
  content_filtered: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_capability: 422,
  /** The request needs something the model cannot do (a feature such as tools, or a parameter its upstream lacks). */
  unsupported_feature: 400,
  rate_limited: 429,
  budget_exceeded: 429,
  internal: 500,
  upstream_error: 502,
  model_unavailable: 503,
  audit_unavailable: 503,
  upstream_timeout: 504,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** Seconds a caller should wait before retrying (429 and retryable upstream states). */
  readonly retryAfter?: number;
  /** Whether the gateway itself may try the upstream again (429, 5xx, network, timeout). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { retryAfter?: number; retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.retryAfter = options.retryAfter;
    this.retryable = options.retryable ?? false;
  }

  get status(): ContentfulStatusCode {
    return ERROR_STATUS[this.code];
  }
}

/** Anything thrown becomes a GatewayError; unknown errors hide their text (it may hold internals). */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError("internal", "Internal error. The gateway logged the details.", { cause: error });
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function httpErrorBody(error: GatewayError): ErrorBody {
  return { error: { code: error.code, message: error.message } };
}

export function httpErrorResponse(error: GatewayError): Response {
  const headers = new Headers({ "content-type": "application/json" });
  if (error.retryAfter !== undefined) headers.set("retry-after", String(Math.ceil(error.retryAfter)));
  return new Response(JSON.stringify(httpErrorBody(error)), { status: error.status, headers });
}

/** OpenAI's error shape, for the /v1 API: SDKs read `error.message` and `error.type`. */
export function openAIErrorBody(error: GatewayError) {
  return { error: { message: error.message, type: error.code, param: null, code: error.code } };
}

/**
 * An error as OpenAI answers it. A budget refusal says `x-should-retry: false`:
 * the OpenAI SDKs read it and stop retrying (the budget will not have room
 * again within their retries), as the Anthropic ones do.
 */
export function openAIErrorResponse(error: GatewayError): Response {
  const response = httpErrorResponse(error);
  if (error.code === "budget_exceeded") response.headers.set("x-should-retry", "false");
  return new Response(JSON.stringify(openAIErrorBody(error)), { status: response.status, headers: response.headers });
}

/** Anthropic's error types (docs.anthropic.com/en/api/errors), for the Messages API under /v1. */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

/** Each gateway code as Anthropic names its kind; the HTTP status stays the gateway's own. */
const ANTHROPIC_TYPE = {
  invalid_request: "invalid_request_error",
  context_length_exceeded: "invalid_request_error",
  content_filtered: "invalid_request_error",
  unauthenticated: "authentication_error",
  forbidden: "permission_error",
  not_found: "not_found_error",
  conflict: "invalid_request_error",
  payload_too_large: "request_too_large",
  unsupported_capability: "invalid_request_error",
  unsupported_feature: "invalid_request_error",
  rate_limited: "rate_limit_error",
  budget_exceeded: "rate_limit_error",
  internal: "api_error",
  upstream_error: "api_error",
  model_unavailable: "overloaded_error",
  audit_unavailable: "api_error",
  upstream_timeout: "api_error",
} as const satisfies Record<ErrorCode, AnthropicErrorType>;

/** Anthropic's error shape, for /v1/messages: the SDKs read `error.type` and `error.message`. */
export function anthropicErrorBody(error: GatewayError) {
  return { type: "error" as const, error: { type: ANTHROPIC_TYPE[error.code], message: error.message } };
}

/**
 * An error as Anthropic answers it. A budget refusal says `x-should-retry: false`:
 * the Anthropic SDKs and Claude Code read it and stop retrying (the budget will
 * not have room again within their retries).
 */
export function anthropicErrorResponse(error: GatewayError): Response {
  const response = httpErrorResponse(error);
  if (error.code === "budget_exceeded") response.headers.set("x-should-retry", "false");
  return new Response(JSON.stringify(anthropicErrorBody(error)), { status: response.status, headers: response.headers });
}

/** An MCP tool result for a failure the caller (person or agent) can act on. */
export function toolErrorResult(error: GatewayError) {
  return {
    isError: true as const,
    content: [{ type: "text" as const, text: `${error.message} [${error.code}]` }],
  };
}
