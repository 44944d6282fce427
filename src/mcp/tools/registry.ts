/** Read-only registry tools and the `model://<id>` resources, for any tenant key. */
import { registerAppTool } from "@modelcontextprotocol/ext-apps/server";
import { type McpServer, ResourceTemplate } from "@modelcontextprotocol/server";
import { z } from "zod";
import { Capability, Feature, ModelAlias, ModelId, ModelStatus } from "../../models/schema";
import { explainRoute, RouteExplanation } from "../../inference/route";
import { listModels } from "../../models/service";
import type { ToolRegistrar } from "../definitions";
import { guarded, ok, scopeOf } from "../result";
import { VIEW_URI } from "../views";
import { CheckResults, ModelDetail, ModelSummary, summary } from "../shapes";

/** How many recent checks list_models gives each model's latency line (`history`). */
const HISTORY_CHECKS = 20;

export function registerRegistryTools(server: ToolRegistrar): void {
  registerAppTool(
    server as McpServer,
    "list_models",
    {
      _meta: { ui: { resourceUri: VIEW_URI.models } },
      title: "List models",
      description:
        "List this tenant's models with their capabilities and current health. Use a model whose status is " +
        "'available' (or 'initializing', not yet checked); 'error' and 'maintenance' models will refuse calls.",
      inputSchema: z.strictObject({
        capability: Capability.optional(),
        status: ModelStatus.optional(),
        history: z.boolean().optional().describe("Also give each model's recent check latencies (recent_latencies_ms); costs a storage read"),
      }),
      outputSchema: z.object({
        models: z.array(
          ModelSummary.extend({
            recent_latencies_ms: z
              .array(z.number().nullable())
              .optional()
              .describe("With history: the recent checks' latencies, oldest first; null: the check failed"),
          }),
        ),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async ({ history, ...filter }, scope) => {
      const listed = listModels(scope, filter);
      // Checks live in storage, not in the cached registry: read only when asked (the warm path makes no storage read).
      const checks = history && listed.length > 0 ? await scope.tenant.checksByModel(HISTORY_CHECKS) : undefined;
      const models = listed.map((m) => ({
        ...summary(m),
        ...(checks && { recent_latencies_ms: (checks[m.id] ?? []).map((c) => (c.ok ? c.latency_ms : null)).reverse() }),
      }));
      const text =
        models.length === 0
          ? "No models match."
          : models.map((m) => `${m.id} — ${m.name} [${m.backend_type}; ${[...m.capabilities, ...m.features].join(", ")}; ${m.status}]`).join("\n");
      return ok({ models }, text);
    }),
  );

  server.registerTool(
    "get_model",
    {
      title: "Get a model",
      description: "One model: its config (secrets shown as ${NAME} references), status and recent health checks.",
      inputSchema: z.strictObject({ model_id: ModelId }),
      outputSchema: ModelDetail,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async ({ model_id }, scope) => {
      const detail = await scope.modelWithChecks(model_id);
      return ok(detail, JSON.stringify(detail, null, 2));
    }),
  );

  server.registerTool(
    "check_health",
    {
      title: "Check health now",
      description: "Probe one model (or every model) now and return the fresh results; statuses update accordingly.",
      inputSchema: z.strictObject({ model_id: ModelId.optional() }),
      outputSchema: CheckResults,
      annotations: { readOnlyHint: false, openWorldHint: true, idempotentHint: true },
    },
    guarded(async ({ model_id }, scope) => {
      const checks = await scope.checkHealth(model_id);
      const text =
        checks.length === 0
          ? "No models to check."
          : checks
              .map(
                (c) =>
                  `${c.model_id}: ${c.ok ? "ok" : "FAILED"} → ${c.status}${c.latency_ms !== null ? ` (${Math.round(c.latency_ms)} ms)` : ""}${c.detail ? ` — ${c.detail}` : ""}`,
              )
              .join("\n");
      return ok({ checks }, text);
    }),
  );

  registerAppTool(
    server as McpServer,
    "explain_route",
    {
      _meta: { ui: { resourceUri: VIEW_URI.route } },
      title: "Explain a route",
      description:
        "Without calling any model: which backend and host a call for this model and capability would go to, " +
        "the fallbacks in order, each one's status, and the rate budget left. With features (what the call " +
        "would use: tools, vision, json_schema), models lacking one are shown as skipped.",
      inputSchema: z.strictObject({ model_id: ModelAlias.describe("Id or alias"), capability: Capability, features: z.array(Feature).optional() }),
      outputSchema: RouteExplanation,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async ({ model_id, capability, features }, scope) => {
      const route = explainRoute(scope, model_id, capability, features);
      const lines = route.steps.map(
        (s, i) => `${i === 0 ? "model" : `fallback ${i}`}: ${s.model_id} → ${s.upstream} [${s.status}]${s.usable ? "" : ` skipped: ${s.reason}`}`,
      );
      return ok(route, [`${capability} on ${model_id} would be answered by ${route.would_answer ?? "no model right now"}.`, ...lines].join("\n"));
    }),
  );

  server.registerResource(
    "model",
    new ResourceTemplate("model://{id}", {
      list: async (ctx) => ({
        resources: scopeOf(ctx).snapshot.models.map((m) => ({
          uri: `model://${m.id}`,
          name: m.id,
          title: m.name,
          description: `${m.backend_type} model (${m.capabilities.join(", ")}), status ${m.status}`,
          mimeType: "application/json",
        })),
      }),
    }),
    { title: "Model", description: "A registered model: config with secret references, status, recent checks", mimeType: "application/json" },
    async (uri, variables, ctx) => {
      const detail = await scopeOf(ctx).modelWithChecks(String(variables.id));
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(detail, null, 2) }] };
    },
  );
}
