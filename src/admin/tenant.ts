/**
 * Tenant routes (tenant API keys): the model registry, the tenant's own keys
 * and its own secrets. Reads need any key; writes (and anything about secrets)
 * need an admin key. Mounted under /api/v1.
 */
import { Hono } from "hono";
import { z } from "zod";
import { CreateKey, issueKey, revokeKey } from "../auth/issue";
import { requireRole, tenantAuth } from "../auth/middleware";
import type { AppEnv } from "../http/app-env";
import { readJson } from "../http/body";
import { parseOrThrow } from "../http/validation";
import { explainRoute } from "../inference/route";
import { Capability, Feature, ModelStatus } from "../models/schema";
import { listModels, registerModel, removeModel, setMaintenance, updateModel } from "../models/service";
import { deleteSecret, putSecret, readSecretBody, secretName } from "../secrets/service";
import { readTelemetry, removeTelemetry, setTelemetry } from "../telemetry/service";
import { Budget } from "../usage/budget";
import { UsageQuery } from "../usage/record";
import { readUsage } from "../usage/service";

const ListQuery = z.strictObject({ capability: Capability.optional(), status: ModelStatus.optional() });
const StatusBody = z.strictObject({ status: z.enum(["maintenance", "available"]) });
const NewKey = CreateKey.extend({ budget: Budget.optional() });
const KeyPatch = z.strictObject({ budget: Budget.nullable() });

export const tenantRoutes = new Hono<AppEnv>()
  .use(tenantAuth())
  .get("/models", (c) => {
    const filter = parseOrThrow(ListQuery, c.req.query());
    return c.json({ models: listModels(c.var.scope, filter) });
  })
  .get("/models/:id", (c) => c.json(c.var.scope.model(c.req.param("id"))))
  .get("/models/:id/checks", async (c) => c.json({ checks: (await c.var.scope.modelWithChecks(c.req.param("id"))).recent_checks }))
  .post("/models/:id/health-check", requireRole("admin"), async (c) => c.json({ checks: await c.var.scope.checkHealth(c.req.param("id")) }))
  .get("/models/:id/route", (c) => {
    const RouteQuery = z.strictObject({
      capability: Capability,
      // Comma-separated: ?features=tools,vision
      features: z
        .string()
        .transform((list) => list.split(",").filter(Boolean))
        .pipe(z.array(Feature))
        .optional(),
    });
    const { capability, features } = parseOrThrow(RouteQuery, c.req.query());
    return c.json(explainRoute(c.var.scope, c.req.param("id"), capability, features));
  })
  .post("/models", requireRole("admin"), async (c) => {
    const body = await readJson(c, z.unknown());
    return c.json(await registerModel(c.var.scope, body), 201);
  })
  .patch("/models/:id", requireRole("admin"), async (c) => {
    const body = await readJson(c, z.unknown());
    return c.json(await updateModel(c.var.scope, c.req.param("id"), body));
  })
  .delete("/models/:id", requireRole("admin"), async (c) => c.json(await removeModel(c.var.scope, c.req.param("id"))))
  // The tenant's OpenTelemetry export (docs/observability.md).
  .get("/telemetry", requireRole("admin"), (c) => c.json(readTelemetry(c.var.scope)))
  .put("/telemetry", requireRole("admin"), async (c) => c.json(await setTelemetry(c.var.scope, await readJson(c, z.unknown()))))
  .delete("/telemetry", requireRole("admin"), async (c) => c.json(await removeTelemetry(c.var.scope)))
  .put("/models/:id/status", requireRole("admin"), async (c) => {
    const body = await readJson(c, StatusBody);
    return c.json(await setMaintenance(c.var.scope, c.req.param("id"), body.status));
  })
  .post("/keys", requireRole("admin"), async (c) => {
    const scope = c.var.scope;
    const { budget, ...request } = await readJson(c, NewKey);
    const issued = await scope.audited(
      "key.create",
      undefined,
      { role: request.role, ...(budget && { budget }) },
      async () => {
        const key = await issueKey(scope.tenant, request);
        if (budget) await scope.tenant.setBudget(key.id, budget);
        return key;
      },
      (key) => ({ target: key.id }),
    );
    return c.json({ ...issued, ...(budget && { budget }) }, 201);
  })
  // A key's budget (null removes it); only an admin key sets budgets.
  .patch("/keys/:id", requireRole("admin"), async (c) => {
    const scope = c.var.scope;
    const id = c.req.param("id");
    const { budget } = await readJson(c, KeyPatch);
    return c.json(await scope.audited("key.budget", id, { budget }, () => scope.tenant.setBudget(id, budget)));
  })
  .get("/usage", requireRole("admin"), async (c) => {
    const query = parseOrThrow(UsageQuery, c.req.query());
    return c.json(await readUsage(c.var.scope.tenant, query, null));
  })
  // The tenant's own secrets: names and hosts only, ever; the value goes in and never comes out.
  .put("/secrets/:name", requireRole("admin"), async (c) => {
    const name = secretName(c.req.param("name"));
    return c.json(await putSecret(c.var.scope, name, await readSecretBody(c)));
  })
  .get("/secrets", requireRole("admin"), async (c) => c.json({ secrets: await c.var.scope.tenant.secrets() }))
  .delete("/secrets/:name", requireRole("admin"), async (c) => c.json(await deleteSecret(c.var.scope, c.req.param("name"))))
  .get("/keys", requireRole("admin"), async (c) => c.json({ keys: await c.var.scope.tenant.listKeys() }))
  .delete("/keys/:id", requireRole("admin"), async (c) => {
    const scope = c.var.scope;
    const id = c.req.param("id");
    await scope.audited("key.revoke", id, undefined, () => revokeKey(c.env, scope.tenant, id));
    return c.json({ id, revoked: true });
  });
