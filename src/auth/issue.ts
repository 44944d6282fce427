/** Issuing and revoking tenant API keys: a key is returned once; only its hash is stored. */
import { z } from "zod";
import type { TenantClient } from "../tenants/client";
import { revokeKeyGrants } from "../oauth/grants";
import { hashKey, newApiKey, Role, type ApiKeyInfo } from "../tenants/keys";

export const CreateKey = z.strictObject({ role: Role, name: z.string().trim().min(1).max(100).optional() });
export type CreateKey = z.infer<typeof CreateKey>;

/** `tenant`: the client of whoever issues it (a tenant admin key, or the operator). */
export async function issueKey(tenant: TenantClient, request: CreateKey): Promise<ApiKeyInfo & { key: string }> {
  const { id, key } = newApiKey(tenant.tenantId);
  const created = await tenant.createKey({
    id,
    hash: await hashKey(key),
    role: request.role,
    name: request.name ?? null,
    created_at: new Date().toISOString(),
  });
  return { ...created, key };
}

/** Revoke a key: it stops working at once here (within the cache lifetime elsewhere), and so do its OAuth grants. */
export async function revokeKey(env: Env, tenant: TenantClient, keyId: string): Promise<void> {
  await tenant.deleteKey(keyId);
  await revokeKeyGrants(env, tenant.tenantId, keyId);
}
