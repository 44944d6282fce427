/**
 * Request bodies: every one is capped while it is read (`capBodies`, run
 * app-wide before authentication, so a chunked body without a length cannot
 * grow past the cap either), then JSON ones are parsed and validated. Malformed
 * JSON, an oversized body and a wrong shape each get a clear error before
 * anything is changed.
 */
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import { GatewayError, httpErrorResponse } from "../errors";
import { parseOrThrow } from "./validation";

export const MAX_BODY_BYTES = 1024 * 1024;
/** HTML forms here (consent, status sign-in) and OAuth token requests carry a few fields: a far smaller cap. */
export const MAX_FORM_BYTES = 16 * 1024;

function capAt(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => httpErrorResponse(new GatewayError("payload_too_large", `Request body is larger than ${maxSize} bytes.`)),
  });
}

/** The app-wide cap: form-encoded bodies at `MAX_FORM_BYTES`, everything else at `MAX_BODY_BYTES`. */
export function capBodies(): MiddlewareHandler {
  const json = capAt(MAX_BODY_BYTES);
  const form = capAt(MAX_FORM_BYTES);
  return (c, next) => {
    const type = c.req.header("content-type") ?? "";
    return /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type) ? form(c, next) : json(c, next);
  };
}

export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  if (text.trim() === "") throw new GatewayError("invalid_request", "Request body is empty; send a JSON object.");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // Only the position: the parser's own message quotes the input, which may hold a secret.
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : "")?.[1];
    throw new GatewayError("invalid_request", `Request body is not valid JSON${position ? ` (at character ${position})` : ""}.`);
  }
  return parseOrThrow(schema, json);
}
