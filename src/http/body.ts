/**
 * Read a JSON request body with a size cap, then validate it. Malformed JSON,
 * an oversized body and a wrong shape each get a clear error before anything
 * is changed.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { GatewayError } from "../errors";
import { parseOrThrow } from "./validation";

export const MAX_BODY_BYTES = 1024 * 1024;

export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const text = await c.req.text();
  if (new TextEncoder().encode(text).byteLength > MAX_BODY_BYTES) throw tooLarge();
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

function tooLarge() {
  return new GatewayError("payload_too_large", `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
}
