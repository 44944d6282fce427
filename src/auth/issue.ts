/** Issuing a tenant API key: the key is returned once; only its hash is stored. */
import { z } from "zod";
import { tenantStub } from "../durable/tenant-registry";
import { hashKey, newApiKey, Role, type ApiKeyInfo } from "./keys";

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
