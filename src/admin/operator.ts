/**
 * Operator routes (ADMIN_TOKEN): tenants, their keys, grants of Worker secrets
 * to them, and re-encrypting their own secrets after a key rotation. Mounted
 * under /api/v1/tenants.
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { CreateKey, issueKey, revokeKey } from "../auth/issue";
import { TenantId } from "../tenants/keys";
import { operatorAuth } from "../auth/middleware";
import { assertGrantableBinding } from "../config/bindings";
import { RESERVED_SECRETS, SecretHosts, SecretName } from "../config/secrets";
import { TenantClient } from "../tenants/client";
import { GatewayError } from "../errors";
import type { AppEnv } from "../http/app-env";
import { readJson } from "../http/body";
import { parseOrThrow } from "../http/validation";
import { rotateSecrets } from "../secrets/service";
import { audited, deleteTenant, getTenant, insertTenant, listTenants, type AuditEntry } from "../tenants/directory";
import { Budget } from "../usage/budget";
import { UsageQuery } from "../usage/record";
import { readUsage } from "../usage/service";

const CreateTenant = z.strictObject({ id: TenantId, name: z.string().trim().min(1).max(200) });
/** A grant of a Worker secret (the hosts it may be sent to) or of a service binding (a backend Worker for `worker` models). */
const Grant = z
  .strictObject({ hosts: SecretHosts.optional(), binding: z.literal(true).optional() })
  .refine((g) => (g.hosts === undefined) !== (g.binding === undefined), {
    message: 'give either hosts (a Worker secret) or "binding": true (a service binding to a backend Worker), not both',
  });

export const operatorRoutes = new Hono<AppEnv>()
  .use(operatorAuth())
  // All or nothing across D1 and the tenant's object: the directory row first, then the object is
  // opened. If opening fails the row is taken back; if even that fails, a retry finds the row with
  // an unopened object and finishes the job instead of answering 409.
  .post("/", async (c) => {
    const body = await readJson(c, CreateTenant);
    const client = TenantClient.operator(c.env, body.id);
    const tenant = await audit(c, { tenantId: body.id, action: "tenant.create", target: body.id }, async () => {
      const created = (await insertTenant(c.env.DB, body.id, body.name)) ?? (await unfinished(c.env, client));
      try {
        await client.activate();
      } catch (error) {
        await deleteTenant(c.env.DB, created.id).catch(() => undefined);
        throw error;
      }
      return created;
    });
    return c.json(tenant, 201);
  })
  .get("/", async (c) => c.json({ tenants: await listTenants(c.env.DB) }))
  .get("/:id", async (c) => c.json(await existing(c.env, c.req.param("id"))))
  // The object is wiped first (from then on it refuses every write and every key), then the
  // directory row goes: a failure in between leaves the row, so the operator sees the tenant
  // and can delete it again; never a live tenant the directory has forgotten.
  .delete("/:id", async (c) => {
    const id = c.req.param("id");
    await existing(c.env, id);
    await audit(c, { tenantId: id, action: "tenant.delete", target: id }, async () => {
      await TenantClient.operator(c.env, id).destroy();
      await deleteTenant(c.env.DB, id);
    });
    return c.json({ id, deleted: true });
  })
  .post("/:id/keys", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    const request = await readJson(c, CreateKey);
    const issued = await audit(
      c,
      { tenantId: tenant.id, action: "key.create", detail: { role: request.role } },
      () => issueKey(TenantClient.operator(c.env, tenant.id), request),
      (key) => ({ target: key.id }),
    );
    return c.json(issued, 201);
  })
  .get("/:id/keys", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    return c.json({ keys: await TenantClient.operator(c.env, tenant.id).listKeys() });
  })
  .delete("/:id/keys/:keyId", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    const keyId = c.req.param("keyId");
    await audit(c, { tenantId: tenant.id, action: "key.revoke", target: keyId }, () =>
      revokeKey(c.env, TenantClient.operator(c.env, tenant.id), keyId),
    );
    return c.json({ id: keyId, revoked: true });
  })
  .get("/:id/grants", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    return c.json({ grants: await TenantClient.operator(c.env, tenant.id).grants() });
  })
  .put("/:id/grants/:name", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    const name = parseOrThrow(SecretName, c.req.param("name"), "secret_name");
    if (RESERVED_SECRETS.has(name)) throw new GatewayError("invalid_request", `${name} is the gateway's own secret and cannot be granted.`);
    const body = await readJson(c, Grant);
    if (body.binding) assertGrantableBinding(c.env, name, "binding");
    const hosts = [...new Set(body.hosts ?? [])];
    const detail = body.binding ? { binding: true } : { hosts };
    const grant = await audit(c, { tenantId: tenant.id, action: "grant.put", target: name, detail }, () =>
      TenantClient.operator(c.env, tenant.id).putGrant(body.binding ? { name, hosts, binding: true } : { name, hosts }),
    );
    return c.json(grant);
  })
  .delete("/:id/grants/:name", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    const name = c.req.param("name");
    await audit(c, { tenantId: tenant.id, action: "grant.revoke", target: name }, () => TenantClient.operator(c.env, tenant.id).deleteGrant(name));
    return c.json({ name, revoked: true });
  })

  // Usage and the tenant's budget: the same numbers the tenant's admin sees.
  .get("/:id/usage", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    return c.json(await readUsage(TenantClient.operator(c.env, tenant.id), parseOrThrow(UsageQuery, c.req.query()), null));
  })
  .put("/:id/budget", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    const budget = await readJson(c, Budget);
    const set = await audit(c, { tenantId: tenant.id, action: "tenant.budget", target: tenant.id, detail: { budget } }, () =>
      TenantClient.operator(c.env, tenant.id).setBudget(null, budget),
    );
    return c.json({ tenant_id: tenant.id, budget: set.budget });
  })
  .delete("/:id/budget", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    await audit(c, { tenantId: tenant.id, action: "tenant.budget", target: tenant.id, detail: { budget: null } }, () =>
      TenantClient.operator(c.env, tenant.id).setBudget(null, null),
    );
    return c.json({ tenant_id: tenant.id, budget: null });
  })

  // After SECRETS_KEY changed (the old one kept as SECRETS_KEY_PREVIOUS): re-encrypt this tenant's secrets under the new key.
  .post("/:id/secrets/rotate", async (c) => {
    const tenant = await existing(c.env, c.req.param("id"));
    const report = await audit(
      c,
      { tenantId: tenant.id, action: "secret.rotate", target: tenant.id },
      () => rotateSecrets(c.env, tenant.id),
      ({ key_id, reencrypted, failed }) => ({ detail: { key_id, reencrypted, failed } }),
    );
    return c.json(report);
  });

async function existing(env: Env, id: string) {
  const tenant = await getTenant(env.DB, id);
  if (!tenant) throw notFound(id);
  return tenant;
}

/** A tenant whose directory row exists: a conflict, unless a create failed half way (the object was never opened). */
async function unfinished(env: Env, tenant: TenantClient) {
  if (await tenant.isActive()) throw new GatewayError("conflict", `Tenant "${tenant.tenantId}" already exists.`);
  return existing(env, tenant.tenantId);
}

function notFound(id: string) {
  return new GatewayError("not_found", `Tenant "${id}" not found.`);
}

/** An operator change, made only once its audit row is written (directory.ts `audited`). */
function audit<T>(
  c: Context<AppEnv>,
  entry: Omit<AuditEntry, "actor">,
  change: () => Promise<T>,
  settle?: (value: T) => Pick<AuditEntry, "target" | "detail">,
): Promise<T> {
  return audited(c.env.DB, { ...entry, actor: "operator" }, change, settle);
}
