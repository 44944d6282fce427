/**
 * OAuth grants belong to the tenant API key that consented. Their user id is
 * an opaque digest of tenant and key id (the library shows the user id in
 * tokens, and a token should not reveal which tenant or key it came from), and
 * revoking the key revokes its grants, so no new tokens are issued for it.
 */
import { hashKey } from "../tenants/keys";
import { oauth } from "./server";

export async function grantUserId(tenantId: string, keyId: string): Promise<string> {
  return (await hashKey(`grant-owner:${tenantId}/${keyId}`)).slice(0, 32);
}

/** Revoke every grant made with this key; returns how many. */
export async function revokeKeyGrants(env: Env, tenantId: string, keyId: string): Promise<number> {
  const api = oauth(env).server.getOAuthApi(env);
  const userId = await grantUserId(tenantId, keyId);
  let revoked = 0;
  let cursor: string | undefined;
  do {
    const page = await api.listUserGrants(userId, cursor ? { cursor } : undefined);
    for (const grant of page.items) {
      await api.revokeGrant(grant.id, userId);
      revoked++;
    }
    cursor = page.cursor;
  } while (cursor);
  return revoked;
}
