/** Registry writes over MCP, offered only to tenant admin keys; same rules as the admin HTTP API. */
import { z } from "zod";
import { describeBackendTypes } from "../../backends/registry";
import { ModelId, ModelRecord, ModelRegistrationRequest, ModelUpdateRequest } from "../../models/schema";
import { registerModel, removeModel, setMaintenance, updateModel } from "../../models/service";
import { TelemetryExport } from "../../telemetry/config";
import { readTelemetry, removeTelemetry, setTelemetry, TelemetryView } from "../../telemetry/service";
import type { ToolRegistrar } from "../definitions";
import { guarded, ok } from "../result";

export function registerAdminTools(server: ToolRegistrar): void {
  const admin = { readOnlyHint: false, openWorldHint: false } as const;

  server.registerTool(
    "register_model",
    {
      title: "Register a model",
      description:
        `Register a model for this tenant (admin). backend_type: one of ${describeBackendTypes()}. ` +
        'Secrets go in config as "${NAME}" references, never as literal values.',
      inputSchema: ModelRegistrationRequest,
      outputSchema: ModelRecord,
      annotations: { ...admin, destructiveHint: false },
    },
    guarded(async (request, scope) => {
      const model = await registerModel(scope, request);
      return ok(model, `Registered ${model.id} (${model.backend_type}; ${model.capabilities.join(", ")}).`);
    }),
  );

  server.registerTool(
    "update_model",
    {
      title: "Update a model",
      description: "Change a model (admin). config is merged key by key (null removes a key) and validated again.",
      inputSchema: ModelUpdateRequest.extend({ model_id: ModelId }),
      outputSchema: ModelRecord,
      annotations: { ...admin, destructiveHint: false, idempotentHint: true },
    },
    guarded(async ({ model_id, ...patch }, scope) => {
      const model = await updateModel(scope, model_id, patch);
      return ok(model, `Updated ${model.id}.`);
    }),
  );

  server.registerTool(
    "remove_model",
    {
      title: "Remove a model",
      description: "Remove a model from this tenant (admin).",
      inputSchema: z.strictObject({ model_id: ModelId }),
      outputSchema: z.object({ id: z.string(), removed: z.literal(true) }),
      annotations: { ...admin, destructiveHint: true },
    },
    guarded(async ({ model_id }, scope) => ok(await removeModel(scope, model_id), `Removed ${model_id}.`)),
  );

  server.registerTool(
    "set_maintenance",
    {
      title: "Set or clear maintenance",
      description: "Put a model in maintenance (calls are refused, health checks never override it) or make it available again (admin).",
      inputSchema: z.strictObject({ model_id: ModelId, maintenance: z.boolean() }),
      outputSchema: ModelRecord,
      annotations: { ...admin, destructiveHint: false, idempotentHint: true },
    },
    guarded(async ({ model_id, maintenance }, scope) => {
      const model = await setMaintenance(scope, model_id, maintenance ? "maintenance" : "available");
      return ok(model, `${model.id} is now ${model.status}.`);
    }),
  );

  server.registerTool(
    "set_telemetry_export",
    {
      title: "Set or remove the OpenTelemetry export",
      description:
        "Send this tenant's traces (one span per request, one per upstream attempt, GenAI semantic conventions) to an OTLP/HTTP collector (admin). " +
        'Header credentials as "${NAME}" secret references bound to the endpoint\'s host. export: null turns export off; omit it to read the current config.',
      inputSchema: z.strictObject({ export: TelemetryExport.nullable().optional() }),
      outputSchema: TelemetryView,
      annotations: { ...admin, destructiveHint: false, idempotentHint: true },
    },
    guarded(async (args, scope) => {
      if (args.export === undefined) {
        scope.requireAdmin();
        return ok(readTelemetry(scope), "The current export.");
      }
      const view = args.export === null ? await removeTelemetry(scope) : await setTelemetry(scope, args.export);
      return ok(view, view.export ? `Spans go to ${view.export.endpoint}.` : "Export is off.");
    }),
  );
}
