/** Issuing and revoking tenant API keys: a key is returned once; only its hash is stored. */
import { z } from "zod";
import { tenantStub } from "../tenants/stub";
import { revokeKeyGrants } from "../oauth/grants";
import { invalidateTenant } from "../tenants/cache";
import { hashKey, newApiKey, Role, type ApiKeyInfo } from "../tenants/keys";

export const CreateKey = z.strictObject({ role: Role, name: z.string().trim().min(1).max(100).optional() });
export type CreateKey = z.infer<typeof CreateKey>;

export async function issueKey(env: Env, tenantId: string, request: CreateKey): Promise<ApiKeyInfo & { key: string }> {
  const { id, key } = newApiKey(tenantId);
  const info = await tenantStub(env, tenantId).createKey({
    id,
    hash: await hashKey(key),
    role: request.role,
    name: request.name ?? null,
    created_at: new Date().toISOString(),
  });
  return { ...info, key };
}

/** Revoke a key: it stops working at once here (within the cache lifetime elsewhere), and so do its OAuth grants. */
export async function revokeKey(env: Env, tenantId: string, keyId: string): Promise<boolean> {
  if (!(await tenantStub(env, tenantId).deleteKey(keyId))) return false;
  invalidateTenant(tenantId);
  await revokeKeyGrants(env, tenantId, keyId);
  return true;
}
