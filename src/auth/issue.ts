/** Issuing and revoking tenant API keys: a key is returned once; only its hash is stored. */
import { z } from "zod";
import type { Generation } from "../durable/tenant-registry";
import { GatewayError } from "../errors";
import { tenantStub } from "../tenants/stub";
import { revokeKeyGrants } from "../oauth/grants";
import { invalidateTenant } from "../tenants/cache";
import { hashKey, newApiKey, Role, type ApiKeyInfo } from "../tenants/keys";

export const CreateKey = z.strictObject({ role: Role, name: z.string().trim().min(1).max(100).optional() });
export type CreateKey = z.infer<typeof CreateKey>;

/** `generation`: the tenant incarnation the caller acts for (`null`: the operator, whichever is open). */
export async function issueKey(env: Env, tenantId: string, generation: Generation, request: CreateKey): Promise<ApiKeyInfo & { key: string }> {
  const { id, key } = newApiKey(tenantId);
  const result = await tenantStub(env, tenantId).createKey(generation, {
    id,
    hash: await hashKey(key),
    role: request.role,
    name: request.name ?? null,
    created_at: new Date().toISOString(),
  });
  if (!result.ok) throw new GatewayError(result.code, result.message);
  return { ...result.value, key };
}

/** Revoke a key: it stops working at once here (within the cache lifetime elsewhere), and so do its OAuth grants. */
export async function revokeKey(env: Env, tenantId: string, generation: Generation, keyId: string): Promise<void> {
  const result = await tenantStub(env, tenantId).deleteKey(generation, keyId);
  if (!result.ok) throw new GatewayError(result.code, result.message);
  invalidateTenant(tenantId);
  await revokeKeyGrants(env, tenantId, keyId);
}
