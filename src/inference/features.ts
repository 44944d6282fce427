/**
 * Which model features a chat request needs, each with the parameter that
 * needs it, so a refusal can name both. A request that uses none of them
 * needs nothing and costs one pass over its messages.
 */
import type { ChatRequest } from "../backends/types";
import type { Feature } from "../models/schema";

export interface Need {
  feature: Feature;
  /** The request parameter that needs the feature, as the caller wrote it (e.g. `tools`, `messages.2.content`). */
  param: string;
}

export function requiredFeatures(request: ChatRequest): Need[] {
  const needs: Need[] = [];
  const seen = new Set<Feature>();
  const need = (feature: Feature, param: string) => {
    if (seen.has(feature)) return;
    seen.add(feature);
    needs.push({ feature, param });
  };
  if (request.tools && request.tools.length > 0) need("tools", "tools");
  const format = request.response_format?.type;
  if (format === "json_object" || format === "json_schema") need("json_schema", `response_format (${format})`);
  request.messages.forEach((m, i) => {
    if (m.role === "tool") need("tools", `messages.${i} (a tool result)`);
    else if (m.role === "assistant" && m.tool_calls) need("tools", `messages.${i}.tool_calls`);
    else if (m.role === "user" && typeof m.content !== "string" && m.content.some((p) => p.type === "image_url")) {
      need("vision", `messages.${i}.content (an image)`);
    }
  });
  return needs;
}
